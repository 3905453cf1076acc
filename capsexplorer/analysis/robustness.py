"""Is a CapsNet more robust than a CNN to changes it never saw in training? (Sabour et al. 2017, §5.2:
affNIST, 79 % against 66 %.) Held-out accuracy of both models under each transform of the capsule
lab, an affNIST-style random affine mix, and — for the CapsNet — with 1 to 10 routing iterations."""
from __future__ import annotations

import time

import numpy as np

from capsexplorer.data import transforms
from capsexplorer.data.datasets import Split
from capsexplorer.net.inference import score_batches
from capsexplorer.progress_events import run_steps

# The values each transform is measured at (the untransformed input is measured once, as 0 / 1).
VALUES = {
    "rotate": (-60, -45, -30, -15, 0, 15, 30, 45, 60),
    "scale": (0.6, 0.8, 1.0, 1.2, 1.4),
    "shift-x": (-6, -3, 0, 3, 6),
    "shift-y": (-6, -3, 0, 3, 6),
    "shear": (-30, -15, 0, 15, 30),
    "thickness": (-1, 0, 1, 2),
}
# affNIST draws a random affine per digit (rotation up to 20°, shear up to 0.2, scale 0.8–1.2 per axis,
# then a translation) on a 40×40 canvas. Here, within 28×28, about the centre, bilinear, zero fill:
MIX = {"rotate_deg": 20.0, "shear": 0.2, "scale": (0.8, 1.2), "shift_px": 3.0}
ABLATION = (1, 2, 3, 5, 10)
DIGITS = 1_000  # of MNIST's 10,000 test digits: 27 conditions × 2 models stay within minutes on a laptop


def test_digits(count: int = DIGITS, seed: int = 0) -> Split:
    """The digits robustness is measured on: `count` of MNIST's official test digits, a seeded choice kept
    in their order (all 10,000 with count ≥ 10,000)."""
    from capsexplorer.data.datasets import heldout_samples

    split = heldout_samples()
    if count >= len(split):
        return split
    keep = np.sort(np.random.default_rng(seed).permutation(len(split))[:count])
    return Split(split.images[keep], split.labels[keep])


def mix_matrices(count: int, seed: int = 0) -> np.ndarray:
    """(count, 3, 3) the affine-mix maps: rotation U(−20°, 20°), horizontal shear U(−0.2, 0.2),
    scale_x and scale_y each U(0.8, 1.2), translation U(−3, 3) px on each axis; seeded."""
    rng = np.random.default_rng(seed)
    angle = rng.uniform(-MIX["rotate_deg"], MIX["rotate_deg"], count)
    shear = rng.uniform(-MIX["shear"], MIX["shear"], count)
    sx, sy = rng.uniform(*MIX["scale"], count), rng.uniform(*MIX["scale"], count)
    tx, ty = rng.uniform(-MIX["shift_px"], MIX["shift_px"], (2, count))
    return np.stack([transforms.compose(angle[k], shear[k], sx[k], sy[k], tx[k], ty[k]) for k in range(count)])


def affine_mix(images: np.ndarray, seed: int = 0) -> np.ndarray:
    """(N, 28, 28) floats → the same digits, each under its own random affine map."""
    return transforms.warp(images, mix_matrices(len(images), seed))


def transformed(images: np.ndarray, transform: str, value: float) -> np.ndarray:
    """(N, 28, 28) every held-out digit under one transform at one value."""
    if transform == "thickness":
        return transforms.thicken(images, np.full(len(images), float(value)))
    return transforms.warp(images, np.repeat(transforms.affine_matrix({transform: float(value)})[None], len(images), 0))


def correct_steps(model, images: np.ndarray, labels: np.ndarray, iterations: int = 3, batch: int = 250,
                  correct: int = 0):
    """Generator over batches of (N, 28, 28) floats in [0, 1]: yields the running count of correct
    answers of a CapsNet or the CNN after each batch (from `correct`), so a caller can stop or serve other
    work between."""
    start = 0
    for scores in score_batches(model, images, iterations, batch):  # (B, 10)
        correct += int((scores.argmax(1) == labels[start:start + len(scores)]).sum())
        start += len(scores)
        yield correct


def accuracy(model, images: np.ndarray, labels: np.ndarray, iterations: int = 3, batch: int = 250) -> float:
    """Held-out accuracy of a CapsNet or the CNN on (N, 28, 28) floats in [0, 1]."""
    correct = 0
    for correct in correct_steps(model, images, labels, iterations, batch):  # noqa: B007 (to the last count)
        pass
    return correct / len(images)


def conditions() -> list[tuple[str, float | None]]:
    """What `measure` runs, in order: the untransformed digits, every transformed value, the affine mix."""
    return [("plain", None)] + [(t, v) for t, values in VALUES.items() for v in values
                                if v != transforms.IDENTITY[t]] + [("affine-mix", None)]


def measure_steps(models: dict, split: Split, iterations: int = 3, seed: int = 0, batch: int = 250):
    """Generator: yields (done, total) batches as it goes and returns `measure`'s result, so that the
    explorer's worker can answer the user, or stop, between any two batches."""
    start = time.perf_counter()
    images = split.images.astype(np.float32) / 255.0
    labels = split.labels
    todo = conditions()
    per_model = -(-len(images) // batch)
    total, done = len(todo) * len(models) * per_model, 0
    yield done, total
    scores: dict = {}
    for transform, value in todo:
        mix = mix_matrices(len(images), seed) if transform == "affine-mix" else None  # (N, 2, 3), drawn at once
        correct = dict.fromkeys(models, 0)
        for first in range(0, len(images), batch):  # each batch transformed when its turn comes: a close or
            chunk = images[first:first + batch]  # a stroke waits for one batch, never for the whole set
            inputs = chunk if transform == "plain" else transforms.warp(chunk, mix[first:first + batch]) \
                if mix is not None else transformed(chunk, transform, value)
            for name, model in models.items():
                steps = correct_steps(model, inputs, labels[first:first + batch], iterations, batch, correct[name])
                for correct[name] in steps:  # each batch's running count kept
                    done += 1
                    yield done, total
        for name in models:
            scores[name, transform, value] = correct[name] / len(images)
    result: dict = {name: {} for name in models}
    for name in models:
        for transform, values in VALUES.items():
            result[name][transform] = {
                f"{v:g}": scores[name, "plain" if v == transforms.IDENTITY[transform] else transform,
                                 None if v == transforms.IDENTITY[transform] else v] for v in values}
    result["affine-mix"] = {name: scores[name, "affine-mix", None] for name in models}
    result["seconds"] = round(time.perf_counter() - start, 1)
    return result


def measure(models: dict, split: Split, iterations: int = 3, seed: int = 0, progress=None) -> dict:
    """{name: {transform: {value: accuracy}}, "affine-mix": {name: accuracy}, "seconds": …} for each model.
    `progress(done, total)` is called after every batch."""
    return run_steps(measure_steps(models, split, iterations, seed), progress)


def routing_ablation(capsnet, split: Split, seed: int = 0, iterations=ABLATION) -> dict:
    """{iterations: {"heldout": accuracy, "affine-mix": accuracy}}: does routing matter?"""
    images = split.images.astype(np.float32) / 255.0
    mixed = affine_mix(images, seed)
    return {str(r): {"heldout": accuracy(capsnet, images, split.labels, r),
                     "affine-mix": accuracy(capsnet, mixed, split.labels, r)} for r in iterations}


def plot(result: dict, path) -> None:
    """Six small panels, accuracy against each transform's value, one line per model (Pillow)."""
    from PIL import Image, ImageDraw

    from capsexplorer.analysis.render import save_png, text_font

    names = [n for n in result if n not in ("affine-mix", "seconds", "routing-ablation")]
    colours = {"capsnet": (230, 120, 0), "cnn": (40, 110, 200)}
    width, height, pad = 260, 200, 36
    canvas = Image.new("RGB", (3 * width, 2 * height + 40), "white")
    draw = ImageDraw.Draw(canvas)
    font = text_font()
    for k, transform in enumerate(VALUES):
        ox, oy = (k % 3) * width, (k // 3) * height
        x0, y0, x1, y1 = ox + pad, oy + 20, ox + width - 10, oy + height - pad
        draw.rectangle((x0, y0, x1, y1), outline=(180, 180, 180))
        unit = transforms.UNITS[transform].replace("×", "factor")  # Pillow's default font has no ×
        draw.text((x0, oy + 4), f"{transform} ({unit})", fill="black", font=font)
        values = [float(v) for v in result[names[0]][transform]]
        low, high = min(values), max(values)
        to_x = lambda v: x0 + (x1 - x0) * (v - low) / (high - low or 1)  # noqa: E731
        to_y = lambda a: y1 - (y1 - y0) * a  # noqa: E731  accuracy 0 … 1
        for a in (0.0, 0.5, 1.0):
            draw.text((ox + 4, to_y(a) - 6), f"{a:.1f}", fill=(110, 110, 110), font=font)
        for v in values:
            draw.text((to_x(v) - 8, y1 + 4), f"{v:g}", fill=(110, 110, 110), font=font)
        for name in names:
            points = [(to_x(float(v)), to_y(a)) for v, a in result[name][transform].items()]
            draw.line(points, fill=colours.get(name, (0, 0, 0)), width=2)
    legend = "   ".join(f"{name}: affine mix {result['affine-mix'][name]:.1%}" for name in names)
    draw.text((8, 2 * height + 10), legend + "   (orange: capsnet, blue: cnn)", fill="black", font=font)
    save_png(canvas, path)

