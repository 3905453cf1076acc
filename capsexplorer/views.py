"""What the routing panels draw, derived from a RoutingTrace with numpy (no Qt).

Primary capsule i = type·36 + row·6 + col (see RoutingTrace).
"""
from __future__ import annotations

import numpy as np

from .trace import RoutingTrace

TYPES, GRID = 32, 6
POSITIONS = GRID * GRID
# Where the 6×6 PrimaryCaps grid lies over the 28×28 input: capsule (r, c) sees the 17×17 input
# patch starting at (2r, 2c), so its centre is at 2r + 8; the grid's cells tile [7, 19).
GRID_ORIGIN, GRID_STEP = 7.0, 2.0
RECEPTIVE_FIELD = 17


def coupling_matrix(trace: RoutingTrace, iteration: int, example: int = 0, weighted: bool = False,
                    change: bool = False) -> np.ndarray:
    """(1152, 10) for a 0-based `iteration`: c_ij, or its change from the previous iteration
    (zero for the first), optionally weighted by the primary capsule's length ‖u_i‖."""
    c = trace.coupling[iteration, example]
    if change:
        c = c - trace.coupling[iteration - 1, example] if iteration > 0 else np.zeros_like(c)
    if weighted:
        c = c * trace.primary_lengths[example][:, None]
    return c


def mosaic(matrix: np.ndarray) -> np.ndarray:
    """(1152, 10) → (32, 360): one row per capsule type; for each digit j a block of 36 columns,
    the 6×6 positions in row-major order."""
    return np.ascontiguousarray(matrix.reshape(TYPES, POSITIONS, -1).transpose(0, 2, 1).reshape(TYPES, -1))


def capsule_at(type_row: int, column: int) -> tuple[int, int, int, int]:
    """Mosaic cell → (capsule index i, digit j, grid row, grid col)."""
    digit, position = divmod(column, POSITIONS)
    return type_row * POSITIONS + position, digit, position // GRID, position % GRID


def spatial(matrix: np.ndarray, digit: int) -> np.ndarray:
    """(6, 6) for one digit: the mean over the 32 capsule types of the (1152, 10) matrix's column —
    the same quantity as the matrix, so it is drawn on the matrix's colour scale."""
    return matrix[:, digit].reshape(TYPES, GRID, GRID).mean(axis=0)


def levels(trace: RoutingTrace, example: int = 0, weighted: bool = False, change: bool = False) -> tuple[float, float]:
    """Colour levels shared by every iteration of a trace, so stepping compares like with like,
    rounded so they rarely change while drawing: the 99.5th percentile of |values|, so a few
    saturated capsules don't wash out the rest. Plain c_ij always reaches at least 2/J, so the
    uniform start 1/J sits mid-scale and never reads as "strong"."""
    values = np.abs(np.stack([coupling_matrix(trace, r, example, weighted, change)
                              for r in range(trace.iterations)]))
    top = nice_ceiling(float(np.percentile(values, 99.5)))
    if not weighted and not change:
        top = max(top, nice_ceiling(2.0 / values.shape[-1]))
    return (-top, top) if change else (0.0, top)


def nice_ceiling(value: float) -> float:
    """Rounds up to 1, 2 or 5 × 10^k, so the colour scale stays put while drawing."""
    if not np.isfinite(value) or value <= 0:
        return 1.0
    exponent = np.floor(np.log10(value))
    for step in (1.0, 2.0, 5.0, 10.0):
        if value <= step * 10 ** exponent + 1e-12:
            return float(step * 10 ** exponent)
    return float(10 ** (exponent + 1))
