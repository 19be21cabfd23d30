"""SIGHUP makes `kiln serve --models-dir DIR` rescan the folder (Docs/operations.md, "Reloading the
models folder"), tested on a real server with models linked into a temporary folder (the tiny llama.cpp
models of Tests/Fixtures/tiny-llamacpp, and SmolLM2 for a stream long enough to be in flight while its
file is removed): a file added becomes a model, a file removed leaves /v1/models at once while its
request in flight streams to the end and only then unloads, and a file changed (a link pointed at another
model, swapped in by a rename) answers as the new model once reloaded. Three models, three different
greedy answers: a request served by the wrong one would show."""
import json
import os
import signal
import threading
import time
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from conftest import ROOT, KilnServer
from test_multiple_models import fetch

FIXTURES = os.path.join(ROOT, "Tests", "Fixtures", "tiny-llamacpp")
PROMPT = [86, 103, 5, 103, 61, 67, 81, 38]
ENGINE = ["--kv-blocks", "32", "--threads", "1", "--embedding-model", "none", "--image-model", "none"]


def post(server, body, timeout=60):
    request = urllib.request.Request(server.base + "/v1/completions", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def answer(server, model, tokens=12):
    status, body = post(server, {"model": model, "prompt": PROMPT, "max_tokens": tokens, "temperature": 0,
                                 "ignore_eos": True})
    assert status == 200, (model, body)
    assert body["model"] == model
    return body["choices"][0]["text"]


def listed(server):
    return [m["id"] for m in json.load(urllib.request.urlopen(server.base + "/v1/models"))["data"]]


def metrics(server, name):
    text = urllib.request.urlopen(server.base + "/metrics").read().decode()
    return {tuple(sorted(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples if sample.name == name}


def wait_for(condition, what, seconds=30):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def link(folder, name, target):
    """Points `name` at `target` (a fixture's name, or a path) by a rename, so that the server never
    sees the link half made."""
    temporary = os.path.join(folder, f".{name}.new")
    os.symlink(os.path.join(FIXTURES, target), temporary)
    os.replace(temporary, os.path.join(folder, name))


class LogReader:
    """Reads the server's output on a thread (the pipe must not fill) and keeps its lines."""

    def __init__(self, server):
        self.lines = []
        self.lock = threading.Lock()
        threading.Thread(target=self._read, args=(server.process.stdout,), daemon=True).start()

    def _read(self, stream):
        for line in stream:
            with self.lock:
                self.lines.append(line.decode(errors="replace"))

    def has(self, *fragments):
        with self.lock:
            return any(all(f in line for f in fragments) for line in self.lines)


def test_sighup_rescans_the_models_folder(tmp_path):
    folder = str(tmp_path)
    link(folder, "alpha.gguf", "tiny-llama3.gguf")
    server = KilnServer("--models-dir", folder, *ENGINE)
    log = LogReader(server)
    try:
        assert listed(server) == ["alpha"]
        alpha = answer(server, "alpha")
        status, body = post(server, {"model": "beta", "prompt": PROMPT, "max_tokens": 1})
        assert status == 404 and body["error"]["code"] == "model_not_found"

        # Added: a new file is a model once the folder is rescanned, and not before.
        link(folder, "beta.gguf", os.environ.get("KILN_DEFAULT_MODEL") or fetch("text"))
        time.sleep(0.2)
        assert listed(server) == ["alpha"], "the folder is read on SIGHUP only"
        server.process.send_signal(signal.SIGHUP)
        wait_for(lambda: listed(server) == ["alpha", "beta"], "beta to be listed")
        beta = answer(server, "beta")
        assert beta != alpha, "two random models, two answers"
        wait_for(lambda: log.has("models folder reloaded", "added", "beta"), "the reload's log line")

        # Removed while a stream to it runs (240 tokens of SmolLM2 on one thread: seconds): the model
        # leaves the list at once and new requests are 404s, but it stays loaded until the stream has
        # ended, whole, and is unloaded then.
        request = urllib.request.Request(
            server.base + "/v1/completions", headers={"Content-Type": "application/json"},
            data=json.dumps({"model": "beta", "prompt": PROMPT, "max_tokens": 240, "temperature": 0,
                             "ignore_eos": True, "stream": True}).encode())
        with urllib.request.urlopen(request, timeout=60) as response:
            first = response.readline()  # the stream has begun: beta has a request in flight
            assert first.startswith(b"data: ")
            os.remove(os.path.join(folder, "beta.gguf"))
            server.process.send_signal(signal.SIGHUP)
            wait_for(lambda: listed(server) == ["alpha"], "beta to leave the list")
            status, body = post(server, {"model": "beta", "prompt": PROMPT, "max_tokens": 1})
            assert status == 404 and "alpha" in body["error"]["message"], body
            assert metrics(server, "kiln_model_loaded").get((("model_name", "beta"),)) == 1, "unloaded while busy"
            assert not metrics(server, "kiln_model_outdated_unloads_total").get((("model_name", "beta"),))
            events = [first.decode()[6:].strip()] + [
                line[6:] for line in response.read().decode().splitlines() if line.startswith("data: ")]
        assert events[-1] == "[DONE]"
        chunks = [json.loads(event) for event in events[:-1]]
        text = "".join(chunk["choices"][0]["text"] for chunk in chunks if chunk["choices"])
        assert text.startswith(beta), "the stream to the removed model was served by it, whole"
        finish = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
        assert finish == ["length"], finish
        wait_for(lambda: metrics(server, "kiln_model_outdated_unloads_total").get((("model_name", "beta"),)) == 1,
                 "beta to be unloaded once idle")
        assert metrics(server, "kiln_model_loaded").get((("model_name", "beta"),)) == 0

        # Changed: alpha's link now points at the Phi-3 model; alpha reloads from it once idle.
        link(folder, "alpha.gguf", "tiny-phi3.gguf")
        server.process.send_signal(signal.SIGHUP)
        wait_for(lambda: metrics(server, "kiln_model_outdated_unloads_total").get((("model_name", "alpha"),)) == 1,
                 "alpha to be unloaded for its new file")
        assert listed(server) == ["alpha"]
        phi3 = answer(server, "alpha")
        assert phi3 not in (alpha, beta), "alpha answers from its new file"

        changes = metrics(server, "kiln_model_folder_changes_total")
        assert changes[(("change", "added"),)] == 1
        assert changes[(("change", "removed"),)] == 1
        assert changes[(("change", "changed"),)] == 1
        assert metrics(server, "kiln_model_folder_reloads_total")[()] == 3

        # A file that is not a model is skipped and counted; the models stay as they were.
        with open(os.path.join(folder, "broken.gguf"), "wb") as broken:
            broken.write(b"not a gguf file")
        server.process.send_signal(signal.SIGHUP)
        wait_for(lambda: metrics(server, "kiln_model_folder_changes_total")[(("change", "skipped"),)] == 1,
                 "the broken file to be skipped")
        assert listed(server) == ["alpha"]
        assert answer(server, "alpha") == phi3
    finally:
        server.stop()
