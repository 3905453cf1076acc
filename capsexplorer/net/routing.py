"""Dynamic routing between capsules (Sabour, Frosst & Hinton 2017, Procedure 1).

Everything here is batched: no Python loop runs over capsules or examples, only over the
routing iterations. The routing logits b_ij start at zero for every example, are never learned
and never shared across the batch.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

_EPS = 1e-9


def squash(s: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """v = ‖s‖² / (1 + ‖s‖²) · s / ‖s‖  (Eq. 1). A zero vector maps to zero, never NaN."""
    norm_sq = (s * s).sum(dim=dim, keepdim=True)
    scale = norm_sq / ((1.0 + norm_sq) * torch.sqrt(norm_sq + _EPS))
    return scale * s


@dataclass
class RoutingResult:
    """What each routing iteration did, as tensors (still on the model's device)."""

    logits: torch.Tensor  # (R, B, N_in, N_out)  b_ij at the start of iteration r
    coupling: torch.Tensor  # (R, B, N_in, N_out)  c_ij = softmax_j(b_ij) used in iteration r
    poses: torch.Tensor  # (R, B, N_out, D)  v_j after iteration r
    outputs: torch.Tensor  # (B, N_out, D)  the final v_j


def route(u_hat_by_parent: torch.Tensor, iterations: int = 3, record: bool = False):
    """Routes predictions û_{j|i} to parent capsules.

    u_hat_by_parent: (B, N_out, N_in, D) — û laid out parent-major so that the weighted sum
    s_j = Σ_i c_ij û_{j|i} and the agreement û_{j|i}·v_j are batched matrix-vector products.

    Returns the final v_j (B, N_out, D), or a RoutingResult with every iteration when `record`.
    """
    if iterations < 1:
        raise ValueError(f"routing needs at least one iteration, got {iterations}")
    batch, n_out, n_in, dim = u_hat_by_parent.shape
    u_flat = u_hat_by_parent.reshape(batch * n_out, n_in, dim)  # (B·J, I, D)
    b = u_hat_by_parent.new_zeros(batch, n_out, n_in)  # (B, J, I) — zero for every example
    logits, couplings, poses = [], [], []
    v = None
    for r in range(iterations):
        c = torch.softmax(b, dim=1)  # (B, J, I): softmax over the parents j
        s = torch.bmm(c.view(batch * n_out, 1, n_in), u_flat).view(batch, n_out, dim)  # (B, J, D)
        v = squash(s)
        if record:
            logits.append(b.transpose(1, 2))  # (B, I, J)
            couplings.append(c.transpose(1, 2))
            poses.append(v)
        if r < iterations - 1:  # the last iteration's agreement would change nothing
            agreement = torch.bmm(u_flat, v.view(batch * n_out, dim, 1))  # (B·J, I, 1)
            b = b + agreement.view(batch, n_out, n_in)  # (B, J, I)
    if not record:
        return v
    return RoutingResult(
        logits=torch.stack(logits),
        coupling=torch.stack(couplings),
        poses=torch.stack(poses),
        outputs=v,
    )
