"""Routing by agreement as a picture: every primary capsule's vote û_j|i for one class capsule j, drawn in
the 2-D view of the 16-D pose space where agreement shows (Sabour et al. 2017, §2, Procedure 1). One axis
runs along the final v_j — a vote's position on it is its agreement û_j|i·v̂_j — the other along the main
direction of the votes' spread across v_j. Both axes are fixed for the input, so stepping the iterations
changes only the weights c_ij (point areas) and where v_j sits. Plain numpy."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class VoteView:
    j: int  # the class capsule whose votes are drawn
    x: np.ndarray  # (N,) each vote's agreement with the final v_j's direction: û_j|i · v̂_j
    y: np.ndarray  # (N,) its coordinate along the votes' main spread across v_j
    coupling: np.ndarray  # (R, N) c_ij of each iteration
    v: np.ndarray  # (R, 2) v_j after each iteration, in the same two coordinates
    weighted_mean: np.ndarray  # (R, 2) s_j / Σ_i c_ij: where the weighted votes meet, each iteration
    spread_share: float  # the share of the votes' variance across v_j that the second axis shows

    def largest_change(self) -> tuple[int, float]:
        """(i, Δc) the primary capsule whose c_ij moved most from the first iteration to the last."""
        change = self.coupling[-1] - self.coupling[0]  # (N,)
        i = int(np.abs(change).argmax())
        return i, float(change[i])


def vote_view(u_hat: np.ndarray, coupling: np.ndarray, poses: np.ndarray, j: int) -> VoteView:
    """u_hat (N, J, D) the votes of one input; coupling (R, N, J); poses (R, J, D) v_j after each iteration."""
    votes = np.asarray(u_hat[:, j], dtype=np.float64)  # (N, D)
    final = np.asarray(poses[-1, j], dtype=np.float64)  # (D,)
    norm = float(np.linalg.norm(final))
    along = final / norm if norm > 1e-12 else _main_direction(votes)
    x = votes @ along  # (N,)
    across = votes - x[:, None] * along[None]  # (N, D) what is left of each vote across v_j
    side = _main_direction(across)
    y = votes @ side
    centred = across - across.mean(0)
    total = float((centred ** 2).sum())
    share = float(((centred @ side) ** 2).sum() / total) if total > 1e-18 else 0.0
    c = np.asarray(coupling[:, :, j], dtype=np.float64)  # (R, N)
    s = c @ votes  # (R, D) s_j of each iteration
    mean = s / np.maximum(c.sum(1, keepdims=True), 1e-12)
    v = np.asarray(poses[:, j], dtype=np.float64)  # (R, D)
    axes = np.stack([along, side], 1)  # (D, 2)
    return VoteView(int(j), x.astype(np.float32), y.astype(np.float32), c.astype(np.float32),
                    (v @ axes).astype(np.float32), (mean @ axes).astype(np.float32), share)


def _main_direction(points: np.ndarray) -> np.ndarray:
    """(D,) the unit direction of the largest spread of (N, D) points about their mean (any, if none)."""
    centred = points - points.mean(0)
    if not np.any(centred):
        direction = np.zeros(points.shape[1])
        direction[0] = 1.0
        return direction
    _, vectors = np.linalg.eigh(centred.T @ centred)  # (D, D), ascending: a 16×16 problem, not N×16
    direction = vectors[:, -1]
    return direction if direction.sum() >= 0 else -direction  # a fixed sign: the view does not flip
