#!/usr/bin/env python3
"""Writes two tiny random transformers and their float64 logits, to test the architectures Kiln
supports beyond the default model:

- tiny-llama.gguf: `llama`, F16 matrices, an untied output matrix, RoPE on adjacent pairs,
  grouped-query attention (4 query heads over 2 KV heads), linear RoPE scaling 2.
- tiny-qwen2.gguf: `qwen2`, F32 matrices, Q/K/V biases, RoPE on halves (NeoX), tied output.
- tiny-reference.json: for each model, the token sequence and the log-softmax of every position's
  logits, computed here in float64 (numpy) from the stored (rounded) weights.

Usage: python3 make_tiny_models.py   (writes next to this script; needs numpy and gguf)
"""
import json, os
import numpy as np
from gguf import GGUFWriter

HERE = os.path.dirname(os.path.abspath(__file__))
VOCAB, WIDTH, LAYERS, HEADS, KV_HEADS, FFN, CONTEXT = 96, 64, 2, 4, 2, 128, 64
HEAD_DIM = WIDTH // HEADS
EPS, BASE = 1e-5, 10000.0
TOKENS = [3, 17, 42, 5, 91, 0, 64, 17, 33, 8, 77, 21]


def make_weights(rng, biases, tied):
    def matrix(rows, columns):
        return (rng.standard_normal((rows, columns)) / np.sqrt(columns)).astype(np.float32)
    w = {'token_embd.weight': matrix(VOCAB, WIDTH), 'output_norm.weight': (1 + 0.1 * rng.standard_normal(WIDTH)).astype(np.float32)}
    if not tied:
        w['output.weight'] = matrix(VOCAB, WIDTH)
    for i in range(LAYERS):
        p = f'blk.{i}.'
        w[p + 'attn_norm.weight'] = (1 + 0.1 * rng.standard_normal(WIDTH)).astype(np.float32)
        w[p + 'ffn_norm.weight'] = (1 + 0.1 * rng.standard_normal(WIDTH)).astype(np.float32)
        w[p + 'attn_q.weight'] = matrix(HEADS * HEAD_DIM, WIDTH)
        w[p + 'attn_k.weight'] = matrix(KV_HEADS * HEAD_DIM, WIDTH)
        w[p + 'attn_v.weight'] = matrix(KV_HEADS * HEAD_DIM, WIDTH)
        w[p + 'attn_output.weight'] = matrix(WIDTH, HEADS * HEAD_DIM)
        w[p + 'ffn_gate.weight'] = matrix(FFN, WIDTH)
        w[p + 'ffn_up.weight'] = matrix(FFN, WIDTH)
        w[p + 'ffn_down.weight'] = matrix(WIDTH, FFN)
        if biases:
            w[p + 'attn_q.bias'] = (0.1 * rng.standard_normal(HEADS * HEAD_DIM)).astype(np.float32)
            w[p + 'attn_k.bias'] = (0.1 * rng.standard_normal(KV_HEADS * HEAD_DIM)).astype(np.float32)
            w[p + 'attn_v.bias'] = (0.1 * rng.standard_normal(KV_HEADS * HEAD_DIM)).astype(np.float32)
    return w


def write(path, arch, weights, half_matrices, rope_scale):
    writer = GGUFWriter(path, arch)
    writer.add_context_length(CONTEXT)
    writer.add_embedding_length(WIDTH)
    writer.add_block_count(LAYERS)
    writer.add_feed_forward_length(FFN)
    writer.add_head_count(HEADS)
    writer.add_head_count_kv(KV_HEADS)
    writer.add_rope_freq_base(BASE)
    writer.add_layer_norm_rms_eps(EPS)
    writer.add_vocab_size(VOCAB)
    if rope_scale != 1:
        writer.add_string(f'{arch}.rope.scaling.type', 'linear')
        writer.add_float32(f'{arch}.rope.scaling.factor', rope_scale)
    stored = {}
    for name, value in weights.items():
        if half_matrices and value.ndim == 2:
            value = value.astype(np.float16)
        writer.add_tensor(name, value)
        stored[name] = value.astype(np.float64)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return stored


def forward(w, tokens, neox, biases, tied, rope_scale):
    def rms(x, gain):
        return x / np.sqrt(np.mean(x * x) + EPS) * gain
    inverse = (1 / rope_scale) * BASE ** (-np.arange(0, HEAD_DIM, 2) / HEAD_DIM)
    def rope(x, position, count):
        x = x.reshape(count, HEAD_DIM).copy()
        angle = position * inverse
        half = HEAD_DIM // 2
        first, second = (np.arange(half), np.arange(half) + half) if neox else (np.arange(0, HEAD_DIM, 2), np.arange(1, HEAD_DIM, 2))
        a, b = x[:, first].copy(), x[:, second].copy()
        x[:, first] = a * np.cos(angle) - b * np.sin(angle)
        x[:, second] = a * np.sin(angle) + b * np.cos(angle)
        return x
    keys = [[] for _ in range(LAYERS)]
    values = [[] for _ in range(LAYERS)]
    output = w['token_embd.weight'] if tied else w['output.weight']
    rows = []
    for position, token in enumerate(tokens):
        x = w['token_embd.weight'][token].copy()
        for i in range(LAYERS):
            p = f'blk.{i}.'
            n = rms(x, w[p + 'attn_norm.weight'])
            q, k, v = w[p + 'attn_q.weight'] @ n, w[p + 'attn_k.weight'] @ n, w[p + 'attn_v.weight'] @ n
            if biases:
                q, k, v = q + w[p + 'attn_q.bias'], k + w[p + 'attn_k.bias'], v + w[p + 'attn_v.bias']
            q = rope(q, position, HEADS)
            keys[i].append(rope(k, position, KV_HEADS))
            values[i].append(v.reshape(KV_HEADS, HEAD_DIM))
            K, V = np.stack(keys[i]), np.stack(values[i])
            out = np.zeros((HEADS, HEAD_DIM))
            for h in range(HEADS):
                g = h // (HEADS // KV_HEADS)
                s = K[:, g] @ q[h] / np.sqrt(HEAD_DIM)
                e = np.exp(s - s.max())
                out[h] = (e / e.sum()) @ V[:, g]
            x = x + w[p + 'attn_output.weight'] @ out.reshape(-1)
            n = rms(x, w[p + 'ffn_norm.weight'])
            gate = w[p + 'ffn_gate.weight'] @ n
            x = x + w[p + 'ffn_down.weight'] @ (gate / (1 + np.exp(-gate)) * (w[p + 'ffn_up.weight'] @ n))
        logits = output @ rms(x, w['output_norm.weight'])
        rows.append([round(float(v), 7) for v in logits - (logits.max() + np.log(np.exp(logits - logits.max()).sum()))])
    return rows


reference = {'generator': 'Tests/Fixtures/tiny-models/make_tiny_models.py (numpy float64)', 'tokens': TOKENS}
for name, arch, seed, biases, tied, half, neox, scale in [('tiny-llama', 'llama', 1, False, False, True, False, 2.0),
                                                         ('tiny-qwen2', 'qwen2', 2, True, True, False, True, 1.0)]:
    weights = make_weights(np.random.default_rng(seed), biases, tied)
    stored = write(os.path.join(HERE, name + '.gguf'), arch, weights, half, scale)
    reference[name] = forward(stored, TOKENS, neox, biases, tied, scale)
with open(os.path.join(HERE, 'tiny-reference.json'), 'w') as f:
    json.dump(reference, f)
