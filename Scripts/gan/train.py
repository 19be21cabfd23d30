#!/usr/bin/env python3
"""Trains kiln-shapes-gan, a caption-conditioned GAN, on the DiT's synthetic shapes dataset.

Hinge loss; the discriminator (spectral norm, projection of the caption) also sees real images
with another scene's caption as fakes (matching-aware, Reed et al. 2016), so that it, and through
it the generator, must follow the caption rather than only draw plausible scenes. For captions
that name every attribute the generator also pays --l1 times the L1 distance to the real image
(pix2pix's reconstruction term): on this machine's CPU budget the adversarial signal alone is too
slow to teach layout and colour, and a fully specified scene has one answer up to the renderer's
jitter. The text encoder learns with the generator (starting from the DiT's); the discriminator
reads its output without a gradient. The generator's EMA weights are exported.

Fixed seeds; resumable: every --checkpoint-minutes everything (weights, EMA, optimizers, data
order, RNG states, CPU and wall time) goes to STATE_DIR/checkpoint.pt, and a restart with the same
arguments continues there. --init-from starts from another run's checkpoint (fresh optimizers and
schedule); when its tokenizer differs, the text encoder's token and position embeddings are carried
over by token string, new tokens keep their fresh initialisation.

    OMP_WAIT_POLICY=PASSIVE nice -n 19 python3 Scripts/gan/train.py --threads 1 --steps 6000

Needs torch (CPU), transformers, numpy, pillow, safetensors (and open-clip-torch when it writes a
tokenizer: see --tokenizer).
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F
from transformers import CLIPTextModel, CLIPTokenizer

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gan_model  # noqa: E402
from gan_model import dit_model, shapes  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=6000)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-4, help="generator and discriminator")
    parser.add_argument("--text-lr", type=float, default=5e-5)
    parser.add_argument("--dataset-size", type=int, default=40000)
    parser.add_argument("--two-shape-fraction", type=float, default=0.15)
    parser.add_argument("--varied-share", type=float, default=0.0,
                        help="share of captions drawn by caption_variation.varied_caption (the rest canonical)")
    parser.add_argument("--l1", type=float, default=10.0,
                        help="weight of the L1 distance between the generator's image and the real one for captions "
                             "that name every attribute (pix2pix's reconstruction term; 0 = adversarial only)")
    parser.add_argument("--ema", type=float, default=0.999)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--checkpoint-minutes", type=float, default=5)
    parser.add_argument("--log-every", type=int, default=25)
    parser.add_argument("--tokenizer", default=str(REPO / "Models" / "kiln-shapes-dit" / "tokenizer"),
                        help="a tokenizer folder, or 'write' for dit_model.write_tokenizer's (every caption word)")
    parser.add_argument("--text-encoder", type=Path, default=REPO / "Models" / "kiln-shapes-dit" / "text_encoder",
                        help="the text encoder to start from (a fresh run)")
    parser.add_argument("--state-dir", type=Path, default=Path("/work/gan-train"))
    parser.add_argument("--out", type=Path, default=REPO / "Models" / "kiln-shapes-gan")
    parser.add_argument("--stop-at", type=int, metavar="STEP", help="end early on the --steps schedule")
    parser.add_argument("--init-from", type=Path, metavar="CHECKPOINT")
    parser.add_argument("--export-only", action="store_true")
    return parser.parse_args()


def log(args, line: str) -> None:
    print(line, flush=True)
    with open(args.state_dir / "train.log", "a") as handle:
        handle.write(line + "\n")


def load_tokenizer(args) -> CLIPTokenizer:
    if args.tokenizer == "write":
        return dit_model.write_tokenizer(args.state_dir / "tokenizer")
    return CLIPTokenizer.from_pretrained(args.tokenizer)


def carried_text_encoder(source: CLIPTextModel, source_vocab: dict[str, int], tokenizer) -> CLIPTextModel:
    """`source`'s weights in an encoder for `tokenizer`'s vocabulary (rows matched by token string)."""
    return dit_model.text_encoder_for_vocabulary(source, source_vocab, tokenizer)


def load_scenes(args) -> tuple[torch.Tensor, list]:
    """Images [N, 3, 32, 32] in [-1, 1] and their scenes (captions are drawn per step)."""
    path = args.state_dir / f"scenes-{args.dataset_size}-{args.seed}-{args.two_shape_fraction}.pt"
    if not path.exists():
        started = time.time()
        images, _, scenes = shapes.make_dataset(args.dataset_size, args.seed, args.two_shape_fraction)
        torch.save({"images": torch.from_numpy(images), "scenes": scenes}, str(path) + ".tmp")
        os.replace(str(path) + ".tmp", path)
        log(args, f"dataset: {args.dataset_size} scenes rendered in {time.time() - started:.0f}s → {path}")
    data = torch.load(path, weights_only=False)
    return data["images"].permute(0, 3, 1, 2).float() / 127.5 - 1, data["scenes"]


def captions_for(scenes: list, index: torch.Tensor, share: float, rng: np.random.Generator) -> tuple[list[str], torch.Tensor]:
    """Each scene's caption, varied for a `share` of them, and which ones are canonical (those name
    every attribute, so the real image is the one answer up to the renderer's jitter)."""
    if share <= 0:
        return [scenes[i].caption() for i in index.tolist()], torch.ones(len(index), dtype=torch.bool)
    import caption_variation
    captions, canonical = [], []
    for i in index.tolist():
        varied = rng.random() < share
        captions.append(caption_variation.varied_caption(scenes[i], rng) if varied else scenes[i].caption())
        canonical.append(not varied)
    return captions, torch.tensor(canonical)


def main():
    args = parse_args()
    args.state_dir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(args.seed)

    tokenizer = load_tokenizer(args)
    generator_net = gan_model.build_generator()
    discriminator = gan_model.build_discriminator()
    checkpoint_path = args.state_dir / "checkpoint.pt"
    resume = checkpoint_path.exists()
    if resume:
        text_encoder = dit_model.build_text_encoder(tokenizer)
    elif args.init_from:
        state = torch.load(args.init_from, weights_only=False)
        source = dit_model.build_text_encoder(CLIPTokenizer.from_pretrained(state["tokenizer_dir"]))
        source.load_state_dict(state["ema_text"])
        text_encoder = carried_text_encoder(source, state["vocab"], tokenizer)
    else:
        source = CLIPTextModel.from_pretrained(args.text_encoder)
        text_encoder = carried_text_encoder(source, CLIPTokenizer.from_pretrained(
            args.text_encoder.parent / "tokenizer").get_vocab(), tokenizer)
    ema = copy.deepcopy(generator_net).requires_grad_(False)
    ema_text = copy.deepcopy(text_encoder).requires_grad_(False)  # exported beside the generator's EMA
    g_optimizer = torch.optim.Adam([{"params": generator_net.parameters()},
                                    {"params": text_encoder.parameters(), "lr": args.text_lr}],
                                   lr=args.lr, betas=(0.0, 0.99))
    d_optimizer = torch.optim.Adam(discriminator.parameters(), lr=args.lr, betas=(0.0, 0.99))
    data_order = torch.Generator().manual_seed(args.seed + 1)
    caption_rng = np.random.default_rng(args.seed + 2)
    step, cpu_used, wall_used = 0, 0.0, 0.0
    settings = (f"steps {args.steps}, batch {args.batch}, lr {args.lr}, varied {args.varied_share}, l1 {args.l1}, "
                f"threads {args.threads}")

    if resume:
        state = torch.load(checkpoint_path, weights_only=False)
        made_with = (state["args"]["steps"], state["args"]["batch"], state["args"]["varied_share"])
        if not args.export_only and made_with != (args.steps, args.batch, args.varied_share):
            raise SystemExit(f"{checkpoint_path} was made with other --steps/--batch/--varied-share; move it away")
        generator_net.load_state_dict(state["generator"])
        discriminator.load_state_dict(state["discriminator"])
        text_encoder.load_state_dict(state["text_encoder"])
        ema.load_state_dict(state["ema"])
        ema_text.load_state_dict(state["ema_text"])
        g_optimizer.load_state_dict(state["g_optimizer"])
        d_optimizer.load_state_dict(state["d_optimizer"])
        data_order.set_state(state["data_order"])
        caption_rng.bit_generator.state = state["caption_rng"]
        torch.set_rng_state(state["torch_rng"])
        step, cpu_used, wall_used = state["step"], state["cpu_seconds"], state["wall_seconds"]
        log(args, f"resumed at step {step} ({cpu_used / 60:.1f} CPU min, {wall_used / 60:.1f} wall min so far)")
    elif args.init_from:
        generator_net.load_state_dict(state["ema"])
        ema.load_state_dict(state["ema"])
        discriminator.load_state_dict(state["discriminator"])
        log(args, f"start from {args.init_from} (its step {state['step']}); {settings}")
    else:
        counts = {name: sum(p.numel() for p in m.parameters())
                  for name, m in (("generator", generator_net), ("discriminator", discriminator), ("text_encoder", text_encoder))}
        log(args, f"start: {counts}, {settings}")

    def save_checkpoint():
        tokenizer_dir = args.state_dir / "tokenizer-files"
        if not tokenizer_dir.exists():
            tokenizer.save_pretrained(str(tokenizer_dir))
        state = {"generator": generator_net.state_dict(), "discriminator": discriminator.state_dict(),
                 "text_encoder": text_encoder.state_dict(), "ema": ema.state_dict(), "ema_text": ema_text.state_dict(),
                 "g_optimizer": g_optimizer.state_dict(), "d_optimizer": d_optimizer.state_dict(),
                 "data_order": data_order.get_state(), "caption_rng": caption_rng.bit_generator.state,
                 "torch_rng": torch.get_rng_state(), "step": step, "vocab": tokenizer.get_vocab(),
                 "tokenizer_dir": str(tokenizer_dir),
                 "cpu_seconds": cpu_used + time.process_time() - cpu_start, "wall_seconds": wall_used + time.time() - wall_start,
                 "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}}
        torch.save(state, str(checkpoint_path) + ".tmp")
        os.replace(str(checkpoint_path) + ".tmp", checkpoint_path)

    if args.export_only:
        export(args, tokenizer, ema_text, ema, step)
        return

    images, scenes = load_scenes(args)
    eos = tokenizer.eos_token_id
    cpu_start, wall_start = time.process_time(), time.time()
    last_checkpoint = time.time()
    sums = {"d_real": 0.0, "d_fake": 0.0, "d_wrong": 0.0, "g": 0.0}
    last_step = min(args.steps, args.stop_at or args.steps)
    while step < last_step:
        index = torch.randint(0, len(images), (args.batch,), generator=data_order)
        real = images[index]
        captions, canonical = captions_for(scenes, index, args.varied_share, caption_rng)
        ids = dit_model.tokenize(tokenizer, captions)
        z = torch.randn(args.batch, gan_model.LATENT)
        # The learning rate falls linearly to a tenth over the schedule.
        rate = 1 - 0.9 * step / args.steps
        for optimizer, base in ((g_optimizer, args.lr), (d_optimizer, args.lr)):
            optimizer.param_groups[0]["lr"] = base * rate
        g_optimizer.param_groups[1]["lr"] = args.text_lr * rate

        # Discriminator: real with its caption; fake, and real with another scene's caption, as fakes.
        with torch.no_grad():
            c = gan_model.condition(text_encoder, ids, eos)
            fake = generator_net(z, c)
        wrong = c.roll(1, dims=0)
        d_real = F.relu(1 - discriminator(real, c)).mean()
        d_fake = F.relu(1 + discriminator(fake, c)).mean()
        d_wrong = F.relu(1 + discriminator(real, wrong)).mean()
        d_loss = d_real + 0.5 * (d_fake + d_wrong)
        d_optimizer.zero_grad(set_to_none=True)
        d_loss.backward()
        d_optimizer.step()

        # Generator and text encoder.
        c = gan_model.condition(text_encoder, ids, eos)
        drawn = generator_net(z, c)
        g_loss = -discriminator(drawn, c).mean()
        if args.l1 > 0 and canonical.any():
            g_loss = g_loss + args.l1 * (drawn[canonical] - real[canonical]).abs().mean()
        g_optimizer.zero_grad(set_to_none=True)
        g_loss.backward()
        g_optimizer.step()
        decay = min(args.ema, (1 + step) / (10 + step))
        with torch.no_grad():
            for e, p in zip([*ema.parameters(), *ema_text.parameters()], [*generator_net.parameters(), *text_encoder.parameters()]):
                e.lerp_(p, 1 - decay)
        step += 1
        for key, value in (("d_real", d_real), ("d_fake", d_fake), ("d_wrong", d_wrong), ("g", g_loss)):
            sums[key] += value.item()

        if step % args.log_every == 0 or step == last_step:
            cpu = cpu_used + time.process_time() - cpu_start
            wall = wall_used + time.time() - wall_start
            means = " ".join(f"{k} {v / args.log_every:.3f}" for k, v in sums.items())
            log(args, f"step {step}/{args.steps} {means} cpu {cpu / 60:.1f} min wall {wall / 60:.1f} min")
            sums = dict.fromkeys(sums, 0.0)
        if time.time() - last_checkpoint > args.checkpoint_minutes * 60:
            save_checkpoint()
            last_checkpoint = time.time()

    save_checkpoint()
    export(args, tokenizer, ema_text, ema, step)


def export(args, tokenizer, text_encoder, ema, step: int) -> None:
    """Writes --out: generator/ (safetensors + config.json), text_encoder/ and tokenizer/ as in the
    DiT's folder, and model_index.json; and a 4×4 sample grid in the state folder."""
    from safetensors.torch import save_file
    if args.export_only:
        state = torch.load(args.state_dir / "checkpoint.pt", weights_only=False)
        text_encoder.load_state_dict(state["ema_text"])
        ema.load_state_dict(state["ema"])
        step = state["step"]
    ema.eval()
    text_encoder.eval()
    out = args.out
    (out / "generator").mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in ema.state_dict().items()}, str(out / "generator" / "model.safetensors"))
    (out / "generator" / "config.json").write_text(json.dumps({"_class_name": "KilnShapesGenerator", **ema.config()}, indent=2) + "\n")
    text_encoder.save_pretrained(str(out / "text_encoder"), safe_serialization=True)
    tokenizer.save_pretrained(str(out / "tokenizer"))
    # As the DiT's folder: CLIP's slow-tokenizer files beside tokenizer.json (what Kiln reads first).
    source = args.state_dir / "tokenizer" if args.tokenizer == "write" else Path(args.tokenizer)
    for name in ("vocab.json", "merges.txt"):
        (out / "tokenizer" / name).write_bytes((source / name).read_bytes())
    (out / "model_index.json").write_text(json.dumps({
        "_class_name": "KilnShapesGAN", "generator": ["kiln", "KilnShapesGenerator"],
        "text_encoder": ["transformers", "CLIPTextModel"], "tokenizer": ["transformers", "CLIPTokenizer"]}, indent=2) + "\n")
    log(args, f"wrote {out} (generator EMA weights after step {step})")
    grid_captions = [shapes.random_scene(np.random.default_rng(i), 0.0).caption() for i in range(16)]
    pictures = gan_model.generate(tokenizer, text_encoder, ema, grid_captions, gan_model.latents(0, 16))
    from PIL import Image
    grid = (pictures.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)
    grid = grid.reshape(4, 4, 32, 32, 3).transpose(0, 2, 1, 3, 4).reshape(128, 128, 3)
    Image.fromarray(grid).resize((512, 512), Image.NEAREST).save(args.state_dir / f"samples-{step}.png")
    (args.state_dir / "samples.txt").write_text("\n".join(grid_captions) + "\n")


if __name__ == "__main__":
    main()
