"""The one evaluation loop, shared by every measurement over a set of inputs (held-out predictions, evaluation,
robustness, equivariance, two-digit pairs, the decoder fit's inputs): the model in eval mode, each batch computed
in inference mode, the model's train mode restored in `finally` — also when the caller stops early or fails."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import torch


@contextmanager
def evaluating(model):
    """`model` in eval mode and inference mode for one computation; its train mode restored afterwards. Never
    hold it across a `yield` (inference mode is the thread's: another job would run in it) — use map_batches."""
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            yield model
    finally:
        model.train(was_training)


def map_batches(model, compute: Callable, *arrays, batch: int = 250) -> Iterator:
    """Generator: `compute(*chunks)` for each run of `batch` rows of `arrays` (all of one length N), each
    computed in inference mode with `model` in eval mode, so a caller can report progress, serve other work or
    stop between batches. The model's train mode is restored when the generator ends, is closed or fails."""
    was_training = model.training
    model.eval()
    try:
        for start in range(0, len(arrays[0]), batch):
            with torch.inference_mode():
                answer = compute(*(a[start:start + batch] for a in arrays))
            yield answer
    finally:
        model.train(was_training)


def as_images(chunk, device) -> torch.Tensor:
    """(B, H, W) uint8 in [0, 255] or floats in [0, 1], numpy or torch → (B, 1, H, W) float32 on `device`."""
    if isinstance(chunk, np.ndarray):  # copied as floats: a read-only array (an IDX file's) needs no warning
        x = torch.from_numpy(chunk.astype(np.float32)).div_(255.0 if chunk.dtype == np.uint8 else 1.0)
    else:
        x = chunk.float().div(255.0) if chunk.dtype == torch.uint8 else chunk.float()
    return x.unsqueeze(1).to(device)


def score_batches(model, images: np.ndarray, iterations: int | None = None, batch: int = 250):
    """Generator over (N, H, W) images yielding each batch's (B, n_classes) class scores (a CapsNet's lengths, a
    CNN's probabilities) as float32 numpy."""
    return map_batches(model, lambda chunk: model.class_scores(as_images(chunk, model.device), iterations)
                       .float().cpu().numpy(), images, batch=batch)
