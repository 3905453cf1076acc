"""How much routing moves a model's couplings away from uniform, over a set of images: what the window's guide
quotes, and the README's answer to "does routing do work?". Plain numpy out; no Qt."""
from __future__ import annotations

import time

import numpy as np

from capsexplorer.analysis import views
from capsexplorer.data.datasets import Split
from capsexplorer.net.inference import map_batches


def measure_steps(model, split: Split, iterations: int = 3, batch: int = 50):
    """Generator: yields (done, total) images and returns the figures — over every image, after `iterations`:
    the mean distance of c_ij from an even split of what capsule i sends (1/J, but for self-attention, whose
    learned priors shift the sum) over all primary capsules and over the active parts (the top 10 % by their
    longest prediction ‖û_j|i‖), the mean coupling to the winner (all, active), the mean coupling entropy per iteration, and how
    many images routing decides differently from uniform couplings (1 iteration)."""
    start = time.perf_counter()
    classes = model.config.n_classes
    moved, moved_active, to_winner, to_winner_active, entropy, changed = [], [], [], [], [], 0
    total = len(split)
    yield 0, total
    scale = 255.0 if split.images.dtype == np.uint8 else 1.0

    def routed_and_uniform(images):
        x = images.astype(np.float32) / scale  # (B, 28, 28)
        return model.trace(x, iterations=iterations, keep_u_hat=True), model.trace(x, iterations=1)

    seen = 0
    for trace, uniform in map_batches(model, routed_and_uniform, split.images, batch=batch):
        changed += int((trace.prediction != uniform.prediction).sum())
        for b in range(trace.batch_size):
            c = trace.coupling[-1, b]  # (I, J) the couplings of the last iteration
            even = c.sum(-1, keepdims=True) / classes  # (I, 1): 1/J, but for self-attention's learned priors b_ij
            active = views.active_primaries(trace, b)
            winner = int(trace.prediction[b])
            moved.append(np.abs(c - even).mean())
            moved_active.append(np.abs(c[active] - even[active]).mean())
            to_winner.append(c[:, winner].mean())
            to_winner_active.append(c[active, winner].mean())
            entropy.append(views.routing_summary(trace, b)["entropy"])
        seen += trace.batch_size
        yield seen, total
    return {"n": total, "iterations": iterations, "uniform": 1.0 / classes,
            "moved": float(np.mean(moved)), "moved_active": float(np.mean(moved_active)),
            "to_winner": float(np.mean(to_winner)), "to_winner_active": float(np.mean(to_winner_active)),
            "entropy": [float(e) for e in np.mean(entropy, axis=0)], "uniform_entropy": float(np.log(classes)),
            "changed": changed, "seconds": round(time.perf_counter() - start, 1)}


def measure(model, split: Split, iterations: int = 3, progress=None) -> dict:
    from capsexplorer.progress_events import run_steps

    return run_steps(measure_steps(model, split, iterations), progress)
