#!/usr/bin/env python3
"""Writes the dequantization fixtures in Tests/Fixtures/quant/ with the `gguf` Python package.

For every tensor type KilnTensor supports it writes `<type>.bin` (raw GGML blocks) and `<type>.f32`
(what gguf.quants.dequantize returns for those blocks, little-endian float32), plus manifest.json
(element counts). KilnTensorTests requires KilnTensor's dequantization to equal these floats bit
for bit.

Types gguf can quantize (F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0) are made by quantizing random
floats (fixed seed) with gguf.quants.quantize, plus a few hand-made edge rows; K-quants (Q2_K, Q3_K,
Q4_K, Q5_K, Q6_K) and the IQ4 types (IQ4_NL, IQ4_XS), which gguf-py can only dequantize, are random
block bytes with their half-float scale fields replaced by finite values of both signs, including
subnormals, so every bit pattern of the packed quants and scales is exercised.

Usage: pip install gguf numpy; python3 Scripts/make-quant-fixtures.py [output-dir]
"""
import importlib.metadata
import json
import os
import sys

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T
from gguf.quants import quantize, dequantize

SEED = 20261129
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "Tests", "Fixtures", "quant")

QUANTIZABLE = [T.F32, T.F16, T.BF16, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0]
# Byte offsets of each random-block type's half-float fields. The low-bit types come last so that the
# random stream, and so the fixtures, of the types before them stay as they were.
K_QUANTS = {T.Q4_K: [0, 2], T.Q5_K: [0, 2], T.Q6_K: [208],
            T.Q2_K: [80, 82], T.Q3_K: [108], T.IQ4_NL: [0], T.IQ4_XS: [0]}
# Blocks per random-block type: IQ4_NL's blocks hold 32 elements, the others 256.
RANDOM_BLOCK_COUNTS = {T.IQ4_NL: 32}


def float_input(rng: np.random.Generator, count: int) -> np.ndarray:
    """Random normal values with a spread of magnitudes, and edge rows of 32 at the front."""
    values = rng.standard_normal(count).astype(np.float32) * np.float32(0.05)
    values[32:64] = 0.0                                     # all-zero block (scale 0)
    values[64:96] = 0.75                                    # constant block
    values[96:128] = -np.abs(values[96:128]) * 100          # all negative, large
    values[128:160] = np.linspace(-1, 1, 32, dtype=np.float32)
    values[160:192] = values[160:192] * 1e-6                # tiny magnitudes (subnormal halves)
    return values


def half_edge_values() -> np.ndarray:
    """F16/BF16 specials: signed zeros, infinities, subnormals, the largest finite half."""
    return np.array([0.0, -0.0, np.inf, -np.inf, 6e-8, -6e-8, 65504.0, -65504.0, 1e-40, 3.0e38,
                     1.0, -1.0, 0.1, 1 / 3, 1e-5, 2.0 ** -24], dtype=np.float32)


def random_k_blocks(rng: np.random.Generator, qtype: T, blocks: int) -> np.ndarray:
    block_size, type_size = gguf.GGML_QUANT_SIZES[qtype]
    raw = rng.integers(0, 256, size=(blocks, type_size), dtype=np.uint8)
    for offset in K_QUANTS[qtype]:
        magnitudes = rng.uniform(1e-4, 0.1, size=blocks).astype(np.float32)
        signs = np.where(rng.random(blocks) < 0.2, -1.0, 1.0).astype(np.float32)
        halves = (magnitudes * signs).astype(np.float16)
        halves[0] = np.float16(0.0)
        halves[1] = np.float16(3e-6)                        # subnormal half
        raw[:, offset:offset + 2] = halves.view(np.uint8).reshape(blocks, 2)
    return raw


def main() -> None:
    rng = np.random.default_rng(SEED)
    os.makedirs(OUT, exist_ok=True)
    manifest = {}
    for qtype in QUANTIZABLE + list(K_QUANTS):
        if qtype in K_QUANTS:
            blocks = random_k_blocks(rng, qtype, RANDOM_BLOCK_COUNTS.get(qtype, 12))
            raw = blocks.reshape(-1)
        else:
            values = float_input(rng, 1024)
            if qtype in (T.F16, T.BF16, T.F32):
                values[:16] = half_edge_values()
            with np.errstate(over="ignore"):  # 3e38 → half infinity is one of the edge values
                quantized = quantize(values, qtype)
            raw = np.ascontiguousarray(quantized).view(np.uint8).reshape(-1)
        floats = dequantize(raw, qtype).astype(np.float32, copy=False).reshape(-1)
        name = qtype.name.lower().replace("_k", "_K")
        raw.tofile(os.path.join(OUT, f"{name}.bin"))
        floats.astype("<f4").tofile(os.path.join(OUT, f"{name}.f32"))
        manifest[name] = {"ggml_type": int(qtype), "elements": int(floats.size), "bytes": int(raw.size)}
    manifest["_generator"] = {"gguf": importlib.metadata.version("gguf"),
                              "numpy": np.__version__, "seed": SEED}
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
