"""Helpers shared by the benchmark scripts that drive a real `kiln serve`: starting it on a free
port, streaming text to measure inter-token latency, scraping /metrics, percentiles."""
import http.client
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def default_binary():
    """.build/release/kiln, else .build/debug/kiln."""
    return next(path for path in (os.path.join(ROOT, ".build", "release", "kiln"),
                                  os.path.join(ROOT, ".build", "debug", "kiln")) if os.path.exists(path))


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))] if ordered else float("nan")


class Server:
    """`kiln serve` with `flags` on a free loopback port; stop() sends SIGTERM."""

    def __init__(self, binary, flags):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.process = subprocess.Popen([binary, "serve", "--port", str(self.port), "--access-log", "false", *flags],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 120
        while True:
            try:
                if urllib.request.urlopen(f"http://127.0.0.1:{self.port}/ready", timeout=1).status == 200:
                    break
            except Exception:
                assert self.process.poll() is None, "kiln exited"
                assert time.time() < deadline, "kiln did not become ready"
                time.sleep(0.2)
        self.models = [m["id"] for m in json.load(urllib.request.urlopen(f"http://127.0.0.1:{self.port}/v1/models"))["data"]]

    def post(self, path, body, timeout=600):
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.load(response)

    def scrape(self, name):
        text = urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics").read().decode()
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return 0.0

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=60)


def stream_text(port, model, tokens):
    """Streams one completion; returns the gaps between its tokens (seconds)."""
    body = json.dumps({"model": model, "prompt": "Write a short story about a lighthouse keeper.",
                       "max_tokens": tokens, "stream": True, "temperature": 0.8, "ignore_eos": True})
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    connection.request("POST", "/v1/completions", body, {"Content-Type": "application/json"})
    response = connection.getresponse()
    assert response.status == 200, response.read()[:200]
    arrivals = []
    for line in response:
        if line.startswith(b"data: ") and not line.startswith(b"data: [DONE]"):
            event = json.loads(line[6:])
            if event["choices"] and event["choices"][0]["text"]:
                arrivals.append(time.perf_counter())
    connection.close()
    return [b - a for a, b in zip(arrivals, arrivals[1:])]


def measure_text(port, model, seconds, tokens):
    """Streams completions one after another for `seconds`; returns every inter-token gap."""
    gaps, end = [], time.time() + seconds
    while time.time() < end:
        gaps += stream_text(port, model, tokens)
    return gaps
