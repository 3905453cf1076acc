"""How the shipped model does on digits as people make them, through `preprocess`.

1. drawn: every held-out MNIST digit redrawn as a person would draw it on the explorer's canvas —
   a 280×280 canvas, scaled to 30–90 %, off-centre, thickened with a 1–15 px pen, dark ink on light.
2. fonts: the digits 0–9 typed in handwriting-style fonts (Debian: fonts-comic-neue,
   fonts-dkg-handwriting, fonts-humor-sans, fonts-femkeklaver, fonts-bwht, fonts-breip,
   fonts-dancingscript, fonts-kristi, and URW's Z003), at 3 sizes and 3 positions, dark on light.

    python benchmarks/eval_drawn.py [--weights PATH] [--json]
"""
from __future__ import annotations

import argparse
import glob
import json
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from capsexplorer import load_model, preprocess
from capsexplorer.analysis.drawn import as_drawn
from capsexplorer.data.datasets import heldout_samples

FONT_GLOBS = [
    "/usr/share/fonts/opentype/comic-neue/ComicNeue-*.otf",
    "/usr/share/fonts/truetype/fifthhorseman/dkg*.ttf",
    "/usr/share/fonts/truetype/humor-sans/Humor-Sans.ttf",
    "/usr/share/fonts/truetype/femkeklaver/femkeklaver.ttf",
    "/usr/share/fonts/opentype/bwht/BecauseWe*.otf",
    "/usr/share/fonts/truetype/breip/Breip.ttf",
    "/usr/share/fonts/opentype/dancingscript/DancingScript-*.otf",
    "/usr/share/fonts/truetype/kristi/Kristi.ttf",
    "/usr/share/fonts/opentype/urw-base35/Z003-MediumItalic.otf",
]


def typed(font_path: str, digit: int, size: int, position: tuple[int, int]) -> np.ndarray:
    canvas = Image.new("L", (200, 200), 255)
    font = ImageFont.truetype(font_path, size)
    ImageDraw.Draw(canvas).text(position, str(digit), fill=0, font=font, anchor="mm")
    return np.asarray(canvas)


def classify(model, images: list[np.ndarray]) -> np.ndarray:
    x = torch.stack([preprocess(im) for im in images])
    return np.concatenate([model.trace(x[k:k + 128]).prediction for k in range(0, len(x), 128)])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--weights")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    model = load_model(args.weights)
    results = {}

    held = heldout_samples()
    rng = np.random.default_rng(0)
    predictions = classify(model, [as_drawn(im, rng) for im in held.images])
    results["drawn"] = {"accuracy": float((predictions == held.labels).mean()), "n": len(held)}

    fonts = sorted({p for pattern in FONT_GLOBS for p in glob.glob(pattern)})
    per_font, all_hits = {}, []
    for path in fonts:
        images, labels = [], []
        for digit in range(10):
            for size in (60, 100, 150):
                for position in ((100, 100), (70, 120), (130, 80)):
                    images.append(typed(path, digit, size, position))
                    labels.append(digit)
        hits = classify(model, images) == np.array(labels)
        per_font[Path(path).name] = float(hits.mean())
        all_hits.append(hits)
    if fonts:
        all_hits = np.concatenate(all_hits)
        results["fonts"] = {"accuracy": float(all_hits.mean()), "n": int(all_hits.size),
                            "fonts": len(fonts), "per_font": per_font}
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(f"drawn held-out digits: {results['drawn']['accuracy']:.4f} of {results['drawn']['n']}")
        if fonts:
            print(f"handwriting-style fonts: {results['fonts']['accuracy']:.4f} of {results['fonts']['n']} "
                  f"({len(fonts)} fonts)")
            for name, accuracy in per_font.items():
                print(f"  {name:32s} {accuracy:.3f}")
        else:
            print("no handwriting-style fonts installed (see the docstring)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
