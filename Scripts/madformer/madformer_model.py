"""Architecture and sampling of kiln-shapes-madformer, Kiln's autoregressive–diffusion hybrid.

After MADFormer (Chen, Tsvetkov and Han, 2025): the image is cut into blocks generated in order;
the first layers of one transformer run autoregressively over the caption and the blocks already
made (one pass per block, a KV cache across blocks), the last layers denoise the current block in a
few diffusion steps, conditioned on what the first layers computed for it. `ar_layers` and
`diffusion_layers` set the split.

Here an image is 32×32 RGB pixels (no VAE), a block is a band of BLOCK_ROWS = 8 pixel rows (4 blocks,
top to bottom), and a token is a 4×4 patch, so a block holds 2×8 = 16 tokens. Width D = 128.

Autoregressive part (pre-norm transformer layers, block-causal attention):
    caption tokens  c = caption_projection(CLIP states)                          [32, D]
    slot k's tokens s_k = (k = 0: start_tokens; else ar_patch_embed(block k−1, clean)) + pos(block k)
                                                                                  [16, D] each
    sequence [c, s_0, s_1, s_2, s_3]: a caption token sees the caption; a slot-k token sees the
    caption and slots 0…k. Layer: h += Attn(LN₁ h); h += MLP(LN₂ h) (GELU-tanh, 4D).
    z_k = ar_norm(h at slot k)                                                   [16, D]
Generating block k needs only slot k's 16 tokens run against the cached keys and values of the
caption and of slots 0…k−1: that is the KV cache across blocks.

Diffusion part (PixArt-α blocks, diffusers' `BasicTransformerBlock` with adaLN-single, so
kiln-shapes-dit's blocks and Kiln's `DiTBlock` serve here unchanged), for the noisy block x_t:
    h = patch_embed(x_t) + pos(block k) + z_k                                     [16, D]
    context = [c, z_k]                                                            [48, D]
    h = DiTBlock(h, context, timestep) × diffusion_layers; PixArt's output layer → v, [3, 8, 32]
pos(·) is PixArt's fixed 2-D sin-cos table of the 8×8 patch grid, rows of block k.

Sampling: per block, DDIM (v-prediction, cosine schedule, kiln-shapes-dit's scheduler config) from
the seeded noise's rows of that block, classifier-free guidance by a second, empty-caption stream
through both parts; the finished block, clamped to [-1, 1], is the next slot's input.

Shared by train.py, evaluate.py and make-madformer-fixtures.py. Needs torch and diffusers.
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch
from diffusers import DDIMScheduler
from diffusers.models.attention import BasicTransformerBlock, FeedForward
from diffusers.models.embeddings import PixArtAlphaTextProjection, get_2d_sincos_pos_embed
from diffusers.models.normalization import AdaLayerNormSingle
from torch import nn
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "dit"))
import dit_model  # noqa: E402
import shapes  # noqa: E402

# The trained model; the equality fixture uses a narrower one with another split.
MODEL_CONFIG = dict(width=128, heads=4, ar_layers=3, diffusion_layers=3, patch_size=4, sample_size=shapes.SIZE,
                    block_rows=8, caption_channels=dit_model.TEXT_WIDTH, norm_eps=1e-6)


class BlockCausalAttention(nn.Module):
    """Biased multi-head self-attention whose keys and values can come from a cache."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.to_q, self.to_k, self.to_v = (nn.Linear(width, width) for _ in range(3))
        self.to_out = nn.ModuleList([nn.Linear(width, width)])

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None,
                cache: list[torch.Tensor] | None = None) -> torch.Tensor:
        """x [n, tokens, D]. With `cache` ([keys, values] so far, [n, heads, cached, head width],
        updated in place), x's tokens attend to the cache and to each other; else `mask`
        [tokens, tokens] (True = may attend) applies."""
        n, tokens, width = x.shape
        split = lambda t: t.view(n, tokens, self.heads, width // self.heads).transpose(1, 2)  # noqa: E731
        q, k, v = split(self.to_q(x)), split(self.to_k(x)), split(self.to_v(x))
        if cache is not None:
            if cache:
                k, v = torch.cat([cache[0], k], dim=2), torch.cat([cache[1], v], dim=2)
            cache[:] = [k, v]
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.to_out[0](out.transpose(1, 2).reshape(n, tokens, width))


class ARLayer(nn.Module):
    """A pre-norm transformer layer of the autoregressive part."""

    def __init__(self, width: int, heads: int, eps: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(width, eps=eps)
        self.attn = BlockCausalAttention(width, heads)
        self.norm2 = nn.LayerNorm(width, eps=eps)
        self.ff = FeedForward(width, activation_fn="gelu-approximate")

    def forward(self, h, mask=None, cache=None):
        h = h + self.attn(self.norm1(h), mask, cache)
        return h + self.ff(self.norm2(h))


class MADFormer(nn.Module):
    def __init__(self, width: int, heads: int, ar_layers: int, diffusion_layers: int, patch_size: int,
                 sample_size: int, block_rows: int, caption_channels: int, norm_eps: float):
        super().__init__()
        self.config = dict(width=width, heads=heads, ar_layers=ar_layers, diffusion_layers=diffusion_layers,
                           patch_size=patch_size, sample_size=sample_size, block_rows=block_rows,
                           caption_channels=caption_channels, norm_eps=norm_eps)
        assert sample_size % block_rows == 0 and block_rows % patch_size == 0
        self.patch = patch_size
        self.blocks = sample_size // block_rows
        self.tokens_per_block = (block_rows // patch_size) * (sample_size // patch_size)
        grid = sample_size // patch_size
        positions = get_2d_sincos_pos_embed(width, grid, base_size=grid, interpolation_scale=1.0, output_type="pt")
        self.register_buffer("positions", positions.float().view(self.blocks, self.tokens_per_block, width), persistent=False)

        self.caption_projection = PixArtAlphaTextProjection(caption_channels, width)
        self.start_tokens = nn.Parameter(torch.randn(self.tokens_per_block, width) * 0.02)
        self.ar_patch_embed = nn.Conv2d(3, width, patch_size, stride=patch_size)
        self.ar_layers = nn.ModuleList([ARLayer(width, heads, norm_eps) for _ in range(ar_layers)])
        self.ar_norm = nn.LayerNorm(width, eps=norm_eps)

        self.patch_embed = nn.Conv2d(3, width, patch_size, stride=patch_size)
        self.adaln_single = AdaLayerNormSingle(width, use_additional_conditions=False)
        self.transformer_blocks = nn.ModuleList([
            BasicTransformerBlock(width, heads, width // heads, cross_attention_dim=width,
                                  activation_fn="gelu-approximate", num_embeds_ada_norm=1000, attention_bias=True,
                                  norm_type="ada_norm_single", norm_elementwise_affine=False, norm_eps=norm_eps)
            for _ in range(diffusion_layers)])
        self.norm_out = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.scale_shift_table = nn.Parameter(torch.randn(2, width) / width ** 0.5)
        self.proj_out = nn.Linear(width, patch_size * patch_size * 3)

    # Autoregressive part.

    def embed_slots(self, clean: torch.Tensor) -> torch.Tensor:
        """Every slot's input at once (training): clean [n, 3, 32, 32] → [n, blocks·16, D]."""
        n = clean.shape[0]
        above = self.ar_patch_embed(clean[:, :, :-self.block_height]).flatten(2).transpose(1, 2)
        start = self.start_tokens.expand(n, -1, -1)
        return torch.cat([start, above], dim=1) + self.positions.flatten(0, 1)

    def embed_slot(self, index: int, previous_block: torch.Tensor | None, n: int) -> torch.Tensor:
        """Slot `index`'s input [n, 16, D] from the block above it, [n, 3, 8, 32] (None for slot 0)."""
        if previous_block is None:
            content = self.start_tokens.expand(n, -1, -1)
        else:
            content = self.ar_patch_embed(previous_block).flatten(2).transpose(1, 2)
        return content + self.positions[index]

    @property
    def block_height(self) -> int:
        return self.config["block_rows"]

    def block_causal_mask(self, caption_tokens: int) -> torch.Tensor:
        """[T, T], True where row may attend to column: caption rows see the caption; slot-k rows
        see the caption and slots 0…k."""
        total = caption_tokens + self.blocks * self.tokens_per_block
        group = torch.zeros(total, dtype=torch.long)
        group[caption_tokens:] = 1 + torch.arange(self.blocks).repeat_interleave(self.tokens_per_block)
        mask = group.unsqueeze(1) >= group.unsqueeze(0)
        mask[:caption_tokens, caption_tokens:] = False
        return mask

    def condition_all(self, caption: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
        """Teacher forcing: z for every block at once, [n, blocks, 16, D]; caption is projected."""
        h = torch.cat([caption, self.embed_slots(clean)], dim=1)
        mask = self.block_causal_mask(caption.shape[1])
        for layer in self.ar_layers:
            h = layer(h, mask)
        z = self.ar_norm(h[:, caption.shape[1]:])
        return z.view(clean.shape[0], self.blocks, self.tokens_per_block, -1)

    def condition_step(self, slot: torch.Tensor, caches: list[list[torch.Tensor]],
                       caption: torch.Tensor | None = None) -> torch.Tensor:
        """One block's z [n, 16, D], its slot [n, 16, D] run against the caches (one [keys, values]
        per layer, extended in place). The first call passes the projected caption too, which is
        cached with the first slot."""
        h = slot if caption is None else torch.cat([caption, slot], dim=1)
        mask = None
        if caption is not None:  # the caption must not see the slot
            mask = self.block_causal_mask(caption.shape[1])[:h.shape[1], :h.shape[1]]
        for layer, cache in zip(self.ar_layers, caches):
            h = layer(h, mask, cache)
        return self.ar_norm(h[:, -self.tokens_per_block:])

    # Diffusion part.

    def denoise(self, noisy: torch.Tensor, timestep: torch.Tensor, caption: torch.Tensor, z: torch.Tensor,
                index: int | torch.Tensor) -> torch.Tensor:
        """v for noisy blocks [n, 3, 8, 32] at timestep [n], given the projected caption [n, 32, D], z
        [n, 16, D] and the block index (an int, or [n] for blocks at different heights)."""
        n = noisy.shape[0]
        h = self.patch_embed(noisy).flatten(2).transpose(1, 2) + self.positions[index] + z
        context = torch.cat([caption, z], dim=1)
        t, embedded = self.adaln_single(timestep, None, batch_size=n, hidden_dtype=h.dtype)
        for block in self.transformer_blocks:
            h = block(h, encoder_hidden_states=context, timestep=t)
        shift, scale = (self.scale_shift_table[None] + embedded[:, None]).chunk(2, dim=1)
        h = self.proj_out(self.norm_out(h) * (1 + scale) + shift)
        p, rows, columns = self.patch, self.block_height // self.patch, self.config["sample_size"] // self.patch
        h = h.reshape(n, rows, columns, p, p, 3)
        return torch.einsum("nhwpqc->nchpwq", h).reshape(n, 3, rows * p, columns * p)


def build_scheduler() -> DDIMScheduler:
    return dit_model.build_scheduler()


@torch.no_grad()
def sample(model: MADFormer, text_encoder, tokenizer, captions: list[str], noise: torch.Tensor, steps: int = 10,
           guidance: float = 4.0, on_block=None) -> torch.Tensor:
    """Block by block, `steps` DDIM steps each, from `noise` [n, 3, 32, 32]; returns [n, 3, 32, 32]
    in [-1, 1]. With guidance ≠ 1 an empty-caption stream runs beside each caption (batch 2n).
    `on_block(k, image so far)` is called as each block is finished."""
    n = len(captions)
    guided = guidance != 1.0
    ids = dit_model.tokenize(tokenizer, captions + ([""] * n if guided else []))
    caption = model.caption_projection(text_encoder(ids).last_hidden_state)
    streams = caption.shape[0]
    scheduler = build_scheduler()
    scheduler.set_timesteps(steps)
    caches = [[] for _ in model.ar_layers]
    image = noise.clone()
    height = model.block_height
    previous = None
    for k in range(model.blocks):
        slot = model.embed_slot(k, previous, streams)
        z = model.condition_step(slot, caches, caption if k == 0 else None)
        x = noise[:, :, k * height:(k + 1) * height]
        for t in scheduler.timesteps:
            v = model.denoise(torch.cat([x, x]) if guided else x, torch.full((streams,), int(t)), caption, z, k)
            if guided:
                conditional, unconditional = v.chunk(2)
                v = unconditional + guidance * (conditional - unconditional)
            x = scheduler.step(v, t, x).prev_sample
        x = x.clamp(-1, 1)
        image[:, :, k * height:(k + 1) * height] = x
        previous = torch.cat([x, x]) if guided else x
        if on_block:
            on_block(k, image)
    return image


def sample_full_sequence_check(model: MADFormer, caption: torch.Tensor, clean: torch.Tensor) -> float:
    """Largest difference between the KV-cached block-by-block z and the teacher-forced one (the
    two must agree, or the cache is wrong)."""
    everything = model.condition_all(caption, clean)
    caches = [[] for _ in model.ar_layers]
    worst = 0.0
    for k in range(model.blocks):
        previous = None if k == 0 else clean[:, :, (k - 1) * model.block_height:k * model.block_height]
        z = model.condition_step(model.embed_slot(k, previous, clean.shape[0]), caches, caption if k == 0 else None)
        worst = max(worst, (z - everything[:, k]).abs().max().item())
    return worst


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())



def save_pipeline(folder: Path, tokenizer_files: Path, text_encoder, model: MADFormer) -> None:
    """The folder Kiln loads: model_index.json ("KilnShapesMADFormer"), tokenizer/ and text_encoder/
    (kiln-shapes-dit's layout), transformer/ (config.json, model.safetensors) and scheduler/."""
    import json
    import shutil
    from safetensors.torch import save_file
    (folder / "transformer").mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / "transformer" / "model.safetensors"))
    (folder / "transformer" / "config.json").write_text(
        json.dumps({"_class_name": "KilnShapesMADFormer", **model.config}, indent=2) + "\n")
    text_encoder.save_pretrained(str(folder / "text_encoder"), safe_serialization=True)
    (folder / "tokenizer").mkdir(exist_ok=True)
    for name in ("vocab.json", "merges.txt", "tokenizer_config.json"):
        shutil.copy(tokenizer_files / name, folder / "tokenizer" / name)
    build_scheduler().save_pretrained(str(folder / "scheduler"))
    (folder / "model_index.json").write_text(json.dumps({
        "_class_name": "KilnShapesMADFormer", "transformer": ["kiln", "KilnShapesMADFormer"],
        "text_encoder": ["transformers", "CLIPTextModel"], "tokenizer": ["transformers", "CLIPTokenizer"],
        "scheduler": ["diffusers", "DDIMScheduler"]}, indent=2) + "\n")


def load_pipeline(folder: Path):
    """(tokenizer, text_encoder, model) from a folder save_pipeline wrote, in eval mode."""
    import json
    from safetensors.torch import load_file
    from transformers import CLIPTextModel, CLIPTokenizer
    tokenizer = CLIPTokenizer.from_pretrained(folder / "tokenizer")
    text_encoder = CLIPTextModel.from_pretrained(folder / "text_encoder").eval()
    config = json.loads((folder / "transformer" / "config.json").read_text())
    config.pop("_class_name")
    model = MADFormer(**config).eval()
    model.load_state_dict(load_file(folder / "transformer" / "model.safetensors"))
    return tokenizer, text_encoder, model
