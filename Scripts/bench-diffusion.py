#!/usr/bin/env python3
"""Kiln's diffusion engine against diffusers on torch (CPU), in one run on the same machine.

Measures, alternating Kiln and diffusers case by case so both see the same machine load:
  * the tiny fixture pipeline (Tests/Fixtures/diffusion/tiny-sd): a whole 64 px image, 20 Euler
    steps with classifier-free guidance (`kiln image` vs `StableDiffusionPipeline.__call__`), and
    one batch-2 UNet call;
  * with --sd15 DIR (made by `Scripts/fixtures/make-diffusion-fixtures.py --full-size DIR`): one
    batch-2 UNet call of the SD-1.5-shaped UNet at each --sizes (`kiln bench-image` vs `pipe.unet`),
    and Kiln's peak resident memory for one image of each size (GNU time), against the weight files' size.

Both sides get --threads threads (torch.set_num_threads; KILN_IMAGE_THREADS). Figures are medians
of --repeats timed runs after one untimed warm-up. Run it at raised priority on a shared machine:
    nice -n -20 python3 Scripts/bench-diffusion.py --sd15 /work/sd15/pipeline
Needs torch and diffusers; Kiln's release build (swift build -c release --product kiln).
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROMPT = "a photograph of a red fox in the snow"


def load_average():
    return "%.2f %.2f %.2f" % os.getloadavg()


def kiln_env(threads):
    env = dict(os.environ)
    env["KILN_IMAGE_THREADS"] = str(threads)
    return env


def kiln_image_seconds(kiln, model, size, steps, threads):
    """Seconds `kiln image` reports for prompt encoding, denoising and decoding (load excluded)."""
    with tempfile.TemporaryDirectory() as scratch:
        out = subprocess.run([kiln, "image", "-m", model, "-p", PROMPT, "--steps", str(steps), "--size", f"{size}x{size}",
                              "--guidance-scale", "7.5", "--sampler", "euler", "-o", f"{scratch}/out.png"],
                             capture_output=True, text=True, env=kiln_env(threads), check=True)
    match = re.search(r"in ([0-9.]+) s \(load", out.stderr)
    if not match:
        sys.exit(f"unexpected kiln image output: {out.stderr}")
    return float(match.group(1))


def kiln_unet_seconds(kiln, model, size, repeats, threads):
    out = subprocess.run([kiln, "bench-image", "-m", model, "--size", f"{size}x{size}", "--batch", "2",
                          "--warmup", "1", "--repeats", str(repeats)],
                         capture_output=True, text=True, env=kiln_env(threads), check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["unet_step_seconds"]


def kiln_peak_rss_kb(kiln, model, size, threads):
    with tempfile.TemporaryDirectory() as scratch:
        out = subprocess.run(["/usr/bin/time", "-v", kiln, "image", "-m", model, "-p", PROMPT, "--steps", "1",
                              "--size", f"{size}x{size}", "-o", f"{scratch}/out.png"],
                             capture_output=True, text=True, env=kiln_env(threads), check=True)
    return int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", out.stderr).group(1))


class Diffusers:
    def __init__(self, threads):
        import torch
        torch.set_num_threads(threads)
        self.torch = torch

    def pipeline(self, model):
        from diffusers import EulerDiscreteScheduler, StableDiffusionPipeline
        pipe = StableDiffusionPipeline.from_pretrained(model, torch_dtype=self.torch.float32, safety_checker=None,
                                                       requires_safety_checker=False)
        pipe.scheduler = EulerDiscreteScheduler.from_config(pipe.scheduler.config)
        pipe.set_progress_bar_config(disable=True)
        return pipe

    def image_seconds(self, pipe, size, steps):
        started = time.perf_counter()
        with self.torch.no_grad():
            pipe(PROMPT, negative_prompt="", num_inference_steps=steps, guidance_scale=7.5, height=size, width=size,
                 generator=self.torch.Generator().manual_seed(0), output_type="np")
        return time.perf_counter() - started

    def unet_seconds(self, pipe, size, repeats):
        torch = self.torch
        with torch.no_grad():
            positive, negative = pipe.encode_prompt(PROMPT, "cpu", 1, True, "")
            context = torch.cat([negative, positive])
            latents = torch.randn(2, pipe.unet.config.in_channels, size // pipe.vae_scale_factor, size // pipe.vae_scale_factor, generator=torch.Generator().manual_seed(7))
            times = []
            for index in range(1 + repeats):
                started = time.perf_counter()
                pipe.unet(latents, 501, encoder_hidden_states=context)
                if index > 0:
                    times.append(time.perf_counter() - started)
        return times


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kiln", default=str(ROOT / ".build/release/kiln"))
    parser.add_argument("--tiny", default=str(ROOT / "Tests/Fixtures/diffusion/tiny-sd"))
    parser.add_argument("--sd15", help="an SD-1.5-shaped diffusers folder (…/pipeline)")
    parser.add_argument("--sizes", type=int, nargs="*", default=[256, 512])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    arguments = parser.parse_args()
    diffusers = Diffusers(arguments.threads)
    rows = []
    print(f"load average at start: {load_average()}", flush=True)

    tiny = diffusers.pipeline(arguments.tiny)
    diffusers.image_seconds(tiny, 64, 20)
    kiln_image_seconds(arguments.kiln, arguments.tiny, 64, 20, arguments.threads)
    kiln_times, torch_times = [], []
    for _ in range(arguments.repeats):
        kiln_times.append(kiln_image_seconds(arguments.kiln, arguments.tiny, 64, 20, arguments.threads))
        torch_times.append(diffusers.image_seconds(tiny, 64, 20))
    rows.append(("tiny pipeline, 64 px image, 20 steps, guidance", kiln_times, torch_times))
    kiln_times = kiln_unet_seconds(arguments.kiln, arguments.tiny, 64, 10 * arguments.repeats, arguments.threads)
    torch_times = diffusers.unet_seconds(tiny, 64, 10 * arguments.repeats)
    rows.append(("tiny UNet step, batch 2, 64 px", kiln_times, torch_times))
    print(f"load average after tiny: {load_average()}", flush=True)

    memory = None
    if arguments.sd15:
        sd = diffusers.pipeline(arguments.sd15)
        for size in arguments.sizes:
            kiln_times = kiln_unet_seconds(arguments.kiln, arguments.sd15, size, arguments.repeats, arguments.threads)
            torch_times = diffusers.unet_seconds(sd, size, arguments.repeats)
            rows.append((f"SD-1.5-shaped UNet step, batch 2, {size} px", kiln_times, torch_times))
            print(f"load average after {size} px: {load_average()}", flush=True)
        del sd
        weights = sum(path.stat().st_size for path in Path(arguments.sd15).rglob("*.safetensors"))
        memory = [(size, kiln_peak_rss_kb(arguments.kiln, arguments.sd15, size, arguments.threads) * 1024, weights)
                  for size in arguments.sizes]

    print(f"load average at end: {load_average()}")
    print()
    print("| case | Kiln (median) | diffusers (median) | Kiln / diffusers |")
    print("|---|---|---|---|")
    for name, kiln_times, torch_times in rows:
        k, t = statistics.median(kiln_times), statistics.median(torch_times)
        print(f"| {name} | {k * 1000:.1f} ms | {t * 1000:.1f} ms | {k / t:.2f} |")
    for size, rss, weights in memory or []:
        print(f"\nKiln peak RSS, one {size} px image (1 step) of the SD-1.5-shaped pipeline: {rss / 2**30:.2f} GiB; "
              f"weight files {weights / 2**30:.2f} GiB (RSS − weights: {(rss - weights) / 2**30:.2f} GiB)")
    print(json.dumps({"rows": [{"case": n, "kiln_seconds": k, "diffusers_seconds": t} for n, k, t in rows],
                      "memory": [{"size": size, "peak_rss_bytes": rss, "weight_bytes": weights} for size, rss, weights in memory or []]}))


if __name__ == "__main__":
    main()
