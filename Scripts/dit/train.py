#!/usr/bin/env python3
"""Trains Kiln's default image model, kiln-shapes-dit, on the synthetic shapes dataset.

Fixed seeds; resumable: every --checkpoint-minutes the model, optimizer, EMA weights, data order
and RNG states go to STATE_DIR/checkpoint.pt (written to a temporary file, then renamed), and a
restarted run with the same arguments continues from there. Logs step, loss, learning rate and the
CPU time the run has used in total (across restarts) to STATE_DIR/train.log and stdout. At the end
the EMA weights are written as a diffusers pipeline folder (safetensors) to --out.

    nice -n 19 nohup python3 Scripts/dit/train.py > /work/dit-train/nohup.out 2>&1 &

Needs torch (CPU), diffusers, transformers, numpy, pillow and the open-clip-torch wheel.
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import caption_variation  # noqa: E402
import dit_model  # noqa: E402
import shapes  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=8000)
    parser.add_argument("--batch", type=int, default=48)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--dataset-size", type=int, default=40000)
    parser.add_argument("--two-shape-fraction", type=float, default=0.15)
    parser.add_argument("--caption-dropout", type=float, default=0.1, help="share of empty captions (guidance)")
    parser.add_argument("--ema", type=float, default=0.999)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--checkpoint-minutes", type=float, default=5)
    parser.add_argument("--log-every", type=int, default=25)
    parser.add_argument("--state-dir", type=Path, default=Path("/work/dit-train"))
    parser.add_argument("--out", type=Path, default=REPO / "Models" / "kiln-shapes-dit")
    parser.add_argument("--stop-at", type=int, metavar="STEP",
                        help="end the run at this step of the --steps schedule (then checkpoint and export as at the end)")
    parser.add_argument("--init-from", type=Path, metavar="CHECKPOINT",
                        help="start from another run's EMA weights (fresh optimizer, data order and schedule)")
    parser.add_argument("--oversample", default="", metavar="WORDS=FACTOR,…",
                        help="draw scenes whose first shape's size and shape words include WORDS that many times "
                             "more often, e.g. 'small square=3,star=1.5,triangle=0.5' (hard-example oversampling)")
    parser.add_argument("--caption-variation", type=float, default=0.0, metavar="SHARE",
                        help="share of training captions written as people write them (caption_variation.py), "
                             "drawn afresh each time a scene is used; the rest are canonical")
    parser.add_argument("--init-from-pipeline", type=Path, metavar="DIR",
                        help="start from an exported pipeline folder's weights (fresh optimizer, data order and "
                             "schedule); token embeddings move to this run's vocabulary by token text, and a word "
                             "new to it starts as its synonym (SYNONYM_STARTS)")
    parser.add_argument("--export-only", action="store_true",
                        help="write the checkpoint's EMA weights as a pipeline to --out (and samples) without training")
    return parser.parse_args()


def load_dataset(args) -> tuple[torch.Tensor, list[str]]:
    """Scenes cached in the state folder (they are a pure function of size, seed and fraction)."""
    path = args.state_dir / f"shapes-{args.dataset_size}-{args.seed}-{args.two_shape_fraction}.npz"
    if not path.exists():
        started = time.time()
        images, captions, _ = shapes.make_dataset(args.dataset_size, args.seed, args.two_shape_fraction)
        np.savez_compressed(str(path) + ".tmp.npz", images=images, captions=np.array(captions))
        os.replace(str(path) + ".tmp.npz", path)
        log(args, f"dataset: {args.dataset_size} scenes rendered in {time.time() - started:.0f}s → {path}")
    data = np.load(path)
    images = torch.from_numpy(data["images"]).permute(0, 3, 1, 2).float() / 127.5 - 1  # [N, 3, 32, 32] in [-1, 1]
    return images, [str(c) for c in data["captions"]]


def sampling_weights(captions: list[str], spec: str) -> torch.Tensor | None:
    """Per-scene draw weights [N] from --oversample, or None for uniform draws. A caption reads
    "a SIZE COLOUR SHAPE …", so its first shape's size and shape are words 1 and 3."""
    if not spec:
        return None
    factors = []
    for item in spec.split(","):
        words, factor = item.split("=")
        keys = set(words.split())
        unknown = keys - set(shapes.SIZES) - set(shapes.SHAPES)
        if unknown:
            raise SystemExit(f"--oversample: {sorted(unknown)} are not size or shape words")
        factors.append((keys, float(factor)))
    weights = torch.ones(len(captions), dtype=torch.float64)
    for index, caption in enumerate(captions):
        words = caption.split()
        for keys, factor in factors:
            if keys <= {words[1], words[3]}:
                weights[index] *= factor
    return weights


# A word the vocabulary gains starts from the embedding of the word it stands for, so a fine-tune
# begins already knowing that "centre" is "center".
SYNONYM_STARTS = {"little": "small", "big": "large", "grey": "gray", "centre": "center", "middle": "center",
                  "centered": "center", "upper": "top", "lower": "bottom", "an": "a", "against": "on"}


def load_pipeline_weights(directory: Path, tokenizer, modules: torch.nn.ModuleDict, log_line) -> None:
    """Copies a pipeline folder's text encoder and transformer into `modules`, re-indexing the
    token embeddings from the folder's vocabulary to `tokenizer`'s."""
    from diffusers import PixArtTransformer2DModel
    from transformers import CLIPTextModel
    old_vocab = json.loads((directory / "tokenizer" / "vocab.json").read_text())
    modules["transformer"].load_state_dict(PixArtTransformer2DModel.from_pretrained(directory / "transformer").state_dict())
    carried = dit_model.text_encoder_for_vocabulary(CLIPTextModel.from_pretrained(directory / "text_encoder"), old_vocab,
                                                    tokenizer, SYNONYM_STARTS)
    modules["text_encoder"].load_state_dict(carried.state_dict())
    started = sorted(word for word in SYNONYM_STARTS if word + "</w>" in tokenizer.get_vocab() and word + "</w>" not in old_vocab)
    log_line(f"start from {directory}: {len(old_vocab)} → {len(tokenizer)} tokens, started as synonyms: {started}")


def varied_tokens(tokenizer, scenes: list[shapes.Scene], canonical: torch.Tensor, share: float,
                  rng: np.random.Generator) -> torch.Tensor:
    """A batch's token ids [B, 32]: the canonical captions' ids, with `share` of them replaced by a
    freshly drawn varied caption of the same scene."""
    tokens = canonical.clone()
    varied = [i for i in range(len(scenes)) if rng.random() < share]
    if varied:
        captions = [caption_variation.varied_caption(scenes[i], rng) for i in varied]
        tokens[varied] = dit_model.tokenize(tokenizer, captions)
    return tokens


def log(args, line: str) -> None:
    print(line, flush=True)
    with open(args.state_dir / "train.log", "a") as handle:
        handle.write(line + "\n")


def learning_rate(args, step: int) -> float:
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    progress = (step - args.warmup) / max(1, args.steps - args.warmup)
    return args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def main():
    args = parse_args()
    args.state_dir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(args.seed)

    tokenizer = dit_model.write_tokenizer(args.state_dir / "tokenizer")
    text_encoder = dit_model.build_text_encoder(tokenizer)
    transformer = dit_model.build_transformer()
    scheduler = dit_model.build_scheduler()
    alphas = scheduler.alphas_cumprod.float()  # [1000]
    snr = alphas / (1 - alphas)
    # v-MSE = (SNR + 1)·x0-MSE. Weighting x0 by min(SNR + 1, 5) caps the low-noise steps (as min-SNR
    # does) but, unlike min-SNR's min(SNR, 5), keeps weight 1 on the high-noise steps where the
    # layout, and so the caption, matters: with min-SNR the first v-run's model had learnt
    # backgrounds and ignored the caption after 1 600 steps.
    weights = torch.clamp(snr + 1, max=5.0) / (snr + 1)

    modules = torch.nn.ModuleDict({"text_encoder": text_encoder, "transformer": transformer})
    ema = copy.deepcopy(modules).requires_grad_(False)
    optimizer = torch.optim.AdamW(modules.parameters(), lr=args.lr, weight_decay=0.01, betas=(0.9, 0.99))
    generator = torch.Generator().manual_seed(args.seed + 1)
    step, cpu_used, wall_used = 0, 0.0, 0.0

    settings = (f"steps {args.steps}, batch {args.batch}, lr {args.lr}, threads {args.threads}, "
                f"oversample {args.oversample or 'none'}, caption variation {args.caption_variation}")
    checkpoint_path = args.state_dir / "checkpoint.pt"
    if checkpoint_path.exists():
        state = torch.load(checkpoint_path, weights_only=False)
        made_with = (state["args"]["steps"], state["args"]["batch"], state["args"].get("oversample", ""))
        if not args.export_only and made_with != (args.steps, args.batch, args.oversample):
            raise SystemExit(f"{checkpoint_path} was made with other --steps/--batch/--oversample; move it away to start afresh")
        modules.load_state_dict(state["modules"])
        ema.load_state_dict(state["ema"])
        optimizer.load_state_dict(state["optimizer"])
        generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        step, cpu_used, wall_used = state["step"], state["cpu_seconds"], state["wall_seconds"]
        log(args, f"resumed at step {step} ({cpu_used / 60:.1f} CPU min, {wall_used / 60:.1f} wall min so far)")
    elif args.init_from_pipeline:
        load_pipeline_weights(args.init_from_pipeline, tokenizer, modules, lambda line: log(args, line))
        ema.load_state_dict(modules.state_dict())
        log(args, settings)
    elif args.init_from:
        state = torch.load(args.init_from, weights_only=False)
        modules.load_state_dict(state["ema"])
        ema.load_state_dict(state["ema"])
        log(args, f"start from the EMA weights of {args.init_from} (its step {state['step']}); {settings}")
    else:
        counts = {name: sum(p.numel() for p in m.parameters()) for name, m in modules.items()}
        log(args, f"start: {counts}, {settings}")

    def save_checkpoint():
        state = {"modules": modules.state_dict(), "ema": ema.state_dict(), "optimizer": optimizer.state_dict(),
                 "generator": generator.get_state(), "torch_rng": torch.get_rng_state(), "step": step,
                 "cpu_seconds": cpu_used + time.process_time() - cpu_start, "wall_seconds": wall_used + time.time() - wall_start,
                 "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}}
        torch.save(state, str(checkpoint_path) + ".tmp")
        os.replace(str(checkpoint_path) + ".tmp", checkpoint_path)

    if args.export_only:
        if not checkpoint_path.exists():
            raise SystemExit(f"no checkpoint at {checkpoint_path} to export")
        export(args, tokenizer, ema, step)
        return

    images, captions = load_dataset(args)
    ids = dit_model.tokenize(tokenizer, captions)  # [N, 32]
    empty = dit_model.tokenize(tokenizer, [""])[0]
    weights_per_scene = sampling_weights(captions, args.oversample)
    scenes = [shapes.scene_from_caption(c) for c in captions] if args.caption_variation else None

    cpu_start, wall_start = time.process_time(), time.time()
    last_checkpoint = time.time()
    losses = []
    modules.train()
    last_step = min(args.steps, args.stop_at or args.steps)
    while step < last_step:
        if weights_per_scene is None:
            index = torch.randint(0, len(images), (args.batch,), generator=generator)
        else:
            index = torch.multinomial(weights_per_scene, args.batch, replacement=True, generator=generator)
        x0 = images[index]
        if scenes is None:
            tokens = ids[index].clone()
        else:  # drawn from the step number, so a resumed run draws the same captions
            tokens = varied_tokens(tokenizer, [scenes[i] for i in index.tolist()], ids[index], args.caption_variation,
                                   np.random.default_rng([args.seed, step]))
        drop = torch.rand(args.batch, generator=generator) < args.caption_dropout
        tokens[drop] = empty
        t = torch.randint(0, 1000, (args.batch,), generator=generator)
        noise = torch.randn(x0.shape, generator=generator)
        a = alphas[t].view(-1, 1, 1, 1)
        xt = a.sqrt() * x0 + (1 - a).sqrt() * noise

        for group in optimizer.param_groups:
            group["lr"] = learning_rate(args, step)
        context = text_encoder(tokens).last_hidden_state
        predicted = transformer(xt, encoder_hidden_states=context, timestep=t).sample
        target = a.sqrt() * noise - (1 - a).sqrt() * x0  # v
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
            log(args, f"step {step}/{args.steps} loss {np.mean(losses):.4f} lr {learning_rate(args, step - 1):.2e} "
                      f"cpu {cpu / 60:.1f} min wall {wall / 60:.1f} min")
            losses = []
        if time.time() - last_checkpoint > args.checkpoint_minutes * 60:
            save_checkpoint()
            last_checkpoint = time.time()

    save_checkpoint()
    export(args, tokenizer, ema, step)


def export(args, tokenizer, ema, step: int) -> None:
    """The EMA weights as a diffusers folder at --out, and a 4×4 sample grid in the state folder."""
    ema.eval()
    args.out.mkdir(parents=True, exist_ok=True)
    dit_model.save_pipeline(args.out, tokenizer, ema["text_encoder"], ema["transformer"],
                            tokenizer_files=args.state_dir / "tokenizer")
    log(args, f"wrote {args.out} (EMA weights after step {step})")
    grid_captions = [shapes.random_scene(np.random.default_rng(i), 0.0).caption() for i in range(16)]
    pictures = dit_model.sample(tokenizer, ema["text_encoder"], ema["transformer"], grid_captions, seed=0)
    from PIL import Image
    grid = (pictures.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)
    grid = grid.reshape(4, 4, 32, 32, 3).transpose(0, 2, 1, 3, 4).reshape(128, 128, 3)
    Image.fromarray(grid).resize((512, 512), Image.NEAREST).save(args.state_dir / f"samples-{step}.png")
    (args.state_dir / "samples.txt").write_text("\n".join(grid_captions) + "\n")


if __name__ == "__main__":
    main()
