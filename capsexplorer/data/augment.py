"""Training images as tensors, and their random augmentation — shared by training and the decoder fit."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from capsexplorer.data import transforms


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, 28, 28) → float (N, 1, 28, 28) in [0, 1]. (Read-only arrays — IDX files are read into
    immutable buffers — are converted without torch's warning: `.float()` copies anyway.)"""
    array = np.ascontiguousarray(images)
    return torch.as_tensor(array.astype(np.float32)).div_(255.0).unsqueeze(1)


def augment(x: torch.Tensor, generator: torch.Generator, max_shift: int = 2, style: str = "digits") -> torch.Tensor:
    """Random shifts of up to `max_shift` px (the paper), plus — for `style` "digits" — mild rotation,
    scale, shear and stroke thickening, which drawn digits need: each image's affine map is
    capsexplorer.data.transforms.compose, as the probe's and the sweep's are. x: (B, 1, H, H)."""
    batch = x.shape[0]
    if style == "shifts":
        return shift_images(x, generator, max_shift)
    rand = lambda *shape: torch.rand(*shape, generator=generator)
    angle = (rand(batch) * 2 - 1) * 12.0  # degrees
    scale = 0.88 + rand(batch) * 0.24
    shear = (rand(batch) * 2 - 1) * 0.15
    shift = torch.randint(-max_shift, max_shift + 1, (batch, 2), generator=generator)  # (B, 2) px
    size = x.shape[-1]
    forward = np.stack([transforms.compose(float(a), float(h), float(k), float(k), float(dx), float(dy),
                                           centre=(size - 1) / 2.0)
                        for a, h, k, (dx, dy) in zip(angle, shear, scale, shift.tolist())])  # (B, 3, 3) in pixels
    theta = torch.from_numpy(sampling_grid_map(forward, size)).to(x.dtype)  # (B, 2, 3)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, align_corners=False, padding_mode="zeros")
    thicken = (rand(batch) < 0.25).float().view(batch, 1, 1, 1) * (0.4 + 0.6 * rand(batch).view(batch, 1, 1, 1))
    return torch.maximum(x, thicken * F.max_pool2d(x, 3, stride=1, padding=1))


def shift_images(x: torch.Tensor, generator: torch.Generator, max_shift: int = 2) -> torch.Tensor:
    """Each image moved by whole pixels, up to `max_shift` each way, zero-filled (Sabour et al. §5).
    x: (B, 1, H, W)."""
    batch, _, height, width = x.shape
    pad = max_shift
    padded = F.pad(x, (pad, pad, pad, pad))  # (B, 1, H+2p, W+2p)
    offset = torch.randint(0, 2 * pad + 1, (batch, 2), generator=generator)  # (B, 2) top-left corners
    rows = (offset[:, 0, None] + torch.arange(height)).view(batch, height, 1)
    cols = (offset[:, 1, None] + torch.arange(width)).view(batch, 1, width)
    index = torch.arange(batch).view(batch, 1, 1)
    return padded[:, 0][index, rows, cols].unsqueeze(1)  # (B, 1, H, W)


def sampling_grid_map(forward: np.ndarray, size: int) -> np.ndarray:
    """(B, 3, 3) forward maps in pixel coordinates → (B, 2, 3) what torch's affine_grid takes: the inverse map
    (each output pixel → where it samples the input) in normalised coordinates (align_corners=False)."""
    to_norm = np.array([[2.0 / size, 0.0, 1.0 / size - 1.0], [0.0, 2.0 / size, 1.0 / size - 1.0], [0.0, 0.0, 1.0]])
    inverse = to_norm @ np.linalg.inv(forward) @ np.linalg.inv(to_norm)  # (B, 3, 3)
    return inverse[:, :2].astype(np.float32)
