"""POST /v1/embeddings on the real binary serving a llama.cpp `bert` GGUF (`--embedding-model
FILE.gguf`): the tiny BERT of Tests/Fixtures/embeddings, checked against the vectors llama.cpp's
server gave for the same sentences (tiny-bert-llamacpp.json; bounds as SentenceEncoderGGUFTests'
and PROVENANCE.md explain: cosine >= 0.99999, max-abs <= 1e-3)."""
import json
import os
import urllib.request

import pytest

from conftest import KilnServer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(ROOT, "Tests", "Fixtures", "embeddings")

with open(os.path.join(FIXTURES, "tiny-bert-llamacpp.json")) as f:
    REFERENCE = json.load(f)


@pytest.fixture(scope="module")
def gguf_kiln():
    server = KilnServer("--image-model", "none", "--embedding-model", os.path.join(FIXTURES, "tiny-bert-f16.gguf"))
    yield server
    server.stop()


def test_a_gguf_file_is_served_as_llama_cpp_serves_it(gguf_kiln):
    with urllib.request.urlopen(gguf_kiln.base + "/v1/models") as response:
        assert "tiny-bert-f16" in [m["id"] for m in json.load(response)["data"]]
    # Words over 100 characters: Kiln makes them [UNK], as the model's own tokenizer does, and
    # llama.cpp splits them (see WordPieceLlamaCppEncoderTests).
    cases = [c for c in REFERENCE["cases"] if not any(len(w) > 100 for w in c["text"].split())]
    body = {"model": "tiny-bert-f16", "input": [c["text"] for c in cases]}
    request = urllib.request.Request(
        gguf_kiln.base + "/v1/embeddings", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as response:
        reply = json.load(response)
    assert reply["usage"]["prompt_tokens"] == sum(len(c["ids"]) for c in cases)
    for case, item in zip(cases, sorted(reply["data"], key=lambda d: d["index"])):
        vector, expected = item["embedding"], case["embedding_f16"]
        cosine = sum(a * b for a, b in zip(vector, expected))
        worst = max(abs(a - b) for a, b in zip(vector, expected))
        assert cosine >= 0.99999 and worst <= 1e-3, f"cosine {cosine}, max-abs {worst} for {case['text'][:40]!r}"
