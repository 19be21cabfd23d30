"""POST /v1/embeddings on the real binary serving the default embedding model (all-MiniLM-L6-v2),
driven by the official `openai` client and checked against sentence-transformers' vectors
(Tests/Fixtures/embeddings/minilm-reference.json: cosine >= 0.9999, max-abs <= 1e-4)."""
import base64
import concurrent.futures
import json
import os
import struct
import urllib.error
import urllib.request

import openai
import pytest

from conftest import KilnServer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODEL = "all-MiniLM-L6-v2"

with open(os.path.join(ROOT, "Tests", "Fixtures", "embeddings", "minilm-reference.json")) as f:
    REFERENCE = json.load(f)


@pytest.fixture(scope="module")
def client(kiln):
    return openai.OpenAI(base_url=kiln.base + "/v1", api_key="unused", max_retries=0, timeout=120)


def post(kiln, body):
    request = urllib.request.Request(
        kiln.base + "/v1/embeddings", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def assert_close(vector, expected, label):
    dot = sum(a * b for a, b in zip(vector, expected))
    norm = (sum(a * a for a in vector) ** 0.5) * (sum(b * b for b in expected) ** 0.5)
    worst = max(abs(a - b) for a, b in zip(vector, expected))
    assert len(vector) == len(expected), label
    assert dot / norm >= 0.9999, f"cosine {dot / norm} for {label!r}"
    assert worst <= 1e-4, f"max-abs {worst} for {label!r}"


def test_the_model_is_listed(client):
    assert MODEL in [m.id for m in client.models.list().data]


def test_every_reference_sentence_matches_sentence_transformers(client):
    cases = REFERENCE["cases"]
    reply = client.embeddings.create(
        model=MODEL, input=[c["text"] for c in cases], encoding_format="float", extra_body={"truncate": True})
    assert [d.index for d in reply.data] == list(range(len(cases)))
    for case, item in zip(cases, reply.data):
        assert_close(item.embedding, case["embedding"], case["text"][:40])
    assert reply.usage.prompt_tokens == sum(len(c["ids"]) for c in cases)
    assert reply.usage.total_tokens == reply.usage.prompt_tokens
    assert reply.model == MODEL


def test_a_single_string_and_the_clients_default_base64(client):
    # Without encoding_format the client asks for base64 and decodes it itself.
    reply = client.embeddings.create(model=MODEL, input="A man is eating food.")
    expected = next(c for c in REFERENCE["cases"] if c["text"] == "A man is eating food.")
    assert len(reply.data) == 1
    assert_close(reply.data[0].embedding, expected["embedding"], "base64 default")


def test_explicit_base64_is_little_endian_float32(client):
    reply = client.embeddings.create(model=MODEL, input=["", "Hello, world!"], encoding_format="base64")
    for item, text in zip(reply.data, ["", "Hello, world!"]):
        raw = base64.b64decode(item.embedding)
        vector = struct.unpack(f"<{len(raw) // 4}f", raw)
        expected = next(c for c in REFERENCE["cases"] if c["text"] == text)
        assert_close(vector, expected["embedding"], text)


def test_token_arrays_embed_like_their_text(client):
    case = next(c for c in REFERENCE["cases"] if c["text"] == "The quick brown fox jumps over the lazy dog.")
    words = case["ids"][1:-1]  # the text's tokens, without [CLS] and [SEP]
    one = client.embeddings.create(model=MODEL, input=words, encoding_format="float")
    many = client.embeddings.create(model=MODEL, input=[words, words[:3]], encoding_format="float")
    assert_close(one.data[0].embedding, case["embedding"], "token array")
    assert many.data[0].embedding == one.data[0].embedding
    assert len(many.data) == 2 and one.usage.prompt_tokens == len(case["ids"])


def test_dimensions_equal_to_the_models_are_accepted(client):
    reply = client.embeddings.create(model=MODEL, input="x", dimensions=384, encoding_format="float")
    assert len(reply.data[0].embedding) == 384


@pytest.mark.parametrize("body, status, param", [
    ({"model": MODEL, "input": []}, 400, "input"),
    ({"model": MODEL}, 400, "input"),
    ({"model": MODEL, "input": [1, "a"]}, 400, "input"),
    ({"model": MODEL, "input": [[1, -2]]}, 400, "input"),
    ({"model": MODEL, "input": [[30522]]}, 400, "input"),
    ({"model": MODEL, "input": "x", "dimensions": 128}, 400, "dimensions"),
    ({"model": MODEL, "input": "x", "encoding_format": "int8"}, 400, "encoding_format"),
    ({"model": "no-such-model", "input": "x"}, 404, None),
])
def test_bad_requests_get_an_openai_error(kiln, body, status, param):
    code, reply = post(kiln, body)
    assert code == status, reply
    assert reply["error"]["message"]
    if param:
        assert reply["error"]["param"] == param


def test_an_input_over_the_limit_is_refused_unless_truncated(kiln):
    long_case = next(c for c in REFERENCE["cases"] if c["truncated"])
    code, reply = post(kiln, {"model": MODEL, "input": long_case["text"]})
    assert code == 400 and reply["error"]["code"] == "context_length_exceeded"
    assert "truncate" in reply["error"]["message"]
    code, reply = post(kiln, {"model": MODEL, "input": long_case["text"], "truncate": True})
    assert code == 200
    assert_close(reply["data"][0]["embedding"], long_case["embedding"], "truncated")
    assert reply["usage"]["prompt_tokens"] == REFERENCE["max_seq_length"]


def test_concurrent_clients_all_get_their_own_vectors(client):
    cases = [c for c in REFERENCE["cases"] if not c["truncated"]][:16]

    def embed(case):
        return client.embeddings.create(model=MODEL, input=case["text"], encoding_format="float").data[0].embedding

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        vectors = list(pool.map(embed, cases))
    for case, vector in zip(cases, vectors):
        assert_close(vector, case["embedding"], case["text"][:40])


def test_embedding_metrics_are_exported(kiln, client):
    client.embeddings.create(model=MODEL, input=["count me", "and me"])
    with urllib.request.urlopen(kiln.base + "/metrics") as response:
        text = response.read().decode()
    inputs = [line for line in text.splitlines() if line.startswith("kiln_embedding_inputs_total")]
    assert inputs and float(inputs[0].split()[-1]) >= 2
    assert "kiln_embedding_step_duration_seconds_bucket" in text


@pytest.fixture(scope="module")
def pooled_text_model():
    server = KilnServer("--text-model-pooling", "mean", "--embedding-model", "none", "--image-model", "none",
                        "--embedding-max-inputs", "4", "--embedding-max-request-tokens", "64")
    yield server
    server.stop()


def test_the_language_model_embeds_when_it_pools(pooled_text_model):
    client = openai.OpenAI(base_url=pooled_text_model.base + "/v1", api_key="unused", max_retries=0, timeout=120)
    texts = ["The cat sat on the mat.", "A cat is sitting on a mat.", "Stocks fell sharply today."]
    reply = client.embeddings.create(model=pooled_text_model.model, input=texts, encoding_format="float")
    vectors = [item.embedding for item in reply.data]
    assert len(vectors) == 3 and all(len(v) == 576 for v in vectors)  # SmolLM2-135M's width
    for vector in vectors:
        assert abs(sum(x * x for x in vector) - 1) < 1e-4
    # Each input's vector depends on that input alone: the same text alone or in a batch.
    alone = client.embeddings.create(model=pooled_text_model.model, input=texts[1], encoding_format="float")
    assert max(abs(a - b) for a, b in zip(alone.data[0].embedding, vectors[1])) < 1e-6
    code, body = post(pooled_text_model, {"model": MODEL, "input": "x"})
    assert code == 404  # the sentence encoder is off on this server
    # The limits are settings: 4 inputs, 64 tokens in a request.
    code, body = post(pooled_text_model, {"input": ["a"] * 5})
    assert code == 400 and "at most 4" in body["error"]["message"]
    code, body = post(pooled_text_model, {"input": ["word " * 40, "word " * 40]})
    assert code == 400 and "more than 64 tokens" in body["error"]["message"]
    # SmolLM2 adds no BOS or EOS: an empty text has no token to pool.
    code, body = post(pooled_text_model, {"input": ["fine", ""]})
    assert code == 400 and "input 1 has no tokens" in body["error"]["message"]
