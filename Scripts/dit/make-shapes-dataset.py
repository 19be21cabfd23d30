#!/usr/bin/env python3
"""Writes the synthetic shapes dataset that kiln-shapes-dit is trained on.

Deterministic: the same --count, --seed and --two-shape-fraction give the same bytes. Each scene is
a 32×32 RGB picture of one shape (or, with --two-shape-fraction, sometimes two) — circle, square,
triangle or star; small or large; one of 8 colours; at one of 9 grid positions — on one of 9 plain
backgrounds, with a caption such as "a small red circle at the top left on a blue background".
Centres and colours are jittered slightly (±1.5 px, ±12 per channel).

Held out from training (never drawn here, in any shape slot): the 29 colour × shape × position
triples with (colour index + 2·shape index + position index) % 10 == 0 — see shapes.py and
--list-held-out. Every pair of those attributes still occurs in training.

    python3 Scripts/dit/make-shapes-dataset.py --out /work/dit-train/shapes.npz [--preview grid.png]
    python3 Scripts/dit/make-shapes-dataset.py --list-held-out

The .npz holds `images` uint8 [count, 32, 32, 3] and `captions` [count]. Needs numpy (pillow for
--preview). train.py builds the same data itself (and caches it), so this script is for looking at
the data and for other tools.
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import shapes  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=40000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--two-shape-fraction", type=float, default=0.15)
    parser.add_argument("--out", type=Path, help="the .npz to write")
    parser.add_argument("--captions", type=Path, help="also write the captions, one JSON string a line")
    parser.add_argument("--preview", type=Path, help="a PNG grid of the first 64 scenes, 4× enlarged")
    parser.add_argument("--list-held-out", action="store_true", help="print the held-out triples as JSON and exit")
    args = parser.parse_args()

    if args.list_held_out:
        print(json.dumps([{"colour": c, "shape": s, "position": p} for c, s, p in shapes.held_out_triples()], indent=1))
        return
    if args.out is None and args.preview is None:
        parser.error("nothing to write: give --out and/or --preview")
    images, captions, scenes = shapes.make_dataset(args.count, args.seed, args.two_shape_fraction)
    assert not any(shapes.is_held_out(s.colour, s.shape, s.position) for scene in scenes for s in scene.shapes)
    if args.out:
        np.savez_compressed(args.out, images=images, captions=np.array(captions))
        print(f"{args.count} scenes → {args.out}")
    if args.captions:
        args.captions.write_text("".join(json.dumps(c) + "\n" for c in captions))
    if args.preview:
        from PIL import Image
        count = min(64, args.count) // 8 * 8
        grid = images[:count].reshape(count // 8, 8, 32, 32, 3).transpose(0, 2, 1, 3, 4).reshape(count // 8 * 32, 256, 3)
        Image.fromarray(grid).resize((1024, count // 8 * 128), Image.NEAREST).save(args.preview)
        print(f"preview → {args.preview}")


if __name__ == "__main__":
    main()
