#!/usr/bin/env python3
"""Trains kiln-shapes-madformer on the synthetic shapes dataset (Scripts/dit/shapes.py).

Teacher forcing, as MADFormer trains: the autoregressive layers run once over the caption and all
four clean blocks with the block-causal mask (`MADFormer.condition_all`), giving every block's
conditioning z at once; each block then gets its own noise level, and the diffusion layers predict
its v. The loss is kiln-shapes-dit's: v-MSE with x0's error weighted min(SNR + 1, 5).

--init-from-dit DIR starts from kiln-shapes-dit's folder: its tokenizer and text encoder, its
caption projection, timestep modulation, patch embedding (for both parts), output layer, its last
`diffusion_layers` blocks as the diffusion layers and its first `ar_layers` blocks' attention and
MLP weights in the autoregressive layers (their norms, the start tokens and ar_norm start fresh;
ar_norm's scale starts at 0.1 so that the untrained z disturbs the inherited denoiser little).
Without it every weight but the text encoder's starts fresh.

Resumable (checkpoints every --checkpoint-minutes to STATE_DIR/checkpoint.pt); logs step, loss,
learning rate and CPU time used; exports the EMA weights to --out at the end.

    nice -n 5 nohup python3 Scripts/madformer/train.py --init-from-dit Models/kiln-shapes-dit \\
        > /work/madformer-train/nohup.out 2>&1 &

Needs torch (CPU), diffusers, transformers, numpy and pillow (the DiT's tokenizer folder is reused,
so the open-clip-torch wheel is not needed).
"""
from __future__ import annotations

import argparse
import copy
import importlib.util
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from transformers import CLIPTextModel, CLIPTokenizer

sys.path.insert(0, str(Path(__file__).resolve().parent))
import madformer_model  # noqa: E402
from madformer_model import dit_model, shapes  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
# The DiT's training script, for its dataset cache, log and learning-rate schedule.
_spec = importlib.util.spec_from_file_location("dit_train", REPO / "Scripts" / "dit" / "train.py")
dit_train = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(dit_train)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--dataset-size", type=int, default=40000)
    parser.add_argument("--two-shape-fraction", type=float, default=0.15)
    parser.add_argument("--caption-dropout", type=float, default=0.1, help="share of empty captions (guidance)")
    parser.add_argument("--ema", type=float, default=0.995)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--ar-layers", type=int, default=madformer_model.MODEL_CONFIG["ar_layers"])
    parser.add_argument("--diffusion-layers", type=int, default=madformer_model.MODEL_CONFIG["diffusion_layers"])
    parser.add_argument("--checkpoint-minutes", type=float, default=5)
    parser.add_argument("--log-every", type=int, default=25)
    parser.add_argument("--state-dir", type=Path, default=Path("/work/madformer-train"))
    parser.add_argument("--out", type=Path, default=REPO / "Models" / "kiln-shapes-madformer")
    parser.add_argument("--stop-at", type=int, metavar="STEP",
                        help="end the run at this step of the --steps schedule (then checkpoint and export)")
    parser.add_argument("--init-from-dit", type=Path, metavar="DIR", help="start from kiln-shapes-dit's folder")
    parser.add_argument("--export-only", action="store_true", help="export the checkpoint's EMA weights and stop")
    return parser.parse_args()


def inherit_from_dit(model: madformer_model.MADFormer, directory: Path) -> None:
    from diffusers import PixArtTransformer2DModel
    dit = PixArtTransformer2DModel.from_pretrained(directory / "transformer").state_dict()
    state = model.state_dict()
    dit_layers = 1 + max(int(k.split(".")[1]) for k in dit if k.startswith("transformer_blocks."))
    diffusion_layers, ar_layers = len(model.transformer_blocks), len(model.ar_layers)
    if diffusion_layers > dit_layers or ar_layers > dit_layers:
        raise SystemExit(f"the DiT has {dit_layers} blocks; cannot seed {ar_layers} + {diffusion_layers} layers")
    copied = {}
    for key, value in dit.items():
        if key.startswith(("caption_projection.", "adaln_single.", "scale_shift_table", "proj_out.")):
            copied[key] = value
        elif key.startswith("pos_embed.proj."):
            copied[key.replace("pos_embed.proj.", "patch_embed.")] = value
            copied[key.replace("pos_embed.proj.", "ar_patch_embed.")] = value
        elif key.startswith("transformer_blocks."):
            index, rest = int(key.split(".")[1]), key.split(".", 2)[2]
            if index >= dit_layers - diffusion_layers:
                copied[f"transformer_blocks.{index - (dit_layers - diffusion_layers)}.{rest}"] = value
            if index < ar_layers and rest.startswith(("attn1.to_", "ff.net.")):
                copied[f"ar_layers.{index}.{rest.replace('attn1.', 'attn.')}"] = value
    missing = [k for k in copied if k not in state or state[k].shape != copied[k].shape]
    if missing:
        raise SystemExit(f"DiT weights that do not fit: {missing[:5]}")
    state.update(copied)
    model.load_state_dict(state)
    with torch.no_grad():
        model.ar_norm.weight.fill_(0.1)


def main():
    args = parse_args()
    args.state_dir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(args.seed)
    log = lambda line: dit_train.log(args, line)  # noqa: E731

    tokenizer_files = (args.init_from_dit or REPO / "Models" / "kiln-shapes-dit") / "tokenizer"
    tokenizer = CLIPTokenizer.from_pretrained(tokenizer_files)
    config = {**madformer_model.MODEL_CONFIG, "ar_layers": args.ar_layers, "diffusion_layers": args.diffusion_layers}
    model = madformer_model.MADFormer(**config)
    if args.init_from_dit:
        text_encoder = CLIPTextModel.from_pretrained(args.init_from_dit / "text_encoder")
        inherit_from_dit(model, args.init_from_dit)
    else:
        text_encoder = dit_model.build_text_encoder(tokenizer)
    scheduler = madformer_model.build_scheduler()
    alphas = scheduler.alphas_cumprod.float()  # [1000]
    snr = alphas / (1 - alphas)
    weights = torch.clamp(snr + 1, max=5.0) / (snr + 1)  # as kiln-shapes-dit's training

    modules = torch.nn.ModuleDict({"text_encoder": text_encoder, "model": model})
    ema = copy.deepcopy(modules).requires_grad_(False)
    optimizer = torch.optim.AdamW(modules.parameters(), lr=args.lr, weight_decay=0.01, betas=(0.9, 0.99))
    generator = torch.Generator().manual_seed(args.seed + 1)
    step, cpu_used, wall_used = 0, 0.0, 0.0
    checkpoint_path = args.state_dir / "checkpoint.pt"
    if checkpoint_path.exists():
        state = torch.load(checkpoint_path, weights_only=False)
        modules.load_state_dict(state["modules"])
        ema.load_state_dict(state["ema"])
        optimizer.load_state_dict(state["optimizer"])
        generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        step, cpu_used, wall_used = state["step"], state["cpu_seconds"], state["wall_seconds"]
        log(f"resumed at step {step} ({cpu_used / 60:.1f} CPU min so far)")
    else:
        log(f"start: {madformer_model.parameter_count(model)} parameters (+ {madformer_model.parameter_count(text_encoder)} "
            f"text), {config}, steps {args.steps}, batch {args.batch}, lr {args.lr}, threads {args.threads}, "
            f"init from {args.init_from_dit or 'scratch'}")

    cpu_start, wall_start = time.process_time(), time.time()

    def save_checkpoint():
        state = {"modules": modules.state_dict(), "ema": ema.state_dict(), "optimizer": optimizer.state_dict(),
                 "generator": generator.get_state(), "torch_rng": torch.get_rng_state(), "step": step,
                 "cpu_seconds": cpu_used + time.process_time() - cpu_start,
                 "wall_seconds": wall_used + time.time() - wall_start}
        torch.save(state, str(checkpoint_path) + ".tmp")
        os.replace(str(checkpoint_path) + ".tmp", checkpoint_path)

    if not args.export_only:
        images, captions = dit_train.load_dataset(args)
        ids = dit_model.tokenize(tokenizer, captions)  # [N, 32]
        empty = dit_model.tokenize(tokenizer, [""])[0]
        blocks, height = model.blocks, model.block_height
        block_index = torch.arange(blocks).repeat(args.batch)  # [B·blocks]
        last_checkpoint, losses = time.time(), []
        modules.train()
        last_step = min(args.steps, args.stop_at or args.steps)
        while step < last_step:
            index = torch.randint(0, len(images), (args.batch,), generator=generator)
            x0 = images[index]  # [B, 3, 32, 32]
            tokens = ids[index].clone()
            tokens[torch.rand(args.batch, generator=generator) < args.caption_dropout] = empty
            # Every block of every image at its own noise level: [B·blocks, 3, 8, 32].
            x0_blocks = x0.view(args.batch, 3, blocks, height, -1).permute(0, 2, 1, 3, 4).reshape(-1, 3, height, x0.shape[-1])
            t = torch.randint(0, 1000, (x0_blocks.shape[0],), generator=generator)
            noise = torch.randn(x0_blocks.shape, generator=generator)
            a = alphas[t].view(-1, 1, 1, 1)
            xt = a.sqrt() * x0_blocks + (1 - a).sqrt() * noise

            for group in optimizer.param_groups:
                group["lr"] = dit_train.learning_rate(args, step)
            caption = model.caption_projection(text_encoder(tokens).last_hidden_state)  # [B, 32, D]
            z = model.condition_all(caption, x0)  # [B, blocks, 16, D]
            predicted = model.denoise(xt, t, caption.repeat_interleave(blocks, dim=0), z.flatten(0, 1), block_index)
            target = a.sqrt() * noise - (1 - a).sqrt() * x0_blocks  # v
            per_sample = (predicted - target).pow(2).mean(dim=(1, 2, 3))
            loss = (per_sample * weights[t]).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(modules.parameters(), 1.0)
            optimizer.step()
            decay = min(args.ema, (1 + step) / (10 + step))
            with torch.no_grad():
                for e, p in zip(ema.parameters(), modules.parameters()):
                    e.lerp_(p, 1 - decay)
            step += 1
            losses.append(per_sample.mean().item())
            if step % args.log_every == 0 or step == last_step:
                cpu = cpu_used + time.process_time() - cpu_start
                wall = wall_used + time.time() - wall_start
                log(f"step {step}/{args.steps} loss {np.mean(losses):.4f} lr {dit_train.learning_rate(args, step - 1):.2e} "
                    f"cpu {cpu / 60:.1f} min wall {wall / 60:.1f} min")
                losses = []
            if time.time() - last_checkpoint > args.checkpoint_minutes * 60:
                save_checkpoint()
                last_checkpoint = time.time()
        save_checkpoint()
    elif not checkpoint_path.exists():
        raise SystemExit(f"no checkpoint at {checkpoint_path} to export")
    export(args, tokenizer_files, ema, step)


def export(args, tokenizer_files: Path, ema, step: int) -> None:
    """The EMA weights as Kiln's folder at --out, and a 4×4 sample grid in the state folder."""
    ema.eval()
    madformer_model.save_pipeline(args.out, tokenizer_files, ema["text_encoder"], ema["model"])
    dit_train.log(args, f"wrote {args.out} (EMA weights after step {step})")
    captions = [shapes.random_scene(np.random.default_rng(i), 0.0).caption() for i in range(16)]
    noise = torch.randn(16, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    tokenizer = CLIPTokenizer.from_pretrained(tokenizer_files)
    pictures = madformer_model.sample(ema["model"], ema["text_encoder"], tokenizer, captions, noise)
    from PIL import Image
    grid = ((pictures / 2 + 0.5).permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)
    grid = grid.reshape(4, 4, 32, 32, 3).transpose(0, 2, 1, 3, 4).reshape(128, 128, 3)
    Image.fromarray(grid).resize((512, 512), Image.NEAREST).save(args.state_dir / f"samples-{step}.png")
    (args.state_dir / "samples.txt").write_text("\n".join(captions) + "\n")


if __name__ == "__main__":
    main()
