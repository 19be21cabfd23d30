"""The Dockerfile, checked statically (no container engine runs here): the final stage runs kiln as
a non-root user with a health check, carries the default models (text and embedding from the
checksum-verified fetch stage, the image model from Models/), finds them where kiln looks, and the
binary is built with the release build's flags."""
import json
import pathlib
import re
import shlex

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def instructions(text):
    """(instruction, arguments) pairs, continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", "\n".join(l for l in text.splitlines() if not l.lstrip().startswith("#")))
    pairs = []
    for line in joined.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            pairs.append((word.upper(), rest.strip()))
    return pairs


def stages(text):
    """Stage name -> its instructions after FROM (and the FROM's image under "FROM")."""
    found, current = {}, None
    for word, rest in instructions(text):
        if word == "FROM":
            image, _, name = re.match(r"(\S+)(\s+AS\s+(\S+))?", rest, re.I).group(1, 2, 3)
            current = name or f"stage{len(found)}"
            found[current] = [("FROM", image)]
        elif current:
            found[current].append((word, rest))
    return found


def release_flags(script):
    """The flags of the `swift build` that builds kiln in release mode in a script."""
    for line in (ROOT / script).read_text().splitlines():
        if re.search(r"\bswift build -c release\b", line) and "--show-bin-path" not in line:
            return set(shlex.split(line[line.index("swift build") + len("swift build"):].split(">")[0]))
    raise AssertionError(f"{script} has no release build")


def environment(stage):
    values = {}
    for word, rest in stage:
        if word == "ENV":
            values.update(dict(pair.split("=", 1) for pair in shlex.split(rest)))
    return values


def dockerfile_problems(text):
    problems = []
    found = stages(text)
    if not found:
        return ["no stages"]
    final_name = list(found)[-1]
    final = found[final_name]
    words = [w for w, _ in final]
    # The release build, with the flags of Scripts/serve.sh (the Swift runtime linked statically
    # is the one addition: the runtime image has no Swift toolchain).
    builds = [rest for stage in found.values() for w, rest in stage if w == "RUN" and "swift build" in rest]
    expected = release_flags("Scripts/serve.sh") | {"--static-swift-stdlib"}
    for run in builds:
        for command in re.findall(r"swift build([^&;|)]*)", run):
            flags = set(shlex.split(command.replace('"', ""))) - {"--show-bin-path"}
            if flags != expected:
                problems.append(f"swift build {sorted(flags)} differs from the release build's {sorted(expected)}")
    if not builds:
        problems.append("no stage builds kiln")
    # A non-root user, who exists.
    users = [rest for w, rest in final if w == "USER"]
    if not users or users[-1].split(":")[0] in ("root", "0"):
        problems.append("the final stage runs as root")
    elif not any(w == "RUN" and re.search(rf"useradd\b.*\b{re.escape(users[-1])}\b", rest) for w, rest in final):
        problems.append(f"the final stage's user {users[-1]} is not created in it")
    # A health check on /health.
    checks = [rest for w, rest in final if w == "HEALTHCHECK"]
    if not checks or "/health" not in checks[-1] or "NONE" in checks[-1]:
        problems.append("the final stage has no HEALTHCHECK on /health")
    if not any(w == "ENTRYPOINT" and "/kiln" in rest for w, rest in final):
        problems.append("the final stage's entrypoint is not kiln")
    # The models: the fetch stage fetches the defaults with the pinned, checksum-verified fetch...
    models = json.loads((ROOT / "Scripts/models.json").read_text())["models"]
    defaults = {name for name, model in models.items() if model.get("default")}
    fetches = {}
    for name, stage in found.items():
        copies = any(w == "COPY" and "Scripts/fetch-model.py" in rest and "Scripts/models.json" in rest for w, rest in stage)
        for w, rest in stage:
            match = re.search(r"fetch-model\.py --cache (\S+) (.*)", rest) if w == "RUN" else None
            if match and copies:
                asked = set(match.group(2).split("&&")[0].split())
                if "--defaults" in asked:
                    asked |= defaults
                fetches[name] = (match.group(1), asked)
    # ...and the final stage copies that cache where KILN_MODEL_CACHE points.
    cache = environment(final).get("KILN_MODEL_CACHE")
    copied = False
    for w, rest in final:
        match = re.match(r"--from=(\S+)\s+(\S+)\s+(\S+)$", rest) if w == "COPY" else None
        if match and match.group(1) in fetches and match.group(2).rstrip("/") == fetches[match.group(1)][0]:
            copied = True
            if match.group(3).rstrip("/") != cache:
                problems.append(f"the models land in {match.group(3)}, but KILN_MODEL_CACHE is {cache}")
            missing = defaults - fetches[match.group(1)][1]
            if missing:
                problems.append(f"the image lacks the default models {sorted(missing)}")
    if not copied:
        problems.append("the final stage has no models from a checksum-verified fetch stage")
    # Kiln's own image model, where the binary looks for it (../share/kiln/models beside bin/).
    if not any(w == "COPY" and re.fullmatch(r"Models/kiln-shapes-dit\s+/usr/local/share/kiln/models/kiln-shapes-dit/?", rest)
               for w, rest in final):
        problems.append("the final stage lacks the image model kiln-shapes-dit")
    if not any(w == "COPY" and rest.startswith("--from=") and rest.endswith(" /usr/local/bin/kiln") for w, rest in final):
        problems.append("kiln is not at /usr/local/bin/kiln")
    return problems


DOCKERFILE = (ROOT / "Dockerfile").read_text()


def test_the_dockerfile_has_what_the_image_needs():
    assert dockerfile_problems(DOCKERFILE) == []
    assert list(stages(DOCKERFILE)) == ["build", "models", "runtime"]


@pytest.mark.parametrize("mutation, problem", [
    (lambda t: t.replace("USER kiln\n", ""), "runs as root"),
    (lambda t: t.replace("USER kiln\n", "USER root\n"), "runs as root"),
    (lambda t: re.sub(r"HEALTHCHECK[^\n]*\\\n[^\n]*\n", "", t), "no HEALTHCHECK"),
    (lambda t: t.replace("swift build -c release --product kiln --static-swift-stdlib \\", "swift build -c release --product kiln --static-swift-stdlib -Xswiftc -Onone \\"), "differs from the release build"),
    (lambda t: t.replace("-c release --product kiln --static-swift-stdlib --show-bin-path", "--product kiln --show-bin-path"), "differs from the release build"),
    (lambda t: t.replace("COPY --from=models /models /usr/local/share/kiln/cache\n", ""), "no models"),
    (lambda t: t.replace("KILN_MODEL_CACHE=/usr/local/share/kiln/cache", "KILN_MODEL_CACHE=/models"), "KILN_MODEL_CACHE is /models"),
    (lambda t: t.replace("--cache /models --defaults \\", "--cache /models text \\"), "lacks the default models ['embedding']"),
    (lambda t: t.replace("COPY Models/kiln-shapes-dit", "# COPY Models/kiln-shapes-dit"), "lacks the image model"),
])
def test_a_broken_dockerfile_is_caught(mutation, problem):
    mutated = mutation(DOCKERFILE)
    assert mutated != DOCKERFILE
    problems = dockerfile_problems(mutated)
    assert any(problem in p for p in problems), problems


def test_the_build_context_leaves_build_outputs_out():
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".build" in ignored and ".git" in ignored
