#!/usr/bin/env python3
"""Checks that the package graph is honest, and that Docs/architecture.md describes it.

1. Every `import` in a target's Swift files names a declared dependency of that target (a target
   or a product in Package.swift), the target itself, or a module the toolchain ships. SwiftPM's
   --explicit-target-dependency-import-check does not see imports that resolve through another
   target's dependencies on Linux, so this script compares the files with `swift package
   dump-package` instead.
2. The module table of Docs/architecture.md lists every library and executable target once, and
   its "imports" column names exactly the target's declared dependencies.

Run from anywhere: `Scripts/check-architecture.py`. Exits 1 and lists every problem if one is found.
Tests/Repository/test_architecture.py runs the same checks under pytest.
"""
import json
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent

# Modules that come with the Swift toolchain or the C library: importing them needs no declaration.
TOOLCHAIN_MODULES = {
    "Foundation", "FoundationEssentials", "FoundationNetworking", "Dispatch", "Glibc", "Musl", "Darwin",
    "Synchronization", "Testing", "XCTest", "os", "_Concurrency", "Swift",
}
# Words the table's "imports" column may use for what needs no declared dependency.
TABLE_EXTRAS = {"Foundation", "libc", "system headers", "–"}

IMPORT = re.compile(r"^\s*(?:@[\w()]+\s+)*import\s+(?:(?:struct|class|enum|protocol|func|var|let|typealias)\s+)?(\w+)", re.M)


def package_description():
    out = subprocess.run(["swift", "package", "dump-package"], cwd=ROOT, check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def declared_dependencies(target):
    names = set()
    for dependency in target["dependencies"]:
        kind, value = next(iter(dependency.items()))
        names.add(value[0])  # byName, target and product all start with the name
    return names


def target_directory(target):
    if target.get("path"):
        return ROOT / target["path"]
    return ROOT / ("Tests" if target["type"] == "test" else "Sources") / target["name"]


def imports(source):
    """The modules a Swift file imports, skipping multi-line string literals (which may hold other
    languages' import lines)."""
    modules = []
    in_string = False
    for line in source.splitlines():
        if not in_string:
            match = IMPORT.match(line)
            if match:
                modules.append(match.group(1))
        if line.count('"""') % 2 == 1:
            in_string = not in_string
    return modules


def import_problems(description):
    problems = []
    for target in description["targets"]:
        if target["type"] == "system":
            continue
        allowed = declared_dependencies(target) | {target["name"]} | TOOLCHAIN_MODULES
        # The Metrics product also brings CoreMetrics; ArgumentParser's is one module.
        if "Metrics" in allowed:
            allowed.add("CoreMetrics")
        for path in sorted(target_directory(target).rglob("*.swift")):
            for module in imports(path.read_text(encoding="utf-8")):
                if module not in allowed:
                    shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
                    problems.append(f"{shown}: imports {module}, which {target['name']} does not declare")
    return problems


def table_rows():
    """The module table of Docs/architecture.md as {module: set of imports}."""
    text = (ROOT / "Docs/architecture.md").read_text(encoding="utf-8")
    section = text.split("## Modules", 1)[1]
    rows = {}
    for line in section.splitlines():
        if not line.startswith("| `"):
            if rows and not line.startswith("|"):
                break
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        modules = re.findall(r"`([^`]+)`", cells[0])
        imports = {name.strip("` ") for name in cells[-1].split(",")}
        for module in modules:
            rows[module] = imports
    return rows


def table_problems(description):
    problems = []
    rows = table_rows()
    targets = {t["name"]: t for t in description["targets"] if t["type"] != "test"}
    for name in sorted(set(targets) - set(rows)):
        problems.append(f"Docs/architecture.md: the module table has no row for {name}")
    for name in sorted(set(rows) - set(targets)):
        problems.append(f"Docs/architecture.md: the module table lists {name}, which Package.swift does not define")
    for name in sorted(set(rows) & set(targets)):
        declared = declared_dependencies(targets[name])
        listed = rows[name] - TABLE_EXTRAS
        if targets[name]["type"] == "system":
            continue
        if listed != declared:
            missing = ", ".join(sorted(declared - listed)) or "nothing"
            extra = ", ".join(sorted(listed - declared)) or "nothing"
            problems.append(f"Docs/architecture.md: {name} imports column lacks {missing} and lists {extra} beyond Package.swift")
    return problems


def main():
    description = package_description()
    problems = import_problems(description) + table_problems(description)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        return 1
    print(f"check-architecture: {len(description['targets'])} targets; every import declared; the module table matches Package.swift")
    return 0


if __name__ == "__main__":
    sys.exit(main())
