"""Held-out digits as people draw them on the explorer's canvas: each MNIST test digit redrawn on a 280×280
canvas — scaled to 30–90 % of it, off-centre, thickened with a 1–15 px pen, dark ink on light — and brought
back through `preprocess`, as a drawing is. What `benchmarks/eval_drawn.py` and `capsexplorer routers` score."""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter

from capsexplorer.data.datasets import Split
from capsexplorer.data.preprocess import preprocess_array

CANVAS = 280  # the explorer's drawing canvas, in pixels
PENS = (1, 3, 5, 9, 15)


def as_drawn(image: np.ndarray, rng: np.random.Generator, size: int = CANVAS) -> np.ndarray:
    """(28, 28) uint8 digit → (size, size) uint8 drawing of it, dark on light."""
    side = int(size * rng.uniform(0.3, 0.9))
    pen = int(rng.choice(PENS))
    big = Image.fromarray(image).resize((side, side), Image.BICUBIC)
    if pen > 1:
        big = big.filter(ImageFilter.MaxFilter(pen))
    canvas = Image.new("L", (size, size), 0)
    slack = size - side
    canvas.paste(big, (int(rng.integers(0, slack + 1)), int(rng.integers(0, slack + 1))))
    return 255 - np.asarray(canvas)


def drawn_digits(split: Split, count: int | None = None, seed: int = 0) -> Split:
    """The first `count` digits of `split` (all: None) drawn and preprocessed: (N, 28, 28) float32 in [0, 1]."""
    count = len(split) if count is None else min(count, len(split))
    rng = np.random.default_rng(seed)
    images = np.stack([preprocess_array(as_drawn(split.images[k], rng)) for k in range(count)])
    return Split(images.astype(np.float32), split.labels[:count])
