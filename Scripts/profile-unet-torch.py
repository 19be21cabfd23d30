#!/usr/bin/env python3
"""Time diffusers' UNet2DConditionModel per layer kind, to compare with Kiln's profile of the same step.

    nice -n -20 python3 Scripts/profile-unet-torch.py /work/sd15/pipeline/unet --size 256 --runs 4

One batch-2 call (random latents and a random 77×768 context, timestep 501) on --threads threads,
a warm-up call first, then --runs timed calls. Forward hooks on modules and wrappers around the
functional ops that diffusers calls (silu, gelu, scaled_dot_product_attention, interpolate) keep
a stack of open timers, so each kind gets its exclusive time: an Attention module's figure is what
is left after its Linear layers and SDPA, GEGLU's after its projection. What no hook covers
(residual adds, concatenation, reshapes, the timestep embedding's sinusoids) is reported as the
rest of the step. Milliseconds are means per call. The hooks cost microseconds per module
(about a thousand per call), well under the run-to-run spread.
"""
import argparse
import collections
import time


def layer_kind(name, module):
    """The kind a leaf module is counted under, or None for modules that are not timed."""
    kind = type(module).__name__
    if kind == "Conv2d":
        if "conv_shortcut" in name:
            return "Conv 1×1 ResNet shortcut"
        if "proj_in" in name or "proj_out" in name:
            return "Conv 1×1 transformer proj_in/out"
        if "downsamplers" in name:
            return "Conv 3×3 stride 2 downsample"
        if "upsamplers" in name:
            return "Conv 3×3 upsample"
        if name in ("conv_in", "conv_out"):
            return "Conv 3×3 conv_in/out"
        return "Conv 3×3 ResNet conv1/conv2"
    if kind == "Linear":
        if ".attn2." in name and name.endswith(("to_k", "to_v")):
            return "Linear attn2 k/v (77 text tokens)"
        if name.endswith(("to_q", "to_k", "to_v")) or "to_out" in name:
            return "Linear attn q/k/v/out"
        if name.endswith("ff.net.0.proj"):
            return "Linear ff GEGLU proj"
        if name.endswith("ff.net.2"):
            return "Linear ff out"
        if "time_emb" in name or "time_embedding" in name:
            return "Linear time embedding"
        return "Linear other"
    if kind in ("GroupNorm", "LayerNorm", "SiLU", "GEGLU", "Upsample2D", "Attention"):
        return kind
    return None


class ExclusiveTimer:
    """Nested timers: each kind is charged its own time minus that of the timers opened inside it."""

    def __init__(self):
        self.seconds = collections.defaultdict(float)
        self.resnet_conv_by_map = collections.defaultdict(float)
        self.frames = []  # [start, seconds spent in nested timers]

    def enter(self):
        self.frames.append([time.perf_counter(), 0.0])

    def leave(self, kind, output=None):
        start, nested = self.frames.pop()
        total = time.perf_counter() - start
        self.seconds[kind] += total - nested
        if kind == "Conv 3×3 ResNet conv1/conv2" and output is not None:
            self.resnet_conv_by_map[output.shape[-1]] += total
        if self.frames:
            self.frames[-1][1] += total

    def reset(self):
        self.seconds.clear()
        self.resnet_conv_by_map.clear()

    def wrapped(self, function, kind):
        def timed(*arguments, **keywords):
            self.enter()
            result = function(*arguments, **keywords)
            self.leave(kind)
            return result
        return timed


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("unet", help="a diffusers UNet2DConditionModel folder")
    parser.add_argument("--size", type=int, default=256, help="image size in pixels (latents are 1/8)")
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    arguments = parser.parse_args()

    import torch
    import torch.nn.functional as functional
    from diffusers import UNet2DConditionModel

    torch.set_num_threads(arguments.threads)
    unet = UNet2DConditionModel.from_pretrained(arguments.unet, torch_dtype=torch.float32).eval()
    side = arguments.size // 8
    latents = torch.randn(2, unet.config.in_channels, side, side, generator=torch.Generator().manual_seed(7))
    context = torch.randn(2, 77, unet.config.cross_attention_dim, generator=torch.Generator().manual_seed(8))

    timer = ExclusiveTimer()
    for name, module in unet.named_modules():
        kind = layer_kind(name, module)
        if kind is not None:
            module.register_forward_pre_hook(lambda module, inputs: timer.enter())
            module.register_forward_hook(lambda module, inputs, output, kind=kind: timer.leave(kind, output))
    functional.silu = timer.wrapped(functional.silu, "SiLU (functional)")
    functional.gelu = timer.wrapped(functional.gelu, "gelu (functional)")
    functional.scaled_dot_product_attention = timer.wrapped(functional.scaled_dot_product_attention, "SDPA")
    functional.interpolate = timer.wrapped(functional.interpolate, "interpolate (upsample)")

    totals = []
    with torch.no_grad():
        unet(latents, 501, encoder_hidden_states=context)
        timer.reset()
        for _ in range(arguments.runs):
            started = time.perf_counter()
            unet(latents, 501, encoder_hidden_states=context)
            totals.append(time.perf_counter() - started)
    runs = arguments.runs
    timer.seconds["rest (adds, concat, reshapes, embeddings)"] = sum(totals) - sum(timer.seconds.values())
    for kind, seconds in sorted(timer.seconds.items(), key=lambda item: -item[1]):
        print(f"{kind:45s} {1000 * seconds / runs:9.1f} ms")
    for side, seconds in sorted(timer.resnet_conv_by_map.items()):
        print(f"  of which ResNet 3×3 on {side}×{side} maps {1000 * seconds / runs:9.1f} ms")
    print("calls (s):", " · ".join(f"{total:.3f}" for total in totals))


if __name__ == "__main__":
    main()
