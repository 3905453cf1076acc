"""`capsexplorer train --progress json`: one JSON object per line on stdout, defined here once for the
command that writes it and the window's Training dialog that reads it.

Events, in order: "start"; "step" (at most ten a second, and every epoch's last); "epoch" (after each
epoch: held-out accuracy, a few held-out images and their reconstructions as rows of 0–255); then
"finished" or "interrupted". In "step", `loss` and `accuracy` are running means over the epoch so far
(the loss being margin + reconstruction), while `margin_loss` and `reconstruction_loss` are this step's
own (`reconstruction_loss` is already scaled by 0.0005, as in the paper). Numbers that are not finite are
written as null.
"""
from __future__ import annotations

import json
import math

import numpy as np

EVENTS = ("start", "step", "epoch", "finished", "interrupted")
STEP_EVERY_S = 0.1  # seconds between "step" lines


def start(progress, config) -> dict:
    return {"event": "start", "epochs": progress.epochs, "steps": progress.steps, "epoch": progress.epoch,
            "step": progress.step, "model": config.model, "dataset": config.dataset, "out": config.out,
            "checkpoint": str(config.checkpoint_path)}


def record(progress, config) -> dict:
    """The line for one `train.Progress` (after "start")."""
    p = progress
    if p.interrupted:
        return {"event": "interrupted", "epoch": p.epoch, "step": p.step, "checkpoint": str(config.checkpoint_path)}
    if p.finished:
        return {"event": "finished", "weights": p.weights, "heldout_accuracy": p.heldout_accuracy,
                "reconstruction_sse": p.reconstruction_sse, "elapsed": p.elapsed,
                **({"samples": pixels(p.samples), "reconstructions": pixels(p.reconstructions)}
                   if p.samples is not None else {})}
    if p.epoch_end:
        return {"event": "epoch", "epoch": p.epoch, "heldout_accuracy": p.heldout_accuracy,
                "reconstruction_sse": p.reconstruction_sse, "elapsed": p.elapsed,
                "samples": pixels(p.samples), "reconstructions": pixels(p.reconstructions)}
    return {"event": "step", "epoch": p.epoch, "epochs": p.epochs, "step": p.step, "steps": p.steps,
            "loss": p.loss, "accuracy": p.accuracy, "margin_loss": p.margin_loss,
            "reconstruction_loss": p.reconstruction_loss, "images_per_second": round(p.images_per_second, 1),
            "seconds_left": None if p.seconds_left is None else round(p.seconds_left, 1),
            "elapsed": round(p.elapsed, 2)}


def encode(event: dict) -> str:
    """One line of JSON, non-finite numbers as null."""
    finite = {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in event.items()}
    return json.dumps(finite, allow_nan=False)


def decode(line: bytes | str) -> dict | None:
    """The event on a line of the command's output, or None for anything else (a library's print)."""
    try:
        event = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(event, dict) or event.get("event") not in EVENTS:
        return None
    return event


def pixels(images) -> list | None:
    """(k, 28, 28) images → k rows of 784 integers 0–255 (uint8 as they are; floats in [0, 1] scaled)."""
    if images is None:
        return None
    a = np.asarray(images)
    if a.dtype != np.uint8:
        a = np.clip(np.nan_to_num(a.astype(np.float32)) * 255 + 0.5, 0, 255).astype(np.uint8)
    return a.reshape(len(a), -1).tolist()


def image_rows(rows, side: int | None = None) -> np.ndarray | None:
    """The reader's side of `pixels`: rows of 0–255 → (k, side, side) floats in [0, 1]."""
    if not rows:
        return None
    a = np.asarray(rows, np.float32) / 255.0
    side = side or int(round(math.sqrt(a.shape[1])))
    return a.reshape(len(a), side, side)


def run_steps(steps, progress=None):
    """Runs a long job's generator — (done, total) batches, which the window's worker drives between user
    actions — to the end and returns its result, calling `progress(done, total)` after every batch."""
    driven = batches(steps, progress)
    while True:
        try:
            next(driven)
        except StopIteration as finished:
            return finished.value


def batches(steps, progress=None, partial=None):
    """A long job's generator seen as its (done, total) batches only: yields each (after `progress(done,
    total)`), hands anything else it yields — a partial result — to `partial`, and returns its result
    (`result = yield from batches(…)` in the window's worker)."""
    while True:
        try:
            step = next(steps)
        except StopIteration as finished:
            return finished.value
        if isinstance(step, tuple):
            if progress is not None:
                progress(*step)
            yield step
        elif partial is not None:
            partial(step)
