#!/usr/bin/env python3
"""Embedding speed: Kiln against sentence-transformers (and text latency beside embeddings).

Every comparison runs in this one process, the two sides alternating, with the same thread count
(torch.set_num_threads and kiln's --threads). Parts:

1. encoder: `kiln embed --bench` (in-process encoder, no HTTP) against `SentenceTransformer.encode`
   on the same sentences, in batches of --batch;
2. server: the same sentences sent to `kiln serve` in requests of --batch (one client, one request
   at a time, `encoding_format` base64 as the openai client asks by default, decoded to floats)
   against `encode` again;
3. batching across requests: one client sending one sentence per request, then 16 clients doing
   the same, for --seconds each; their throughput ratio;
4. text beside embeddings: one client streaming completions alone, then while --load-clients
   clients keep sending requests of --load-batch sentences; inter-token latency p50/p99 of both;
5. llama.cpp (only with --llama-server and --gguf): `llama-server -t THREADS --embedding` and
   `kiln serve --embedding-model GGUF` on the same GGUF (the same model converted by llama.cpp's
   convert_hf_to_gguf.py), the sentences sent in requests of --batch to each one's /v1/embeddings,
   rounds alternating; also the smallest cosine between the two servers' vectors.

    Scripts/bench-embeddings.py                       # parts 1-4, 2 threads
    Scripts/bench-embeddings.py --parts 1,2 --rounds 5
    Scripts/bench-embeddings.py --parts 5 --llama-server PATH/llama-server --gguf /tmp/minilm-f16.gguf

Parts 1-4 need torch and sentence-transformers (pip) and the default embedding model
(Scripts/fetch-model.sh embedding); builds nothing: run `swift build -c release` first.
"""
import argparse
import base64
import concurrent.futures
import json
import math
import os
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request

from kiln_bench import ROOT, Server, default_binary, measure_text, percentile, stream_text

SUBJECTS = ["The committee", "A small dog", "My neighbour", "The new library", "Our team", "The river",
            "A tired engineer", "The city council", "This recipe", "The old train"]
VERBS = ["approved", "chased", "painted", "opened", "reviewed", "flooded", "fixed", "discussed", "needs", "crossed"]
OBJECTS = ["the budget for next year", "a red ball across the park", "the fence on Sunday", "its doors to the public",
           "the pull request before lunch", "the fields after the storm", "the broken server at midnight",
           "plans for a cycling lane", "two cups of flour", "the bridge in heavy snow"]


def sentences(count):
    return [f"{SUBJECTS[i % 10]} {VERBS[(i // 10) % 10]} {OBJECTS[(i // 100 + i) % 10]}." for i in range(count)]


def model_dir():
    path = os.environ.get("KILN_DEFAULT_EMBEDDING_MODEL") or subprocess.run(
        [os.path.join(ROOT, "Scripts", "fetch-model.sh"), "embedding"], check=True, capture_output=True, text=True).stdout.strip()
    return path


def embed(server, model, inputs):
    """One request; returns its vectors as lists of floats (decoded from base64)."""
    reply = server.post("/v1/embeddings", {"model": model, "input": inputs, "encoding_format": "base64"})
    return [memoryview(base64.b64decode(item["embedding"])).cast("f").tolist() for item in reply["data"]]


def timed(function):
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def part_encoder(args, texts, st, directory):
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as file:
        file.write("\n".join(texts) + "\n")
    kiln, torch_side = [], []
    try:
        for _ in range(args.rounds):
            out = subprocess.run([args.binary, "embed", "--model", directory, "--threads", str(args.threads), "--bench",
                                  "--bench-file", file.name, "--bench-batch", str(args.batch), "--bench-runs", "1"],
                                 check=True, capture_output=True, text=True).stdout
            kiln.append(float(out.split("runs: ")[1].split(" s")[0]))
            torch_side.append(timed(lambda: st.encode(texts, batch_size=args.batch)))
    finally:
        os.unlink(file.name)
    report("encoder (no HTTP)", len(texts), kiln, torch_side)


def part_server(args, texts, st, server):
    model = next(m for m in server.models if "MiniLM" in m)
    batches = [texts[i:i + args.batch] for i in range(0, len(texts), args.batch)]
    kiln, torch_side = [], []
    for _ in range(args.rounds):
        kiln.append(timed(lambda: [embed(server, model, b) for b in batches]))
        torch_side.append(timed(lambda: st.encode(texts, batch_size=args.batch)))
    report(f"server, requests of {args.batch}", len(texts), kiln, torch_side)


def report(name, count, kiln, torch_side):
    k, t = percentile(kiln, 50), percentile(torch_side, 50)
    print(f"{name}: kiln median {k:.3f} s ({count / k:.0f} sentences/s), sentence-transformers {t:.3f} s "
          f"({count / t:.0f} sentences/s): {t / k:.2f}x  [kiln runs {' '.join(f'{x:.3f}' for x in kiln)}; "
          f"torch runs {' '.join(f'{x:.3f}' for x in torch_side)}]")


def part_concurrency(args, texts, server):
    model = next(m for m in server.models if "MiniLM" in m)

    def client(index, stop, counts):
        n = 0
        while not stop.is_set():
            embed(server, model, texts[(index * 31 + n) % len(texts)])
            n += 1
        counts.append(n)

    rates = {}
    for clients in (1, 16):
        stop, counts = threading.Event(), []
        with concurrent.futures.ThreadPoolExecutor(clients) as pool:
            started = time.perf_counter()
            for index in range(clients):
                pool.submit(client, index, stop, counts)
            time.sleep(args.seconds)
            stop.set()
        rates[clients] = sum(counts) / (time.perf_counter() - started)
    print(f"one sentence per request: 1 client {rates[1]:.0f} requests/s, 16 clients {rates[16]:.0f} requests/s: "
          f"{rates[16] / rates[1]:.1f}x (goal >= 5x)")


def part_latency(args, texts, server):
    text_model = server.models[0]
    embedding_model = next(m for m in server.models if "MiniLM" in m)
    stream_text(server.port, text_model, 8)
    alone = measure_text(server.port, text_model, args.seconds, args.tokens)
    stop, sent = threading.Event(), []

    def load(index):
        n = 0
        while not stop.is_set():
            start = (index * 97 + n * args.load_batch) % len(texts)
            embed(server, embedding_model, (texts * 2)[start:start + args.load_batch])
            n += 1
        sent.append(n * args.load_batch)

    workers = [threading.Thread(target=load, args=(i,)) for i in range(args.load_clients)]
    inputs_before = server.scrape("kiln_embedding_inputs_total")
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    time.sleep(1)
    beside = measure_text(server.port, text_model, args.seconds, args.tokens)
    embedded = server.scrape("kiln_embedding_inputs_total") - inputs_before
    elapsed = time.perf_counter() - started
    stop.set()
    for worker in workers:
        worker.join()
    for name, gaps in (("text alone", alone), ("with embeddings", beside)):
        print(f"{name:>16}: {len(gaps):5d} gaps  ITL p50 {percentile(gaps, 50) * 1000:6.1f} ms  "
              f"p99 {percentile(gaps, 99) * 1000:6.1f} ms")
    print(f"ITL p99 ratio {percentile(beside, 99) / percentile(alone, 99):.2f} (goal <= 1.2); p50 ratio "
          f"{percentile(beside, 50) / percentile(alone, 50):.2f}; embeddings meanwhile: {embedded / elapsed:.0f} sentences/s")


class LlamaServer:
    """llama.cpp's `llama-server --embedding` on one GGUF, on a free loopback port."""

    def __init__(self, binary, gguf, threads, extra):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.command = [binary, "-m", gguf, "--embedding", "--pooling", "mean", "-t", str(threads), "-tb", str(threads),
                        "--host", "127.0.0.1", "--port", str(self.port), *extra]
        self.process = subprocess.Popen(self.command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 120
        while True:
            try:
                if urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=1).status == 200:
                    break
            except Exception:
                assert self.process.poll() is None, "llama-server exited: " + " ".join(self.command)
                assert time.time() < deadline, "llama-server did not become ready"
                time.sleep(0.2)

    def post(self, path, body):
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=600) as response:
            return json.load(response)

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=60)


def vectors(response):
    return [item["embedding"] for item in sorted(response["data"], key=lambda item: item["index"])]


def part_llama(args, texts):
    gguf = os.path.abspath(args.gguf)
    model = os.path.basename(gguf).removesuffix(".gguf")
    batches = [texts[i:i + args.batch] for i in range(0, len(texts), args.batch)]
    llama = LlamaServer(args.llama_server, gguf, args.threads, args.llama_args.split())
    kiln = Server(args.binary, ["--threads", str(args.threads), "--image-model", "none", "--embedding-model", gguf])
    try:
        # Warm both up, and compare their vectors of every sentence.
        ours = [v for b in batches for v in vectors(kiln.post("/v1/embeddings", {"model": model, "input": b}))]
        theirs = [v for b in batches for v in vectors(llama.post("/v1/embeddings", {"model": model, "input": b}))]
        cosines = [sum(x * y for x, y in zip(a, b)) / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))
                   for a, b in zip(ours, theirs)]
        worst = max(max(abs(x - y) for x, y in zip(a, b)) for a, b in zip(ours, theirs))
        print("llama.cpp: " + " ".join(llama.command))
        print(f"vectors of the {len(texts)} sentences: min cosine {min(cosines):.6f}, max-abs {worst:.2e}")
        kiln_runs, llama_runs = [], []
        for _ in range(args.rounds):
            kiln_runs.append(timed(lambda: [kiln.post("/v1/embeddings", {"model": model, "input": b}) for b in batches]))
            llama_runs.append(timed(lambda: [llama.post("/v1/embeddings", {"model": model, "input": b}) for b in batches]))
        k, l = percentile(kiln_runs, 50), percentile(llama_runs, 50)
        print(f"server, requests of {args.batch}, {os.path.basename(gguf)}: kiln median {k:.3f} s "
              f"({len(texts) / k:.0f} sentences/s), llama-server {l:.3f} s ({len(texts) / l:.0f} sentences/s): "
              f"{l / k:.2f}x (goal >= 1.2x)  [kiln runs {' '.join(f'{x:.3f}' for x in kiln_runs)}; "
              f"llama.cpp runs {' '.join(f'{x:.3f}' for x in llama_runs)}]")
    finally:
        kiln.stop()
        llama.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=None, help="kiln binary (default: .build/release/kiln)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sentences", type=int, default=512)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds of parts 1 and 2")
    parser.add_argument("--seconds", type=float, default=10, help="length of each phase of parts 3 and 4")
    parser.add_argument("--tokens", type=int, default=64, help="tokens per text request in part 4")
    parser.add_argument("--load-clients", type=int, default=2)
    parser.add_argument("--load-batch", type=int, default=16)
    parser.add_argument("--parts", default="1,2,3,4")
    parser.add_argument("--llama-server", help="part 5: llama.cpp's llama-server binary")
    parser.add_argument("--gguf", help="part 5: the embedding model as a llama.cpp bert GGUF")
    parser.add_argument("--llama-args", default="-np 64 -c 16384 -b 4096 -ub 4096",
                        help="part 5: more llama-server flags (default: 64 slots of 256 tokens, so that a request's "
                             "inputs share one batch)")
    args = parser.parse_args()
    if "5" in args.parts.split(",") and not (args.llama_server and args.gguf):
        parser.error("part 5 needs --llama-server and --gguf")
    args.binary = args.binary or default_binary()
    parts = {int(p) for p in args.parts.split(",")}
    texts = sentences(args.sentences)
    directory = model_dir() if parts & {1, 2, 3, 4} else args.gguf
    print(f"kiln {os.path.relpath(args.binary, ROOT)}, {args.threads} threads, model {directory}, "
          f"load average {os.getloadavg()[0]:.1f}")
    st = None
    if parts & {1, 2}:
        import torch
        from sentence_transformers import SentenceTransformer
        torch.set_num_threads(args.threads)
        st = SentenceTransformer(directory, device="cpu")
        st.encode(texts[:args.batch], batch_size=args.batch)
    if 1 in parts:
        part_encoder(args, texts, st, directory)
    if parts & {2, 3, 4}:
        server = Server(args.binary, ["--threads", str(args.threads), "--image-model", "none",
                                      "--embedding-model", directory])
        try:
            server.post("/v1/embeddings", {"input": texts[:args.batch]})
            if 2 in parts:
                part_server(args, texts, st, server)
            if 3 in parts:
                part_concurrency(args, texts, server)
            if 4 in parts:
                part_latency(args, texts, server)
        finally:
            server.stop()
    if 5 in parts:
        part_llama(args, texts)
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
