"""Architecture of kiln-shapes-gan: a caption-conditioned generator and its projection discriminator.

The caption goes through a small CLIP text transformer of exactly the DiT's architecture and
tokenizer (`Scripts/dit/dit_model.py` builds both; training starts from the DiT's trained text
encoder). Its conditioning vector is the final-norm hidden state at the first end-of-text token
followed by the mean of the states from the start token up to and including that token (64 + 64
values): the end token has attended to every word (causal attention), and the mean keeps every
word's own state, which the DiT's encoder (trained for cross-attention) already carries.

Generator (a latent z of LATENT values, seeded, and the caption's conditioning vector):
    cat(z, c) → Linear → 4×4×C0
    3 × [nearest ×2 upsampling, 3×3 convolution, GroupNorm without affine whose per-channel scale
         and shift come from the caption (1 + γ(c), β(c), each a Linear of c), ReLU]
    3×3 convolution to RGB, tanh → [-1, 1], 32×32.
GroupNorm (per image) rather than BatchNorm keeps the generator's output independent of the batch,
so a batch of requests gives each image what it would get alone; and the caption's scale and shift
fold into the group norm's own affine parameters, one kernel call per layer in Kiln.

Discriminator (spectral norm on every layer; a projection discriminator, Miyato & Koyama 2018):
    φ(x): 3×3 conv 3→D0, then three 4×4 stride-2 convolutions to 4×4, LeakyReLU 0.2, flattened and
    a Linear to FEATURES (flattening keeps where things are, which sum pooling would not);
    D(x, c) = w·φ(x) + ⟨P c, φ(x)⟩.
Only the generator and the text encoder are exported.
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.parametrizations import spectral_norm

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "dit"))
import dit_model  # noqa: E402
import shapes  # noqa: E402

LATENT = 32
CONDITION = 2 * dit_model.TEXT_WIDTH
GROUPS = 8
GROUP_NORM_EPS = 1e-5
# The trained model; the equality fixture uses smaller widths of the same architecture.
GENERATOR_CONFIG = dict(latent=LATENT, condition=CONDITION, channels=[128, 128, 64, 32], groups=GROUPS)
DISCRIMINATOR_CONFIG = dict(condition=CONDITION, channels=[32, 64, 128, 256], features=256)


def condition(text_encoder, ids: torch.Tensor, eos_id: int) -> torch.Tensor:
    """[n, CONDITION]: the final hidden state at each caption's first end-of-text token, then the mean
    of the states from the start token through that token."""
    hidden = text_encoder(ids).last_hidden_state  # [n, tokens, width]
    end = (ids == eos_id).int().argmax(dim=1)  # first end token (padding repeats it)
    positions = torch.arange(ids.shape[1]).unsqueeze(0)
    mask = (positions <= end.unsqueeze(1)).float().unsqueeze(2)
    mean = (hidden * mask).sum(dim=1) / mask.sum(dim=1)
    last = hidden[torch.arange(ids.shape[0]), end]
    return torch.cat([last, mean], dim=1)


class GeneratorBlock(nn.Module):
    """×2 nearest upsampling, 3×3 convolution, caption-modulated group norm, ReLU."""

    def __init__(self, channels_in: int, channels_out: int, condition: int, groups: int):
        super().__init__()
        self.conv = nn.Conv2d(channels_in, channels_out, 3, padding=1)
        self.norm = nn.GroupNorm(groups, channels_out, eps=GROUP_NORM_EPS, affine=False)
        self.scale = nn.Linear(condition, channels_out)
        self.shift = nn.Linear(condition, channels_out)
        for layer in (self.scale, self.shift):  # start as the identity modulation
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        x = self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))
        x = self.norm(x) * (1 + self.scale(c))[:, :, None, None] + self.shift(c)[:, :, None, None]
        return F.relu(x)


class Generator(nn.Module):
    def __init__(self, latent: int, condition: int, channels: list[int], groups: int):
        super().__init__()
        self.latent, self.channels = latent, channels
        self.input = nn.Linear(latent + condition, channels[0] * 16)
        self.blocks = nn.ModuleList(GeneratorBlock(a, b, condition, groups) for a, b in zip(channels, channels[1:]))
        self.output = nn.Conv2d(channels[-1], 3, 3, padding=1)

    def forward(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.input(torch.cat([z, c], dim=1))).view(-1, self.channels[0], 4, 4)
        for block in self.blocks:
            x = block(x, c)
        return torch.tanh(self.output(x))

    def config(self) -> dict:
        return {"latent": self.latent, "condition": self.input.in_features - self.latent, "channels": self.channels,
                "groups": self.blocks[0].norm.num_groups, "group_norm_eps": GROUP_NORM_EPS, "image_size": shapes.SIZE}


class Discriminator(nn.Module):
    def __init__(self, condition: int, channels: list[int], features: int):
        super().__init__()
        layers = [spectral_norm(nn.Conv2d(3, channels[0], 3, padding=1))]
        for a, b in zip(channels, channels[1:]):
            layers.append(spectral_norm(nn.Conv2d(a, b, 4, stride=2, padding=1)))
        self.convs = nn.ModuleList(layers)
        self.features = spectral_norm(nn.Linear(channels[-1] * 16, features))
        self.score = spectral_norm(nn.Linear(features, 1))
        self.projection = spectral_norm(nn.Linear(condition, features, bias=False))

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        for conv in self.convs:
            x = F.leaky_relu(conv(x), 0.2)
        phi = F.leaky_relu(self.features(x.flatten(1)), 0.2)
        return self.score(phi).squeeze(1) + (self.projection(c) * phi).sum(dim=1)


def build_generator(**overrides) -> Generator:
    return Generator(**{**GENERATOR_CONFIG, **overrides})


def build_discriminator(**overrides) -> Discriminator:
    return Discriminator(**{**DISCRIMINATOR_CONFIG, **overrides})


def latents(seed: int, count: int = 1, latent: int = LATENT) -> torch.Tensor:
    """PyTorch's latents for offline evaluation (Kiln draws its own from the seed)."""
    return torch.randn(count, latent, generator=torch.Generator().manual_seed(seed))


@torch.no_grad()
def generate(tokenizer, text_encoder, generator: Generator, captions: list[str], z: torch.Tensor) -> torch.Tensor:
    """Images in [0, 1], [n, 3, 32, 32]."""
    ids = dit_model.tokenize(tokenizer, captions)
    c = condition(text_encoder, ids, tokenizer.eos_token_id)
    return (generator(z, c) / 2 + 0.5).clamp(0, 1)
