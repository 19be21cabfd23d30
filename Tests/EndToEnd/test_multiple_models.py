"""Two language models in one `kiln serve`, of two architectures: SmolLM2-135M (llama, Q4_1) and
Gemma 3 270M (gemma3, Q4_K_M; Scripts/test.sh fetches it). Requests are routed by `model`,
interleaved from several threads; under a memory budget that holds only one of them at a time the
server unloads and reloads them, and no request is lost or answered by the wrong model. Greedy
answers are compared with the ones the same server gave each model alone, one request at a time.

The peak resident memory (VmHWM) of both servers is printed (`pytest -s`) and recorded in
Docs/models.md; once Gemma 3 is unloaded for SmolLM2, the budgeted server's resident memory must
fall well below its peak (an unloaded model gives its memory back)."""
import json
import os
import subprocess
import threading
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import ROOT, KilnServer

SMOL = "SmolLM2-135M-Instruct.Q4_1"
GEMMA = "gemma-3-270m-q4_k_m"
PROMPTS = ["The capital of France is", "Water boils at", "One, two, three,"]
# 128 KV blocks of 16 tokens: SmolLM2 costs 94 MiB of file + 45 MiB of KV cache, Gemma 3 241 + 36.
# 350 MiB holds either but not both.
ENGINE = ["--kv-blocks", "128", "--embedding-model", "none", "--image-model", "none"]
BUDGET_MIB = 350


def fetch(name):
    """The cached model's path (Scripts/fetch-model.sh fetches it, checked, if it is missing)."""
    script = os.path.join(ROOT, "Scripts", "fetch-model.sh")
    return subprocess.run([script, name], check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("models")
    smol = os.environ.get("KILN_DEFAULT_MODEL") or fetch("text")
    os.symlink(smol, directory / f"{SMOL}.gguf")
    os.symlink(fetch("gemma-3-270m"), directory / f"{GEMMA}.gguf")
    return directory


def post(server, path, body, timeout=300):
    request = urllib.request.Request(
        server.base + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def complete(server, model, prompt, usage=None):
    """The greedy answer; adds the tokens generated to `usage[model]` when given."""
    status, body = post(server, "/v1/completions", {"model": model, "prompt": prompt, "max_tokens": 8, "temperature": 0})
    assert status == 200, (model, prompt, body)
    assert body["model"] == model
    if usage is not None:
        usage[model] = usage.get(model, 0) + body["usage"]["completion_tokens"]
    return body["choices"][0]["text"]


def interleaved(server, rounds=2, usage=None):
    """Each of six threads sends every prompt to both models in turn; returns what came back."""
    results, errors = [], []
    lock = threading.Lock()

    def client(index):
        models = [SMOL, GEMMA] if index % 2 == 0 else [GEMMA, SMOL]
        for _ in range(rounds):
            for prompt in PROMPTS[index % 3:] + PROMPTS[:index % 3]:
                for model in models:
                    try:
                        counted = {}
                        text = complete(server, model, prompt, counted)
                        with lock:
                            results.append((model, prompt, text))
                            if usage is not None:
                                usage[model] = usage.get(model, 0) + counted[model]
                    except AssertionError as error:
                        with lock:
                            errors.append(str(error))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    assert not errors, errors[:3]
    return results


def metric_values(server, name):
    text = urllib.request.urlopen(server.base + "/metrics").read().decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                yield sample.labels.get("model_name"), sample.value


def resident_mib(server, field):
    """VmRSS (now) or VmHWM (peak) of the server process, in MiB."""
    with open(f"/proc/{server.process.pid}/status") as status:
        line = next(l for l in status if l.startswith(field + ":"))
    return int(line.split()[1]) / 1024


@pytest.fixture(scope="module")
def both_loaded(models_dir):
    """No budget: both models stay loaded; named one by -m id=path, one by path."""
    server = KilnServer(
        "-m", f"{SMOL}={models_dir}/{SMOL}.gguf", "-m", str(models_dir / f"{GEMMA}.gguf"), *ENGINE)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def budgeted(models_dir):
    server = KilnServer("--models-dir", str(models_dir), "--memory-budget-mb", str(BUDGET_MIB), *ENGINE)
    yield server
    server.stop()


def test_both_models_are_listed_and_answer_by_their_id(both_loaded):
    ids = [m["id"] for m in json.load(urllib.request.urlopen(both_loaded.base + "/v1/models"))["data"]]
    assert ids == [SMOL, GEMMA]
    for model in ids:
        assert json.load(urllib.request.urlopen(both_loaded.base + f"/v1/models/{model}"))["id"] == model
    alone = {(m, p): complete(both_loaded, m, p) for m in ids for p in PROMPTS}
    # Two architectures, two answers: a request answered by the wrong model would show.
    assert any(alone[(SMOL, p)] != alone[(GEMMA, p)] for p in PROMPTS)
    for model, prompt, text in interleaved(both_loaded, rounds=1):
        assert text == alone[(model, prompt)], (model, prompt)
    print(f"\npeak resident memory, both models loaded: {resident_mib(both_loaded, 'VmHWM'):.0f} MiB")
    generated = dict(metric_values(both_loaded, "kiln_generation_tokens_total"))
    assert generated[SMOL] > 0 and generated[GEMMA] > 0, generated


def test_an_unknown_model_is_a_404_naming_the_served_ones_and_never_a_path(both_loaded, models_dir):
    for name in ["gpt-4", f"{models_dir}/{SMOL}.gguf", f"../{SMOL}", f"{SMOL}.gguf"]:
        status, body = post(both_loaded, "/v1/completions", {"model": name, "prompt": "Hi", "max_tokens": 1})
        assert status == 404, (name, body)
        assert body["error"]["code"] == "model_not_found" and body["error"]["param"] == "model"
        assert SMOL in body["error"]["message"] and GEMMA in body["error"]["message"]
    status, body = post(both_loaded, "/v1/completions", {"prompt": "Hi", "max_tokens": 1})
    assert status == 400 and body["error"]["param"] == "model"
    # llama.cpp's /tokenize takes an optional model: each model's own vocabulary answers.
    _, smol = post(both_loaded, "/tokenize", {"content": "Hello world", "model": SMOL})
    _, gemma = post(both_loaded, "/tokenize", {"content": "Hello world", "model": GEMMA})
    assert smol["tokens"] != gemma["tokens"]


def test_a_budget_for_one_model_swaps_them_and_loses_nothing(budgeted, both_loaded):
    ids = [m["id"] for m in json.load(urllib.request.urlopen(budgeted.base + "/v1/models"))["data"]]
    assert ids == [SMOL, GEMMA]  # models_dir's files, sorted by name
    loaded = dict(metric_values(budgeted, "kiln_model_loaded"))
    assert loaded == {SMOL: 1.0, GEMMA: 0.0}, "only the first model fits at start"
    expected = {(m, p): complete(both_loaded, m, p) for m in ids for p in PROMPTS}
    usage = {}
    results = interleaved(budgeted, usage=usage)
    assert len(results) == 6 * 2 * len(PROMPTS) * 2
    for model, prompt, text in results:
        assert text == expected[(model, prompt)], (model, prompt)
    loads = dict(metric_values(budgeted, "kiln_model_loads_total"))
    unloads = dict(metric_values(budgeted, "kiln_model_unloads_total"))
    assert loads[GEMMA] >= 1 and unloads[SMOL] >= 1 and loads[SMOL] >= 2, (loads, unloads)
    assert sum(unloads.values()) >= 2, "an unload and a reload"
    assert sum(loaded for loaded in dict(metric_values(budgeted, "kiln_model_loaded")).values()) == 1
    resident = dict(metric_values(budgeted, "kiln_models_resident_bytes"))[None]
    assert 0 < resident <= BUDGET_MIB << 20
    # Counters go on across unloads: every token generated is still counted.
    generated = dict(metric_values(budgeted, "kiln_generation_tokens_total"))
    assert generated == usage, (generated, usage)
    # A stream to the model that is not in memory waits for its load, then streams as usual.
    unloaded = next(m for m, v in metric_values(budgeted, "kiln_model_loaded") if v == 0)
    request = urllib.request.Request(
        budgeted.base + "/v1/completions", headers={"Content-Type": "application/json"},
        data=json.dumps({"model": unloaded, "prompt": PROMPTS[0], "max_tokens": 8, "temperature": 0, "stream": True}).encode())
    with urllib.request.urlopen(request, timeout=300) as response:
        events = [line[6:] for line in response.read().decode().splitlines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert {c["model"] for c in chunks} == {unloaded}
    assert "".join(c["choices"][0]["text"] for c in chunks if c["choices"]) == expected[(unloaded, PROMPTS[0])]
    # SmolLM2 back in memory, Gemma 3 out: the memory Gemma 3 took is given back (its file alone is
    # 147 MiB larger than SmolLM2's).
    complete(budgeted, SMOL, PROMPTS[0])
    now, peak = resident_mib(budgeted, "VmRSS"), resident_mib(budgeted, "VmHWM")
    both = resident_mib(both_loaded, "VmHWM")
    print(f"\npeak resident memory: budget {BUDGET_MIB} MiB {peak:.0f} MiB (now, SmolLM2 alone: {now:.0f} MiB),"
          f" both models loaded {both:.0f} MiB; {sum(unloads.values()):.0f} unloads")
    assert now < peak - 64
