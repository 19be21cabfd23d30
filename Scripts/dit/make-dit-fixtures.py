#!/usr/bin/env python3
"""Reference fixtures for Kiln's diffusion transformer (Tests/Fixtures/dit), made with diffusers.

A tiny random-weight pipeline of kiln-shapes-dit's architecture (PixArtTransformer2DModel with
adaLN-single, patch 4, caption projection; a small CLIPTextModel; the same 601-token tokenizer and
DDIM schedule; see dit_model.py) saved with save_pretrained as safetensors, and what PyTorch computes
with it: tokenizer ids, text embeddings, one batched transformer call (two samples, two timesteps),
one call at a non-native size, the 2-D sin-cos position tables, GELU-tanh values, and a whole
10-step DDIM generation with classifier-free guidance from stored initial noise.

Needs (only to regenerate; tests and CI never do) torch (CPU), diffusers, transformers, safetensors,
numpy and the open-clip-torch wheel. Run from the repository root:

    python3 Scripts/dit/make-dit-fixtures.py [--out Tests/Fixtures/dit]
    python3 Scripts/dit/make-dit-fixtures.py --full-size DIR   # not committed; for KILN_DIT_FULL_DIR
    python3 Scripts/dit/make-dit-fixtures.py --trained Models/kiln-shapes-dit

--full-size writes, instead, a random-weight pipeline of kiln-shapes-dit's exact size (DIR/pipeline)
and one batched transformer call on it (DIR/reference.safetensors), for the env-gated speed and
equality test DiTFullSizeTests.

--trained reads the shipped, trained model folder and writes Tests/Fixtures/dit/trained-reference.*:
for a seen and a held-out caption, stored initial noise and PyTorch's image with the evaluation's
settings (20 DDIM steps, guidance 4, empty negative prompt), for ShippedImageModelTests.
"""
import argparse
import hashlib
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dit_model  # noqa: E402
import shapes  # noqa: E402

import diffusers  # noqa: E402
import transformers  # noqa: E402
from diffusers.models.embeddings import get_2d_sincos_pos_embed  # noqa: E402

PROMPT = "a small red circle at the top left on a blue background"
NEGATIVE = ""
STEPS = 10
GUIDANCE = 4.5
TOKENIZER_CASES = [PROMPT, "", "a large yellow star and a small green square in the center on a gray background",
                   "A Purple TRIANGLE, bottom-right!", "an unknown word: zebra 123"]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("Tests/Fixtures/dit"))
    parser.add_argument("--full-size", type=Path, metavar="DIR")
    parser.add_argument("--trained", type=Path, metavar="DIR")
    args = parser.parse_args()
    if args.full_size:
        full_size(args.full_size)
        return
    if args.trained:
        trained(args.trained, args.out)
        return
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(1)

    tokenizer = dit_model.write_tokenizer(out / "_tokenizer", shapes.canonical_caption_words())
    text_encoder = dit_model.build_text_encoder(tokenizer, hidden_size=32, intermediate_size=64, num_hidden_layers=2)
    transformer = dit_model.build_transformer(num_attention_heads=2, attention_head_dim=16, num_layers=2,
                                              cross_attention_dim=32, caption_channels=32)
    with torch.no_grad():  # the tables start as small randn; make them matter as much as a trained model's
        for name, parameter in transformer.named_parameters():
            if "scale_shift_table" in name:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.5)
    text_encoder.eval()
    transformer.eval()
    pipeline_dir = out / "tiny-dit"
    if pipeline_dir.exists():
        shutil.rmtree(pipeline_dir)
    dit_model.save_pipeline(pipeline_dir, tokenizer, text_encoder, transformer, tokenizer_files=out / "_tokenizer")
    shutil.rmtree(out / "_tokenizer")

    tensors = {}
    with torch.no_grad():
        ids = dit_model.tokenize(tokenizer, [PROMPT, NEGATIVE])
        embeds = text_encoder(ids).last_hidden_state  # [2, 32, 32]
        tensors["prompt_embeds"] = embeds[0:1]
        tensors["negative_embeds"] = embeds[1:2]

        x = torch.randn(2, 3, 32, 32, generator=generator)
        timesteps = torch.tensor([981.0, 3.5])
        context = torch.cat([embeds[1:2], embeds[0:1]])  # [negative, prompt], as a guided batch is
        tensors["transformer_input"] = x
        tensors["transformer_output"] = transformer(x, encoder_hidden_states=context, timestep=timesteps).sample

        small = torch.randn(1, 3, 16, 24, generator=generator)
        tensors["transformer_input_16x24"] = small
        tensors["transformer_output_16x24"] = transformer(small, encoder_hidden_states=embeds[0:1],
                                                          timestep=torch.tensor([500.0])).sample

        tensors["pos_embed_8x8"] = transformer.pos_embed.pos_embed[0]
        tensors["pos_embed_4x6"] = get_2d_sincos_pos_embed(32, (4, 6), base_size=8, interpolation_scale=1.0).float()
        gelu_in = torch.linspace(-6, 6, 97)
        tensors["gelu_tanh_input"] = gelu_in
        tensors["gelu_tanh_output"] = torch.nn.functional.gelu(gelu_in, approximate="tanh")

        scheduler = dit_model.build_scheduler()
        scheduler.set_timesteps(STEPS)
        noise = torch.randn(1, 3, 32, 32, generator=generator)
        tensors["initial_noise"] = noise
        latents = noise * scheduler.init_noise_sigma
        for t in scheduler.timesteps:
            prediction = transformer(torch.cat([latents, latents]), encoder_hidden_states=context,
                                     timestep=torch.full((2,), float(t))).sample
            unconditional, conditional = prediction.chunk(2)
            eps = unconditional + GUIDANCE * (conditional - unconditional)
            latents = scheduler.step(eps, t, latents).prev_sample
        tensors["ddim_final_sample"] = latents
        tensors["ddim_final_image"] = (latents / 2 + 0.5).clamp(0, 1)

    save_file({k: v.contiguous().float() for k, v in tensors.items()}, str(out / "reference.safetensors"))
    meta = {
        "prompt": PROMPT, "negative_prompt": NEGATIVE, "steps": STEPS, "guidance_scale": GUIDANCE,
        "transformer_timesteps": timesteps.tolist(), "timestep_16x24": 500.0,
        "ddim_timesteps": [int(t) for t in scheduler.timesteps],
        "tokenizer_cases": [{"text": text, "ids": dit_model.tokenize(tokenizer, [text])[0].tolist()} for text in TOKENIZER_CASES],
        "versions": {"torch": torch.__version__, "diffusers": diffusers.__version__, "transformers": transformers.__version__,
                     "numpy": np.__version__, "python": sys.version.split()[0]},
    }
    (out / "reference.json").write_text(json.dumps(meta, indent=1) + "\n")
    print("wrote", out, {k: list(v.shape) for k, v in tensors.items()})


def full_size(out: Path) -> None:
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(2)
    tokenizer = dit_model.write_tokenizer(out / "_tokenizer", shapes.canonical_caption_words())
    text_encoder = dit_model.build_text_encoder(tokenizer).eval()
    transformer = dit_model.build_transformer().eval()
    dit_model.save_pipeline(out / "pipeline", tokenizer, text_encoder, transformer, tokenizer_files=out / "_tokenizer")
    shutil.rmtree(out / "_tokenizer")
    with torch.no_grad():
        context = text_encoder(dit_model.tokenize(tokenizer, ["", PROMPT])).last_hidden_state
        x = torch.randn(2, 3, 32, 32, generator=generator)
        output = transformer(x, encoder_hidden_states=context, timestep=torch.tensor([951.0, 951.0])).sample
    save_file({"context": context.contiguous(), "transformer_input": x, "transformer_output": output},
              str(out / "reference.safetensors"))
    print("wrote", out)


TRAINED_CAPTIONS = ["a large green circle at the top left on a blue background",  # a triple seen in training
                    "a small red circle at the top left on a white background"]  # a held-out triple
TRAINED_STEPS, TRAINED_GUIDANCE = 20, 4.0


def trained(model: Path, out: Path) -> None:
    """PyTorch's images from the trained folder itself (its own scheduler config), as Kiln serves them."""
    from diffusers import DDIMScheduler, PixArtTransformer2DModel
    from transformers import CLIPTextModel, CLIPTokenizer
    assert not shapes.is_held_out("green", "circle", "at the top left") and shapes.is_held_out("red", "circle", "at the top left")
    tokenizer = CLIPTokenizer(str(model / "tokenizer" / "vocab.json"), str(model / "tokenizer" / "merges.txt"),
                              pad_token="<|endoftext|>", model_max_length=dit_model.MAX_TOKENS)
    text_encoder = CLIPTextModel.from_pretrained(str(model / "text_encoder")).eval()
    transformer = PixArtTransformer2DModel.from_pretrained(str(model / "transformer")).eval()
    scheduler = DDIMScheduler.from_pretrained(str(model / "scheduler"))
    scheduler.set_timesteps(TRAINED_STEPS)
    generator = torch.Generator().manual_seed(3)
    tensors = {}
    with torch.no_grad():
        for index, caption in enumerate(TRAINED_CAPTIONS):
            context = text_encoder(dit_model.tokenize(tokenizer, ["", caption])).last_hidden_state
            noise = torch.randn(1, 3, 32, 32, generator=generator)
            sample = noise * scheduler.init_noise_sigma
            for t in scheduler.timesteps:
                out_ = transformer(torch.cat([sample, sample]), encoder_hidden_states=context,
                                   timestep=torch.full((2,), float(t))).sample
                unconditional, conditional = out_.chunk(2)
                sample = scheduler.step(unconditional + TRAINED_GUIDANCE * (conditional - unconditional), t, sample).prev_sample
            tensors[f"initial_noise_{index}"] = noise
            tensors[f"image_{index}"] = (sample / 2 + 0.5).clamp(0, 1)
    save_file({k: v.contiguous().float() for k, v in tensors.items()}, str(out / "trained-reference.safetensors"))
    meta = {"captions": TRAINED_CAPTIONS, "steps": TRAINED_STEPS, "guidance_scale": TRAINED_GUIDANCE, "negative_prompt": "",
            "timesteps": [int(t) for t in scheduler.timesteps],
            "weights_sha256": {str(path.relative_to(model)): hashlib.sha256(path.read_bytes()).hexdigest()
                               for path in sorted(model.glob("*/*.safetensors"))},
            "versions": {"torch": torch.__version__, "diffusers": diffusers.__version__, "transformers": transformers.__version__}}
    (out / "trained-reference.json").write_text(json.dumps(meta, indent=1) + "\n")
    print("wrote", out / "trained-reference.safetensors")


if __name__ == "__main__":
    main()
