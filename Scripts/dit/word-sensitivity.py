#!/usr/bin/env python3
"""How much a trained kiln-shapes-dit follows the shape word of its caption, per noise level.

For a pair of shapes (A, B) and many scenes that differ only in that word, the noisy input x_t is
made from the B image; x0 is predicted once with caption A and once with caption B (same x_t), and
the difference is projected on the difference the word should make, (image_A − image_B):

    r(t) = <x0(A) − x0(B), image_A − image_B> / <image_A − image_B, image_A − image_B>

r = 1: the word alone decides the form; r = 0: the word is ignored. At high noise the right answer
is not 1 but the value for the training data's own posterior mean (the ±1.5 px centre jitter blurs
each form), printed as "ideal at pure noise"; at low noise r falls as the image decides instead.
This is the yardstick for the evaluation's shape errors: a pair whose r stays far under its ideal
at t ≥ 900, where 20-step DDIM decides the layout, comes out as the other shape.

    python3 Scripts/dit/word-sensitivity.py Models/kiln-shapes-dit
Needs torch, diffusers, transformers, numpy.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dit_model  # noqa: E402
import shapes  # noqa: E402

PAIRS = [("square", "circle"), ("star", "circle"), ("triangle", "circle"), ("star", "square"), ("triangle", "star")]
NOISE_LEVELS = [999, 951, 901, 851, 801, 701, 601, 501]


def scene(shape: str, colour: str, background: str, position: str, size: str) -> shapes.Scene:
    return shapes.Scene((shapes.ShapeSpec(shape, colour, size, position),), background)


def random_settings(rng: np.random.Generator, count: int) -> list[tuple[str, str, str, str]]:
    """(colour, background, position, size) for `count` scenes, the colour never the background's."""
    settings = []
    while len(settings) < count:
        colour, background = rng.choice(shapes.SHAPE_COLOURS), rng.choice(list(shapes.BACKGROUNDS))
        if colour != background:
            settings.append((str(colour), str(background), shapes.POSITION_NAMES[rng.integers(len(shapes.POSITION_NAMES))],
                             list(shapes.SIZES)[rng.integers(len(shapes.SIZES))]))
    return settings


def as_tensor(images: list[np.ndarray]) -> torch.Tensor:
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 127.5 - 1  # [n, 3, 32, 32]


def ideal_ratio(a: str, b: str, settings, rng: np.random.Generator, draws: int = 100) -> float:
    """r at pure noise for the data itself: the jittered renders' means in place of x0(A), x0(B)."""
    numerator = denominator = 0.0
    for setting in settings:
        exact = [shapes.render(scene(s, *setting)).astype(np.float64) for s in (a, b)]
        means = [np.mean([shapes.render(scene(s, *setting), rng) for _ in range(draws)], axis=0) for s in (a, b)]
        expected = exact[0] - exact[1]
        numerator += float(((means[0] - means[1]) * expected).sum())
        denominator += float((expected * expected).sum())
    return numerator / denominator


@torch.no_grad()
def model_ratios(pipeline, a: str, b: str, settings) -> list[float]:
    tokenizer, text_encoder, transformer = pipeline
    alphas = dit_model.build_scheduler().alphas_cumprod.float()
    expected = as_tensor([shapes.render(scene(a, *s)) for s in settings]) - as_tensor([shapes.render(scene(b, *s)) for s in settings])
    base = as_tensor([shapes.render(scene(b, *s)) for s in settings])
    contexts = [text_encoder(dit_model.tokenize(tokenizer, [scene(shape, *s).caption() for s in settings])).last_hidden_state
                for shape in (a, b)]
    ratios = []
    for t in NOISE_LEVELS:
        alpha = alphas[t]
        noise = torch.randn(base.shape, generator=torch.Generator().manual_seed(t))
        noisy = alpha.sqrt() * base + (1 - alpha).sqrt() * noise
        timesteps = torch.full((len(settings),), t)
        x0 = [alpha.sqrt() * noisy - (1 - alpha).sqrt() * transformer(noisy, encoder_hidden_states=c, timestep=timesteps).sample
              for c in contexts]
        ratios.append(float(((x0[0] - x0[1]) * expected).sum() / (expected * expected).sum()))
    return ratios


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pipeline", type=Path, help="a kiln-shapes-dit diffusers folder")
    parser.add_argument("--scenes", type=int, default=24, help="scenes per shape pair")
    args = parser.parse_args()
    torch.set_num_threads(1)

    from diffusers import PixArtTransformer2DModel
    from diffusers.utils import logging as diffusers_logging
    from transformers import CLIPTextModel, CLIPTokenizer
    from transformers.utils import logging as transformers_logging
    diffusers_logging.set_verbosity_error()
    transformers_logging.set_verbosity_error()
    pipeline = (CLIPTokenizer.from_pretrained(args.pipeline / "tokenizer"),
                CLIPTextModel.from_pretrained(args.pipeline / "text_encoder").eval(),
                PixArtTransformer2DModel.from_pretrained(args.pipeline / "transformer").eval())
    print(f"{'pair':<20}{'ideal':>7}  " + "".join(f"{'t=' + str(t):>8}" for t in NOISE_LEVELS))
    for a, b in PAIRS:
        rng = np.random.default_rng(3)
        settings = random_settings(rng, args.scenes)
        ratios = model_ratios(pipeline, a, b, settings)
        ideal = ideal_ratio(a, b, settings[:8], rng)
        print(f"{a + ' vs ' + b:<20}{ideal:>7.2f}  " + "".join(f"{r:>8.2f}" for r in ratios))


if __name__ == "__main__":
    main()
