"""Transforms of the 28×28 network input itself — after preprocessing, with no re-centring — for
probing equivariance (Sabour et al. 2017, §1 and §5.1: a capsule's pose should follow a change of
viewpoint while its length, the probability of the entity, holds).

All geometric transforms act about the image centre (13.5, 13.5) with bilinear sampling and zero
fill, so integer shifts are exact pixel moves and a 90° rotation is `numpy.rot90`. Screen
conventions: x right, y down; + rotation is counter-clockwise as seen on screen.
"""
from __future__ import annotations

import math

import numpy as np

from capsexplorer.errors import CapsExplorerError

TRANSFORMS = ("shift-x", "shift-y", "rotate", "scale", "shear", "thickness")
UNITS = {"shift-x": "px", "shift-y": "px", "rotate": "°", "scale": "×", "shear": "°", "thickness": "px"}
DIRECTIONS = {"shift-x": "+ right", "shift-y": "+ down", "rotate": "+ counter-clockwise", "scale": "> 1 larger",
              "shear": "+ top leans left", "thickness": "+ thicker"}  # what a larger value does, in words
IDENTITY = {"shift-x": 0.0, "shift-y": 0.0, "rotate": 0.0, "scale": 1.0, "shear": 0.0, "thickness": 0.0}
LIMITS = {"shift-x": (-14.0, 14.0), "shift-y": (-14.0, 14.0), "rotate": (-360.0, 360.0), "scale": (0.2, 3.0),
          "shear": (-60.0, 60.0), "thickness": (-3.0, 3.0)}
SIZE = 28
CENTRE = (SIZE - 1) / 2.0  # 13.5: the middle between the two central pixels


def check(transform: str, value: float) -> float:
    """Raises CapsExplorerError naming a transform that does not exist or a value out of range."""
    if transform not in TRANSFORMS:
        raise CapsExplorerError(f"unknown transform {transform!r}; choose one of {', '.join(TRANSFORMS)}")
    value = float(value)
    low, high = LIMITS[transform]
    if not math.isfinite(value) or not low <= value <= high:
        raise CapsExplorerError(f"{transform} must be from {low:g} to {high:g}{UNITS[transform]}, got {value:g}")
    return value


def apply(image, transform: str, value: float) -> np.ndarray:
    """One transform of a square image in [0, 1] (28×28, or a model's own size) → float32, the same size."""
    return apply_all(image, {transform: value})


def apply_all(image, settings: dict[str, float]) -> np.ndarray:
    """Several transforms at once (the probe's sliders): the stroke thickness first, then one affine
    map composed of scale, shear, rotation and shift, in that order."""
    x = _as_image(image)
    settings = {name: check(name, value) for name, value in settings.items()}
    thickness = settings.get("thickness", 0.0)
    if thickness:
        x = thicken(x[None], np.array([thickness]))[0]
    matrix = affine_matrix(settings, x.shape[-1])
    if not np.allclose(matrix, np.eye(3)):
        x = warp(x[None], matrix[None])[0]
    return x


def sweep_images(image, transform: str, values) -> np.ndarray:
    """(S, H, H): the image (H, H) under one transform at each of `values`, vectorised."""
    x = _as_image(image)
    values = np.array([check(transform, v) for v in np.asarray(values, dtype=np.float64).ravel()])
    if transform == "thickness":
        return thicken(np.repeat(x[None], len(values), 0), values)
    matrices = np.stack([affine_matrix({transform: v}, x.shape[-1]) for v in values]) if len(values) else np.zeros((0, 3, 3))
    return warp(np.repeat(x[None], len(values), 0), matrices)


def affine_matrix(settings: dict[str, float], size: int = SIZE) -> np.ndarray:
    """(3, 3) forward map in pixel coordinates (x right, y down) about the centre of a size×size image:
    shift · rotate · shear · scale."""
    scale = settings.get("scale", 1.0)
    return compose(settings.get("rotate", 0.0), math.tan(math.radians(settings.get("shear", 0.0))), scale, scale,
                   settings.get("shift-x", 0.0), settings.get("shift-y", 0.0), centre=(size - 1) / 2.0)


def compose(rotate_deg: float = 0.0, shear: float = 0.0, scale_x: float = 1.0, scale_y: float = 1.0,
            shift_x: float = 0.0, shift_y: float = 0.0, centre: float = CENTRE) -> np.ndarray:
    """(3, 3) shift · rotate · shear · scale about the image centre; `shear` is the factor (tan of the
    angle): rows below the centre move right."""
    angle = math.radians(rotate_deg)
    c, s = math.cos(angle), math.sin(angle)
    # Counter-clockwise on screen with y pointing down: (x, y) → (x cos + y sin, −x sin + y cos).
    rotate = np.array([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]])
    shear_m = np.array([[1.0, shear, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    scale_m = np.diag([scale_x, scale_y, 1.0])
    to_centre = np.array([[1.0, 0.0, -centre], [0.0, 1.0, -centre], [0.0, 0.0, 1.0]])
    back = np.array([[1.0, 0.0, centre + shift_x], [0.0, 1.0, centre + shift_y], [0.0, 0.0, 1.0]])
    return back @ rotate @ shear_m @ scale_m @ to_centre


def _as_image(image) -> np.ndarray:
    x = np.asarray(image.detach().cpu().numpy() if hasattr(image, "detach") else image, dtype=np.float32)
    x = np.squeeze(x)
    if x.ndim != 2 or x.shape[0] != x.shape[1] or not 8 <= x.shape[0] <= 128:
        raise CapsExplorerError(f"expected a square network input (28×28, or the model's own size), "
                                f"got shape {x.shape}")
    if not np.isfinite(x).all():
        raise CapsExplorerError("the image contains NaN or infinite values")
    return x


def warp(images: np.ndarray, matrices: np.ndarray) -> np.ndarray:
    """Bilinear, zero-filled: each output pixel samples the input where the inverse map sends it.
    images (S, H, H), matrices (S, 3, 3) → (S, H, H)."""
    count, size = images.shape[0], images.shape[-1]
    if count == 0:
        return images.astype(np.float32)
    inverse = np.linalg.inv(matrices)  # (S, 3, 3)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)
    points = np.stack([xs.ravel(), ys.ravel(), np.ones(size * size)])  # (3, H·H)
    source = inverse @ points  # (S, 3, H·H)
    sx, sy = source[:, 0], source[:, 1]  # (S, H·H)
    sx = np.where(np.abs(sx - np.round(sx)) < 1e-9, np.round(sx), sx)  # exact on the pixel grid
    sy = np.where(np.abs(sy - np.round(sy)) < 1e-9, np.round(sy), sy)
    x0, y0 = np.floor(sx).astype(np.int64), np.floor(sy).astype(np.int64)
    fx, fy = sx - x0, sy - y0
    padded = np.zeros((count, size + 2, size + 2), np.float64)  # one pixel of zeros around
    padded[:, 1:-1, 1:-1] = images
    batch = np.arange(count)[:, None]

    def pick(y, x):
        inside = (y >= -1) & (y <= size) & (x >= -1) & (x <= size)
        value = padded[batch, np.clip(y + 1, 0, size + 1), np.clip(x + 1, 0, size + 1)]
        return np.where(inside, value, 0.0)

    out = (pick(y0, x0) * (1 - fx) * (1 - fy) + pick(y0, x0 + 1) * fx * (1 - fy)
           + pick(y0 + 1, x0) * (1 - fx) * fy + pick(y0 + 1, x0 + 1) * fx * fy)
    return np.clip(out.reshape(count, size, size), 0.0, 1.0).astype(np.float32)


def _morph(images: np.ndarray, grow: bool) -> np.ndarray:
    """One step of greyscale dilation (grow) or erosion over a 3×3 cross: about one pixel a side."""
    fill = 0.0 if grow else 1.0
    padded = np.pad(images, ((0, 0), (1, 1), (1, 1)), constant_values=fill)
    stack = np.stack([padded[:, 1:-1, 1:-1], padded[:, :-2, 1:-1], padded[:, 2:, 1:-1],
                      padded[:, 1:-1, :-2], padded[:, 1:-1, 2:]])
    return stack.max(0) if grow else stack.min(0)


def thicken(images: np.ndarray, amounts: np.ndarray) -> np.ndarray:
    """+t dilates, −t erodes, by t steps of one pixel; a fraction blends the two nearest steps.
    images (S, 28, 28), amounts (S,) → (S, 28, 28)."""
    out = np.empty_like(images, dtype=np.float32)
    for k, (image, amount) in enumerate(zip(images, amounts)):
        steps = int(math.floor(abs(amount)))
        fraction = abs(amount) - steps
        current = image[None].astype(np.float32)
        for _ in range(steps):
            current = _morph(current, amount > 0)
        if fraction > 0:
            current = (1 - fraction) * current + fraction * _morph(current, amount > 0)
        out[k] = current[0]
    return out
