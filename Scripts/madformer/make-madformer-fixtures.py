#!/usr/bin/env python3
"""Reference fixtures for Kiln's MADFormer hybrid (Tests/Fixtures/madformer), made with PyTorch.

Default: a tiny random-weight kiln-shapes-madformer folder (Tests/Fixtures/madformer/tiny-madformer:
the DiT's tokenizer, a small CLIPTextModel, a MADFormer of width 32 with 2 autoregressive layers and
1 diffusion layer, so the split differs from the trained model's 3 + 3) and what PyTorch computes with
it (reference.safetensors + reference.json): for each caption and seed, the starting noise Kiln's
SeededNoise draws from the seed (seeded_noise.py), every block's conditioning z, the first step's v
of every block, and the whole image in [-1, 1] after STEPS DDIM steps per block with guidance.

--trained DIR reads the shipped model folder and writes trained-reference.*: two captions (a seen
and a held-out triple), PyTorch's images in [-1, 1] and the weights' sha256.

Needs (only to regenerate; tests and CI never do) torch (CPU), diffusers, transformers, safetensors
and numpy. Run from the repository root:

    python3 Scripts/madformer/make-madformer-fixtures.py [--out Tests/Fixtures/madformer]
    python3 Scripts/madformer/make-madformer-fixtures.py --trained Models/kiln-shapes-madformer
"""
import argparse
import hashlib
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file
from transformers import CLIPTokenizer

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "gan"))
import madformer_model  # noqa: E402
from madformer_model import dit_model  # noqa: E402
from seeded_noise import SeededNoise  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
CAPTIONS = ["a small red circle at the top left on a blue background",
            "A big yellow star, bottom right, on grey!"]
SEEDS = [0, 18446744073709551615]
STEPS, GUIDANCE = 3, 3.0
TRAINED_CAPTIONS = ["a large red circle in the center on a blue background",  # a triple seen in training
                    "a small red star in the center on a green background"]  # held out (shapes.is_held_out)
TRAINED_SEEDS = [7, 1234]
TRAINED_STEPS, TRAINED_GUIDANCE = 10, 4.0


def seeded_noise(seeds: list[int]) -> torch.Tensor:
    """[n, 3, 32, 32]: the values Kiln's SeededNoise draws, channel by channel, row by row."""
    return torch.from_numpy(np.stack([SeededNoise(seed).gaussians(3 * 32 * 32).reshape(3, 32, 32) for seed in seeds]))


def tiny(out: Path) -> None:
    torch.manual_seed(0)
    folder = out / "tiny-madformer"
    if folder.exists():
        shutil.rmtree(folder)
    tokenizer_files = REPO / "Models" / "kiln-shapes-dit" / "tokenizer"
    tokenizer = CLIPTokenizer.from_pretrained(tokenizer_files)
    text_encoder = dit_model.build_text_encoder(tokenizer, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                                                num_attention_heads=2).eval()
    model = madformer_model.MADFormer(**{**madformer_model.MODEL_CONFIG, "width": 32, "heads": 2, "ar_layers": 2,
                                         "diffusion_layers": 1, "caption_channels": 16}).eval()
    with torch.no_grad():  # diffusers starts some of these at zero; the fixture must exercise them
        for name, parameter in model.named_parameters():
            if "scale_shift_table" in name or "adaln_single.linear" in name:
                parameter.normal_(0, 0.3)
    madformer_model.save_pipeline(folder, tokenizer_files, text_encoder, model)

    noise = seeded_noise(SEEDS)
    conditions, first_v = [], []

    def record_z(original):
        def wrapped(*args, **kwargs):
            z = original(*args, **kwargs)
            conditions.append(z[:len(CAPTIONS)].clone())
            return z
        return wrapped

    def record_v(original):
        def wrapped(noisy, timestep, caption, z, index):
            v = original(noisy, timestep, caption, z, index)
            if len(first_v) == index:  # the first step of each block
                first_v.append(v.clone())
            return v
        return wrapped

    model.condition_step = record_z(model.condition_step)
    model.denoise = record_v(model.denoise)
    image = madformer_model.sample(model, text_encoder, tokenizer, CAPTIONS, noise, steps=STEPS, guidance=GUIDANCE)
    save_file({"noise": noise.contiguous(), "images": image.contiguous(),
               "conditions": torch.stack(conditions, dim=1).contiguous(),  # [n, blocks, 16, D]
               "first_step_v": torch.stack(first_v, dim=1).contiguous()},  # [2n, blocks, 3, 8, 32]: caption streams, then empty
              str(out / "reference.safetensors"))
    (out / "reference.json").write_text(json.dumps(
        {"captions": CAPTIONS, "seeds": [str(s) for s in SEEDS], "steps": STEPS, "guidance": GUIDANCE}, indent=1) + "\n")
    print(f"wrote {folder}, reference.* (image range {image.min():.3f}…{image.max():.3f})")


def trained(directory: Path, out: Path) -> None:
    tokenizer, text_encoder, model = madformer_model.load_pipeline(directory)
    noise = seeded_noise(TRAINED_SEEDS)
    image = madformer_model.sample(model, text_encoder, tokenizer, TRAINED_CAPTIONS, noise, steps=TRAINED_STEPS,
                                   guidance=TRAINED_GUIDANCE)
    save_file({"images": image.contiguous(), "noise": noise.contiguous()}, str(out / "trained-reference.safetensors"))
    hashes = {name: hashlib.sha256((directory / name).read_bytes()).hexdigest()
              for name in ("transformer/model.safetensors", "text_encoder/model.safetensors")}
    (out / "trained-reference.json").write_text(json.dumps(
        {"captions": TRAINED_CAPTIONS, "seeds": TRAINED_SEEDS, "steps": TRAINED_STEPS, "guidance": TRAINED_GUIDANCE,
         "weights_sha256": hashes}, indent=1) + "\n")
    print(f"wrote trained-reference.* from {directory}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=REPO / "Tests" / "Fixtures" / "madformer")
    parser.add_argument("--trained", type=Path, metavar="DIR")
    args = parser.parse_args()
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.trained:
        trained(args.trained, args.out)
    else:
        tiny(args.out)


if __name__ == "__main__":
    main()
