"""Scale-out: Scripts/scale-out.py, bounded (8 streaming clients for 20 s, 16 tokens each), runs three
replicas of the real binary behind Debian's nginx with deploy/nginx and restarts one with SIGTERM
mid-run: no client may see an error, every stream must end with a finish_reason. Then the two server
behaviours that make that hold, each provoked directly: a request that arrives after SIGTERM on a
connection opened before it is served, not refused; with `--listen-after-load` the port opens only
once the replica is ready.
"""
import http.client
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time

from conftest import ROOT, KilnServer, free_port

SCRIPT = pathlib.Path(ROOT) / "Scripts" / "scale-out.py"
BINARY = os.environ.get("KILN_BINARY", os.path.join(ROOT, ".build", "debug", "kiln"))


def test_rolling_restart_behind_nginx_has_no_client_errors():
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--binary", BINARY, "--clients", "8", "--seconds", "20",
         "--max-tokens", "16", "--phases", "restart", "--restart-at", "0.25", "--json"],
        capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    (phase,) = report["phases"]
    assert phase["errors"] == 0
    assert phase["restart"]["exit_code"] == 0 and phase["restart"]["back_after_s"] > 0
    assert phase["streams_finished"] >= 8
    assert sum(phase["finish_reasons"].values()) == phase["streams_finished"]
    assert set(phase["finish_reasons"]) <= {"stop", "length"}
    assert phase["tokens"] > 0


def test_a_request_on_a_connection_opened_before_sigterm_is_served():
    """While a long stream keeps the server draining, a connection opened before SIGTERM sends its
    first request: it is answered 200 with `Connection: close` (a proxy cannot retry a POST it sent,
    so a 503 here would be a client error), and the server still exits 0."""
    # A grace period longer than any stream here, so that only a bug can cut one.
    server = KilnServer("--image-model", "none", "--embedding-model", "none", "--shutdown-grace-period", "120")
    body = {"model": server.model, "messages": [{"role": "user", "content": "Tell me a long story."}],
            "max_tokens": 64, "temperature": 0, "ignore_eos": True, "stream": True}
    long_stream = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
    long_stream.request("POST", "/v1/chat/completions", body=json.dumps(body).encode(),
                        headers={"Content-Type": "application/json"})
    streaming = long_stream.getresponse()
    assert streaming.status == 200
    streaming.readline()  # the first event: the generation runs
    waiting = socket.create_connection(("127.0.0.1", server.port), timeout=60)
    time.sleep(0.2)  # accepted
    server.process.send_signal(signal.SIGTERM)
    time.sleep(0.5)  # draining: the listening socket is closed
    try:
        socket.create_connection(("127.0.0.1", server.port), timeout=2).close()
        raise AssertionError("a new connection was accepted while draining")
    except ConnectionRefusedError:
        pass
    short = json.dumps({"model": server.model, "messages": [{"role": "user", "content": "Hi"}],
                        "max_tokens": 2}).encode()
    waiting.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                    b"X-Request-ID: after-sigterm\r\nContent-Length: %d\r\n\r\n%s" % (len(short), short))
    answer = b""
    while True:
        chunk = waiting.recv(65536)
        if not chunk:
            break
        answer += chunk
    waiting.close()
    head = answer.split(b"\r\n\r\n", 1)[0].decode().lower()
    assert head.startswith("http/1.1 200"), answer[:500]
    assert "connection: close" in head and "x-request-id: after-sigterm" in head
    rest = streaming.read().decode()
    long_stream.close()
    assert rest.rstrip().endswith("data: [DONE]")
    assert server.process.wait(timeout=60) == 0


def test_listen_after_load_opens_the_port_only_when_ready():
    port = free_port()
    process = subprocess.Popen(
        [BINARY, "serve", "--host", "127.0.0.1", "--port", str(port), "--image-model", "none",
         "--embedding-model", "none", "--listen-after-load", "true", "--access-log", "false"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        refused = 0
        deadline = time.time() + 60
        while True:
            assert process.poll() is None and time.time() < deadline
            try:
                probe = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                probe.request("GET", "/ready")
                response = probe.getresponse()
                break
            except ConnectionRefusedError:
                refused += 1
                time.sleep(0.01)
        # The first connection that got through found the replica ready.
        assert refused > 0
        assert response.status == 200 and json.loads(response.read()) == {"status": "ready"}
        probe.close()
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
