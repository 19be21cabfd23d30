#!/usr/bin/env python3
"""Writes a tiny random `qwen3` transformer and its float64 logits: the Llama block without biases,
with an RMSNorm of each query and key head before RoPE (NeoX pairs), and a head width (32, from
`attention.key_length`) that is not the residual width over the heads (64 / 4), as in the released
Qwen3 models; grouped-query attention (4 query heads over 2 KV heads), F32, tied output.

- tiny-qwen3.gguf, tiny-qwen3-reference.json: the log-softmax of every position's logits for 12 tokens,
  computed here in float64 (numpy) from the stored weights.

Usage: python3 make_tiny_qwen3.py   (writes next to this script; needs numpy and gguf)
"""
import json, os
import numpy as np
from gguf import GGUFWriter

HERE = os.path.dirname(os.path.abspath(__file__))
VOCAB, WIDTH, LAYERS, HEADS, KV_HEADS, HEAD_DIM, FFN, CONTEXT = 96, 64, 2, 4, 2, 32, 128, 64
EPS, BASE = 1e-6, 1000000.0
TOKENS = [3, 17, 42, 5, 91, 0, 64, 17, 33, 8, 77, 21]


def make_weights(rng):
    def matrix(rows, columns):
        return (rng.standard_normal((rows, columns)) / np.sqrt(columns)).astype(np.float32)
    def gain(count):
        return (1 + 0.1 * rng.standard_normal(count)).astype(np.float32)
    w = {'token_embd.weight': matrix(VOCAB, WIDTH), 'output_norm.weight': gain(WIDTH)}
    for i in range(LAYERS):
        p = f'blk.{i}.'
        w[p + 'attn_norm.weight'] = gain(WIDTH)
        w[p + 'attn_q.weight'] = matrix(HEADS * HEAD_DIM, WIDTH)
        w[p + 'attn_k.weight'] = matrix(KV_HEADS * HEAD_DIM, WIDTH)
        w[p + 'attn_v.weight'] = matrix(KV_HEADS * HEAD_DIM, WIDTH)
        w[p + 'attn_q_norm.weight'] = gain(HEAD_DIM)
        w[p + 'attn_k_norm.weight'] = gain(HEAD_DIM)
        w[p + 'attn_output.weight'] = matrix(WIDTH, HEADS * HEAD_DIM)
        w[p + 'ffn_norm.weight'] = gain(WIDTH)
        w[p + 'ffn_gate.weight'] = matrix(FFN, WIDTH)
        w[p + 'ffn_up.weight'] = matrix(FFN, WIDTH)
        w[p + 'ffn_down.weight'] = matrix(WIDTH, FFN)
    return w


def write(path, weights):
    writer = GGUFWriter(path, 'qwen3')
    writer.add_context_length(CONTEXT)
    writer.add_embedding_length(WIDTH)
    writer.add_block_count(LAYERS)
    writer.add_feed_forward_length(FFN)
    writer.add_head_count(HEADS)
    writer.add_head_count_kv(KV_HEADS)
    writer.add_key_length(HEAD_DIM)
    writer.add_value_length(HEAD_DIM)
    writer.add_rope_freq_base(BASE)
    writer.add_layer_norm_rms_eps(EPS)
    writer.add_vocab_size(VOCAB)
    for name, value in weights.items():
        writer.add_tensor(name, value)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return {name: value.astype(np.float64) for name, value in weights.items()}


def forward(w, tokens):
    def rms(x, gain):
        return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + EPS) * gain
    def rope(x, position):
        x = x.copy()
        angle = position * BASE ** (-np.arange(0, HEAD_DIM, 2) / HEAD_DIM)
        half = HEAD_DIM // 2
        a, b = x[:, :half].copy(), x[:, half:].copy()
        x[:, :half] = a * np.cos(angle) - b * np.sin(angle)
        x[:, half:] = a * np.sin(angle) + b * np.cos(angle)
        return x
    keys = [[] for _ in range(LAYERS)]
    values = [[] for _ in range(LAYERS)]
    rows = []
    for position, token in enumerate(tokens):
        x = w['token_embd.weight'][token].copy()
        for i in range(LAYERS):
            p = f'blk.{i}.'
            n = rms(x, w[p + 'attn_norm.weight'])
            q = rms((w[p + 'attn_q.weight'] @ n).reshape(HEADS, HEAD_DIM), w[p + 'attn_q_norm.weight'])
            k = rms((w[p + 'attn_k.weight'] @ n).reshape(KV_HEADS, HEAD_DIM), w[p + 'attn_k_norm.weight'])
            q = rope(q, position)
            keys[i].append(rope(k, position))
            values[i].append((w[p + 'attn_v.weight'] @ n).reshape(KV_HEADS, HEAD_DIM))
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
        logits = w['token_embd.weight'] @ rms(x, w['output_norm.weight'])
        rows.append([round(float(v), 7) for v in logits - (logits.max() + np.log(np.exp(logits - logits.max()).sum()))])
    return rows


stored = write(os.path.join(HERE, 'tiny-qwen3.gguf'), make_weights(np.random.default_rng(4)))
reference = {'generator': 'Tests/Fixtures/tiny-models/make_tiny_qwen3.py (numpy float64)', 'tokens': TOKENS,
             'tiny-qwen3': forward(stored, TOKENS)}
with open(os.path.join(HERE, 'tiny-qwen3-reference.json'), 'w') as f:
    json.dump(reference, f)
