"""Architecture, tokenizer and sampling of Kiln's default image model (kiln-shapes-dit).

A PixArt-α-style diffusion transformer (diffusers `PixArtTransformer2DModel`: patch embedding with
fixed 2-D sin-cos positions, blocks of adaLN-single-modulated self-attention, cross-attention to the
projected caption, and a GELU-tanh MLP, then unpatchify) denoising 32×32 RGB pixels directly (no
VAE), conditioned on a small CLIP text transformer (transformers `CLIPTextModel`) whose byte-level
BPE vocabulary holds CLIP's own merges for the caption words.

Shared by train.py, evaluate.py and the equality-fixture script, so that all of them build the same
architecture. Needs torch, diffusers, transformers and (for the merges) the open-clip-torch wheel.
"""
from __future__ import annotations

import gzip
import importlib.util
import json
from pathlib import Path

import torch
from diffusers import DDIMScheduler, PixArtAlphaPipeline, PixArtTransformer2DModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

import shapes

MAX_TOKENS = 32  # captions are ≤ 25 tokens with start and end
TEXT_WIDTH = 64

# The trained model; tiny_* variants for the equality fixture keep the same architecture.
TRANSFORMER_CONFIG = dict(num_attention_heads=4, attention_head_dim=32, in_channels=3, out_channels=3,
                          num_layers=6, cross_attention_dim=128, caption_channels=TEXT_WIDTH, sample_size=shapes.SIZE,
                          patch_size=4, norm_num_groups=1, attention_bias=True, activation_fn="gelu-approximate",
                          norm_type="ada_norm_single", norm_elementwise_affine=False, norm_eps=1e-6,
                          num_embeds_ada_norm=1000, use_additional_conditions=False)
TEXT_CONFIG = dict(hidden_size=TEXT_WIDTH, intermediate_size=4 * TEXT_WIDTH, num_hidden_layers=3, num_attention_heads=2,
                   max_position_embeddings=MAX_TOKENS, hidden_act="quick_gelu", layer_norm_eps=1e-5)
# Improved DDPM's cosine schedule with v-prediction. An ε-predicting model on DDPM's linear
# pixel-space schedule (the first run) learnt backgrounds but never shapes: at the first sampling
# step (ᾱ ≈ 1e-4) x0 = (x − √(1−ᾱ)·ε)/√ᾱ multiplies the ε error by ~100, so the layout, decided
# there, was noise. v = √ᾱ·ε − √(1−ᾱ)·x0 keeps x0's error bounded at every noise level.
# DDIM with SD's "leading" spacing so Kiln's existing schedule code reads it unchanged.
SCHEDULER_CONFIG = dict(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2",
                        prediction_type="v_prediction", clip_sample=False, set_alpha_to_one=False, steps_offset=1,
                        timestep_spacing="leading")


def _bytes_to_unicode() -> list[str]:
    """CLIP's printable stand-ins for the 256 byte values, in CLIP's vocabulary order."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    extra = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + extra)
            extra += 1
    return [chr(c) for c in cs]


def _clip_merges() -> list[tuple[str, str]]:
    # Located without importing open_clip (whose import needs torchvision, unused here).
    spec = importlib.util.find_spec("open_clip")
    if spec is None:
        raise SystemExit("the open-clip-torch wheel is needed for CLIP's BPE merges (pip install --no-deps open-clip-torch)")
    path = Path(spec.submodule_search_locations[0]) / "bpe_simple_vocab_16e6.txt.gz"
    lines = gzip.open(path).read().decode("utf-8").split("\n")
    return [tuple(line.split()) for line in lines[1:49152 - 256 - 2 + 1]]


def _merges_used(word: str, ranks: dict[tuple[str, str], int]) -> list[tuple[str, str]]:
    """The merges CLIP's BPE applies to one lower-case word, in the order it applies them."""
    parts = list(word[:-1]) + [word[-1] + "</w>"]
    used = []
    while len(parts) > 1:
        pairs = [(ranks.get((a, b), 1 << 30), i) for i, (a, b) in enumerate(zip(parts, parts[1:]))]
        rank, _ = min(pairs)
        if rank == 1 << 30:
            break
        pair = next((parts[i], parts[i + 1]) for r, i in pairs if r == rank)
        used.append(pair)
        merged, i = [], 0
        while i < len(parts):
            if i + 1 < len(parts) and (parts[i], parts[i + 1]) == pair:
                merged.append(parts[i] + parts[i + 1])
                i += 2
            else:
                merged.append(parts[i])
                i += 1
        parts = merged
    return used


def write_tokenizer(directory: Path, words: list[str] | None = None) -> CLIPTokenizer:
    """A CLIP tokenizer whose vocabulary is the byte alphabet (with and without </w>), the CLIP merges
    that the caption words need (kept in CLIP's rank order, so each caption word is one token exactly
    as in CLIP), and the two special tokens. Other text still tokenizes, into smaller pieces.
    `words` defaults to every caption word, varied captions' included (`shapes.caption_words`); the
    fixtures pass `shapes.canonical_caption_words()`, the 601-token vocabulary they were made with."""
    words = shapes.caption_words() if words is None else words
    merges = _clip_merges()
    ranks = {pair: index for index, pair in enumerate(merges)}
    needed = set()
    for word in words:
        needed.update(_merges_used(word, ranks))
    kept = sorted(needed, key=ranks.__getitem__)
    alphabet = _bytes_to_unicode()
    vocab = alphabet + [a + "</w>" for a in alphabet] + ["".join(m) for m in kept] + ["<|startoftext|>", "<|endoftext|>"]
    assert len(set(vocab)) == len(vocab)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(vocab)}, ensure_ascii=False))
    (directory / "merges.txt").write_text("#version: 0.2\n" + "\n".join(" ".join(m) for m in kept) + "\n")
    tokenizer = CLIPTokenizer(str(directory / "vocab.json"), str(directory / "merges.txt"),
                              pad_token="<|endoftext|>", model_max_length=MAX_TOKENS)
    for word in words:  # one token per caption word
        assert len(tokenizer(word, add_special_tokens=False).input_ids) == 1, word
    return tokenizer


def build_text_encoder(tokenizer: CLIPTokenizer, **overrides) -> CLIPTextModel:
    vocab = len(tokenizer)
    config = CLIPTextConfig(vocab_size=vocab, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                            pad_token_id=tokenizer.pad_token_id, **{**TEXT_CONFIG, **overrides})
    return CLIPTextModel(config)


def text_encoder_for_vocabulary(source: CLIPTextModel, source_vocab: dict[str, int], tokenizer: CLIPTokenizer,
                                synonyms: dict[str, str] | None = None) -> CLIPTextModel:
    """`source`'s weights in an encoder for `tokenizer`'s vocabulary: token embedding rows matched
    by token text; a word new to it starts as the word `synonyms` maps it to ("centre" → "center"),
    any other new token as a fresh encoder's row."""
    target = build_text_encoder(tokenizer)
    state = source.state_dict()
    key = "embeddings.token_embedding.weight"
    rows = target.state_dict()[key].clone()  # [vocab, width]
    for token, index in tokenizer.get_vocab().items():
        word = token.removesuffix("</w>")
        if token in source_vocab:
            rows[index] = state[key][source_vocab[token]]
        elif synonyms and word in synonyms and token.endswith("</w>"):
            rows[index] = state[key][source_vocab[synonyms[word] + "</w>"]]
    state[key] = rows
    target.load_state_dict(state)
    return target


def build_transformer(**overrides) -> PixArtTransformer2DModel:
    return PixArtTransformer2DModel(**{**TRANSFORMER_CONFIG, **overrides})


def build_scheduler() -> DDIMScheduler:
    return DDIMScheduler(**SCHEDULER_CONFIG)


def tokenize(tokenizer: CLIPTokenizer, captions: list[str]) -> torch.Tensor:
    return tokenizer(captions, padding="max_length", max_length=MAX_TOKENS, truncation=True, return_tensors="pt").input_ids


def save_pipeline(directory: Path, tokenizer, text_encoder, transformer, tokenizer_files: Path) -> None:
    """The diffusers folder: model_index.json, tokenizer/, text_encoder/, transformer/, scheduler/
    (PixArtAlphaPipeline's layout; no VAE, the transformer works on pixels). `tokenizer_files` is
    the folder write_tokenizer wrote."""
    pipe = PixArtAlphaPipeline(tokenizer=tokenizer, text_encoder=text_encoder, vae=None, transformer=transformer,
                               scheduler=build_scheduler())
    pipe.save_pretrained(str(directory), safe_serialization=True)
    # transformers 5 writes only tokenizer.json; the slow-tokenizer files are kept beside it for
    # readers that expect CLIP's vocab.json + merges.txt.
    for name in ("vocab.json", "merges.txt"):
        (directory / "tokenizer" / name).write_bytes((tokenizer_files / name).read_bytes())


@torch.no_grad()
def sample(tokenizer, text_encoder, transformer, captions: list[str], seed: int, steps: int = 20,
           guidance: float = 4.0) -> torch.Tensor:
    """DDIM with classifier-free guidance (empty negative prompt); returns images in [0, 1], [n, 3, 32, 32]."""
    scheduler = build_scheduler()
    scheduler.set_timesteps(steps)
    ids = tokenize(tokenizer, captions + [""] * len(captions))
    context = text_encoder(ids).last_hidden_state
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(len(captions), 3, shapes.SIZE, shapes.SIZE, generator=generator)
    for t in scheduler.timesteps:
        out = transformer(torch.cat([x, x]), encoder_hidden_states=context, timestep=torch.full((2 * len(captions),), int(t))).sample
        conditional, unconditional = out.chunk(2)
        eps = unconditional + guidance * (conditional - unconditional)
        x = scheduler.step(eps, t, x).prev_sample
    return (x / 2 + 0.5).clamp(0, 1)
