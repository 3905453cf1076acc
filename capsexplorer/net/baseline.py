"""A convolutional baseline to compare the CapsNet with (Sabour et al. 2017, §5 and §5.2).

The paper's §5 baseline is three 5×5 convolutions of 256, 256 and 128 channels, then fully connected
layers of 328 and 192 units with dropout and a softmax: 35.4 M parameters, because its first fully
connected layer sees all 28×28×128 activations. For the robustness comparison the paper used "a
traditional convolutional model with a similar number of parameters" (§5.2). This is that pattern with
pooling added: a 2×2 max-pool after the first convolution and a 3×3 max-pool (stride 1) after the
third leave 128×12×12 activations, for 8,575,762 parameters (the CapsNet has 8,215,568) and about
0.99 GFLOP per image (the CapsNet: 0.41).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

MAX_PARAMETERS = 200_000_000


@dataclass(frozen=True)
class CNNConfig:
    image_size: int = 28
    kernel: int = 5
    channels: tuple[int, int, int] = (256, 256, 128)
    hidden: tuple[int, int] = (328, 192)
    dropout: float = 0.5
    n_classes: int = 10

    @property
    def pooled(self) -> int:
        """Side of the last feature map: 28 → 14 (2×2 pool) → 12 (3×3 pool, stride 1)."""
        return self.image_size // 2 - 2

    def parameter_count(self) -> int:
        k, (c1, c2, c3), (h1, h2) = self.kernel, self.channels, self.hidden
        convs = (k * k + 1) * c1 + (k * k * c1 + 1) * c2 + (k * k * c2 + 1) * c3
        flat = c3 * self.pooled ** 2
        return convs + (flat + 1) * h1 + (h1 + 1) * h2 + (h2 + 1) * self.n_classes

    def flops(self) -> int:
        """Multiply-adds ×2 of one forward pass."""
        k, (c1, c2, c3), (h1, h2) = self.kernel, self.channels, self.hidden
        s, half = self.image_size, self.image_size // 2
        macs = (s * s * c1 * k * k + half * half * c2 * c1 * k * k + half * half * c3 * c2 * k * k
                + c3 * self.pooled ** 2 * h1 + h1 * h2 + h2 * self.n_classes)
        return 2 * macs

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values) -> CNNConfig:
        """From untrusted metadata; raises ValueError naming the first bad field."""
        if not isinstance(values, dict):
            raise ValueError(f"the configuration is a {type(values).__name__}, not a mapping")
        unknown = sorted(set(values) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"unknown field {unknown[0]!r}")
        values = dict(values)

        def ints(name, value, count, low, high):
            if not isinstance(value, (list, tuple)) or len(value) != count or not all(
                    isinstance(v, int) and not isinstance(v, bool) and low <= v <= high for v in value):
                raise ValueError(f"{name} must be {count} integers from {low} to {high}, got {value!r}")
            return tuple(value)

        if "channels" in values:
            values["channels"] = ints("channels", values["channels"], 3, 1, 2048)
        if "hidden" in values:
            values["hidden"] = ints("hidden", values["hidden"], 2, 1, 8192)
        for name, low, high in (("image_size", 16, 128), ("kernel", 1, 15), ("n_classes", 2, 1000)):
            if name in values:
                value = values[name]
                if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                    raise ValueError(f"{name} must be an integer from {low} to {high}, got {value!r}")
        if "dropout" in values and not (isinstance(values["dropout"], (int, float))
                                        and 0 <= values["dropout"] < 1):
            raise ValueError(f"dropout must be from 0 to below 1, got {values['dropout']!r}")
        config = cls(**values)
        if config.parameter_count() > MAX_PARAMETERS:
            raise ValueError(f"it asks for {config.parameter_count():,} parameters (at most {MAX_PARAMETERS:,})")
        return config


class BaselineCNN(nn.Module):
    """conv 5×5 ×256 → pool 2 → conv ×256 → conv ×128 → pool 3 (stride 1) → fc 328 → fc 192 → 10."""

    kind = "cnn"

    def __init__(self, config: CNNConfig | None = None):
        super().__init__()
        self.config = cfg = config or CNNConfig()
        c1, c2, c3 = cfg.channels
        pad = cfg.kernel // 2
        self.conv1 = nn.Conv2d(1, c1, cfg.kernel, padding=pad)
        self.conv2 = nn.Conv2d(c1, c2, cfg.kernel, padding=pad)
        self.conv3 = nn.Conv2d(c2, c3, cfg.kernel, padding=pad)
        self.fc1 = nn.Linear(c3 * cfg.pooled ** 2, cfg.hidden[0])
        self.fc2 = nn.Linear(cfg.hidden[0], cfg.hidden[1])
        self.fc3 = nn.Linear(cfg.hidden[1], cfg.n_classes)
        self.dropout = nn.Dropout(cfg.dropout)
        self.metadata: dict[str, str] = {}

    @property
    def device(self) -> torch.device:
        return self.fc3.weight.device

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, 1, 28, 28) → class logits (B, 10)."""
        return self.fc3(self.features(x))  # (B, 10)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, 1, 28, 28) → the penultimate features (B, 192): what the last linear layer reads."""
        if self.conv2.weight.is_contiguous(memory_format=torch.channels_last):
            x = x.contiguous(memory_format=torch.channels_last)  # see `for_inference`
        h = F.max_pool2d(F.relu(self.conv1(x)), 2)  # (B, 256, 14, 14)
        h = F.relu(self.conv2(h))  # (B, 256, 14, 14)
        h = F.max_pool2d(F.relu(self.conv3(h)), 3, stride=1)  # (B, 128, 12, 12)
        h = self.dropout(F.relu(self.fc1(h.flatten(1))))  # (B, 328)
        return self.dropout(F.relu(self.fc2(h)))  # (B, 192)

    def for_inference(self) -> BaselineCNN:
        """Channels-last weights: the CPU convolutions run about 17 % faster (measured on batches of 250)."""
        return self.to(memory_format=torch.channels_last).eval()

    def class_scores(self, x: torch.Tensor, iterations: int | None = None) -> torch.Tensor:
        """(B, 10) class probabilities (what `evaluate` compares; `iterations` is the CapsNet's)."""
        return torch.softmax(self(x), dim=1)

    def predict(self, batch) -> np.ndarray:
        """Takes what CapsNet.trace takes (B×1×28×28 or B×28×28, floats in [0, 1]) → probabilities (B, 10)."""
        from capsexplorer.net.inference import evaluating
        from capsexplorer.net.model import _as_batch

        x = _as_batch(batch, self.config.image_size).to(self.device)
        with evaluating(self):
            return self.class_scores(x).float().cpu().numpy()
