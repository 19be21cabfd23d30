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
   clients keep sending requests of --load-batch sentences; inter-token latency p50/p99 of both.

    Scripts/bench-embeddings.py                       # all parts, 2 threads
    Scripts/bench-embeddings.py --parts 1,2 --rounds 5

Needs torch and sentence-transformers (pip) and the default embedding model
(Scripts/fetch-model.sh embedding); builds nothing: run `swift build -c release` first.
"""
import argparse
import base64
import concurrent.futures
import os
import subprocess
import tempfile
import threading
import time

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
    args = parser.parse_args()
    args.binary = args.binary or default_binary()
    parts = {int(p) for p in args.parts.split(",")}
    texts = sentences(args.sentences)
    directory = model_dir()
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
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
