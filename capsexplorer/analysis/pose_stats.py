"""Where each class's poses really lie: per class, the mean, standard deviation and histogram of every
pose dimension of its capsule over the model's training images (the pose of each image's true class).
The paper's Figure 4 perturbs every dimension by the same ±0.25 (Sabour et al. 2017, §5.1); a dimension
that varies by ±0.02 over real digits then runs far off the data while another barely moves — ±2σ of the
class's own spread shows each dimension over the range its digits use."""
from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from capsexplorer.data.datasets import FASHION_DIRS, Split, load_idx_dataset, mnist5k, model_samples
from capsexplorer.errors import DataError
from capsexplorer.net.inference import map_batches
from capsexplorer.progress_events import run_steps

BINS = 24  # histogram bins per class and dimension, from mean − 3σ to mean + 3σ
EDGE_SIGMAS = 3.0
SIGMAS = 2.0  # the "data" range: ±2σ
PAPER_SPAN = 0.25  # the "paper" range: ±0.25 (Figure 4)
RANGES = ("data", "paper")
PER_CLASS = 1000  # at most this many training images of a class (a seeded choice): ~10,000 for 10 classes
BATCH = 250


@dataclass(frozen=True)
class PoseStats:
    """Per class c and pose dimension k, over the class's training images."""

    source: str  # which images, in words (and how many of how many)
    counts: np.ndarray  # (C,) images of each class
    mean: np.ndarray  # (C, 16)
    std: np.ndarray  # (C, 16) population standard deviation
    minimum: np.ndarray  # (C, 16)
    maximum: np.ndarray  # (C, 16)
    histogram: np.ndarray  # (C, 16, BINS) counts over edges(c, k); values beyond them in the end bins
    iterations: int = 3  # routing iterations of the poses

    @property
    def low(self) -> np.ndarray:
        """(C, 16) the histograms' first edge: mean − 3σ."""
        return self.mean - EDGE_SIGMAS * self.std

    @property
    def high(self) -> np.ndarray:
        """(C, 16) the histograms' last edge: mean + 3σ."""
        return self.mean + EDGE_SIGMAS * self.std

    def edges(self, cls: int, dim: int) -> np.ndarray:
        """(BINS + 1,) the bin edges of class `cls`'s histogram of dimension `dim`."""
        return np.linspace(self.low[cls, dim], self.high[cls, dim], self.histogram.shape[2] + 1)

    def to_json(self) -> dict:
        rounded = lambda a: np.vectorize(lambda v: float(f"{v:.6g}"), otypes=[float])(a).tolist()  # noqa: E731
        return {"source": self.source, "iterations": self.iterations, "bins": int(self.histogram.shape[2]),
                "edges": f"mean ± {EDGE_SIGMAS:g} std, beyond them in the end bins",
                "counts": self.counts.tolist(), "mean": rounded(self.mean), "std": rounded(self.std),
                "min": rounded(self.minimum), "max": rounded(self.maximum), "histogram": self.histogram.tolist()}

    @classmethod
    def from_json(cls, data: dict) -> PoseStats:
        """From `to_json`'s dict; raises ValueError (or KeyError, TypeError) for anything else."""
        arrays = {key: np.asarray(data[key], np.float64) for key in ("mean", "std", "min", "max")}
        counts, histogram = np.asarray(data["counts"], np.int64), np.asarray(data["histogram"], np.int64)
        classes, dims = arrays["mean"].shape
        if any(a.shape != (classes, dims) for a in arrays.values()) or counts.shape != (classes,) \
                or histogram.shape[:2] != (classes, dims) or histogram.ndim != 3:
            raise ValueError("inconsistent shapes")
        return cls(str(data["source"]), counts, arrays["mean"], arrays["std"], arrays["min"], arrays["max"],
                   histogram, int(data.get("iterations", 3)))


def statistics(poses: np.ndarray, labels: np.ndarray, n_classes: int, source: str = "", bins: int = BINS,
               iterations: int = 3) -> PoseStats:
    """PoseStats of poses (N, 16) of each image's true class, labels (N,)."""
    dims = poses.shape[1]
    shape = (n_classes, dims)
    counts = np.bincount(labels, minlength=n_classes)[:n_classes]
    mean, std, lo, hi = np.zeros(shape), np.zeros(shape), np.zeros(shape), np.zeros(shape)
    histogram = np.zeros((n_classes, dims, bins), np.int64)
    for c in range(n_classes):
        x = poses[labels == c].astype(np.float64)  # (n_c, 16)
        if not len(x):
            continue
        mean[c], std[c], lo[c], hi[c] = x.mean(0), x.std(0), x.min(0), x.max(0)
        width = 2 * EDGE_SIGMAS * std[c]  # (16,)
        position = (x - (mean[c] - EDGE_SIGMAS * std[c])) / np.where(width > 0, width, 1.0)  # (n_c, 16) 0 … 1
        index = np.clip(np.floor(position * bins), 0, bins - 1).astype(np.int64)
        index[:, width == 0] = bins // 2  # a dimension that never varies: all in the middle
        for k in range(dims):
            histogram[c, k] = np.bincount(index[:, k], minlength=bins)
    return PoseStats(source, counts, mean, std, lo, hi, histogram, iterations)


def choose(split: Split, per_class: int | None = PER_CLASS, seed: int = 0) -> Split:
    """At most `per_class` images of each class (a seeded choice), in their original order."""
    if per_class is None:
        return split
    rng = np.random.default_rng(seed)
    keep = []
    for c in np.unique(split.labels):
        where = np.flatnonzero(split.labels == c)
        keep.append(where if len(where) <= per_class else rng.choice(where, per_class, replace=False))
    keep = np.sort(np.concatenate(keep)) if keep else np.zeros(0, np.int64)
    return Split(split.images[keep], split.labels[keep])


def training_images(model) -> tuple[Split, str]:
    """The images the model was trained on, as far as they are here, and what they are in words: the 4,000
    training digits of MNIST 5k; MNIST's 60,000 training digits or the Fashion-MNIST training set where
    installed (else the MNIST 5k digits — all of them MNIST training digits — or the shipped Fashion-MNIST
    test samples, said so); a folder data set's training part."""
    from capsexplorer.data.datasets import full_mnist

    dataset = model.metadata.get("dataset") or "mnist5k"
    data_dir = _train_data_dir(model.metadata)
    if dataset in ("mnist", "multimnist"):
        full = full_mnist(data_dir) or (full_mnist() if data_dir else None)
        split, what = (full.train, "MNIST's 60,000 training digits") if full is not None else \
            (mnist5k().train, "4,000 of MNIST's training digits (MNIST 5k; the full MNIST is not installed)")
        if dataset == "multimnist":  # trained on pairs of these digits: each alone, centred on its 36×36 canvas
            what += ", each alone at the centre of the 36×36 canvas (the model trained on pairs of them)"
        return split, what
    if dataset == "mnist5k":
        split = mnist5k().train
        return split, f"the {len(split):,} training digits of MNIST 5k"
    if dataset == "fashion-mnist":
        found = load_idx_dataset(dataset, ([data_dir] if data_dir else []) + list(FASHION_DIRS))
        if found is not None:
            return found.train, f"the {dataset} training set ({len(found.train):,} images)"
        split, what = model_samples(dataset)
        return split, f"the {len(split):,} shipped {what} images (the training set is not installed)"
    if dataset == "folder" and data_dir is not None and data_dir.is_dir():
        from capsexplorer.data.datasets import load_folder_dataset

        split = load_folder_dataset(data_dir).train
        return split, f"the {len(split):,} training images of {data_dir}"
    raise DataError(f"{model.metadata.get('path', 'these weights')}: their training images ({dataset}) "
                    "are not here, so the poses' statistics cannot be computed")


def _train_data_dir(metadata: dict) -> Path | None:
    try:
        value = ast.literal_eval(metadata.get("train_config", "")).get("data_dir")
    except (ValueError, SyntaxError, AttributeError, TypeError, MemoryError, RecursionError):
        return None
    return Path(value) if isinstance(value, str) and value else None


def stats_steps(model, split: Split, source: str = "", iterations: int = 3, batch: int = BATCH,
                per_class: int | None = PER_CLASS, seed: int = 0):
    """Generator: the pose of each image's true class a batch at a time, yielding (done, total) batches;
    returns the PoseStats. At most `per_class` images of a class (a seeded choice), said in `source`."""
    n_classes = model.config.n_classes
    if (split.labels >= n_classes).any():  # weights with fewer classes than their data set: only theirs
        keep = split.labels < n_classes
        if not keep.any():
            raise DataError(f"{model.metadata.get('path', 'these weights')}: none of their training images is of "
                            f"their {n_classes} classes")
        split = Split(split.images[keep], split.labels[keep])
        source += f" (only classes 0–{n_classes - 1}: the weights have {n_classes})"
    chosen = choose(split, per_class, seed)
    if len(chosen) < len(split):
        source += f" — {len(chosen):,} of them, at most {per_class:,} a class, chosen with seed {seed}"
    images, labels = chosen.images, np.asarray(chosen.labels)
    scale = 255.0 if images.dtype == np.uint8 else 1.0
    total = -(-len(images) // batch)
    yield 0, total
    def true_poses(chunk, truth):
        poses = model.poses(chunk.astype(np.float32) / scale, iterations)  # (B, 10, 16)
        return poses[np.arange(len(chunk)), truth]  # (B, 16)

    parts = []
    for done, part in enumerate(map_batches(model, true_poses, images, labels, batch=batch), 1):
        parts.append(part)
        yield done, total
    poses = np.concatenate(parts) if parts else np.zeros((0, model.config.digit_dim))
    return statistics(poses, labels, n_classes, source.strip(), iterations=iterations)


def compute(model, progress=None) -> PoseStats:
    """The model's PoseStats over its training images; `progress(done, total)` after every batch."""
    split, source = training_images(model)
    return run_steps(stats_steps(model, split, source, per_class=PER_CLASS), progress)


def cached(model) -> PoseStats | None:
    """The statistics kept for these weights (the user's cache, else shipped), or None."""
    from capsexplorer.analysis.predictions import pose_stats_file, read_json

    data = read_json(pose_stats_file(model))
    try:
        return PoseStats.from_json(data) if isinstance(data, dict) else None
    except (KeyError, TypeError, ValueError):
        return None  # damaged: compute again


def store(model, stats: PoseStats) -> None:
    """Keeps `stats` for these weights in the user's cache (no error when it cannot be written)."""
    from capsexplorer.analysis.predictions import pose_stats_file, store_json

    name = pose_stats_file(model)
    if name:
        store_json(name, stats.to_json())


def load_or_compute(model, progress=None) -> PoseStats:
    """Kept or shipped statistics for these weights, else computed over the training images and kept."""
    found = cached(model)
    if found is None:
        found = compute(model, progress)
        store(model, found)
    return found


def ranges(stats: PoseStats, cls: int, mode: str = "data", pose=None, span: float = PAPER_SPAN) -> np.ndarray:
    """(16, 2) each dimension's (low, high) for a slider: "data", mean ± 2σ of the class, widened where
    `pose` (when given) lies near or beyond an end so that it can still move 1σ either way; "paper", `pose`
    (or 0) ± 0.25 — as Figure 4 perturbs the input's own pose."""
    _check_mode(mode)
    if mode == "paper":
        centre = np.zeros(stats.mean.shape[1]) if pose is None else np.asarray(pose, np.float64)
        return np.stack([centre - span, centre + span], 1)
    low, high = stats.mean[cls] - SIGMAS * stats.std[cls], stats.mean[cls] + SIGMAS * stats.std[cls]  # (16,)
    if pose is not None:
        low, high = np.minimum(low, pose - stats.std[cls]), np.maximum(high, pose + stats.std[cls])
    return np.stack([low, high], 1)


def spread(stats: PoseStats, cls: int, mode: str = "data") -> np.ndarray | None:
    """What `posegrid.pose_grid` takes as `sigma` for a range: the class's σ (16,) for "data", None for "paper"."""
    _check_mode(mode)
    return stats.std[cls].astype(np.float32) if mode == "data" else None


def _check_mode(mode: str) -> None:
    if mode not in RANGES:
        raise ValueError(f"unknown range {mode!r}; choose one of {', '.join(RANGES)}")
