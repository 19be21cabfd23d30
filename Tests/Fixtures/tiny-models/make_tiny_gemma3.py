#!/usr/bin/env python3
"""Writes a tiny random `gemma3` transformer and its float64 logits, to test what the architecture
adds to the Llama block where the real model's references cannot reach (its window is 512 tokens):

- tiny-gemma3.gguf: 3 layers, of which 0 and 1 attend within a sliding window of 4 tokens (pattern
  period 3) with RoPE base 100 and layer 2 globally with base 10000; NeoX RoPE; per-head query and
  key RMSNorms; post-attention and post-feed-forward RMSNorms; GeGLU with the tanh GELU; the
  embedding rows scaled by sqrt(width); logits soft-capped at 30 (Gemma 2's scheme, which
  llama.cpp's gemma3 graph applies when the key is set); F32 tensors, tied output.
- tiny-gemma3-reference.json: the token sequence (12 tokens, so the window cuts) and the
  log-softmax of every position's logits, computed here in float64 (numpy) from the stored weights.

Usage: python3 make_tiny_gemma3.py   (writes next to this script; needs numpy and gguf)
"""
import json, os
import numpy as np
from gguf import GGUFWriter

HERE = os.path.dirname(os.path.abspath(__file__))
VOCAB, WIDTH, LAYERS, HEADS, KV_HEADS, HEAD_DIM, FFN, CONTEXT = 96, 64, 3, 4, 2, 16, 128, 64
EPS, GLOBAL_BASE, LOCAL_BASE, WINDOW, PERIOD, SOFTCAP = 1e-6, 10000.0, 100.0, 4, 3, 30.0
TOKENS = [2, 17, 42, 5, 91, 0, 64, 17, 33, 8, 77, 21]


def make_weights(rng):
    def matrix(rows, columns):
        return (rng.standard_normal((rows, columns)) / np.sqrt(columns)).astype(np.float32)
    def gain(count):
        return (1 + 0.1 * rng.standard_normal(count)).astype(np.float32)
    w = {'token_embd.weight': (matrix(VOCAB, WIDTH) / 8).astype(np.float32), 'output_norm.weight': gain(WIDTH)}
    for i in range(LAYERS):
        p = f'blk.{i}.'
        w[p + 'attn_norm.weight'] = gain(WIDTH)
        w[p + 'attn_q.weight'] = matrix(HEADS * HEAD_DIM, WIDTH)
        w[p + 'attn_k.weight'] = matrix(KV_HEADS * HEAD_DIM, WIDTH)
        w[p + 'attn_v.weight'] = matrix(KV_HEADS * HEAD_DIM, WIDTH)
        w[p + 'attn_q_norm.weight'] = gain(HEAD_DIM)
        w[p + 'attn_k_norm.weight'] = gain(HEAD_DIM)
        w[p + 'attn_output.weight'] = matrix(WIDTH, HEADS * HEAD_DIM)
        w[p + 'post_attention_norm.weight'] = gain(WIDTH)
        w[p + 'ffn_norm.weight'] = gain(WIDTH)
        w[p + 'ffn_gate.weight'] = matrix(FFN, WIDTH)
        w[p + 'ffn_up.weight'] = matrix(FFN, WIDTH)
        w[p + 'ffn_down.weight'] = matrix(WIDTH, FFN)
        w[p + 'post_ffw_norm.weight'] = gain(WIDTH)
    return w


def write(path, weights):
    writer = GGUFWriter(path, 'gemma3')
    writer.add_context_length(CONTEXT)
    writer.add_embedding_length(WIDTH)
    writer.add_block_count(LAYERS)
    writer.add_feed_forward_length(FFN)
    writer.add_head_count(HEADS)
    writer.add_head_count_kv(KV_HEADS)
    writer.add_key_length(HEAD_DIM)
    writer.add_value_length(HEAD_DIM)
    writer.add_rope_freq_base(GLOBAL_BASE)
    writer.add_layer_norm_rms_eps(EPS)
    writer.add_vocab_size(VOCAB)
    writer.add_uint32('gemma3.attention.sliding_window', WINDOW)
    writer.add_uint32('gemma3.attention.sliding_window_pattern', PERIOD)
    writer.add_float32('gemma3.rope.freq_base_swa', LOCAL_BASE)
    writer.add_float32('gemma3.final_logit_softcapping', SOFTCAP)
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
    def rope(x, position, base):
        x = x.copy()
        angle = position * base ** (-np.arange(0, HEAD_DIM, 2) / HEAD_DIM)
        half = HEAD_DIM // 2
        a, b = x[:, :half].copy(), x[:, half:].copy()
        x[:, :half] = a * np.cos(angle) - b * np.sin(angle)
        x[:, half:] = a * np.sin(angle) + b * np.cos(angle)
        return x
    def gelu(x):
        return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))
    keys = [[] for _ in range(LAYERS)]
    values = [[] for _ in range(LAYERS)]
    rows = []
    for position, token in enumerate(tokens):
        x = w['token_embd.weight'][token] * np.sqrt(WIDTH)
        for i in range(LAYERS):
            p = f'blk.{i}.'
            sliding = i % PERIOD < PERIOD - 1
            base = LOCAL_BASE if sliding else GLOBAL_BASE
            n = rms(x, w[p + 'attn_norm.weight'])
            q = rms((w[p + 'attn_q.weight'] @ n).reshape(HEADS, HEAD_DIM), w[p + 'attn_q_norm.weight'])
            k = rms((w[p + 'attn_k.weight'] @ n).reshape(KV_HEADS, HEAD_DIM), w[p + 'attn_k_norm.weight'])
            q = rope(q, position, base) / np.sqrt(HEAD_DIM)
            keys[i].append(rope(k, position, base))
            values[i].append((w[p + 'attn_v.weight'] @ n).reshape(KV_HEADS, HEAD_DIM))
            first = max(0, position - WINDOW + 1) if sliding else 0
            K, V = np.stack(keys[i][first:]), np.stack(values[i][first:])
            out = np.zeros((HEADS, HEAD_DIM))
            for h in range(HEADS):
                g = h // (HEADS // KV_HEADS)
                s = K[:, g] @ q[h]
                e = np.exp(s - s.max())
                out[h] = (e / e.sum()) @ V[:, g]
            x = x + rms(w[p + 'attn_output.weight'] @ out.reshape(-1), w[p + 'post_attention_norm.weight'])
            n = rms(x, w[p + 'ffn_norm.weight'])
            inner = gelu(w[p + 'ffn_gate.weight'] @ n) * (w[p + 'ffn_up.weight'] @ n)
            x = x + rms(w[p + 'ffn_down.weight'] @ inner, w[p + 'post_ffw_norm.weight'])
        logits = w['token_embd.weight'] @ rms(x, w['output_norm.weight'])
        logits = SOFTCAP * np.tanh(logits / SOFTCAP)
        rows.append([round(float(v), 7) for v in logits - (logits.max() + np.log(np.exp(logits - logits.max()).sum()))])
    return rows


stored = write(os.path.join(HERE, 'tiny-gemma3.gguf'), make_weights(np.random.default_rng(3)))
reference = {'generator': 'Tests/Fixtures/tiny-models/make_tiny_gemma3.py (numpy float64)', 'tokens': TOKENS,
             'tiny-gemma3': forward(stored, TOKENS)}
with open(os.path.join(HERE, 'tiny-gemma3-reference.json'), 'w') as f:
    json.dump(reference, f)
