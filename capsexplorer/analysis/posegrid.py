"""The paper's Figure 4 for one digit capsule: each of its 16 pose dimensions perturbed over a range
(−0.25 to +0.25 in 0.05 steps in Sabour et al. 2017; here by default ±2σ of the class's own training
poses, see capsexplorer.analysis.pose_stats) and decoded, and each dimension named by what
it measurably does to the reconstruction — from image moments, not by eye."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DIMENSIONS = 16
# What a reader would call a visible change over the whole range of a row, per measure.
VISIBLE = {"centroid_x": 1.0, "centroid_y": 1.0, "orientation": 10.0, "size": 1.0, "aspect": 0.15, "stroke": 0.2,
           "slant": 0.25}
# Width, height and mass all grow with size: a dimension is named from these near-independent
# measures (size, aspect ratio, stroke), while the effects report all of them.
NAMED = tuple(VISIBLE)
ROUND = 0.2  # below this elongation the principal axis, and so the orientation, is ill-defined
WORDS = {"centroid_x": ("shifts right", "shifts left"), "centroid_y": ("shifts down", "shifts up"),
         "orientation": ("turns counter-clockwise", "turns clockwise"), "size": ("larger", "smaller"),
         "aspect": ("wider, not taller", "narrower, not shorter"), "stroke": ("thicker strokes", "thinner strokes"),
         "slant": ("slants right", "slants left")}
EFFECT_UNITS = {"centroid_x": "px right", "centroid_y": "px down", "orientation": "degrees counter-clockwise",
                "mass": "relative ink", "width": "px", "height": "px", "slant": "px right per px up", "size": "px",
                "aspect": "log(width/height)", "stroke": "relative ink per size"}
DOMINANCE = 1.5  # the top effect must be this many times the next to name the dimension


@dataclass(frozen=True)
class PoseGrid:
    digit: int
    pose: np.ndarray  # (16,) the pose perturbed
    offsets: np.ndarray  # (steps,) the columns: added to one dimension at a time — in `sigma`s where it is given
    grid: np.ndarray  # (16, steps, 28, 28): grid[k, s] decodes pose + dimension_offsets()[k, s]·e_k
    sigma: np.ndarray | None = None  # (16,) each dimension's spread over the class's training poses ("data" range)

    def dimension_offsets(self) -> np.ndarray:
        """(16, steps) what grid[k, s] adds to dimension k: offsets[s], or offsets[s]·sigma[k]."""
        return row_offsets(self.offsets, self.sigma, self.grid.shape[0])

    def labels(self) -> list[dict]:
        """For each dimension: `effects` (each measure's change per unit of the dimension: pixels,
        degrees counter-clockwise, relative mass, slant, …), `salience` (each named measure's change over
        the row in just-visible changes, strongest first) and a `label` naming the most salient effect when
        it dominates (or the two that stand out together), "mixed" when none does, or "little effect"."""
        rows = []
        for k, row in enumerate(self.dimension_offsets()):
            span = float(row.max() - row.min())
            measures = moments(self.grid[k])  # name → (steps,)
            elongation = measures.pop("elongation")
            effects = {name: float(np.polyfit(row, values, 1)[0]) if span > 0 else 0.0
                       for name, values in measures.items()}
            span = span or 1.0
            round_shape = elongation.min() < ROUND  # a blob at any step: its axis, and so its turn, is noise
            salience = sorted(((abs(effects[name]) * span / VISIBLE[name], name) for name in NAMED
                               if name != "orientation" or not round_shape), reverse=True)
            if round_shape:
                effects["orientation"] = None  # a round shape has no principal axis to turn
            (top, name), (second, other), (third, _) = salience[:3]
            word = lambda n: WORDS[n][0 if effects[n] > 0 else 1]  # noqa: E731
            if top < 1.0:
                label = "little effect"
            elif top >= DOMINANCE * second:
                label = word(name)
            elif second >= 1.0 and second >= DOMINANCE * third:  # two effects together, e.g. larger and bolder
                label = f"{word(name)}, {word(other)}"
            else:
                label = f"mixed (most: {word(name)})"  # no effect dominates; the strongest still said
            rows.append({"index": k, "dimension": k + 1, "label": label, "effects": effects,
                         # each named measure's change over the row in just-visible changes (VISIBLE): what
                         # decides the name, strongest first — the tooltip lists the same figures
                         "salience": {name: value for value, name in salience}})
        return rows

    def arrays(self) -> dict[str, np.ndarray]:
        arrays = {"grid": self.grid, "offsets": self.offsets, "pose": self.pose, "digit": np.asarray(self.digit),
                  "dimension_offsets": self.dimension_offsets()}
        if self.sigma is not None:
            arrays["sigma"] = np.asarray(self.sigma, np.float32)
        return arrays


def read_as(model, grid: PoseGrid, iterations: int | None = None) -> np.ndarray:
    """(dims, steps) the class the network itself reads in each tile's reconstruction: where a row stops
    being its digit (at ±2σ some do), said from the network's answer, not by eye."""
    from capsexplorer.net.inference import score_batches

    dims, steps, size, _ = grid.grid.shape
    images = np.clip(grid.grid.reshape(-1, size, size), 0.0, 1.0).astype(np.float32)
    scores = np.concatenate(list(score_batches(model, images, iterations)))  # (dims·steps, classes)
    return scores.argmax(axis=1).reshape(dims, steps)


def offsets(span: float = 0.25, steps: int = 11) -> np.ndarray:
    """(steps,) evenly from −span to +span; an odd count puts 0 in the middle."""
    return np.linspace(-span, span, steps).astype(np.float32)


def pose_grid(model, pose, digit: int, span: float = 0.25, steps: int = 11, sigma=None) -> PoseGrid:
    """All 16 × steps reconstructions in one decoder batch: each dimension perturbed by −span … +span —
    or, given each dimension's spread `sigma` (16,) over the class's training poses, by −span·σ … +span·σ
    (see capsexplorer.analysis.pose_stats: the "data" range is span 2)."""
    dims, size = model.config.digit_dim, model.config.image_size  # 16 and 28 in the paper
    pose = np.asarray(pose, dtype=np.float32).reshape(dims)
    sigma = None if sigma is None else np.asarray(sigma, dtype=np.float32).reshape(dims)
    columns = offsets(span, steps)
    deltas = row_offsets(columns, sigma, dims)  # (16, steps)
    poses = np.repeat(pose[None, None], dims, 0).repeat(steps, 1)  # (16, steps, 16)
    poses[np.arange(dims)[:, None], np.arange(steps)[None], np.arange(dims)[:, None]] += deltas
    images = model.reconstruct(poses.reshape(-1, dims), np.full(dims * steps, int(digit))).numpy()
    return PoseGrid(int(digit), pose, columns, images.reshape(dims, steps, size, size), sigma)


def row_offsets(columns: np.ndarray, sigma, dims: int) -> np.ndarray:
    """(dims, steps): the columns' offsets (steps,), each row scaled by its dimension's sigma where given."""
    scale = np.ones(dims, np.float32) if sigma is None else np.asarray(sigma, np.float32)
    return (scale[:, None] * columns[None]).astype(np.float32)


def moments(images: np.ndarray) -> dict[str, np.ndarray]:
    """Image moments of (N, 28, 28) greyscale images (x right, y down) → each measure (N,):
    centroid x/y (px), orientation of the principal axis (degrees, counter-clockwise on screen),
    mass (relative to the row's mean), width and height (2 standard deviations, px), slant (how
    far the ink moves right per pixel upwards), size (the ink ellipse's mean diameter, px), aspect
    (log width / height), stroke (mass per size, relative), and elongation (0 round … 1 a line)."""
    ys, xs = np.mgrid[0:images.shape[1], 0:images.shape[2]].astype(np.float64)
    weights = np.clip(images.astype(np.float64), 0, None)
    mass = weights.sum(axis=(1, 2)) + 1e-9
    cx = (weights * xs).sum(axis=(1, 2)) / mass
    cy = (weights * ys).sum(axis=(1, 2)) / mass
    dx, dy = xs[None] - cx[:, None, None], ys[None] - cy[:, None, None]
    mu20 = (weights * dx * dx).sum(axis=(1, 2)) / mass
    mu02 = (weights * dy * dy).sum(axis=(1, 2)) / mass
    mu11 = (weights * dx * dy).sum(axis=(1, 2)) / mass
    angle = 0.5 * np.degrees(np.arctan2(2 * mu11, mu20 - mu02))  # clockwise on screen (y down)
    orientation = np.unwrap(-angle, period=180.0)  # an axis: 89° and −89° are 2° apart
    elongation = np.sqrt((mu20 - mu02) ** 2 + 4 * mu11 ** 2) / (mu20 + mu02 + 1e-9)  # 0 round … 1 a line
    width, height = 2 * np.sqrt(mu20), 2 * np.sqrt(mu02)
    size = 2 * np.sqrt(np.sqrt(np.clip(mu20 * mu02 - mu11 ** 2, 1e-9, None)))  # of the ink's ellipse, px
    relative_mass = mass / mass.mean()
    stroke = relative_mass / (size / size.mean())  # ink per unit of size: the stroke's weight
    return {"centroid_x": cx, "centroid_y": cy, "orientation": orientation, "mass": relative_mass,
            "width": width, "height": height, "slant": -mu11 / (mu02 + 1e-9), "size": size,
            "aspect": np.log(width / np.maximum(height, 1e-9)), "stroke": stroke, "elongation": elongation}
