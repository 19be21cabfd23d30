#!/usr/bin/env python3
"""Reference fixtures for Kiln's GAN generator (Tests/Fixtures/gan), made with PyTorch.

Default: a tiny random-weight kiln-shapes-gan folder (Tests/Fixtures/gan/tiny-gan: the DiT's
tokenizer, a small CLIPTextModel, a generator of gan_model.py's architecture with narrower layers,
its caption modulation randomised rather than zero as at the start of training) and what PyTorch
computes with it (reference.safetensors + reference.json): for three captions and seeds, the latent
z that Kiln's SeededNoise draws from the seed (seeded_noise.py), the caption's conditioning vector,
and the generator's output in [-1, 1], all three images in one batched call.

--trained DIR reads the shipped model folder and writes trained-reference.*: for a caption seen in
training and a held-out one, with seeds, PyTorch's image in [0, 1] and the weights' sha256.

Needs (only to regenerate; tests and CI never do) torch (CPU), transformers, safetensors and numpy.
Run from the repository root:

    python3 Scripts/gan/make-gan-fixtures.py [--out Tests/Fixtures/gan]
    python3 Scripts/gan/make-gan-fixtures.py --trained Models/kiln-shapes-gan
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
from transformers import CLIPTextModel, CLIPTokenizer

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gan_model  # noqa: E402
from gan_model import dit_model  # noqa: E402
from seeded_noise import SeededNoise  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
CAPTIONS = ["a small red circle at the top left on a blue background",
            "A big yellow star, bottom right, on grey!",
            "a large green triangle in the center and a small white square at the top on a black background"]
SEEDS = [0, 42, 18446744073709551615]
TRAINED_CAPTIONS = ["a large red circle in the center on a blue background",  # a triple seen in training
                    "a small red star in the center on a green background"]  # held out (shapes.is_held_out)
TRAINED_SEEDS = [7, 1234]


def seeded_latents(seeds: list[int], latent: int) -> torch.Tensor:
    return torch.from_numpy(np.stack([SeededNoise(seed).gaussians(latent) for seed in seeds]))


def tiny(out: Path) -> None:
    torch.manual_seed(0)
    folder = out / "tiny-gan"
    if folder.exists():
        shutil.rmtree(folder)
    tokenizer = CLIPTokenizer.from_pretrained(REPO / "Models" / "kiln-shapes-dit" / "tokenizer")
    text_encoder = dit_model.build_text_encoder(tokenizer, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                                                num_attention_heads=2).eval()
    generator = gan_model.build_generator(latent=8, condition=32, channels=[16, 8, 8, 8], groups=4).eval()
    with torch.no_grad():
        for block in generator.blocks:  # training starts these at zero; the fixture must exercise them
            for layer in (block.scale, block.shift):
                layer.weight.normal_(0, 0.3)
                layer.bias.normal_(0, 0.3)
    write_folder(folder, tokenizer, text_encoder, generator, REPO / "Models" / "kiln-shapes-dit" / "tokenizer")

    ids = dit_model.tokenize(tokenizer, CAPTIONS)
    z = seeded_latents(SEEDS, 8)
    with torch.no_grad():
        c = gan_model.condition(text_encoder, ids, tokenizer.eos_token_id)
        images = generator(z, c)
    save_file({"latents": z.contiguous(), "conditions": c.contiguous(), "images": images.contiguous(),
               "ids": ids.to(torch.float32).contiguous()}, str(out / "reference.safetensors"))
    (out / "reference.json").write_text(json.dumps({"captions": CAPTIONS, "seeds": [str(s) for s in SEEDS]}, indent=1) + "\n")
    print(f"wrote {folder}, reference.* (image range {images.min():.3f}…{images.max():.3f})")


def write_folder(folder: Path, tokenizer, text_encoder, generator, tokenizer_files: Path) -> None:
    """The layout train.py exports: model_index.json, tokenizer/, text_encoder/, generator/."""
    (folder / "generator").mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in generator.state_dict().items()}, str(folder / "generator" / "model.safetensors"))
    (folder / "generator" / "config.json").write_text(
        json.dumps({"_class_name": "KilnShapesGenerator", **generator.config()}, indent=2) + "\n")
    text_encoder.save_pretrained(str(folder / "text_encoder"), safe_serialization=True)
    for name in ("vocab.json", "merges.txt", "tokenizer_config.json"):
        (folder / "tokenizer").mkdir(exist_ok=True)
        shutil.copy(tokenizer_files / name, folder / "tokenizer" / name)
    (folder / "model_index.json").write_text(json.dumps({
        "_class_name": "KilnShapesGAN", "generator": ["kiln", "KilnShapesGenerator"],
        "text_encoder": ["transformers", "CLIPTextModel"], "tokenizer": ["transformers", "CLIPTokenizer"]}, indent=2) + "\n")


def load(directory: Path):
    tokenizer = CLIPTokenizer.from_pretrained(directory / "tokenizer")
    text_encoder = CLIPTextModel.from_pretrained(directory / "text_encoder").eval()
    config = json.loads((directory / "generator" / "config.json").read_text())
    generator = gan_model.build_generator(latent=config["latent"], condition=config["condition"],
                                          channels=config["channels"], groups=config["groups"]).eval()
    from safetensors.torch import load_file
    generator.load_state_dict(load_file(directory / "generator" / "model.safetensors"))
    return tokenizer, text_encoder, generator


def trained(directory: Path, out: Path) -> None:
    tokenizer, text_encoder, generator = load(directory)
    z = seeded_latents(TRAINED_SEEDS, generator.latent)
    images = gan_model.generate(tokenizer, text_encoder, generator, TRAINED_CAPTIONS, z)
    save_file({"images": images.contiguous(), "latents": z.contiguous()}, str(out / "trained-reference.safetensors"))
    hashes = {name: hashlib.sha256((directory / name).read_bytes()).hexdigest()
              for name in ("generator/model.safetensors", "text_encoder/model.safetensors")}
    (out / "trained-reference.json").write_text(json.dumps(
        {"captions": TRAINED_CAPTIONS, "seeds": TRAINED_SEEDS, "weights_sha256": hashes}, indent=1) + "\n")
    print(f"wrote trained-reference.* from {directory}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=REPO / "Tests" / "Fixtures" / "gan")
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
