#!/usr/bin/env python3
"""Load benchmark for `kiln serve`: closed-loop clients, each streaming 64 tokens per request.

For each concurrency (default 1, 4, 16) it runs for a fixed time and prints aggregate generated
tokens/s, time to first token p50/p99 and inter-token latency p50/p99 (milliseconds), measured
at the client from the SSE events. Start the server yourself, or pass --start to have this script
start .build/release/kiln on a free port.

    Scripts/bench-serve.py --start --seconds 30
    Scripts/bench-serve.py --url http://127.0.0.1:8080 --concurrency 1 4 16

With --compare, it starts each server afresh per measurement and alternates them round by round
(the order rotates every round): every kiln binary given (`--compare-kiln`, default the release
build) serving --model alone with --threads, and llama.cpp's server (`--llama-server BINARY`:
`-m MODEL -t THREADS -np 16 -c 8192`), each at every --concurrency level; it prints each
measurement, the load average before and after it, and per server the medians of tokens/s and TTFT
p99 with their ratios to llama-server's.

    Scripts/bench-serve.py --compare --llama-server build/bin/llama-server --model FILE \
        --compare-kiln /tmp/kiln-before .build/release/kiln --concurrency 16 --seconds 20 --rounds 3
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

PROMPT = "Write a short story about a lighthouse keeper."  # 9 tokens with SmolLM2's tokenizer (usage.prompt_tokens)


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


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(command, url):
    """Starts a server and waits until it answers /v1/models (up to 120 s)."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while True:
        try:
            with urllib.request.urlopen(url + "/v1/models", timeout=1) as response:
                models = json.load(response)["data"]
                if models:
                    return process, models[0]["id"]
        except Exception:
            pass
        if process.poll() is not None or time.time() > deadline:
            process.kill()
            raise RuntimeError(f"server did not start: {' '.join(command)}")
        time.sleep(0.2)


def load_average():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def compare(args):
    """Kiln binaries and llama-server, each started per measurement, alternating round by round."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    servers = []
    for binary in args.compare_kiln or [os.path.join(root, ".build", "release", "kiln")]:
        def kiln_command(port, binary=binary):
            return [binary, "serve", "--port", str(port), "--access-log", "false", "--model", args.model,
                    "--threads", str(args.threads), "--image-model", "none", "--gan-model", "none",
                    "--embedding-model", "none"]
        servers.append((binary, kiln_command))
    if args.llama_server:
        def llama_command(port):
            return [args.llama_server, "-m", args.model, "-t", str(args.threads), "-tb", str(args.threads),
                    "-np", "16", "-c", "8192", "--host", "127.0.0.1", "--port", str(port)]
        servers.append(("llama-server", llama_command))
    results = {name: {c: [] for c in args.concurrency} for name, _ in servers}
    for round_index in range(args.rounds):
        shift = round_index % len(servers)
        for name, command in servers[shift:] + servers[:shift]:
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            process, model = start_server(command(port), url)
            try:
                for attempt in range(100):  # warm-up; llama-server answers 503 while it loads
                    try:
                        one_request("127.0.0.1", port, model, 4)
                        break
                    except Exception:
                        time.sleep(0.3)
                for concurrency in args.concurrency:
                    before = load_average()
                    r = run_level("127.0.0.1", port, model, concurrency, args.seconds, args.tokens)
                    r.update(round=round_index + 1, server=name, load_before=before, load_after=load_average())
                    results[name][concurrency].append(r)
                    print(json.dumps(r), flush=True)
            finally:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    process.kill()
    reference = results.get("llama-server")
    for concurrency in args.concurrency:
        base = None
        if reference:
            base = (statistics.median(r["tokens_per_second"] for r in reference[concurrency]),
                    statistics.median(r["ttft_p99_ms"] for r in reference[concurrency]))
        for name, _ in servers:
            rows = results[name][concurrency]
            tps = statistics.median(r["tokens_per_second"] for r in rows)
            p99 = statistics.median(r["ttft_p99_ms"] for r in rows)
            line = (f"{concurrency:>3} clients {name}: tok/s {tps:.1f} (rounds {' '.join(str(r['tokens_per_second']) for r in rows)}), "
                    f"TTFT p99 {p99:.1f} ms (rounds {' '.join(str(r['ttft_p99_ms']) for r in rows)}), "
                    f"TTFT p50 {statistics.median(r['ttft_p50_ms'] for r in rows):.1f} ms, "
                    f"ITL p50 {statistics.median(r['itl_p50_ms'] for r in rows):.1f} ms")
            if base and name != "llama-server":
                line += f"; vs llama-server: tok/s {tps / base[0]:.2f}x, TTFT p99 {p99 / base[1]:.2f}x"
            print(line, flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8080")
    parser.add_argument("--start", action="store_true", help="start a kiln binary (--kiln) on a free port")
    parser.add_argument("--kiln", help="the binary --start runs (default: .build/release/kiln)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--compare", action="store_true", help="alternate servers round by round (see above)")
    parser.add_argument("--compare-kiln", nargs="+", help="kiln binaries for --compare (default: the release build)")
    parser.add_argument("--llama-server", help="llama-server binary for --compare")
    parser.add_argument("--model", help="GGUF file for --compare")
    parser.add_argument("--threads", type=int, default=2, help="threads of every server in --compare")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of --compare")
    args = parser.parse_args()
    if args.compare:
        if not args.model:
            parser.error("--compare needs --model")
        compare(args)
        return

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
