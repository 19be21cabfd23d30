#!/usr/bin/env python3
"""Two kiln binaries, alternating round by round: did a change (a refactor, say) move any figure?

Each round runs, for BEFORE then AFTER (the order flips every round so that drift falls on both):
  - `kiln bench` on the default model: prefill and decode tokens/s (`-p 512 -n 128 -t 2 -r 3`);
  - `Scripts/bench-serve.py --start --kiln BIN`: streaming completions at 1, 4 and 16 clients;
  - the tiny diffusion benchmark on Tests/Fixtures/diffusion/tiny-sd: one 64 px image, 20 Euler
    steps with guidance (`kiln image`, load excluded), and one batch-2 UNet step (`kiln bench-image`).
Then it prints each figure's median per binary and the ratio AFTER / BEFORE. No figure is asserted.

    swift build -c release --product kiln && cp .build/release/kiln /tmp/kiln-after
    Scripts/bench-before-after.py /tmp/kiln-before /tmp/kiln-after --rounds 3
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "Tests/Fixtures/diffusion/tiny-sd"


def text_bench(kiln):
    out = subprocess.run([kiln, "bench", "-p", "512", "-n", "128", "-t", "2", "-r", "3", "--json"],
                         capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return {"prefill tok/s": result["prefill_tokens_per_second"], "decode tok/s": result["decode_tokens_per_second"]}


def serve_bench(kiln, seconds):
    out = subprocess.run([sys.executable, str(ROOT / "Scripts/bench-serve.py"), "--start", "--kiln", kiln,
                          "--seconds", str(seconds), "--concurrency", "1", "4", "16", "--json"],
                         capture_output=True, text=True, check=True)
    figures = {}
    for line in out.stdout.strip().splitlines():
        level = json.loads(line)
        clients = level["concurrency"]
        figures[f"serve {clients:>2} clients tok/s"] = level["tokens_per_second"]
        figures[f"serve {clients:>2} clients TTFT p50 ms"] = level["ttft_p50_ms"]
        figures[f"serve {clients:>2} clients ITL p50 ms"] = level["itl_p50_ms"]
    return figures


def diffusion_bench(kiln):
    env = dict(os.environ, KILN_IMAGE_THREADS="2")
    with tempfile.TemporaryDirectory() as scratch:
        out = subprocess.run([kiln, "image", "-m", str(TINY), "-p", "a photograph of a red fox in the snow", "--steps", "20",
                              "--size", "64x64", "--guidance-scale", "7.5", "--sampler", "euler", "-o", f"{scratch}/out.png"],
                             capture_output=True, text=True, env=env, check=True)
    image = float(re.search(r"in ([0-9.]+) s \(load", out.stderr).group(1))
    out = subprocess.run([kiln, "bench-image", "-m", str(TINY), "--size", "64x64", "--batch", "2", "--warmup", "5",
                          "--repeats", "30"], capture_output=True, text=True, env=env, check=True)
    steps = json.loads(out.stdout.strip().splitlines()[-1])["unet_step_seconds"]
    return {"tiny image 64px 20 steps s": image, "tiny UNet step batch 2 ms": statistics.median(steps) * 1000}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("before")
    parser.add_argument("after")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--serve-seconds", type=float, default=10)
    args = parser.parse_args()
    binaries = {"before": args.before, "after": args.after}
    figures = {name: {} for name in binaries}
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {os.cpu_count()} cores", flush=True)
    for round_index in range(args.rounds):
        order = ["before", "after"] if round_index % 2 == 0 else ["after", "before"]
        for name in order:
            kiln = binaries[name]
            results = {**text_bench(kiln), **serve_bench(kiln, args.serve_seconds), **diffusion_bench(kiln)}
            for key, value in results.items():
                figures[name].setdefault(key, []).append(value)
            shown = ", ".join(f"{k} {v:.1f}" for k, v in results.items())
            print(f"round {round_index + 1} {name:<6} (load {os.getloadavg()[0]:.2f}): {shown}", flush=True)
    print(f"\nload average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{'figure':<34} {'before (median)':>16} {'after (median)':>16} {'after/before':>13}")
    for key in figures["before"]:
        before = statistics.median(figures["before"][key])
        after = statistics.median(figures["after"][key])
        print(f"{key:<34} {before:>16.2f} {after:>16.2f} {after / before:>13.3f}")


if __name__ == "__main__":
    main()
