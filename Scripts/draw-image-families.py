#!/usr/bin/env python3
"""One caption drawn by each of Kiln's image families, side by side, through a running server.

Asks POST /v1/images/generations for the same caption and seed from kiln-shapes-dit (diffusion
transformer, 20 DDIM steps, guidance 4), kiln-shapes-gan (one step) and kiln-shapes-madformer (the
autoregressive–diffusion hybrid, 10 DDIM steps per band, guidance 4), and writes the three 32×32
images in a row, enlarged 4× with nearest pixels.

    .build/release/kiln serve --port 8080 &
    Scripts/draw-image-families.py --server http://127.0.0.1:8080 --out Docs/images/image-families.png
Needs numpy and pillow.
"""
import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent / "dit"))
import evaluate  # noqa: E402

FAMILIES = [("kiln-shapes-dit", dict(steps=20, guidance=4.0, sampler="ddim")), ("kiln-shapes-gan", {}),
            ("kiln-shapes-madformer", dict(steps=10, guidance=4.0))]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", required=True)
    parser.add_argument("--prompt", default="a large yellow star in the center on a blue background")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3], help="one row per seed")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    from PIL import Image
    rows = []
    for seed in args.seeds:
        row = [next(evaluate.generate_with_server(args.server, model, [(args.prompt, seed)], **options))
               for model, options in FAMILIES]
        rows.append(np.concatenate([np.pad(image, ((2, 2), (2, 2), (0, 0)), constant_values=255) for image in row], axis=1))
    picture = np.concatenate(rows, axis=0).astype(np.uint8)
    Image.fromarray(picture).resize((picture.shape[1] * 4, picture.shape[0] * 4), Image.NEAREST).save(args.out)
    print(f"{args.out}: '{args.prompt}', seeds {args.seeds}, columns {[model for model, _ in FAMILIES]}")


if __name__ == "__main__":
    main()
