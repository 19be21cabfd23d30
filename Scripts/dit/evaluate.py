#!/usr/bin/env python3
"""Scores generated 32×32 images against their captions with a deterministic pixel analysis.

For an image of one shape on a plain background (the captions evaluated here have one shape):
  background  the per-channel median of the 1-pixel border ring;
  shape mask  pixels whose RGB distance from the background exceeds half the image's strongest
              contrast (98th percentile), largest 4-connected component only;
  colour      the nearest shape colour (RGB distance) to the median of the mask's core pixels;
  shape, size the best soft-IoU fit of the renderer's own shape templates (each shape × size, its
              centre searched ±2.5 px around the mask's bounding-box centre) to the image's soft
              coverage (distance from the background / shape-background contrast, clipped to 1);
  position    the 3×3 grid cell of the fitted centre (cells split at 11.5 and 20.5 px).
An image matches its caption when colour, shape and position all agree; size is reported apart.

Modes:
  --ground-truth N     the dataset's own rendered images (jittered as in training): the analysis
                       must score ~100% there before its verdicts on a model mean anything;
  --pipeline DIR       generate with the trained folder in PyTorch (offline check): kiln-shapes-dit's
                       diffusers folder, or kiln-shapes-madformer's (Scripts/madformer);
  --server URL         generate through a running Kiln server's POST /v1/images/generations.
Both generating modes use the same caption set: --count captions (default 100), half with a
colour × shape × position triple seen in training, half with a held-out triple (all 29 held-out
triples, then repeats with other sizes and backgrounds), each with its own seed.

    python3 Scripts/dit/evaluate.py --ground-truth 2000
    python3 Scripts/dit/evaluate.py --pipeline Models/kiln-shapes-dit [--captions plain|varied] [--threads 1]
    python3 Scripts/dit/evaluate.py --pipeline Models/kiln-shapes-madformer [--steps 10]
    python3 Scripts/dit/evaluate.py --server http://127.0.0.1:8080 --model kiln-shapes-dit
Needs numpy and pillow (scipy for connected components); --pipeline also torch and diffusers.
"""
from __future__ import annotations

import argparse
import base64
import io
import json
import sys
import urllib.request
from dataclasses import asdict
from pathlib import Path

import numpy as np
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parent))
import caption_variation  # noqa: E402
import shapes  # noqa: E402

CELL_EDGES = (11.5, 20.5)
COLUMNS = ("left", "center", "right")
ROWS = ("top", "middle", "bottom")
# Grid cell (column, row) → the caption's position phrase.
CELL_NAMES = {(0, 0): "at the top left", (1, 0): "at the top", (2, 0): "at the top right",
              (0, 1): "on the left", (1, 1): "in the center", (2, 1): "on the right",
              (0, 2): "at the bottom left", (1, 2): "at the bottom", (2, 2): "at the bottom right"}


_HALF = (np.arange(shapes.SIZE * 2) + 0.5) / 2
_TEMPLATE_X, _TEMPLATE_Y = np.meshgrid(_HALF, _HALF)  # 2× supersampled pixel grid


def _template(shape: str, size: str, cx: float, cy: float) -> np.ndarray:
    """The renderer's own coverage [32, 32] in [0, 1] of one shape at (cx, cy)."""
    mask = shapes.shape_mask(shape, cx, cy, shapes.SIZES[size], _TEMPLATE_X, _TEMPLATE_Y)
    return mask.reshape(shapes.SIZE, 2, shapes.SIZE, 2).mean(axis=(1, 3))


def _fit(coverage: np.ndarray, shape: str, size: str, cx: float, cy: float) -> tuple[float, float, float]:
    """Best soft IoU of one shape template around (cx, cy): ±2 px in 1 px steps, then ±0.5 px."""
    def iou(x, y):
        template = _template(shape, size, x, y)
        return np.minimum(template, coverage).sum() / max(np.maximum(template, coverage).sum(), 1e-9)
    best = max(((iou(cx + dx, cy + dy), cx + dx, cy + dy) for dx in (-2, -1, 0, 1, 2) for dy in (-2, -1, 0, 1, 2)))
    _, bx, by = best
    return max(((iou(bx + dx, by + dy), bx + dx, by + dy) for dx in (-0.5, 0, 0.5) for dy in (-0.5, 0, 0.5)))


def analyze(image: np.ndarray) -> dict:
    """The shape an image shows: uint8 or float [32, 32, 3] (0–255) → colour, shape, size, position."""
    pixels = image.astype(np.float64)
    border = np.concatenate([pixels[0], pixels[-1], pixels[1:-1, 0], pixels[1:-1, -1]])
    background = np.median(border, axis=0)
    background_name = min(shapes.BACKGROUNDS, key=lambda name: np.linalg.norm(background - shapes.BACKGROUNDS[name]))
    distance = np.linalg.norm(pixels - background, axis=2)
    strongest = np.percentile(distance, 98)
    if strongest < 30:
        return {"shape": None, "colour": None, "position": None, "size": None, "background": background_name,
                "reason": "no shape"}
    labels, count = ndimage.label(distance > strongest / 2)
    sizes = ndimage.sum(np.ones_like(distance), labels, range(1, count + 1))
    mask = labels == (1 + int(np.argmax(sizes)))
    core = mask & (distance > strongest * 0.75)
    colour_rgb = np.median(pixels[core if core.any() else mask], axis=0)
    colour = min(shapes.SHAPE_COLOURS, key=lambda name: np.linalg.norm(colour_rgb - shapes.COLOURS[name]))

    # Soft coverage of the component (and its 1-pixel rim, where anti-aliased edges lie).
    contrast = max(np.linalg.norm(colour_rgb - background), 1.0)
    region = ndimage.binary_dilation(mask)
    coverage = np.where(region, np.clip(distance / contrast, 0, 1), 0.0)
    ys, xs = np.nonzero(mask)
    cx, cy = (xs.min() + xs.max() + 1) / 2, (ys.min() + ys.max() + 1) / 2
    fits = {(shape, size): _fit(coverage, shape, size, cx, cy) for shape in shapes.SHAPES for size in shapes.SIZES}
    (shape, size), (score, fx, fy) = max(fits.items(), key=lambda item: item[1][0])
    cell = (int(np.searchsorted(CELL_EDGES, fx)), int(np.searchsorted(CELL_EDGES, fy)))
    return {"shape": shape, "colour": colour, "position": CELL_NAMES[cell], "size": size, "background": background_name,
            "fit": round(float(score), 3), "centre": (float(fx), float(fy))}


def judge(scene: shapes.Scene, found: dict, named: set[str] = frozenset({"size", "position", "background"})) -> dict:
    """Which attributes of the scene's (first) shape the image shows. A canonical caption's image
    matches when colour, shape and position agree (size is reported apart, as is background); a
    plain or varied caption's when colour, shape and every other attribute it names but size do."""
    spec = scene.shapes[0]
    checks = {key: found.get(key) == getattr(spec, key) for key in ("colour", "shape", "position", "size")}
    checks["background"] = found.get("background") == scene.background
    judged = ["colour", "shape"] + [key for key in ("position", "background") if key in named]
    if named == {"size", "position", "background"}:
        judged = ["colour", "shape", "position"]  # the canonical verdict, comparable with earlier figures
    checks["match"] = all(checks[key] for key in judged)
    return checks


def caption_for(scene: shapes.Scene, seed: int, kind: str) -> tuple[str, set[str]]:
    """The caption an evaluation asks for a scene, and the attributes it names."""
    if kind == "canonical":
        return scene.caption(), {"size", "position", "background"}
    if kind == "plain":
        return caption_variation.plain_caption(scene), {"background"}
    return caption_variation.varied_caption_naming(scene, np.random.default_rng(seed))


def caption_set(count: int, fresh: int = 0) -> list[tuple[shapes.Scene, bool, int]]:
    """`count` one-shape scenes: (scene, held_out, seed); the first half seen, the second held out.
    `fresh` > 0 draws another set (other scenes and image seeds) to confirm a choice that was made
    by looking at the standard set (0) without that choice's selection bias."""
    rng = np.random.default_rng(1234 + fresh)
    first_seed = 100_000 * fresh
    seen = []
    while len(seen) < count // 2:
        scene = shapes.random_scene(rng, 0.0)
        seen.append((scene, False, first_seed + len(seen)))
    triples = shapes.held_out_triples()
    held = []
    while len(held) < count - count // 2:
        colour, shape, position = triples[len(held) % len(triples)]
        held.append((shapes.scene_from_triple(colour, shape, position, rng), True, first_seed + 10_000 + len(held)))
    return seen + held


def report(results: list[dict], title: str) -> dict:
    summary = {"title": title}
    for group, rows in (("seen", [r for r in results if not r["held_out"]]), ("held_out", [r for r in results if r["held_out"]])):
        if not rows:
            continue
        summary[group] = {key: round(100 * np.mean([r[key] for r in rows]), 1)
                          for key in ("match", "colour", "shape", "position", "size", "background")}
        summary[group]["count"] = len(rows)
    summary["shape_confusion"] = shape_confusion(results)
    print(json.dumps(summary, indent=1))
    return summary


def shape_confusion(results: list[dict]) -> dict:
    """Over both groups: for each captioned size and shape, how often each shape was found, as
    {"small square": {"square": 4, "circle": 27}, …} — where the shape errors come from."""
    table: dict[str, dict[str, int]] = {}
    for row in results:
        spec = row["spec"]
        counts = table.setdefault(f"{spec['size']} {spec['shape']}", {})
        counts[row["found"]["shape"]] = counts.get(row["found"]["shape"], 0) + 1
    return {key: dict(sorted(counts.items(), key=lambda item: -item[1])) for key, counts in sorted(table.items())}


def ground_truth(count: int) -> tuple[list[dict], float]:
    """Analysis of rendered scenes against their own captions, and (a check that the verdicts can
    fail) the share of images that "match" the caption of the next scene instead."""
    rng = np.random.default_rng(99)
    results, specs = [], []
    for index in range(count):
        held_out = index % 2 == 1
        if held_out:
            triple = shapes.held_out_triples()[rng.integers(len(shapes.held_out_triples()))]
            scene = shapes.scene_from_triple(*triple, rng)
        else:
            scene = shapes.random_scene(rng, 0.0)
        found = analyze(shapes.render(scene, rng))
        results.append({"caption": scene.caption(), "held_out": held_out, "spec": asdict(scene.shapes[0]),
                        **judge(scene, found), "found": found})
        specs.append(scene.shapes[0])
    wrong = [judge(shapes.Scene((specs[(i + 1) % count],), "gray"), r["found"])["match"]
             for i, r in enumerate(results) if specs[(i + 1) % count] != specs[i]]
    return results, 100 * float(np.mean(wrong))


def pipeline_kind(directory: Path) -> str:
    """The folder's `_class_name`: PixArtAlphaPipeline (kiln-shapes-dit) or KilnShapesMADFormer."""
    return json.loads((directory / "model_index.json").read_text())["_class_name"]


def generate_with_pipeline(directory: Path, captions: list[tuple[str, int]], steps: int, guidance: float, threads: int):
    import torch
    torch.set_num_threads(threads)
    if pipeline_kind(directory) == "KilnShapesMADFormer":
        yield from generate_with_madformer(directory, captions, steps, guidance)
        return
    from diffusers import PixArtTransformer2DModel
    from transformers import CLIPTextModel, CLIPTokenizer
    import dit_model
    tokenizer = CLIPTokenizer.from_pretrained(directory / "tokenizer")
    text_encoder = CLIPTextModel.from_pretrained(directory / "text_encoder").eval()
    transformer = PixArtTransformer2DModel.from_pretrained(directory / "transformer").eval()
    for caption, seed in captions:
        image = dit_model.sample(tokenizer, text_encoder, transformer, [caption], seed=seed, steps=steps, guidance=guidance)
        yield (image[0].permute(1, 2, 0).numpy() * 255).round()


def generate_with_madformer(directory: Path, captions: list[tuple[str, int]], steps: int, guidance: float,
                            batch: int = 25):
    """The hybrid, block by block, from the noise Kiln's SeededNoise draws for each seed (so PyTorch
    and a Kiln server draw the same images)."""
    import torch
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "madformer"))
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "gan"))
    import madformer_model
    from seeded_noise import SeededNoise
    tokenizer, text_encoder, model = madformer_model.load_pipeline(directory)
    for start in range(0, len(captions), batch):
        chunk = captions[start:start + batch]
        noise = torch.from_numpy(np.stack([SeededNoise(seed).gaussians(3 * 32 * 32).reshape(3, 32, 32) for _, seed in chunk]))
        images = madformer_model.sample(model, text_encoder, tokenizer, [text for text, _ in chunk], noise, steps=steps,
                                        guidance=guidance)
        for image in images:
            yield ((image / 2 + 0.5).clamp(0, 1).permute(1, 2, 0).numpy() * 255).round()


def generate_with_server(url: str, model: str | None, captions, steps: int | None = None, guidance: float | None = None,
                         sampler: str | None = None):
    """Each (caption, seed) through POST /v1/images/generations as pixels [32, 32, 3] (0–255); the
    members left None are not sent (the server's defaults; a GAN refuses them)."""
    from PIL import Image
    for caption, seed in captions:
        body = {"prompt": caption, "size": "32x32", "n": 1, "response_format": "b64_json", "seed": seed}
        for member, value in (("model", model), ("steps", steps), ("guidance_scale", guidance), ("sampler", sampler)):
            if value is not None:
                body[member] = value
        request = urllib.request.Request(url.rstrip("/") + "/v1/images/generations", data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=120) as response:
            payload = json.load(response)
        png = base64.b64decode(payload["data"][0]["b64_json"])
        yield np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.float64)


def save_grid(pictures: list[np.ndarray], path: Path) -> None:
    """The images (uint8 [32, 32, 3] each) ten to a row, enlarged 4× with nearest pixels, as a PNG."""
    from PIL import Image
    rows = (len(pictures) + 9) // 10
    grid = np.zeros((rows * 32, 320, 3), np.uint8)
    for index, picture in enumerate(pictures):
        grid[index // 10 * 32:(index // 10 + 1) * 32, index % 10 * 32:(index % 10 + 1) * 32] = picture
    Image.fromarray(grid).resize((1280, rows * 128), Image.NEAREST).save(path)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--ground-truth", type=int, metavar="N")
    mode.add_argument("--pipeline", type=Path)
    mode.add_argument("--server")
    parser.add_argument("--model", help="the server's model name for images")
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--steps", type=int, help="denoising steps (per block for the hybrid); default 20, the hybrid's 10")
    parser.add_argument("--guidance", type=float, default=4.0)
    parser.add_argument("--sampler", default="ddim")
    parser.add_argument("--fresh", type=int, default=0, metavar="K",
                        help="evaluate the K-th fresh caption set instead of the standard one (0)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads for --pipeline (on a shared machine, "
                        "1 and OMP_WAIT_POLICY=PASSIVE, or torch's spinning threads take ten times the CPU)")
    parser.add_argument("--captions", choices=("canonical", "plain", "varied"), default="canonical",
                        help="canonical: every attribute named, judged on colour, shape and position; plain: colour, "
                             "shape and background only, judged on those; varied: as people write them "
                             "(caption_variation.py), judged on colour, shape and the position and background they name")
    parser.add_argument("--save", type=Path, help="write per-image results as JSON (and a PNG grid beside it)")
    args = parser.parse_args()

    if args.ground_truth:
        results, mismatched = ground_truth(args.ground_truth)
        summary = report(results, f"analysis of {args.ground_truth} ground-truth renders")
        summary["mismatched_caption_match"] = round(mismatched, 1)
        print(f"images judged against another scene's caption: {mismatched:.1f}% 'match' (should be near 0)")
    else:
        if args.steps is None:
            args.steps = 10 if args.pipeline and pipeline_kind(args.pipeline) == "KilnShapesMADFormer" else 20
        scenes = caption_set(args.count, args.fresh)
        captions = [caption_for(scene, seed, args.captions) for scene, _, seed in scenes]
        texts = [(text, seed) for (text, _), (_, _, seed) in zip(captions, scenes)]
        images = (generate_with_pipeline(args.pipeline, texts, args.steps, args.guidance, args.threads) if args.pipeline
                  else generate_with_server(args.server, args.model, texts, args.steps, args.guidance, args.sampler))
        results, pictures = [], []
        for (scene, held_out, seed), (text, named), image in zip(scenes, captions, images):
            found = analyze(image)
            results.append({"caption": text, "held_out": held_out, "seed": seed, "spec": asdict(scene.shapes[0]),
                            "background": scene.background, **judge(scene, found, named), "found": found})
            pictures.append(np.clip(image, 0, 255).astype(np.uint8))
        summary = report(results, f"{len(results)} images from {args.pipeline or args.server}, {args.captions} captions, "
                                  f"{args.steps} steps, guidance {args.guidance}")
        if args.save:
            save_grid(pictures, args.save.with_suffix(".png"))
    if args.save:
        args.save.write_text(json.dumps({"summary": summary, "results": results}, indent=1, default=str) + "\n")


if __name__ == "__main__":
    main()
