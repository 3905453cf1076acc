"""Predictions for a whole held-out set, computed once per weights file and cached on disk, so the
explorer's browser and confusion matrix open at once the second time."""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from capsexplorer.data.datasets import Split
from capsexplorer.net.inference import score_batches
from capsexplorer.progress_events import run_steps

CACHE_VERSION = 1


@dataclass(frozen=True)
class SetPredictions:
    labels: np.ndarray  # (N,)
    capsnet: np.ndarray  # (N, 10) capsule lengths
    cnn: np.ndarray | None  # (N, 10) the baseline's probabilities, when it is there
    iterations: int = 3  # the CapsNet's routing iterations

    @property
    def prediction(self) -> np.ndarray:
        return self.capsnet.argmax(1)

    @property
    def cnn_prediction(self) -> np.ndarray | None:
        return None if self.cnn is None else self.cnn.argmax(1)

    @property
    def winner_length(self) -> np.ndarray:
        return self.capsnet.max(1)

    @property
    def margin(self) -> np.ndarray:
        """The gap between the two longest capsules."""
        top = np.sort(self.capsnet, axis=1)
        return top[:, -1] - top[:, -2]

    def confusion(self) -> np.ndarray:
        """(J, J) rows: true class; columns: the CapsNet's prediction."""
        n = self.capsnet.shape[1]
        return np.bincount(self.labels * n + self.prediction, minlength=n * n).reshape(n, n)


def cache_dir() -> Path:
    """The platform's cache folder for capsexplorer (on Linux $XDG_CACHE_HOME/capsexplorer, ~/.cache/…)."""
    import platformdirs

    return Path(platformdirs.user_cache_dir("capsexplorer", appauthor=False))


_DIGESTS: dict[tuple, str] = {}


def file_digest(path) -> str:
    """SHA-256 of a file's bytes, remembered per (path, size, modification time)."""
    resolved = Path(path).resolve()
    info = os.stat(resolved)
    stamp = (str(resolved), info.st_size, info.st_mtime_ns)
    if stamp not in _DIGESTS:
        digest = hashlib.sha256()
        with open(resolved, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        _DIGESTS[stamp] = digest.hexdigest()
    return _DIGESTS[stamp]


def weights_key(*paths) -> str:
    """A key that changes when the bytes of any weights file change (not its place or date), so that
    results computed for the shipped weights ship with the package and are found wherever it is installed."""
    digest = hashlib.sha256(str(CACHE_VERSION).encode())
    for path in paths:
        digest.update(b"none" if path is None else file_digest(path).encode())
    return digest.hexdigest()[:24]


def cached_file(name: str) -> Path | None:
    """A result file under `name`: the copy shipped with the package first — the reference the README quotes,
    which a run measuring the same weights again into the user's cache must not hide — then the cache."""
    from capsexplorer.files import resource_path

    for path in (resource_path(name), cache_dir() / name):
        if path.is_file():
            return path
    return None


def robustness_file(capsnet, cnn) -> str | None:
    """The name the robustness result of this pair of models is kept under (None: not from files)."""
    try:
        return f"robustness-{weights_key(capsnet.metadata.get('path'), cnn.metadata.get('path'))}.json"
    except (OSError, TypeError):
        return None


def equivariance_file(capsnet, cnn) -> str | None:
    """The name the equivariance result of this pair of models is kept under (None: not from files)."""
    paths = (capsnet.metadata.get("path"), cnn.metadata.get("path") if cnn is not None else None)
    try:
        return f"equivariance-{weights_key(*paths)}.json" if paths[0] else None
    except (OSError, TypeError):
        return None


def routing_file(model) -> str | None:
    """The name how far routing moves a model's couplings is kept under (None: not from a file)."""
    path = model.metadata.get("path") if hasattr(model, "metadata") else model
    try:
        return f"routing-{weights_key(path)}.json" if path else None
    except (OSError, TypeError):
        return None


def segmentation_file(path) -> str | None:
    """The name a two-digit model's segmentation over held-out pairs is kept under (None: not from a file)."""
    try:
        return f"segmentation-{weights_key(path)}.json" if path else None
    except (OSError, TypeError):
        return None


def pose_stats_file(model) -> str | None:
    """The name a model's per-class pose statistics are kept under (None: not from a file)."""
    path = model.metadata.get("path")
    try:
        return f"pose-stats-{weights_key(path)}.json" if path else None
    except (OSError, TypeError):
        return None


def read_json(name: str | None):
    """A result kept under `name` (shipped, else the user's cache), or None."""
    import json

    path = cached_file(name) if name else None
    if path is None:
        return None
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def store_json(name: str, value) -> None:
    """Keeps `value` in the user's cache under `name`, atomically; a cache that cannot be written is no
    error (only slower next time)."""
    import json

    path = cache_dir() / name
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        try:
            tmp.write_text(json.dumps(value))
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    except OSError:
        pass


def score_steps(model, images: np.ndarray, batch: int = 250, iterations: int | None = None):
    """Generator: yields each batch's (B, 10) class scores (lengths or probabilities) of uint8
    (N, 28, 28) images (see `inference.score_batches`)."""
    return score_batches(model, images, iterations, batch=batch)


def heldout_file(key: str | None, iterations: int = 3) -> str | None:
    """The name a held-out set's predictions are kept under: per weights, and per routing iteration count
    (3, the trained count, keeps the plain name)."""
    if not key:
        return None
    return f"heldout-{key}.npz" if iterations == 3 else f"heldout-{key}-r{iterations}.npz"


def scores(model, images: np.ndarray, batch: int = 250) -> np.ndarray:
    """(N, 10) class scores of uint8 (N, 28, 28) images: lengths or probabilities."""
    out = list(score_steps(model, images, batch))
    return np.concatenate(out) if out else np.zeros((0, 10), np.float32)


def read_cached(split: Split, key: str | None, iterations: int = 3) -> SetPredictions | None:
    name = heldout_file(key, iterations)
    path = cached_file(name) if name else None
    if path is None:
        return None
    try:
        with np.load(path) as data:
            if len(data["labels"]) == len(split) and np.array_equal(data["labels"], split.labels):
                cnn_scores = data["cnn"] if data["cnn"].size else None
                return SetPredictions(split.labels, data["capsnet"], cnn_scores, iterations)
    except (OSError, ValueError, KeyError):
        pass  # damaged: compute again
    return None


def predict_steps(capsnet, cnn, split: Split, key: str | None = None, batch: int = 250, iterations: int = 3):
    """Generator for both models' scores on `split`, the CapsNet routing `iterations` times: yields (done,
    total) images after every batch, and once the CapsNet's predictions alone (a SetPredictions without the
    CNN's) before the CNN's start; returns the complete SetPredictions. Read from the cache under `key` when
    there, else computed and stored (a cache that cannot be written is no error: only slower next time).
    The CNN's scores, which no routing changes, are taken from any count's cache."""
    found = read_cached(split, key, iterations)
    if found is not None:
        return found
    other = read_cached(split, key, 3) if iterations != 3 else None
    if other is not None and other.cnn is not None:
        cnn = None  # its scores are known
    total = len(split) * (2 if cnn is not None else 1)
    yield 0, total
    parts: dict[str, list] = {"capsnet": [], "cnn": [] if other is None or other.cnn is None else [other.cnn]}
    done = 0
    for name, model in (("capsnet", capsnet), ("cnn", cnn)):
        if model is None:
            continue
        for part in score_steps(model, split.images, batch, iterations if name == "capsnet" else None):
            parts[name].append(part)
            done += len(part)
            yield done, total
        if name == "capsnet" and cnn is not None:
            yield SetPredictions(split.labels, np.concatenate(parts["capsnet"]), None, iterations)
    capsnet_scores = np.concatenate(parts["capsnet"])
    cnn_scores = np.concatenate(parts["cnn"]) if parts["cnn"] else None
    result = SetPredictions(split.labels, capsnet_scores, cnn_scores, iterations)
    if key:
        _store(cache_dir() / heldout_file(key, iterations), split.labels, capsnet_scores, cnn_scores)
    return result


def _store(path: Path, labels, capsnet_scores, cnn_scores) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
        try:
            np.savez_compressed(tmp, labels=labels, capsnet=capsnet_scores,
                                cnn=cnn_scores if cnn_scores is not None else np.zeros(0))
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    except OSError:
        pass


def predict_set(capsnet, cnn, split: Split, key: str | None = None, iterations: int = 3) -> SetPredictions:
    """Both models' scores on `split` (see `predict_steps`), in one call."""
    return run_steps(predict_steps(capsnet, cnn, split, key, iterations=iterations))


def segmentation_measured(path) -> dict | None:
    """The segmentation measured over held-out pairs for the weights at `path` (shipped or kept), or None."""
    data = read_json(segmentation_file(path)) if path else None
    try:
        return data if data["iterations"]["1"]["own_strokes"] is not None and data["pairs"] else None
    except (TypeError, KeyError):
        return None
