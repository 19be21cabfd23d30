#!/usr/bin/env python3
"""Scores kiln-shapes-gan's images with the DiT's evaluation (Scripts/dit/evaluate.py): the same
caption set (half seen triples, half held out, each with its own seed), the same pixel analysis and
verdicts, and the same report. Only the generating differs: a GAN takes no steps, guidance or
sampler.

    python3 Scripts/gan/evaluate_gan.py --folder Models/kiln-shapes-gan [--captions plain|varied]  # PyTorch
    python3 Scripts/gan/evaluate_gan.py --server http://127.0.0.1:8080 --model kiln-shapes-gan

--folder draws each seed's latent with Kiln's own noise generator (seeded_noise.py), so PyTorch
and a Kiln server give the same images for the same caption set. --checkpoint reads a training
state's checkpoint.pt (its EMA weights) instead, to follow a run.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "dit"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import evaluate  # noqa: E402


def generate_with_folder(tokenizer, text_encoder, generator, captions: list[tuple[str, int]], batch: int = 50):
    import torch
    import gan_model
    from seeded_noise import SeededNoise
    for start in range(0, len(captions), batch):
        chunk = captions[start:start + batch]
        z = torch.from_numpy(np.stack([SeededNoise(seed).gaussians(generator.latent) for _, seed in chunk]))
        images = gan_model.generate(tokenizer, text_encoder, generator, [text for text, _ in chunk], z)
        for image in images:
            # As Kiln's PNG encoder: 8-bit values, rounded.
            yield np.round(image.permute(1, 2, 0).numpy() * 255)


def load_folder(directory: Path):
    import torch
    from transformers import CLIPTextModel, CLIPTokenizer
    from safetensors.torch import load_file
    import gan_model
    torch.set_num_threads(1)
    tokenizer = CLIPTokenizer.from_pretrained(directory / "tokenizer")
    text_encoder = CLIPTextModel.from_pretrained(directory / "text_encoder").eval()
    config = json.loads((directory / "generator" / "config.json").read_text())
    generator = gan_model.build_generator(latent=config["latent"], condition=config["condition"],
                                          channels=config["channels"], groups=config["groups"]).eval()
    generator.load_state_dict(load_file(directory / "generator" / "model.safetensors"))
    return tokenizer, text_encoder, generator


def load_checkpoint(path: Path, raw: bool = False):
    import torch
    from transformers import CLIPTokenizer
    import gan_model
    from gan_model import dit_model
    torch.set_num_threads(1)
    state = torch.load(path, weights_only=False)
    tokenizer = CLIPTokenizer.from_pretrained(state["tokenizer_dir"])
    text_encoder = dit_model.build_text_encoder(tokenizer)
    text_encoder.load_state_dict(state["text_encoder" if raw else "ema_text"])
    generator = gan_model.build_generator()
    generator.load_state_dict(state["generator" if raw else "ema"])
    print(f"{path}: step {state['step']}, {state['cpu_seconds'] / 60:.1f} CPU min")
    return tokenizer, text_encoder.eval(), generator.eval()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--folder", type=Path)
    mode.add_argument("--checkpoint", type=Path)
    mode.add_argument("--server")
    parser.add_argument("--model", default="kiln-shapes-gan", help="the server's id for the GAN")
    parser.add_argument("--raw", action="store_true", help="with --checkpoint: the trained weights, not their EMA")
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--fresh", type=int, default=0, metavar="K")
    parser.add_argument("--captions", choices=("canonical", "plain", "varied"), default="canonical",
                        help="which captions to ask for and how to judge them, as Scripts/dit/evaluate.py --captions")
    parser.add_argument("--save", type=Path, help="per-image results as JSON, and a PNG grid beside it")
    args = parser.parse_args()

    scenes = evaluate.caption_set(args.count, args.fresh)
    captions = [evaluate.caption_for(scene, seed, args.captions) for scene, _, seed in scenes]
    texts = [(text, seed) for (text, _), (_, _, seed) in zip(captions, scenes)]
    if args.server:
        images, source = evaluate.generate_with_server(args.server, args.model, texts), args.server
    else:
        loaded = load_folder(args.folder) if args.folder else load_checkpoint(args.checkpoint, args.raw)
        images, source = generate_with_folder(*loaded, texts), args.folder or args.checkpoint
    results, pictures = [], []
    for (scene, held_out, seed), (text, named), image in zip(scenes, captions, images):
        found = evaluate.analyze(image)
        results.append({"caption": text, "held_out": held_out, "seed": seed, "spec": asdict(scene.shapes[0]),
                        **evaluate.judge(scene, found, named), "found": found})
        pictures.append(np.clip(image, 0, 255).astype(np.uint8))
    summary = evaluate.report(results, f"{len(results)} images from {source} (GAN, one step, {args.captions} captions)")
    if args.save:
        evaluate.save_grid(pictures, args.save.with_suffix(".png"))
        args.save.write_text(json.dumps({"summary": summary, "results": results}, indent=1, default=str) + "\n")


if __name__ == "__main__":
    main()
