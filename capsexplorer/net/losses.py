"""The paper's losses (Sabour et al. 2017, Eq. 4 and Section 4.1)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

M_PLUS, M_MINUS, LAMBDA = 0.9, 0.1, 0.5
RECONSTRUCTION_SCALE = 0.0005


def margin_loss(lengths: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """L_k = T_k max(0, m⁺ − ‖v_k‖)² + λ (1 − T_k) max(0, ‖v_k‖ − m⁻)², summed over k, mean over the batch.
    labels (B,) one class an image, or (B, K) K classes an image (MultiMNIST: T_k = 1 for both digits)."""
    hot = F.one_hot(labels.long(), lengths.shape[1]).to(lengths.dtype)  # (B, 10) or (B, K, 10)
    present = hot.amax(dim=1) if labels.ndim == 2 else hot  # (B, 10)
    loss = (present * F.relu(M_PLUS - lengths) ** 2
            + LAMBDA * (1.0 - present) * F.relu(lengths - M_MINUS) ** 2)
    return loss.sum(dim=1).mean()


def reconstruction_loss(reconstruction: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    """0.0005 × the sum of squared errors over the pixels, mean over the batch. With K reconstructions an
    image — (B, K, P) against each digit alone, (B, K, H, W) — the sum over all K (MultiMNIST)."""
    diff = reconstruction.flatten(1) - images.flatten(1)  # (B, 784) or (B, K·P)
    return RECONSTRUCTION_SCALE * (diff * diff).sum(dim=1).mean()
