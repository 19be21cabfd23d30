#!/usr/bin/env python3
"""Load benchmark for `kiln serve`: closed-loop clients, each streaming 64 tokens per request.

For each concurrency (default 1, 4, 16) it runs for a fixed time and prints aggregate generated
tokens/s, time to first token p50/p99 and inter-token latency p50/p99 (milliseconds), measured
at the client from the SSE events. Start the server yourself, or pass --start to have this script
start .build/release/kiln on a free port.

    Scripts/bench-serve.py --start --seconds 30
    Scripts/bench-serve.py --url http://127.0.0.1:8080 --concurrency 1 4 16
"""
import argparse
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import threading
import time
import urllib.parse
import urllib.request

PROMPT = "Write a short story about a lighthouse keeper."  # 13 tokens with SmolLM2's tokenizer


def percentile(values, q):
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def one_request(host, port, model, tokens):
    """Streams one completion; returns (time to first token, [inter-token gaps], tokens)."""
    body = json.dumps({"model": model, "prompt": PROMPT, "max_tokens": tokens, "stream": True,
                       "temperature": 0.8, "ignore_eos": True})
    connection = http.client.HTTPConnection(host, port, timeout=300)
    start = time.perf_counter()
    connection.request("POST", "/v1/completions", body, {"Content-Type": "application/json"})
    response = connection.getresponse()
    if response.status != 200:
        raise RuntimeError(f"status {response.status}: {response.read()[:200]}")
    arrivals = []
    for line in response:
        if line.startswith(b"data: ") and not line.startswith(b"data: [DONE]"):
            event = json.loads(line[6:])
            if event["choices"] and event["choices"][0]["text"]:
                arrivals.append(time.perf_counter())
    connection.close()
    if not arrivals:
        return None
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
    return arrivals[0] - start, gaps, len(arrivals)


def run_level(host, port, model, concurrency, seconds, tokens):
    ttft, gaps, counts = [], [], []
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds

    def client():
        while time.perf_counter() < stop_at:
            result = one_request(host, port, model, tokens)
            if result:
                with lock:
                    ttft.append(result[0])
                    gaps.extend(result[1])
                    counts.append(result[2])

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    return {
        "concurrency": concurrency, "requests": len(counts), "seconds": round(elapsed, 1),
        "tokens_per_second": round(sum(counts) / elapsed, 1),
        "ttft_p50_ms": round(percentile(ttft, 50) * 1000, 1), "ttft_p99_ms": round(percentile(ttft, 99) * 1000, 1),
        "itl_p50_ms": round(percentile(gaps, 50) * 1000, 1), "itl_p99_ms": round(percentile(gaps, 99) * 1000, 1),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8080")
    parser.add_argument("--start", action="store_true", help="start a kiln binary (--kiln) on a free port")
    parser.add_argument("--kiln", help="the binary --start runs (default: .build/release/kiln)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    server = None
    url = args.url
    if args.start:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        kiln = args.kiln or os.path.join(root, ".build", "release", "kiln")
        server = subprocess.Popen([kiln, "serve", "--port", str(port),
                                   "--access-log", "false"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        for _ in range(600):
            try:
                if urllib.request.urlopen(url + "/ready", timeout=1).status == 200:
                    break
            except Exception:
                time.sleep(0.1)
    try:
        parts = urllib.parse.urlparse(url)
        model = json.load(urllib.request.urlopen(url + "/v1/models"))["data"][0]["id"]
        one_request(parts.hostname, parts.port, model, 4)  # warm-up
        results = [run_level(parts.hostname, parts.port, model, c, args.seconds, args.tokens) for c in args.concurrency]
        for r in results:
            if args.json:
                print(json.dumps(r))
            else:
                print(f"{r['concurrency']:>3} clients: {r['tokens_per_second']:7.1f} tok/s  "
                      f"TTFT p50 {r['ttft_p50_ms']:7.1f} ms p99 {r['ttft_p99_ms']:7.1f} ms  "
                      f"ITL p50 {r['itl_p50_ms']:6.1f} ms p99 {r['itl_p99_ms']:6.1f} ms  ({r['requests']} requests)")
    finally:
        if server:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)


if __name__ == "__main__":
    main()
