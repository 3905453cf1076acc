"""Predictions for a whole held-out set, computed once per weights file and cached on disk, so the
explorer's browser and confusion matrix open at once the second time."""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .data import Split

CACHE_VERSION = 1


@dataclass(frozen=True)
class SetPredictions:
    labels: np.ndarray  # (N,)
    capsnet: np.ndarray  # (N, 10) capsule lengths
    cnn: np.ndarray | None  # (N, 10) the baseline's probabilities, when it is there

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
        """(10, 10) rows: true class; columns: the CapsNet's prediction."""
        return np.bincount(self.labels * 10 + self.prediction, minlength=100).reshape(10, 10)


def cache_dir() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(root) / "capsexplorer"


def weights_key(*paths) -> str:
    """A key that changes when any weights file changes: its path, size and modification time."""
    digest = hashlib.sha256(str(CACHE_VERSION).encode())
    for path in paths:
        if path is None:
            digest.update(b"none")
            continue
        info = os.stat(path)
        digest.update(f"{Path(path).resolve()}|{info.st_size}|{info.st_mtime_ns}".encode())
    return digest.hexdigest()[:24]


def scores(model, images: np.ndarray, batch: int = 250, progress=None) -> np.ndarray:
    """(N, 10) class scores of uint8 (N, 28, 28) images: lengths or probabilities."""
    out = []
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(images), batch):
            x = torch.from_numpy(images[start:start + batch]).float().div_(255.0).unsqueeze(1).to(model.device)
            out.append(model.class_scores(x).float().cpu().numpy())
            if progress is not None:
                progress(min(start + batch, len(images)), len(images))
    return np.concatenate(out) if out else np.zeros((0, 10), np.float32)


def predict_set(capsnet, cnn, split: Split, key: str | None = None, progress=None, partial=None) -> SetPredictions:
    """Both models' scores on `split`, read from the cache under `key` when there, else computed and
    stored (a cache that cannot be written is no error: it is only slower next time). `partial` is
    called with the CapsNet's predictions alone as soon as they are there, before the CNN's."""
    path = cache_dir() / f"heldout-{key}.npz" if key else None
    if path is not None and path.is_file():
        try:
            with np.load(path) as data:
                if len(data["labels"]) == len(split) and np.array_equal(data["labels"], split.labels):
                    cnn_scores = data["cnn"] if data["cnn"].size else None
                    return SetPredictions(split.labels, data["capsnet"], cnn_scores)
        except (OSError, ValueError, KeyError):
            pass  # damaged: compute again
    total = len(split) * (2 if cnn is not None else 1)
    capsnet_scores = scores(capsnet, split.images,
                            progress=None if progress is None else lambda done, _n: progress(done, total))
    if partial is not None and cnn is not None:
        partial(SetPredictions(split.labels, capsnet_scores, None))
    cnn_scores = scores(cnn, split.images, progress=None if progress is None else
                        lambda done, _n: progress(len(split) + done, total)) if cnn is not None else None
    result = SetPredictions(split.labels, capsnet_scores, cnn_scores)
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp.npz")
            np.savez_compressed(tmp, labels=split.labels, capsnet=capsnet_scores,
                                cnn=cnn_scores if cnn_scores is not None else np.zeros(0))
            os.replace(tmp, path)
        except OSError:
            pass
    return result
