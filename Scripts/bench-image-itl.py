#!/usr/bin/env python3
"""Text inter-token latency with and without an image generating beside it, per compute-sharing policy.

Starts one `kiln serve --image-model DIR` (the tiny fixture pipeline by default) per policy named in
--sharing, each on a free port, and measures every server in turn, round after round (so that a
change in the machine's load falls on every policy alike):
  1. text alone: one client streams completions;
  2. image alone: another client keeps exactly one image generating (the next requested as soon as
     the previous is done), denoising steps per second from the server's metrics;
  3. both: the image kept generating while the text client streams.
Prints, per round and as medians over the rounds, the inter-token latency p50/p99 alone and beside
the image, their p99 ratio, and the image's steps per second beside text as a fraction of alone.
The goal (issue 21): p99 ratio <= 1.3 while the image keeps >= 50% of its steps per second.

    Scripts/bench-image-itl.py --seconds 15 --size 64x64 --steps 20                    # off, then text_first
    Scripts/bench-image-itl.py --seconds 15 --rounds 3 --sharing off,text_first
    Scripts/bench-image-itl.py --overlap false --sharing off   # denoising steps between text iterations
"""
import argparse
import json
import os
import statistics
import threading
import time
import urllib.request

from kiln_bench import ROOT, Server, default_binary, measure_text, percentile, stream_text


def keep_one_image_generating(port, size, steps, stop, finished):
    body = json.dumps({"prompt": "a lighthouse at dusk", "size": size, "steps": steps}).encode()
    while not stop.is_set():
        request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/images/generations", data=body,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=600) as response:
            assert response.status == 200
            response.read()
        finished.append(time.time())


class ImageLoad:
    """One image always generating on `server` while inside the `with` block; `rate()` is the
    denoising steps per second since the last `mark()`."""

    def __init__(self, server, size, steps):
        self.server, self.stop, self.finished = server, threading.Event(), []
        self.worker = threading.Thread(target=keep_one_image_generating,
                                       args=(server.port, size, steps, self.stop, self.finished))

    def __enter__(self):
        self.worker.start()
        time.sleep(1)  # the first image is under way
        self.mark()
        return self

    def mark(self):
        self.steps, self.started = self.server.scrape("kiln_image_denoising_steps_total"), time.time()

    def rate(self):
        return (self.server.scrape("kiln_image_denoising_steps_total") - self.steps) / (time.time() - self.started)

    def __exit__(self, *exc):
        self.stop.set()
        self.worker.join()


def measure(server, args):
    """The three phases on one server; returns their figures."""
    model = server.models[0]
    stream_text(server.port, model, 8)  # warm up
    alone = measure_text(server.port, model, args.seconds, args.tokens)
    with ImageLoad(server, args.size, args.steps) as image:
        time.sleep(args.seconds)
        image_alone = image.rate()
        image.mark()
        beside = measure_text(server.port, model, args.seconds, args.tokens)
        image_beside = image.rate()
    return {
        "p50 alone": percentile(alone, 50) * 1000, "p99 alone": percentile(alone, 99) * 1000,
        "p50 beside": percentile(beside, 50) * 1000, "p99 beside": percentile(beside, 99) * 1000,
        "ratio": percentile(beside, 99) / percentile(alone, 99),
        "steps/s alone": image_alone, "steps/s beside": image_beside,
        "image share": image_beside / image_alone if image_alone > 0 else float("nan"),
        "load": os.getloadavg()[0],
    }


def line(name, figures):
    return (f"{name:>12}: ITL p50 {figures['p50 alone']:6.1f} -> {figures['p50 beside']:6.1f} ms, "
            f"p99 {figures['p99 alone']:6.1f} -> {figures['p99 beside']:6.1f} ms, ratio {figures['ratio']:.2f}; "
            f"image {figures['steps/s alone']:5.1f} -> {figures['steps/s beside']:5.1f} steps/s "
            f"({figures['image share'] * 100:3.0f}%); load {figures['load']:.1f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=None, help="kiln binary (default: .build/release/kiln, else .build/debug/kiln)")
    parser.add_argument("--image-model", default=os.path.join(ROOT, "Tests", "Fixtures", "diffusion", "tiny-sd"))
    parser.add_argument("--overlap", default="true", choices=["true", "false"], help="--image-overlap of the servers")
    parser.add_argument("--sharing", default="off,text_first",
                        help="comma-separated --compute-sharing policies, one server each, measured in turn")
    parser.add_argument("--rounds", type=int, default=1, help="rounds over the policies (medians are printed)")
    parser.add_argument("--seconds", type=float, default=20, help="length of each phase")
    parser.add_argument("--tokens", type=int, default=64, help="tokens per text request")
    parser.add_argument("--size", default="64x64")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=0, help="--threads of the servers (0: their default)")
    parser.add_argument("--image-threads", type=int, default=0, help="--image-threads of the servers (0: their default)")
    args = parser.parse_args()

    binary = args.binary or default_binary()
    policies = [name for name in args.sharing.split(",") if name]
    flags = ["--image-model", args.image_model, "--image-overlap", args.overlap, "--image-max-side", "2048",
             "--embedding-model", "none"]
    if args.threads:
        flags += ["--threads", str(args.threads)]
    if args.image_threads:
        flags += ["--image-threads", str(args.image_threads)]
    servers = {}
    try:
        for policy in policies:
            servers[policy] = Server(binary, flags + ["--compute-sharing", policy])
        print(f"kiln {os.path.relpath(binary, ROOT)}, image {args.size} {args.steps} steps, overlap {args.overlap}, "
              f"{args.seconds:g} s per phase, {os.cpu_count()} cores", flush=True)
        results = {policy: [] for policy in policies}
        for round_index in range(args.rounds):
            for policy in policies:
                results[policy].append(measure(servers[policy], args))
                print(f"round {round_index + 1} " + line(policy, results[policy][-1]), flush=True)
        print(f"medians over {args.rounds} round(s) (goal: ratio <= 1.3, image >= 50% of alone):")
        for policy in policies:
            medians = {key: statistics.median(r[key] for r in results[policy]) for key in results[policy][0]}
            print("medians " + line(policy, medians))
    finally:
        for server in servers.values():
            server.stop()


if __name__ == "__main__":
    main()
