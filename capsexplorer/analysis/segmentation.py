"""Segmentation by routing (Sabour et al. 2017, §6 and Figure 5): which strokes of two overlapping digits
routing gives to which digit's capsule — and what uniform couplings would have given.

Each primary capsule i sends c_ij · ‖û_j|i‖ to class capsule j at an iteration (the routing matrix's
"routed" view). For the two capsules a and b of the pair, every pixel of the input is painted with the
share of that mass going to a, summed over every primary capsule whose receptive field covers the pixel:

    share_a(p) = Σ_{i ∋ p} m_ia / Σ_{i ∋ p} (m_ia + m_ib),   m_ij = c_ij ‖û_j|i‖.

Uniform couplings are Procedure 1's first iteration (b_ij = 0 → c_ij = 1/J): there the split comes from
the predictions' lengths alone, so the difference between the two pictures is what routing by agreement
added. Plain numpy out; `measure_steps` runs a model over held-out pairs to score it.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from capsexplorer.analysis.views import Geometry
from capsexplorer.net.trace import RoutingTrace

INK = 0.2  # a pixel of the input with at least this much ink is a stroke


@dataclass(frozen=True)
class Split:
    """How one iteration's routed mass splits between capsules a and b, over the input."""

    a: int
    b: int
    iteration: int  # 0-based; 0 is uniform couplings
    share: np.ndarray  # (H, H) share of the mass to a at each pixel, in [0, 1]; NaN where nothing reaches
    cells: np.ndarray  # (G, G) the same per primary position (its own capsules only)
    mass: np.ndarray  # (H, H) m_a + m_b reaching each pixel (relative: the largest is 1)


def prediction_lengths(trace: RoutingTrace, example: int = 0) -> np.ndarray:
    """(N, J) ‖û_j|i‖ (needs û: a trace with keep_u_hat)."""
    if trace.u_hat is None:
        raise ValueError("segmentation needs a trace made with keep_u_hat=True")
    return np.linalg.norm(trace.u_hat[example], axis=-1)


def routed_mass(trace: RoutingTrace, iteration: int, example: int = 0, lengths=None) -> np.ndarray:
    """(N, J) m_ij = c_ij · ‖û_j|i‖ at a 0-based iteration; `lengths`: prediction_lengths, when known."""
    lengths = prediction_lengths(trace, example) if lengths is None else lengths
    return trace.coupling[iteration, example] * lengths


def every_split(trace: RoutingTrace, geometry: Geometry, a: int, b: int, example: int = 0) -> list[Split]:
    """`split` at every iteration, the predictions' lengths taken once: [uniform, iteration 2, …]."""
    lengths = prediction_lengths(trace, example)
    return [split(trace, geometry, a, b, r, example, lengths) for r in range(trace.iterations)]


def split(trace: RoutingTrace, geometry: Geometry, a: int, b: int, iteration: int, example: int = 0,
          lengths=None) -> Split:
    """The split between capsules a and b at a 0-based `iteration` (0: uniform couplings)."""
    g = geometry
    mass = routed_mass(trace, iteration, example, lengths)[:, [a, b]]  # (N, 2)
    per_cell = mass.reshape(g.types, g.grid, g.grid, 2).sum(axis=0)  # (G, G, 2)
    size, field, step = g.size, g.receptive_field, int(g.step)
    to_pixels = np.zeros((size, size, 2))
    for row in range(g.grid):  # each position's mass over the patch it sees
        for col in range(g.grid):
            to_pixels[step * row:step * row + field, step * col:step * col + field] += per_cell[row, col]
    total = to_pixels.sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(total > 0, to_pixels[..., 0] / total, np.nan)
        cells_total = per_cell.sum(-1)
        cells = np.where(cells_total > 0, per_cell[..., 0] / cells_total, np.nan)
    peak = total.max()
    return Split(int(a), int(b), int(iteration), share, cells, total / peak if peak > 0 else total)


def two_capsules(trace: RoutingTrace, example: int = 0) -> tuple[int, int]:
    """The two longest class capsules after the last iteration (MultiMNIST's answer), longest first."""
    order = np.argsort(-trace.final_lengths[example], kind="stable")
    return int(order[0]), int(order[1])


def match(reconstructions: np.ndarray, capsules: tuple[int, int], parts: np.ndarray, labels=None) -> tuple[int, int]:
    """The two capsules ordered as the pair's digits: by the labels where the capsules are exactly them, else
    the order whose reconstructions (J, H, H) overlap the digits drawn alone, `parts` (2, H, H), more."""
    a, b = capsules
    if labels is not None and sorted(int(c) for c in labels) == sorted((a, b)):
        return int(labels[0]), int(labels[1])
    def fit(first: int, second: int) -> float:
        return float((reconstructions[first] * parts[0]).sum() + (reconstructions[second] * parts[1]).sum())
    return (a, b) if fit(a, b) >= fit(b, a) else (b, a)


def agreement(share: np.ndarray, parts: np.ndarray, ink: float = INK) -> dict:
    """How well a split matches the truth of a held-out pair: `parts` (2, H, H) each digit alone, a first.
    Over the strokes only one digit draws, the share of their ink given to the right capsule
    ("own_strokes"), and over the strokes both draw, the mean share to a ("shared_to_a")."""
    a_ink, b_ink = parts[0] >= ink, parts[1] >= ink
    only_a, only_b, both = a_ink & ~b_ink, b_ink & ~a_ink, a_ink & b_ink
    valid = np.isfinite(share)
    right = np.concatenate([share[only_a & valid] > 0.5, share[only_b & valid] < 0.5])
    shared = share[both & valid]
    return {"own_strokes": float(right.mean()) if right.size else float("nan"),
            "shared_to_a": float(shared.mean()) if shared.size else float("nan"),
            "shared_pixels": int(both.sum()), "own_pixels": int(right.size)}


def measure_steps(model, images: np.ndarray, labels: np.ndarray, parts: np.ndarray, iterations: int = 3,
                  batch: int = 25):
    """Generator over held-out pairs — images (N, H, H), labels (N, 2), parts (N, 2, H, H) — yielding (done,
    total) and returning, for every pair whose two longest capsules are the two digits present: per iteration
    (1 is uniform couplings) the mean share of the strokes only one digit draws given to that digit's capsule
    ("own_strokes"), the mean share of the strokes both draw given to the first ("shared_to_first"), and how
    many ink pixels change sides (share above or below one half) against uniform couplings."""
    from capsexplorer.net.inference import map_batches

    start, geometry, total = time.perf_counter(), Geometry.of(model.config), len(labels)
    own, shared = [[] for _ in range(iterations)], [[] for _ in range(iterations)]
    moved, ink_pixels, right, rounds = [0] * iterations, 0, 0, iterations
    yield 0, total
    def routed(chunk):
        return model.trace(chunk, iterations=iterations, keep_u_hat=True)

    first = 0
    for trace in map_batches(model, routed, images, batch=batch):
        rounds = trace.iterations  # a one-pass router records one
        for b in range(trace.batch_size):
            k = first + b
            if sorted(two_capsules(trace, b)) != sorted(int(c) for c in labels[k]):
                continue  # scored where the answer is right: which capsule is which digit is then known
            right += 1
            a, c = int(labels[k][0]), int(labels[k][1])
            ink = images[k] >= INK
            ink_pixels += int(ink.sum())
            splits = every_split(trace, geometry, a, c, b)
            for r, found in enumerate(splits):
                scored = agreement(found.share, parts[k])
                own[r].append(scored["own_strokes"])
                shared[r].append(scored["shared_to_a"])
                moved[r] += int((((found.share > 0.5) != (splits[0].share > 0.5)) & ink).sum())
        first += trace.batch_size
        yield first, total
    return {"pairs": total, "both_right": right, "seconds": round(time.perf_counter() - start, 1),
            "iterations": {str(r + 1): {"own_strokes": round(float(np.nanmean(own[r])), 4) if own[r] else None,
                                        "shared_to_first": round(float(np.nanmean(shared[r])), 4) if shared[r] else None,
                                        "ink_pixels_changing_side": moved[r], "of_ink_pixels": ink_pixels}
                           for r in range(rounds)}}
