#!/usr/bin/env python3
"""Writes float64-reference.json: SmolLM2-135M-Instruct Q4_1 run in double precision with numpy.

An independent check of Kiln's forward pass without llama.cpp's 8-bit activation rounding: weights
are dequantized by the `gguf` Python package, everything else (RMSNorm, RoPE with adjacent pairs,
grouped-query attention, SwiGLU, tied output) is computed here in float64 from the model's metadata.
Kiln with `ActivationPrecision.float32` must agree to about 1e-3 in log-probability.

Usage: python3 make_float64_reference.py MODEL.gguf > float64-reference.json
"""
import json, sys
import numpy as np
from gguf import GGUFReader
from gguf.quants import dequantize

reader = GGUFReader(sys.argv[1])
tensors = {t.name: t for t in reader.tensors}
def field(name):
    f = reader.fields[name]
    return f.parts[f.data[0]].tolist()[0]
layers, width = field('llama.block_count'), field('llama.embedding_length')
heads, kv_heads = field('llama.attention.head_count'), field('llama.attention.head_count_kv')
head_dim, base = width // heads, field('llama.rope.freq_base')
eps = field('llama.attention.layer_norm_rms_epsilon')

def weight(name):
    t = tensors[name]
    shape = [int(x) for x in reversed(t.shape)]
    return dequantize(t.data, t.tensor_type).astype(np.float64).reshape(shape)

embedding = weight('token_embd.weight')
blocks = [{k: weight(f'blk.{i}.{k}.weight') for k in
           ['attn_norm', 'attn_q', 'attn_k', 'attn_v', 'attn_output', 'ffn_norm', 'ffn_gate', 'ffn_up', 'ffn_down']}
          for i in range(layers)]
output_norm = weight('output_norm.weight')
inverse_frequency = base ** (-np.arange(0, head_dim, 2) / head_dim)

def rms(x, gain):
    return x / np.sqrt(np.mean(x * x) + eps) * gain

def rope(x, position, count):
    x = x.reshape(count, head_dim).copy()
    angle = position * inverse_frequency
    a, b = x[:, 0::2].copy(), x[:, 1::2].copy()
    x[:, 0::2] = a * np.cos(angle) - b * np.sin(angle)
    x[:, 1::2] = a * np.sin(angle) + b * np.cos(angle)
    return x

def run(tokens):
    keys = [[] for _ in range(layers)]
    values = [[] for _ in range(layers)]
    results = []
    for position, token in enumerate(tokens):
        x = embedding[token].copy()
        for i, w in enumerate(blocks):
            n = rms(x, w['attn_norm'])
            q = rope(w['attn_q'] @ n, position, heads)
            keys[i].append(rope(w['attn_k'] @ n, position, kv_heads))
            values[i].append((w['attn_v'] @ n).reshape(kv_heads, head_dim))
            k, v = np.stack(keys[i]), np.stack(values[i])
            out = np.zeros((heads, head_dim))
            for h in range(heads):
                g = h // (heads // kv_heads)
                scores = k[:, g] @ q[h] / np.sqrt(head_dim)
                p = np.exp(scores - scores.max())
                out[h] = (p / p.sum()) @ v[:, g]
            x = x + w['attn_output'] @ out.reshape(-1)
            n = rms(x, w['ffn_norm'])
            gate = w['ffn_gate'] @ n
            x = x + w['ffn_down'] @ (gate / (1 + np.exp(-gate)) * (w['ffn_up'] @ n))
        logits = embedding @ rms(x, output_norm)
        log_probabilities = logits - (logits.max() + np.log(np.exp(logits - logits.max()).sum()))
        top = np.argsort(-log_probabilities, kind='stable')[:10]
        results.append({'position': position, 'top': [[int(t), round(float(log_probabilities[t]), 6)] for t in top]})
    return results

# The first greedy prompt of the llama.cpp reference followed by llama.cpp's first four tokens.
tokens = [504, 3575, 282, 4649, 314, 7042, 30, 198, 198]
print(json.dumps({'generator': 'Tests/Fixtures/smollm2/make_float64_reference.py (numpy float64, gguf dequantization)',
                  'tokens': tokens, 'positions': run(tokens)}, indent=1))
