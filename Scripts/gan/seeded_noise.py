"""Kiln's `SeededNoise` (Sources/KilnImage/Sampling/SeededNoise.swift) in Python: the same seed gives
the same standard normal values, so PyTorch can draw exactly the latent z that Kiln draws for a
request's seed (the GAN's reference images and its offline evaluation use it).

State: xoshiro256**, its four words from four successive SplitMix64 outputs started at the seed.
Normals: Box–Muller on pairs of draws, u1 = ((x1 >> 11) + 1)·2⁻⁵³, u2 = (x2 >> 11)·2⁻⁵³,
r = √(−2 ln u1), giving r·cos(2πu2) then r·sin(2πu2), computed in double and rounded to float32.
"""
from __future__ import annotations

import math

import numpy as np

MASK = (1 << 64) - 1


def _rotate(x: int, k: int) -> int:
    return ((x << k) | (x >> (64 - k))) & MASK


class SeededNoise:
    def __init__(self, seed: int):
        mixer = seed & MASK
        words = []
        for _ in range(4):
            mixer = (mixer + 0x9E3779B97F4A7C15) & MASK
            z = mixer
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
            words.append(z ^ (z >> 31))
        self.s = words
        self.spare = None

    def next_bits(self) -> int:
        s = self.s
        result = (_rotate((s[1] * 5) & MASK, 7) * 9) & MASK
        t = (s[1] << 17) & MASK
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = _rotate(s[3], 45)
        return result

    def next_gaussian(self) -> float:
        if self.spare is not None:
            value, self.spare = self.spare, None
            return value
        u1 = ((self.next_bits() >> 11) + 1) * 2.0 ** -53
        u2 = (self.next_bits() >> 11) * 2.0 ** -53
        radius = math.sqrt(-2 * math.log(u1))
        angle = 2 * math.pi * u2
        self.spare = float(np.float32(radius * math.sin(angle)))
        return float(np.float32(radius * math.cos(angle)))

    def gaussians(self, count: int) -> np.ndarray:
        return np.array([self.next_gaussian() for _ in range(count)], dtype=np.float32)
