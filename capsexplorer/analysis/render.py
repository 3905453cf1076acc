"""Pictures of a sweep and of a pose grid with Pillow alone (no Qt): what `capsexplorer sweep` and
`capsexplorer grid` write, to share or to put in a paper."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from capsexplorer.analysis.posegrid import PoseGrid
from capsexplorer.analysis.sweep import Sweep
from capsexplorer.data.transforms import UNITS
from capsexplorer.errors import CapsExplorerError
from capsexplorer.files import atomic_write

ZOOM = 3  # screen pixels per image pixel
TILE = 28 * ZOOM
GAP = 4
LABEL = 16  # height of a line of text
INK, PAPER, MUTED = (20, 20, 20), (255, 255, 255), (110, 110, 110)


def text_font(size: int = 12):
    try:
        return ImageFont.load_default(size)
    except TypeError:  # Pillow < 10.1 has one fixed size
        return ImageFont.load_default()


def _tile(image: np.ndarray) -> Image.Image:
    grey = (np.clip(image, 0, 1) * 255).round().astype(np.uint8)
    return Image.fromarray(grey, "L").resize((TILE, TILE), Image.NEAREST).convert("RGB")


def _value(sweep: Sweep, value: float) -> str:
    return f"{value:+g}{UNITS[sweep.transform]}" if sweep.transform != "scale" else f"×{value:g}"


def sweep_strip(sweep: Sweep) -> Image.Image:
    """Two rows — the transformed inputs and the followed capsule's reconstructions — one column per
    step, each captioned with its value, the prediction and the followed capsule's length."""
    steps = len(sweep.values)
    width = GAP + steps * (TILE + GAP)
    height = LABEL + 2 * (TILE + GAP) + 2 * LABEL + GAP + 2
    canvas = Image.new("RGB", (max(width, 320), height), PAPER)
    draw = ImageDraw.Draw(canvas)
    font = text_font()
    draw.text((GAP, 2), f"{sweep.transform}: input (top) and digit {sweep.digit}'s reconstruction (bottom)",
              fill=INK, font=font)
    for s in range(steps):
        x = GAP + s * (TILE + GAP)
        canvas.paste(_tile(sweep.images[s]), (x, LABEL))
        canvas.paste(_tile(sweep.reconstruction[s]), (x, LABEL + TILE + GAP))
        y = LABEL + 2 * (TILE + GAP)
        draw.text((x, y), _value(sweep, float(sweep.values[s])), fill=INK, font=font)
        colour = INK if int(sweep.prediction[s]) == sweep.digit else (200, 60, 30)
        draw.text((x, y + LABEL - 2), f"is {int(sweep.prediction[s])}, |v| {sweep.lengths[s, sweep.digit]:.2f}",
                  fill=colour, font=text_font(10))
    return canvas


def sweep_frames(sweep: Sweep) -> list[Image.Image]:
    """One frame per step: input and reconstruction side by side, with the value and the prediction."""
    frames = []
    font = text_font(14)
    for s in range(len(sweep.values)):
        frame = Image.new("RGB", (2 * TILE + 3 * GAP, TILE + 2 * GAP + 2 * LABEL), PAPER)
        frame.paste(_tile(sweep.images[s]), (GAP, GAP))
        frame.paste(_tile(sweep.reconstruction[s]), (2 * GAP + TILE, GAP))
        draw = ImageDraw.Draw(frame)
        draw.text((GAP, TILE + GAP + 2), f"{sweep.transform} {_value(sweep, float(sweep.values[s]))}",
                  fill=INK, font=font)
        draw.text((GAP, TILE + GAP + LABEL + 2),
                  f"predicted {int(sweep.prediction[s])}, |v{sweep.digit}| {sweep.lengths[s, sweep.digit]:.2f}",
                  fill=MUTED, font=font)
        frames.append(frame)
    return frames


def grid_image(grid: PoseGrid, labels: list[dict] | None = None) -> Image.Image:
    """The paper's Figure 4: one row per pose dimension, named by its measured effect."""
    labels = labels if labels is not None else grid.labels()
    dims, steps = grid.grid.shape[:2]
    font = text_font()
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    widest = max((measure.textlength(row["label"], font=font) for row in labels), default=0)
    side = 34 + int(widest) + 10  # the row's number and its whole label
    small = 2 * 28
    canvas = Image.new("RGB", (side + steps * (small + 2) + GAP, LABEL + dims * (small + 2) + LABEL + GAP), PAPER)
    draw = ImageDraw.Draw(canvas)
    unit = "" if grid.sigma is None else " std"  # the default font has no σ
    draw.text((GAP, 2), f"digit capsule {grid.digit}: each pose dimension from {grid.offsets[0]:+.2f}{unit} "
                        f"to {grid.offsets[-1]:+.2f}{unit}" + (" of the class's training poses" if unit else ""),
              fill=INK, font=font)
    for k in range(dims):
        y = LABEL + k * (small + 2)
        draw.text((GAP, y + small // 2 - 6), f"{k + 1:>2}", fill=INK, font=font)
        draw.text((34, y + small // 2 - 6), labels[k]["label"], fill=MUTED, font=font)
        for s in range(steps):
            tile = Image.fromarray((np.clip(grid.grid[k, s], 0, 1) * 255).astype(np.uint8), "L")
            canvas.paste(tile.resize((small, small), Image.NEAREST).convert("RGB"), (side + s * (small + 2), y))
    y = LABEL + dims * (small + 2) + 2
    for s in range(0, steps, max(1, steps // 6)):
        draw.text((side + s * (small + 2), y), f"{grid.offsets[s]:+.2f}", fill=MUTED, font=font)
    return canvas


def save_png(image: Image.Image, path: str | Path) -> Path:
    path = Path(path)
    with atomic_write(path) as f:
        image.save(f, format="PNG")
    return path


def save_gif(frames: list[Image.Image], path: str | Path, frame_ms: int = 120) -> Path:
    path = Path(path)
    if not frames:
        raise CapsExplorerError(f"{path}: nothing to animate")
    with atomic_write(path) as f:
        frames[0].save(f, format="GIF", save_all=True, append_images=frames[1:], duration=frame_ms, loop=0)
    return path
