"""What the routing panels draw, derived from a RoutingTrace with numpy (no Qt).

Primary capsule i = type·G² + row·G + col on a G×G grid (the paper's G = 6: i = type·36 + row·6 + col).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from capsexplorer.net.config import CapsNetConfig
from capsexplorer.net.trace import RoutingTrace


@dataclass(frozen=True)
class Geometry:
    """A model's shape as the panels draw it, derived from its CapsNetConfig: `types` capsule types on a
    `grid`×`grid` PrimaryCaps grid over a `size`×`size` input, `classes` class capsules of `pose_dim` values.

    Capsule (r, c) sees the input patch of side 2k − 1 (Conv1's k×k, then PrimaryCaps' k×k at stride 2)
    starting at (2r, 2c): its centre is at 2r + k − 1, so the grid's cells, 2 px each, tile
    [k − 2, k − 2 + 2G). The paper's 28×28, k = 9: a 17×17 patch, cells tiling [7, 19)."""

    types: int = 32
    grid: int = 6
    size: int = 28
    kernel: int = 9
    classes: int = 10
    pose_dim: int = 16
    primary_dim: int = 8

    @classmethod
    def of(cls, config: CapsNetConfig) -> Geometry:
        return cls(config.primary_types, config.grid, config.image_size, config.kernel, config.n_classes,
                   config.digit_dim, config.primary_dim)

    @property
    def positions(self) -> int:
        return self.grid * self.grid

    @property
    def n_primary(self) -> int:
        return self.types * self.positions

    @property
    def origin(self) -> float:
        """Input coordinate where the grid's first cell starts."""
        return float(self.kernel - 2)

    step = 2.0  # input pixels per grid cell (PrimaryCaps' stride)

    @property
    def receptive_field(self) -> int:
        return 2 * self.kernel - 1

    def place(self, i: int) -> tuple[int, int, int]:
        """Primary capsule i → (type, row, col)."""
        capsule_type, position = divmod(int(i), self.positions)
        return capsule_type, position // self.grid, position % self.grid

    def index(self, capsule_type: int, row: int, col: int) -> int:
        return capsule_type * self.positions + row * self.grid + col


PAPER = Geometry()
TYPES, GRID = PAPER.types, PAPER.grid
POSITIONS = PAPER.positions
GRID_ORIGIN, GRID_STEP = PAPER.origin, PAPER.step
RECEPTIVE_FIELD = PAPER.receptive_field


MODES = {  # what the routing matrix can show; every mode is a (1152, 10) matrix per iteration
    "deviation": "c_ij − 1/J: how far routing moved each coupling from uniform",
    "coupling": "c_ij: the coupling coefficients themselves",
    "logits": "b_ij: the routing logits at the start of the iteration",
    "agreement": "û_j|i · v_j: the agreement this iteration adds to b_ij",
    "routed": "c_ij · ‖û_j|i‖: what each primary capsule actually sends to s_j",
}
NEEDS_U_HAT = ("agreement", "routed")
DIVERGING = ("deviation", "logits", "agreement")


def mode_matrix(trace: RoutingTrace, mode: str, iteration: int, example: int = 0, weighted: bool = False,
                change: bool = False) -> np.ndarray:
    """(1152, 10) what the matrix shows in `mode` at a 0-based `iteration`; with `change`, minus
    the previous iteration (zero for the first); with `weighted`, times ‖u_i‖."""
    def plain(r: int) -> np.ndarray:
        c = trace.coupling[r, example]
        if mode == "coupling":
            return c
        if mode == "deviation":
            return c - 1.0 / c.shape[-1]
        if mode == "logits":
            return trace.logits[r, example]
        if trace.u_hat is None:
            raise ValueError(f"the {mode!r} view needs a trace made with keep_u_hat=True")
        if mode == "agreement":
            return agreement(trace, r, example)
        if mode == "routed":
            return c * np.linalg.norm(trace.u_hat[example], axis=-1)
        raise ValueError(f"unknown view {mode!r}; choose one of {', '.join(MODES)}")

    m = plain(iteration)
    if change:
        m = m - plain(iteration - 1) if iteration > 0 else np.zeros_like(m)
    if weighted:
        m = m * trace.primary_lengths[example][:, None]
    return m


def agreement(trace: RoutingTrace, iteration: int, example: int = 0) -> np.ndarray:
    """(1152, 10) û_j|i · v_j after `iteration` — what Procedure 1 adds to b_ij for the next one."""
    return np.einsum("ijd,jd->ij", trace.u_hat[example], trace.iteration_poses[iteration, example])


def mode_stack(trace: RoutingTrace, mode: str, example: int = 0, weighted: bool = False,
               change: bool = False) -> np.ndarray:
    """(R, 1152, J) what the matrix shows at every iteration."""
    return np.stack([mode_matrix(trace, mode, r, example, weighted, change) for r in range(trace.iterations)])


def mode_levels(trace: RoutingTrace, mode: str, example: int = 0, weighted: bool = False,
                change: bool = False, stack: np.ndarray | None = None) -> tuple[float, float]:
    """Levels shared by every iteration (stepping shows change as change), rounded so they rarely move
    while drawing: symmetric for diverging quantities, from zero otherwise. `stack`: `mode_stack`'s result,
    when the caller has it already."""
    values = np.abs(mode_stack(trace, mode, example, weighted, change) if stack is None else stack)
    values = values[np.isfinite(values)]
    peak = float(values.max()) if values.size else 0.0  # the largest value shown: no cell ever saturates
    top = scale_ceiling(peak) if peak > 0 else 0.01  # all zero (one iteration): a small scale, not ±1
    if mode == "coupling" and not (weighted or change):  # plain c_ij: the uniform start 1/J sits mid-scale
        top = max(top, nice_ceiling(2.0 / trace.coupling.shape[-1]))  # or below, never reading as "strong"
    return (-top, top) if (change or mode in DIVERGING) else (0.0, top)


def active_primaries(trace: RoutingTrace, example: int = 0, share: float = 0.1) -> np.ndarray:
    """(1152,) bool: the primary capsules whose longest prediction ‖û_j|i‖ is in the top `share` for
    this input. (Nearly every ‖u_i‖ is close to 1 in a trained network, so the predictions, not
    u_i, tell which parts speak.) Without û, those with the longest u_i."""
    if trace.u_hat is not None:
        strength = np.linalg.norm(trace.u_hat[example], axis=-1).max(axis=-1)
    else:
        strength = trace.primary_lengths[example]
    return strength >= np.quantile(strength, 1.0 - share)


def routing_summary(trace: RoutingTrace, example: int = 0, share: float = 0.1) -> dict[str, np.ndarray]:
    """Per iteration: every digit capsule's length (R, 10), its mean coupling from the active
    primary capsules (R, 10), and the mean entropy of the couplings over all 1152 (R,) — ln 10 ≈ 2.303
    is uniform."""
    active = active_primaries(trace, example, share)
    c = trace.coupling[:, example]  # (R, 1152, 10)
    entropy = -(c * np.log(np.clip(c, 1e-12, None))).sum(-1).mean(-1)
    return {"lengths": trace.lengths[:, example], "active_coupling": c[:, active].mean(axis=1),
            "entropy": entropy, "active": active}


def mosaic(matrix: np.ndarray, geometry: Geometry = PAPER) -> np.ndarray:
    """(1152, 10) → (32, 360): one row per capsule type; for each digit j a block of 36 columns,
    the 6×6 positions in row-major order (any geometry: (T·G², J) → (T, J·G²))."""
    g = geometry
    return np.ascontiguousarray(matrix.reshape(g.types, g.positions, -1).transpose(0, 2, 1).reshape(g.types, -1))


def capsule_at(type_row: int, column: int, geometry: Geometry = PAPER) -> tuple[int, int, int, int]:
    """Mosaic cell → (capsule index i, digit j, grid row, grid col)."""
    digit, position = divmod(column, geometry.positions)
    return type_row * geometry.positions + position, digit, position // geometry.grid, position % geometry.grid


def spatial(matrix: np.ndarray, digit: int, geometry: Geometry = PAPER) -> np.ndarray:
    """(6, 6) for one digit: the mean over the 32 capsule types of the (1152, 10) matrix's column —
    the same quantity as the matrix, so it is drawn on the matrix's colour scale. Capsules switched
    off (NaN) are left out; a position with all of them off is NaN. (Any geometry: (G, G).)"""
    g = geometry
    column = matrix[:, digit].reshape(g.types, g.grid, g.grid)
    counts = np.isfinite(column).sum(axis=0)
    total = np.where(np.isfinite(column), column, 0.0).sum(axis=0)
    return np.where(counts > 0, total / np.maximum(counts, 1), np.nan)


def spatial_levels(stack: np.ndarray, digit: int, diverging: bool, geometry: Geometry = PAPER) -> tuple[float, float]:
    """The overlay's own colour scale over every iteration of `stack` (R, 1152, J) for one digit: its
    averages over 32 types lie close together, so on the matrix's scale they all read as one grey.
    Symmetric for a diverging quantity; otherwise from its lowest to its highest value (never saturating)."""
    grids = np.stack([spatial(m, digit, geometry) for m in stack])  # (R, G, G)
    values = grids[np.isfinite(grids)]
    if not values.size:
        return (-0.01, 0.01) if diverging else (0.0, 0.01)
    if diverging:
        top = float(np.abs(values).max()) or 0.01
        return -top, top
    low, high = float(values.min()), float(values.max())
    pad = max((high - low) * 0.02, 1e-4)  # a flat map still gets a readable scale around its value
    return low - pad, high + pad


def scale_ceiling(value: float) -> float:
    """Rounds up to 1, 1.5, 2, 3, 4, 5, 6 or 8 × 10^k: a colour scale that stays put while drawing yet
    wastes at most a third of its range (1-2-5 steps could waste three fifths)."""
    if not np.isfinite(value) or value <= 0:
        return 1.0
    exponent = np.floor(np.log10(value))
    for step in (1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0):
        if value <= step * 10 ** exponent * (1 + 1e-9):
            return float(step * 10 ** exponent)
    return float(10 ** (exponent + 1))


def largest_changes(trace: RoutingTrace, iteration: int, count: int = 6, example: int = 0,
                    enabled: np.ndarray | None = None, fell: bool = False) -> list[tuple[int, int, float, float]]:
    """The primary capsules whose coupling grew most (`fell`: fell most) from the first iteration to
    `iteration` (0-based): [(capsule i, the digit j it moved most towards — or away from —, c_ij at the
    first iteration, c_ij then)], largest first. Switched-off capsules (`enabled` False) are left out."""
    c = trace.coupling[:, example]  # (R, 1152, J)
    gain = (c[0] - c[iteration]) if fell else (c[iteration] - c[0])  # (1152, J)
    best_digit = gain.argmax(axis=1)  # (1152,)
    best = gain[np.arange(len(gain)), best_digit]  # (1152,)
    if enabled is not None:
        best = np.where(enabled, best, -np.inf)
    order = [i for i in np.argsort(best)[::-1][:count] if np.isfinite(best[i]) and best[i] > 0]
    return [(int(i), int(best_digit[i]), float(c[0, i, best_digit[i]]), float(c[iteration, i, best_digit[i]]))
            for i in order]


def nice_ceiling(value: float) -> float:
    """Rounds up to 1, 2 or 5 × 10^k, so the colour scale stays put while drawing."""
    if not np.isfinite(value) or value <= 0:
        return 1.0
    exponent = np.floor(np.log10(value))
    for step in (1.0, 2.0, 5.0, 10.0):
        if value <= step * 10 ** exponent + 1e-12:
            return float(step * 10 ** exponent)
    return float(10 ** (exponent + 1))
