"""`--memory-budget-mb` counts the embedding model beside the language models (Docs/configuration.md,
"Several models"): it stays loaded, its weights are pinned in the budget, and the language models share
what it leaves. Two ids for SmolLM2 (links to one file, each its own model) under a budget that holds
both language models, but not both beside all-MiniLM-L6-v2: the server must swap them, where a budget
that ignored the embedding model would keep both. A budget too small for one language model beside the
embedding model stops the server at start, saying so."""
import json
import math
import os
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from conftest import KilnServer
from test_multiple_models import fetch

MIB = 1 << 20
ENGINE = ["--kv-blocks", "32", "--threads", "1", "--image-model", "none"]
EMBEDDER = "all-MiniLM-L6-v2"


def metric(server, name):
    text = urllib.request.urlopen(server.base + "/metrics").read().decode()
    return {sample.labels.get("model_name"): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples if sample.name == name}


def post(server, path, body):
    request = urllib.request.Request(server.base + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.load(response)


def test_the_embedding_model_counts_against_the_budget(tmp_path):
    smol = os.environ.get("KILN_DEFAULT_MODEL") or fetch("text")
    for name in ["smol-a", "smol-b"]:
        os.symlink(smol, tmp_path / f"{name}.gguf")

    # Without a budget: every model loaded, and the estimates the budget is checked against.
    free = KilnServer("--models-dir", str(tmp_path), *ENGINE)
    try:
        cost = metric(free, "kiln_model_cost_bytes")
        pinned = metric(free, "kiln_model_pinned_bytes")
        resident = metric(free, "kiln_models_resident_bytes")[None]
    finally:
        free.stop()
    assert cost["smol-a"] == cost["smol-b"] > 90 * MIB, cost
    assert set(pinned) == {EMBEDDER} and pinned[EMBEDDER] > 80 * MIB, pinned  # its safetensors file
    assert resident == cost["smol-a"] + cost["smol-b"] + pinned[EMBEDDER]

    # Both language models fit in the budget, but not beside the embedding model.
    budget_mib = math.ceil((2 * cost["smol-a"] + pinned[EMBEDDER] / 2) / MIB)
    assert 2 * cost["smol-a"] <= budget_mib * MIB < 2 * cost["smol-a"] + pinned[EMBEDDER]
    server = KilnServer("--models-dir", str(tmp_path), "--memory-budget-mb", str(budget_mib), *ENGINE)
    try:
        assert metric(server, "kiln_model_loaded") == {"smol-a": 1.0, "smol-b": 0.0}
        answers = set()
        for model in ["smol-b", "smol-a"] * 3:
            body = post(server, "/v1/completions", {"model": model, "prompt": "The capital of France is",
                                                    "max_tokens": 6, "temperature": 0})
            answers.add(body["choices"][0]["text"])
            embedded = post(server, "/v1/embeddings", {"model": EMBEDDER, "input": "a sentence"})
            assert len(embedded["data"][0]["embedding"]) == 384
            assert metric(server, "kiln_models_resident_bytes")[None] <= budget_mib * MIB
        assert len(answers) == 1, "one file, one answer"
        unloads = metric(server, "kiln_model_unloads_total")
        assert unloads["smol-a"] >= 2 and unloads["smol-b"] >= 2, unloads
        assert sum(metric(server, "kiln_model_loaded").values()) == 1
        assert metric(server, "kiln_model_pinned_bytes")[EMBEDDER] == pinned[EMBEDDER]
    finally:
        server.stop()

    # One language model does not fit beside the embedding model: the server says so and exits.
    tight_mib = math.ceil(cost["smol-a"] / MIB) + 1
    assert cost["smol-a"] + pinned[EMBEDDER] > tight_mib * MIB
    try:
        KilnServer("--models-dir", str(tmp_path), "--memory-budget-mb", str(tight_mib), *ENGINE)
    except RuntimeError as error:
        assert "more than the memory budget leaves the language models" in str(error), error
    else:
        raise AssertionError("a budget the embedding model fills was accepted")
