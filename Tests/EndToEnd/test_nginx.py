"""deploy/nginx: Debian's open-source nginx, with the shipped kiln.conf and kiln-upstreams.conf, in
front of stub replicas that report who answered (and, last, of the real kiln binary).

What it checks: the configuration is valid; requests without a session go to the least busy
replica; a session header pins a conversation to one replica; a refused connection is retried on
another replica, POST included; a POST that reached a replica is never sent to a second one; and
Server-Sent Events pass through unbuffered. Only the replica addresses and the listening port of
the shipped files are rewritten for the test.
"""
import http.client
import importlib.util
import http.server
import json
import pathlib
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time

import pytest

from conftest import ROOT, free_port

NGINX_DIR = pathlib.Path(ROOT) / "deploy" / "nginx"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


class Replica(http.server.ThreadingHTTPServer):
    """A stub Kiln replica: answers with its name, counts requests, and can hold, drop or stream."""
    daemon_threads = True

    def __init__(self, name):
        super().__init__(("127.0.0.1", 0), ReplicaHandler)
        self.name = name
        self.lock = threading.Lock()
        self.requests = []
        self.holding = threading.Event()
        self.release = threading.Event()
        self.first_event_seen = threading.Event()
        self.sent_second_event_after_first_was_seen = None
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def port(self):
        return self.server_address[1]

    def count(self, method=None):
        with self.lock:
            return sum(1 for m, _ in self.requests if method is None or m == method)


class ReplicaHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def handle_any(self):
        replica = self.server
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        with replica.lock:
            replica.requests.append((self.command, self.path))
        if self.path == "/drop":
            # Took the request, then died before answering: the request may have started work.
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if self.path == "/hold":
            replica.holding.set()
            replica.release.wait(30)
        if self.path == "/stream":
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.chunk(b"data: first\n\n")
            # The second event waits until the client has the first: if anything between buffered
            # the stream, the client sees nothing until the stub gives up after 10 s.
            replica.sent_second_event_after_first_was_seen = replica.first_event_seen.wait(10)
            self.chunk(b"data: [DONE]\n\n")
            self.chunk(b"")
            return
        answer = json.dumps({"replica": replica.name, "body_bytes": len(body)}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    do_GET = do_POST = handle_any


@pytest.fixture
def replicas():
    made = [Replica(name) for name in ("a", "b", "c")]
    yield made
    for replica in made:
        replica.release.set()
        replica.shutdown()
        replica.server_close()


def closed_port():
    """A loopback port with nothing listening on it: connections to it are refused."""
    return free_port()


def load_scale_out_script():
    """Scripts/scale-out.py as a module: its `Nginx` runs the shipped files, ports templated."""
    spec = importlib.util.spec_from_file_location("scale_out", pathlib.Path(ROOT) / "Scripts" / "scale-out.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Nginx(load_scale_out_script().Nginx):
    """nginx with the shipped kiln.conf and kiln-upstreams.conf in front of `ports` (only the
    replica ports and the listening port rewritten: the scale-out script's), and request helpers."""

    def request(self, method, path, body=None, headers=None, timeout=30):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            data = response.read()
            return response.status, data
        finally:
            connection.close()

    def replica(self, method, path, **kwargs):
        status, data = self.request(method, path, **kwargs)
        assert status == 200, (status, data)
        return json.loads(data)["replica"]

@pytest.fixture
def nginx_for():
    started = []

    def start(ports):
        server = Nginx(ports)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def test_the_shipped_configuration_is_valid():
    result = subprocess.run(
        [NGINX, "-t", "-p", str(NGINX_DIR), "-c", "nginx.conf", "-g", f"pid {tempfile.gettempdir()}/kiln-nginx-t.pid; error_log stderr;"],
        capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr
    # The choices Docs/operations.md describes, so that an edit cannot drop one unnoticed.
    site = (NGINX_DIR / "kiln.conf").read_text()
    upstreams = (NGINX_DIR / "kiln-upstreams.conf").read_text()
    assert re.search(r"^\s*proxy_next_upstream error timeout;", site, re.M)
    assert "non_idempotent" not in re.sub(r"#.*", "", site)
    assert re.search(r"^\s*proxy_buffering off;", site, re.M)
    assert re.search(r"^\s*least_conn;", upstreams, re.M)
    assert re.search(r"^\s*hash \$http_x_session_id consistent;", upstreams, re.M)
    assert not re.search(r"^\s*keepalive\s", upstreams, re.M)


def test_requests_go_to_the_least_busy_replica(replicas, nginx_for):
    nginx = nginx_for([r.port for r in replicas])
    holder = threading.Thread(target=lambda: nginx.request("POST", "/hold", body=b"{}"), daemon=True)
    holder.start()
    deadline = time.time() + 10
    while not any(r.holding.is_set() for r in replicas):
        assert time.time() < deadline
        time.sleep(0.01)
    busy = next(r.name for r in replicas if r.holding.is_set())
    answered = [nginx.replica("POST", "/v1/chat/completions", body=b"{}") for _ in range(8)]
    assert busy not in answered
    assert set(answered) == {r.name for r in replicas} - {busy}
    for replica in replicas:
        replica.release.set()
    holder.join(10)


def test_a_session_stays_on_one_replica(replicas, nginx_for):
    nginx = nginx_for([r.port for r in replicas])
    chosen = {}
    for turn in range(3):
        for session in range(12):
            name = nginx.replica("POST", "/v1/chat/completions", body=b"{}", headers={"X-Session-ID": f"conversation-{session}"})
            assert chosen.setdefault(session, name) == name, f"session {session} moved on turn {turn}"
    # Consistent hashing spreads the sessions over the replicas.
    assert len(set(chosen.values())) >= 2


def test_a_refused_connection_is_retried_on_another_replica(replicas, nginx_for):
    """One replica is down (its port refuses connections, as a draining Kiln's does): every
    request still succeeds, POSTs and sessions included."""
    nginx = nginx_for([replicas[0].port, closed_port(), replicas[1].port])
    for number in range(9):
        assert nginx.replica("POST", "/v1/chat/completions", body=b"{}") in ("a", "b")
    for session in range(12):
        assert nginx.replica("POST", "/v1/completions", body=b"{}", headers={"X-Session-ID": f"s{session}"}) in ("a", "b")
    assert nginx.replica("GET", "/v1/models") in ("a", "b")


def test_a_generation_that_reached_a_replica_is_never_sent_twice(replicas, nginx_for):
    nginx = nginx_for([r.port for r in replicas])
    status, _ = nginx.request("POST", "/drop", body=b'{"prompt":"once"}')
    assert status == 502
    assert sum(r.count("POST") for r in replicas) == 1
    # A GET is idempotent: the same failure is retried, on each of the two other replicas (the
    # one that dropped the POST sits out its fail_timeout).
    dropped_post = next(r for r in replicas if r.count("POST"))
    status, _ = nginx.request("GET", "/drop")
    assert status == 502
    assert [r.count("GET") for r in replicas if r is not dropped_post] == [1, 1]
    assert dropped_post.count("GET") == 0


def test_server_sent_events_are_not_buffered(replicas, nginx_for):
    nginx = nginx_for([replicas[0].port] * 3)
    connection = http.client.HTTPConnection("127.0.0.1", nginx.port, timeout=30)
    connection.request("POST", "/stream", body=b"{}", headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    assert response.status == 200
    assert response.getheader("Content-Type") == "text/event-stream"
    first = response.readline()
    assert first == b"data: first\n"
    replicas[0].first_event_seen.set()
    rest = response.read()
    connection.close()
    assert b"data: [DONE]" in rest
    assert replicas[0].sent_second_event_after_first_was_seen is True


def test_kiln_streams_through_nginx(kiln, nginx_for):
    """The real binary behind the shipped configuration, one of its three replicas down."""
    nginx = nginx_for([closed_port(), kiln.port, closed_port()])
    body = json.dumps({"model": kiln.model, "messages": [{"role": "user", "content": "Say hello."}],
                       "max_tokens": 8, "stream": True, "temperature": 0}).encode()
    for session in ("one", "two", ""):
        headers = {"Content-Type": "application/json"}
        if session:
            headers["X-Session-ID"] = session
        status, data = nginx.request("POST", "/v1/chat/completions", body=body, headers=headers, timeout=120)
        assert status == 200, data
        events = [line for line in data.decode().splitlines() if line.startswith("data: ")]
        assert events[-1] == "data: [DONE]" and len(events) >= 3
