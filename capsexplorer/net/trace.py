"""RoutingTrace: one request's complete, detached record of what the CapsNet did (numpy only)."""
from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class RoutingTrace:
    """Everything the explorer draws, for a batch of B images routed for R iterations.

    Primary capsule i = type·36 + row·6 + col: the 8 channels of one of the 32 capsule types
    at one position of the 6×6 grid.
    """

    images: np.ndarray  # (B, 28, 28) the network's input
    logits: np.ndarray  # (R, B, 1152, 10) routing logits b_ij at the start of each iteration
    coupling: np.ndarray  # (R, B, 1152, 10) coupling coefficients c_ij used in each iteration
    lengths: np.ndarray  # (R, B, 10) ‖v_j‖ after each iteration
    iteration_poses: np.ndarray  # (R, B, 10, 16) v_j after each iteration
    poses: np.ndarray  # (B, 10, 16) the final v_j
    prediction: np.ndarray  # (B,) the longest digit capsule
    primary_poses: np.ndarray  # (B, 1152, 8) squashed primary capsules u_i
    primary_lengths: np.ndarray  # (B, 1152) ‖u_i‖
    reconstruction: np.ndarray  # (B, 28, 28) decoder output for the predicted capsule
    seconds: float  # wall time of the forward pass and routing
    u_hat: np.ndarray | None = None  # (B, 1152, 10, 16) predictions û_{j|i}, when asked for

    @property
    def iterations(self) -> int:
        return int(self.coupling.shape[0])

    @property
    def batch_size(self) -> int:
        return int(self.prediction.shape[0])

    @property
    def final_lengths(self) -> np.ndarray:
        """(B, 10) ‖v_j‖ after the last iteration: the class scores."""
        return self.lengths[-1]

    def save(self, path: str | Path) -> None:
        """Writes every field to a compressed .npz file."""
        arrays = {f.name: np.asarray(getattr(self, f.name)) for f in fields(self)
                  if getattr(self, f.name) is not None}
        np.savez_compressed(path, **arrays)

    @classmethod
    def load(cls, path: str | Path) -> RoutingTrace:
        with np.load(path) as data:
            values = {name: data[name] for name in data.files}
        values["seconds"] = float(values["seconds"])
        return cls(**values)
