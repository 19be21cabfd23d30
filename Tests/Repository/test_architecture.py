"""The package graph and Docs/architecture.md, checked by Scripts/check-architecture.py."""
import importlib.util
import pathlib

import pytest

SCRIPT = pathlib.Path(__file__).resolve().parents[2] / "Scripts" / "check-architecture.py"
spec = importlib.util.spec_from_file_location("check_architecture", SCRIPT)
check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check)


@pytest.fixture(scope="module")
def description():
    return check.package_description()


def test_every_import_is_a_declared_dependency(description):
    assert check.import_problems(description) == []


def test_the_module_table_matches_the_package(description):
    assert check.table_problems(description) == []


def test_a_drifted_table_is_caught(description, monkeypatch):
    rows = check.table_rows()
    rows["KilnServe"] = {"KilnText"}
    del rows["KilnJSON"]
    monkeypatch.setattr(check, "table_rows", lambda: rows)
    problems = check.table_problems(description)
    assert any("no row for KilnJSON" in p for p in problems)
    assert any("KilnServe imports column" in p and "KilnText" in p for p in problems)


def test_an_undeclared_import_is_caught(description, tmp_path, monkeypatch):
    serve = next(t for t in description["targets"] if t["name"] == "KilnServe")
    (tmp_path / "Sneaky.swift").write_text('import Foundation\nimport KilnText\nlet s = """\nimport os, sys\n"""\n')
    monkeypatch.setattr(check, "target_directory", lambda target: tmp_path)
    problems = check.import_problems({"targets": [serve]})
    assert len(problems) == 1 and "imports KilnText, which KilnServe does not declare" in problems[0]


def test_every_source_path_the_architecture_names_exists():
    text = (check.ROOT / "Docs/architecture.md").read_text(encoding="utf-8")
    import re
    paths = set(re.findall(r"`(Sources/[^`]+)`", text))
    assert paths, "Docs/architecture.md names no source path"
    missing = sorted(p for p in paths if not (check.ROOT / p).exists())
    assert missing == []
