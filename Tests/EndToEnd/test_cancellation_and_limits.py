"""Cancellation on disconnect, the bounded queue, and the scheduler's metrics."""
import http.client
import json
import socket
import threading
import time
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from conftest import KilnServer


def scrape(base):
    text = urllib.request.urlopen(base + "/metrics").read().decode()
    values = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            # The scheduler's gauges carry the served model's name, as vLLM's do.
            if not sample.labels or set(sample.labels) == {"model_name"}:
                values[sample.name] = sample.value
    return values


def wait_idle(base, within=1.0):
    """Waits until nothing runs or waits; returns the seconds it took (fails past `within`)."""
    start = time.time()
    while True:
        values = scrape(base)
        if values.get("kiln_requests_running") == 0 and values.get("kiln_requests_waiting") == 0:
            return time.time() - start
        assert time.time() - start < within, values
        time.sleep(0.02)


def open_stream(port, model, max_tokens=400):
    """Starts a streaming chat request on a raw socket and returns the socket."""
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": "Tell me a long story."}],
                       "max_tokens": max_tokens, "stream": True, "temperature": 0.9, "ignore_eos": True}).encode()
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    return sock


def read_events(sock, count):
    buffer = b""
    while buffer.count(b"data: ") < count:
        chunk = sock.recv(65536)
        assert chunk, "stream ended early"
        buffer += chunk
    return buffer


def test_stream_cut_after_three_tokens_frees_the_job(kiln):
    sock = open_stream(kiln.port, kiln.model)
    read_events(sock, 3)
    assert scrape(kiln.base)["kiln_requests_running"] >= 1
    sock.close()
    wait_idle(kiln.base, within=1.0)


def test_non_streaming_request_dropped_while_computing(kiln):
    body = json.dumps({"model": kiln.model, "prompt": "Once upon a time", "max_tokens": 400,
                       "ignore_eos": True}).encode()
    sock = socket.create_connection(("127.0.0.1", kiln.port))
    sock.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    deadline = time.time() + 10
    while scrape(kiln.base).get("kiln_requests_running", 0) < 1:
        assert time.time() < deadline
        time.sleep(0.02)
    sock.close()
    wait_idle(kiln.base, within=1.0)


def test_queue_full_gets_429_and_queued_drop_is_freed():
    server = KilnServer("--queue-capacity", "1", "--max-batch-sequences", "1")
    try:
        running = open_stream(server.port, server.model)
        read_events(running, 2)
        queued = open_stream(server.port, server.model)
        deadline = time.time() + 10
        while scrape(server.base).get("kiln_requests_waiting", 0) < 1:
            assert time.time() < deadline
            time.sleep(0.02)
        # The queue holds one job: the next request is refused with 429 and Retry-After.
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        connection.request("POST", "/v1/completions", json.dumps({"model": server.model, "prompt": "Hi", "max_tokens": 2}),
                           {"Content-Type": "application/json"})
        response = connection.getresponse()
        assert response.status == 429
        assert response.getheader("Retry-After") is not None
        assert json.loads(response.read())["error"]["type"] == "rate_limit_error"
        # A streaming request is refused the same way, before any event stream starts.
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        connection.request("POST", "/v1/chat/completions",
                           json.dumps({"model": server.model, "messages": [{"role": "user", "content": "Hi"}],
                                       "max_tokens": 2, "stream": True}),
                           {"Content-Type": "application/json"})
        response = connection.getresponse()
        assert response.status == 429
        assert response.getheader("Content-Type").startswith("application/json")
        assert json.loads(response.read())["error"]["type"] == "rate_limit_error"
        # Dropping the queued request removes it from the queue.
        queued.close()
        deadline = time.time() + 1
        while scrape(server.base).get("kiln_requests_waiting", 0) != 0:
            assert time.time() < deadline
            time.sleep(0.02)
        running.close()
        wait_idle(server.base, within=1.0)
    finally:
        server.stop()


def test_metrics_count_tokens_and_cache(kiln):
    before = scrape(kiln.base)
    request = urllib.request.Request(kiln.base + "/v1/completions", data=json.dumps(
        {"model": kiln.model, "prompt": "Counting: one two three four five six seven eight nine ten eleven twelve "
                                        "thirteen fourteen fifteen sixteen", "max_tokens": 3, "temperature": 0}).encode(),
        headers={"Content-Type": "application/json"})
    for _ in range(2):
        urllib.request.urlopen(request).read()
    # The scheduler records an iteration's figures just after it sends the iteration's events.
    deadline = time.time() + 1
    while True:
        after = scrape(kiln.base)
        if after["kiln_generation_tokens_total"] >= before.get("kiln_generation_tokens_total", 0) + 6 \
                or time.time() > deadline:
            break
        time.sleep(0.02)
    assert after["kiln_generation_tokens_total"] >= before.get("kiln_generation_tokens_total", 0) + 6
    assert after["kiln_prefix_cache_hits_total"] > before.get("kiln_prefix_cache_hits_total", 0)
    assert after["kiln_time_to_first_token_seconds_count"] >= before.get("kiln_time_to_first_token_seconds_count", 0) + 2
