"""X-Request-ID with the real binary: a well-formed id comes back, a malformed one is replaced, one is
made when none is sent; error bodies name it (and the official `openai` client still parses them,
reading the id from the header); the access log line and the server's lines about the request carry
it, and no other request's lines do.
"""
import http.client
import json
import re

import openai
import pytest

from conftest import KilnServer

GENERATED = re.compile(r"^[A-Za-z0-9_-]{15}$")


@pytest.fixture(scope="module")
def logged_server():
    server = KilnServer("--image-model", "none", "--embedding-model", "none", "--access-log", "true",
                        "--log-format", "json", "--log-level", "debug")
    yield server
    if server.process.poll() is None:
        server.stop()


def call(server, method, path, body=None, request_id=None):
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
    headers = {"Content-Type": "application/json"}
    if request_id is not None:
        headers["X-Request-ID"] = request_id
    connection.request(method, path, body=json.dumps(body).encode() if body is not None else None, headers=headers)
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response.status, response.getheader("X-Request-ID"), data


def chat(server, **extra):
    return {"model": server.model, "messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 4,
            "temperature": 0, **extra}


def test_request_ids_in_responses_error_bodies_and_log_lines(logged_server):
    server = logged_server
    status, echoed, _ = call(server, "POST", "/v1/chat/completions", chat(server), "e2e-json-1")
    assert (status, echoed) == (200, "e2e-json-1")
    status, echoed, data = call(server, "POST", "/v1/chat/completions", chat(server, stream=True), "e2e-sse:1")
    assert (status, echoed) == (200, "e2e-sse:1")
    assert data.rstrip().endswith(b"data: [DONE]")
    status, echoed, data = call(server, "POST", "/v1/chat/completions", chat(server, temperature=7), "e2e-bad.1")
    assert (status, echoed) == (400, "e2e-bad.1")
    assert json.loads(data)["error"]["request_id"] == "e2e-bad.1"
    status, echoed, data = call(server, "GET", "/no/such/path", request_id="e2e-404")
    assert (status, echoed, json.loads(data)["error"]["request_id"]) == (404, "e2e-404", "e2e-404")
    status, replaced, _ = call(server, "GET", "/health", request_id="not ok")
    assert status == 200 and GENERATED.match(replaced), replaced
    made = {call(server, "GET", "/v1/models")[1] for _ in range(20)}
    assert len(made) == 20 and all(GENERATED.match(i) for i in made)

    server.stop()
    lines = [json.loads(line) for line in server.process.stdout.read().decode().splitlines() if line.startswith("{")]

    def about(request_id):
        return [line for line in lines if line.get("request_id") == request_id]

    for request_id, status in (("e2e-json-1", 200), ("e2e-sse:1", 200), ("e2e-bad.1", 400), ("e2e-404", 404)):
        access = [line for line in about(request_id) if line["label"] == "kiln.access"]
        assert len(access) == 1 and access[0]["status"] == status, (request_id, about(request_id))
    for request_id in ("e2e-json-1", "e2e-sse:1"):
        finished = [line for line in about(request_id) if line["message"] == "generation finished"]
        assert len(finished) == 1 and finished[0]["completion_tokens"] >= 1, about(request_id)
    refused = [line for line in about("e2e-bad.1") if line["message"].startswith("request refused")]
    assert len(refused) == 1 and refused[0]["status"] == 400
    # Each request's lines name it alone: two access lines never share an id.
    access_ids = [line["request_id"] for line in lines if line["label"] == "kiln.access"]
    assert len(access_ids) == len(set(access_ids)) >= 25
    assert replaced in access_ids and made <= set(access_ids)


def test_the_openai_client_parses_errors_and_reads_the_id(kiln):
    client = openai.OpenAI(base_url=kiln.base + "/v1", api_key="unused", max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model=kiln.model, messages=[{"role": "user", "content": "Hi"}], max_tokens=2,
        extra_headers={"X-Request-ID": "openai-ok-1"})
    assert raw.headers["x-request-id"] == "openai-ok-1"
    assert raw.parse().choices[0].finish_reason in ("stop", "length")
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=kiln.model, messages=[{"role": "user", "content": "Hi"}],
                                       temperature=9, extra_headers={"X-Request-ID": "openai-bad-1"})
    error = caught.value
    assert error.status_code == 400 and error.param == "temperature" and error.type == "invalid_request_error"
    assert error.request_id == "openai-bad-1" and error.body["request_id"] == "openai-bad-1"
    with pytest.raises(openai.NotFoundError) as caught:
        client.models.retrieve("no-such-model")
    assert caught.value.code == "model_not_found" and GENERATED.match(caught.value.request_id)
    assert caught.value.body["request_id"] == caught.value.request_id
