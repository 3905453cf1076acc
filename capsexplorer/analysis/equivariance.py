"""Equivariance, measured (Sabour et al. 2017, §1 and §5.1: a capsule's pose should follow a change of
viewpoint while its length, the probability of the entity, holds). On held-out digits, for each transform
the probe offers, at values other than the identity:

- length change: the mean over digits of ‖v_y(T x)‖ / ‖v_y(x)‖ − 1 for the true class y; for the CNN the
  same ratio of its probability of y;
- read-out R²: how much of the transform's value a ridge regression recovers from the change of the true
  class's pose, Δp = v_y(T x) − v_y(x), fitted on half of the digits and scored on the other half; for the
  CNN from the change of its penultimate features reduced to as many dimensions (their top 16 principal
  components, fitted on the untransformed digits of the fitting half);
- alignment: the mean cosine between the Δp of different digits of one class at one value — whether a
  transform moves every digit's pose the same way ("a pose dimension for rotation", measurably).
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from capsexplorer.analysis.robustness import transformed
from capsexplorer.data import transforms
from capsexplorer.data.datasets import Split
from capsexplorer.net.inference import as_images, map_batches
from capsexplorer.progress_events import run_steps

# The values each transform is measured at: uniform steps on both sides, the identity left out.
VALUES = {
    "rotate": (-45, -30, -15, 15, 30, 45),
    "shift-x": (-3, -2, -1, 1, 2, 3),
    "shift-y": (-3, -2, -1, 1, 2, 3),
    "scale": (0.7, 0.8, 0.9, 1.1, 1.2, 1.3),
    "shear": (-30, -20, -10, 10, 20, 30),
    "thickness": (-1, -0.5, 0.5, 1, 1.5, 2),
}
LIMIT = 300  # digits measured by default: about 2 minutes on a 2-core CPU (benchmarks/bench_equivariance.py)
COMPONENTS = 16  # the CNN's features reduced to as many dimensions as a pose has
ALPHA = 1.0  # the ridge penalty, on standardised features
BATCH = 250


def subset(split: Split, limit: int | None, seed: int = 0) -> Split:
    """`limit` digits of `split` chosen by a seeded permutation, in their original order (all without one)."""
    if limit is None or limit >= len(split):
        return split
    keep = np.sort(np.random.default_rng(seed).permutation(len(split))[:limit])
    return Split(split.images[keep], split.labels[keep])


def halves(count: int, seed: int = 0) -> np.ndarray:
    """(count,) bool: the digits the read-out is fitted on (a seeded half); the rest score it."""
    fit = np.zeros(count, bool)
    fit[np.random.default_rng(seed).permutation(count)[:count // 2]] = True
    return fit


# --- the statistics, on plain numpy ---------------------------------------------------------------------------
def fit_ridge(features: np.ndarray, targets: np.ndarray, alpha: float = ALPHA) -> tuple[np.ndarray, float]:
    """Ridge regression in closed form on standardised features (M, D) → targets (M,); returns the
    weights (D,) and intercept for the raw features: prediction = features @ weights + intercept."""
    features = np.asarray(features, np.float64)
    mean, scale = features.mean(0), features.std(0)  # (D,)
    scale = np.where(scale > 1e-12, scale, 1.0)
    z = (features - mean) / scale  # (M, D)
    target_mean = float(np.mean(targets))
    w = np.linalg.solve(z.T @ z + alpha * np.eye(z.shape[1]), z.T @ (np.asarray(targets, np.float64) - target_mean))
    weights = w / scale  # (D,)
    return weights, target_mean - float(mean @ weights)


def r2(targets: np.ndarray, predicted: np.ndarray) -> float:
    """The coefficient of determination, 1 − SS_res / SS_tot: 1 perfect, 0 no better than the mean,
    negative worse than it (reported as it is)."""
    targets = np.asarray(targets, np.float64)
    total = float(((targets - targets.mean()) ** 2).sum())
    return 1.0 - float(((targets - predicted) ** 2).sum()) / total if total > 0 else float("nan")


def readout(deltas: np.ndarray, values, fit: np.ndarray, alpha: float = ALPHA) -> tuple[np.ndarray, float, float]:
    """deltas (V, N, D) — each digit's change at each value — fitted to the value on the digits where `fit`
    (N,) holds, pooled over values: → weights (D,), intercept and R² on the other digits."""
    _, count, dims = deltas.shape
    target = np.repeat(np.asarray(values, np.float64)[:, None], count, 1)  # (V, N)
    weights, intercept = fit_ridge(deltas[:, fit].reshape(-1, dims), target[:, fit].ravel(), alpha)
    held = deltas[:, ~fit].reshape(-1, dims)  # (V·N', D)
    return weights, intercept, r2(target[:, ~fit].ravel(), held @ weights + intercept)


def readout_per_class(deltas: np.ndarray, values, fit: np.ndarray, labels: np.ndarray, alpha: float = ALPHA
                      ) -> tuple[list, float]:
    """One read-out per class (each class capsule has its own pose coordinates): → [(weights, intercept), or
    None for a class with fewer than 2 digits to fit or none to score] and the R² of all of them together
    on the digits not fitted."""
    fits, targets, predicted = [], [], []
    for c in range(int(labels.max()) + 1 if len(labels) else 0):
        mine = labels == c
        if (mine & fit).sum() < 2 or not (mine & ~fit).any():
            fits.append(None)
            continue
        weights, intercept, _ = readout(deltas[:, mine], values, fit[mine], alpha)
        held = deltas[:, mine & ~fit]  # (V, n, D)
        fits.append((weights, intercept))
        predicted.append(held.reshape(-1, held.shape[2]) @ weights + intercept)
        targets.append(np.repeat(np.asarray(values, np.float64)[:, None], held.shape[1], 1).ravel())
    score = r2(np.concatenate(targets), np.concatenate(predicted)) if targets else float("nan")
    return fits, score


def alignment(deltas: np.ndarray, labels: np.ndarray) -> float:
    """The mean cosine between the changes (N, D) of every two different digits of a class, averaged over
    the classes weighted by their count. With unit vectors u_i, Σ_{i≠j} u_i·u_j = ‖Σ u_i‖² − n. Changes of
    length 0 have no direction and are left out; NaN when no class has two."""
    norms = np.linalg.norm(deltas, axis=1)  # (N,)
    keep = norms > 1e-12
    units, labels = deltas[keep] / norms[keep, None], np.asarray(labels)[keep]  # (N', D)
    total, weight = 0.0, 0
    for c in np.unique(labels):
        u = units[labels == c]
        n = len(u)
        if n >= 2:
            total += n * (float(np.sum(u.sum(0) ** 2)) - n) / (n * (n - 1))
            weight += n
    return total / weight if weight else float("nan")


def relative_change(moved: np.ndarray, plain: np.ndarray, average=np.mean) -> np.ndarray:
    """moved (V, N) / plain (N,) − 1, averaged over the digits (the mean, or e.g. np.median) → (V,); digits
    whose plain value is 0 left out."""
    keep = plain > 0
    if not keep.any():
        return np.full(len(moved), np.nan)
    return average(moved[:, keep] / plain[None, keep], axis=1) - 1.0


def principal_components(features: np.ndarray, count: int = COMPONENTS) -> np.ndarray:
    """(count, F): the top principal directions of features (N, F)."""
    centred = features - features.mean(0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)  # (min(N, F), F)
    return vt[:count]


def capsnet_figures(values, labels, pose, moved, fit, alpha: float = ALPHA) -> dict:
    """One transform, the CapsNet: pose (N, 16) untransformed, moved (V, N, 16) at each value. `readout` is
    fitted on all classes together; `readout_per_class` one per class (None where too few digits)."""
    delta = moved - pose[None]  # (V, N, 16)
    weights, intercept, score = readout(delta, values, fit, alpha)
    fits, per_class = readout_per_class(delta, values, fit, labels, alpha)
    length, plain = np.linalg.norm(moved, axis=2), np.linalg.norm(pose, axis=1)  # (V, N), (N,)
    return {"length_change": _list(relative_change(length, plain)),
            "length_change_median": _list(relative_change(length, plain, np.median)),
            "readout_r2": _num(score),
            "readout_r2_per_class": _num(per_class),
            "alignment": _list([alignment(d, labels) for d in delta]),
            "readout": _fit(weights, intercept),
            "readout_per_class": [None if f is None else _fit(*f) for f in fits]}


def cnn_figures(values, labels, features, moved, probability, moved_probability, fit, components,
                alpha: float = ALPHA) -> dict:
    """One transform, the CNN: features (N, F) and probability of the true class (N,) untransformed,
    moved (V, N, F) and moved_probability (V, N) at each value; components (16, F)."""
    delta = moved - features[None]  # (V, N, F)
    reduced = delta @ components.T  # (V, N, 16)
    return {"probability_change": _list(relative_change(moved_probability, probability)),
            "probability_change_median": _list(relative_change(moved_probability, probability, np.median)),
            "readout_r2": _num(readout(reduced, values, fit, alpha)[2]),
            "readout_r2_per_class": _num(readout_per_class(reduced, values, fit, labels, alpha)[1]),
            "readout_r2_all_features": _num(readout(delta, values, fit, alpha)[2]),
            "alignment": _list([alignment(d, labels) for d in reduced])}


def read_out(result: dict, transform: str, delta_pose, cls: int | None = None) -> float | np.ndarray:
    """The transform's value read from a capsule's pose change Δp (16,) — or (B, 16) → (B,) — with the
    read-out fitted for `transform`: class `cls`'s own where given and fitted, else the one for all classes.
    `result` is `measure`'s result, or one {"weights", "intercept"} read-out."""
    if "weights" in result:
        fit = result
    else:
        row = result["transforms"][transform]["capsnet"]
        own = row.get("readout_per_class", [])
        fit = own[cls] if cls is not None and 0 <= cls < len(own) and own[cls] is not None else row["readout"]
    value = np.asarray(delta_pose, np.float64) @ np.asarray(fit["weights"]) + fit["intercept"]
    return float(value) if np.ndim(value) == 0 else value


def readout_words(result: dict, transform: str, value: float, delta_pose, cls: int | None = None) -> str:
    """What the pose "sees" of a transform, in words, e.g. "rotate +30°: read from the pose +24° (R² 0.63 over
    the held-out digits, a read-out per class)": the fitted read-out applied to one pose change Δp (16,)."""
    row = result["transforms"][transform]
    unit = transforms.UNITS.get(transform, "")
    own = cls is not None and cls < len(row["capsnet"].get("readout_per_class") or []) \
        and row["capsnet"]["readout_per_class"][cls] is not None
    seen = read_out(result, transform, delta_pose, cls if own else None)
    r2 = row["capsnet"]["readout_r2_per_class" if own else "readout_r2"]
    fitted = [float(v) for v in row["values"]]
    beyond = "" if min(fitted) <= value <= max(fitted) else \
        f"; fitted on {min(fitted):g} … {max(fitted):g}{unit} only, so this is an extrapolation"
    say = (lambda v: f"×{v:.3g}") if transform == "scale" else (lambda v: f"{v:+.3g}{unit}")  # noqa: E731
    cnn = row.get("cnn") or {}
    cnn_r2 = cnn.get("readout_r2_per_class" if own else "readout_r2")
    versus = f"; the CNN's features, cut to 16 components, R² {cnn_r2:.2f}" if cnn_r2 is not None else ""
    return (f"{transform} {say(value)}: read from the pose {say(seen)} (read-out R² {r2:.2f} over "
            f"{result['n'] // 2} held-out digits{', one per class' if own else ''}{versus}{beyond})")


# --- running the models ----------------------------------------------------------------------------------------
def _true_poses(capsnet, images: np.ndarray, labels: np.ndarray, iterations: int) -> np.ndarray:
    """(B, 16) the routed pose of each image's true class."""
    poses = capsnet.poses(images, iterations)  # (B, 10, 16)
    return poses[np.arange(len(images)), labels]


def _cnn_outputs(cnn, images: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(B, F) penultimate features and (B,) the probability of the true class (run in map_batches)."""
    features = cnn.features(as_images(images, cnn.device))  # (B, 192)
    probabilities = torch.softmax(cnn.fc3(features), dim=1).float().cpu().numpy()  # (B, 10)
    return features.float().cpu().numpy(), probabilities[np.arange(len(images)), labels]


@dataclass(frozen=True)
class Responses:
    """What the models answered, per condition (transform, value); (None, None) is the untransformed input."""
    labels: np.ndarray  # (N,) the true classes
    poses: dict  # condition → (N, 16) the true class's routed pose
    features: dict  # condition → (N, F) the CNN's penultimate features (empty without a CNN)
    probability: dict  # condition → (N,) the CNN's probability of the true class


def collect_steps(capsnet, cnn, split: Split, iterations: int = 3, batch: int = BATCH, values: dict = VALUES):
    """Generator: runs both models on every condition a batch at a time, yielding (done, total) batches;
    returns the Responses. `cnn` may be None."""
    if len(split) < 2:
        raise ValueError(f"the read-out needs digits to fit and others to score: at least 2, got {len(split)}")
    images = split.images.astype(np.float32) / (255.0 if split.images.dtype == np.uint8 else 1.0)
    labels = np.asarray(split.labels)
    count = len(images)
    conditions = [(None, None)] + [(t, v) for t in values for v in values[t]]
    total = len(conditions) * -(-count // batch) * (2 if cnn is not None else 1)
    done = 0
    yield done, total
    found = Responses(labels, {}, {}, {})
    for condition in conditions:
        transform, value = condition
        inputs = images if transform is None else transformed(images, transform, value)  # (N, 28, 28)
        parts = []
        for part in map_batches(capsnet, lambda x, y: _true_poses(capsnet, x, y, iterations), inputs, labels,
                                batch=batch):
            parts.append(part)
            done += 1
            yield done, total
        found.poses[condition] = np.concatenate(parts).astype(np.float64)  # (N, 16)
        if cnn is None:
            continue
        parts = []
        for part in map_batches(cnn, lambda x, y: _cnn_outputs(cnn, x, y), inputs, labels, batch=batch):  # dropout off
            parts.append(part)
            done += 1
            yield done, total
        found.features[condition] = np.concatenate([f for f, _ in parts]).astype(np.float64)  # (N, F)
        found.probability[condition] = np.concatenate([p for _, p in parts]).astype(np.float64)  # (N,)
    return found


def summarise(found: Responses, values: dict = VALUES, seed: int = 0, alpha: float = ALPHA) -> dict:
    """The figures of every transform from the models' responses (see the module's docstring)."""
    labels, count = found.labels, len(found.labels)
    fit = halves(count, seed)
    plain = (None, None)
    components = principal_components(found.features[plain][fit]) if found.features else None
    result: dict = {"n": count, "seed": seed, "alpha": alpha,
                    "readout": "ridge regression from the change of the true class's 16-D pose (the CNN: of its "
                               f"penultimate features' top {COMPONENTS} principal components), one per transform "
                               f"for all classes, fitted on {int(fit.sum())} digits, R² on the other "
                               f"{count - int(fit.sum())}",
                    "transforms": {}}
    if found.features:
        result["cnn_features"] = int(found.features[plain].shape[1])
    for transform, vals in values.items():
        row: dict = {"values": [float(v) for v in vals], "unit": transforms.UNITS[transform]}
        moved = np.stack([found.poses[transform, v] for v in vals])  # (V, N, 16)
        row["capsnet"] = capsnet_figures(vals, labels, found.poses[plain], moved, fit, alpha)
        if found.features:
            features = np.stack([found.features[transform, v] for v in vals])  # (V, N, F)
            probability = np.stack([found.probability[transform, v] for v in vals])  # (V, N)
            row["cnn"] = cnn_figures(vals, labels, found.features[plain], features, found.probability[plain],
                                     probability, fit, components, alpha)
        result["transforms"][transform] = row
    return result


def measure_steps(capsnet, cnn, split: Split, iterations: int = 3, seed: int = 0, batch: int = BATCH,
                  values: dict = VALUES, alpha: float = ALPHA):
    """Generator: yields (done, total) batches as it goes and returns `measure`'s result, so that the
    explorer's worker can answer the user, or stop, between any two batches. `cnn` may be None."""
    start = time.perf_counter()
    found = yield from collect_steps(capsnet, cnn, split, iterations, batch, values)
    result = summarise(found, values, seed, alpha)
    result["iterations"] = iterations
    result["seconds"] = round(time.perf_counter() - start, 1)
    return result


def measure(capsnet, cnn, split: Split, iterations: int = 3, seed: int = 0, progress=None) -> dict:
    """{"n", "transforms": {transform: {"values", "capsnet": {"length_change", "readout_r2", "alignment",
    "readout"}, "cnn": {"probability_change", "readout_r2", …}}}, "seconds", …}; `progress(done, total)`
    is called after every batch."""
    return run_steps(measure_steps(capsnet, cnn, split, iterations, seed), progress)


def plot(result: dict, path) -> None:
    """Six small panels, the median relative change of the CapsNet's length (orange) and of the CNN's
    probability (blue) against each transform's value — the median, as a few digits whose untransformed
    probability is near 0 dominate the mean — each panel naming the read-outs' R² and the mean alignment."""
    from PIL import Image, ImageDraw

    from capsexplorer.analysis.render import save_png, text_font

    colours = {"capsnet": (230, 120, 0), "cnn": (40, 110, 200)}
    keys = {"capsnet": "length_change_median", "cnn": "probability_change_median"}  # a mean meets outliers
    width, height, pad = 280, 240, 40
    canvas = Image.new("RGB", (3 * width, 2 * height + 40), "white")
    draw = ImageDraw.Draw(canvas)
    font = text_font()
    changes = [c for row in result["transforms"].values() for name, key in keys.items() if name in row
               for c in row[name][key] if c is not None]
    low, high = max(-1.0, min([-0.2] + changes)), min(1.0, max([0.1] + changes))
    grey = (60, 60, 60)
    for k, (transform, row) in enumerate(result["transforms"].items()):
        ox, oy = (k % 3) * width, (k // 3) * height
        x0, y0, x1, y1 = ox + pad, oy + 64, ox + width - 10, oy + height - 24
        draw.rectangle((x0, y0, x1, y1), outline=(180, 180, 180))
        unit = transforms.UNITS[transform].replace("×", "factor").replace("°", " deg")  # the default font lacks them
        draw.text((x0, oy + 4), f"{transform} ({unit.strip()})", fill="black", font=font)
        caps, cnn = row["capsnet"], row.get("cnn")
        for line, key in ((1, "readout_r2"), (2, "readout_r2_per_class")):
            draw.text((x0, oy + 4 + 14 * line), f"R2 {'all classes' if line == 1 else 'per class'}: capsnet "
                      f"{_text(caps[key])}" + (f", cnn {_text(cnn[key])}" if cnn else ""), fill=grey, font=font)
        mean_alignment = np.nanmean([a if a is not None else np.nan for a in caps["alignment"]])
        draw.text((x0, oy + 46), f"pose alignment {_text(mean_alignment)}", fill=grey, font=font)
        identity = transforms.IDENTITY[transform]
        values = sorted(row["values"] + [identity])
        to_x = lambda v: x0 + (x1 - x0) * (v - values[0]) / ((values[-1] - values[0]) or 1)  # noqa: E731
        to_y = lambda c: y1 - (y1 - y0) * (min(max(c, low), high) - low) / (high - low)  # noqa: E731
        draw.line((x0, to_y(0.0), x1, to_y(0.0)), fill=(200, 200, 200))
        for c in sorted({low, 0.0, high}):
            draw.text((ox + 2, to_y(c) - 6), f"{c:+.0%}", fill=(110, 110, 110), font=font)
        for v in values[::2]:
            draw.text((to_x(v) - 8, y1 + 4), f"{v:g}", fill=(110, 110, 110), font=font)
        for name, key in keys.items():
            if name not in row:
                continue
            found = {**dict(zip(row["values"], row[name][key])), identity: 0.0}  # untransformed: no change
            points = [(to_x(v), to_y(found[v])) for v in values if found[v] is not None]
            if len(points) > 1:
                draw.line(points, fill=colours[name], width=2)
    draw.text((8, 2 * height + 12), f"median relative change over {result['n']} held-out digits: capsnet length of "
              "the true class (orange), cnn probability of it (blue)", fill="black", font=font)
    save_png(canvas, path)


def _text(value) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.2f}"


def _fit(weights: np.ndarray, intercept: float) -> dict:
    return {"weights": [float(f"{w:.7g}") for w in weights], "intercept": float(f"{intercept:.7g}")}


def _num(value: float, digits: int = 4) -> float | None:
    return round(float(value), digits) if np.isfinite(value) else None


def _list(values, digits: int = 4) -> list:
    return [_num(v, digits) for v in values]
