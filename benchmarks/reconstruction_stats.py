"""How well the decoder draws: on the 1,000 held-out digits, the reconstruction of the predicted capsule
against the raw image — mean squared error summed over 784 pixels (what `evaluate --json` reports as
reconstruction_sse), per-class correlation, and the reconstructions' peak brightness.

    python benchmarks/reconstruction_stats.py [WEIGHTS ...]   (default: the shipped digits model)
"""
from __future__ import annotations

import sys

import numpy as np
import torch

from capsexplorer import load_model
from capsexplorer.data.datasets import heldout_samples


def stats(weights: str | None) -> dict:
    model = load_model(weights, device="cpu")
    split = heldout_samples()
    x = torch.from_numpy(split.images).float().div(255).unsqueeze(1)  # (1000, 1, 28, 28)
    with torch.inference_mode():
        recon = torch.cat([model(x[i:i + 250])[2] for i in range(0, len(x), 250)]).numpy()  # (1000, 784)
    raw = x.flatten(1).numpy()
    sse = ((recon - raw) ** 2).sum(1)
    corr = np.array([np.corrcoef(r, t)[0, 1] for r, t in zip(recon, raw)])
    per_class = {int(c): round(float(corr[split.labels == c].mean()), 3) for c in range(10)}
    return {"weights": weights or "shipped", "reconstruction_sse": round(float(sse.mean()), 2),
            "correlation": round(float(corr.mean()), 3), "correlation_per_class": per_class,
            "peak_brightness": round(float(recon.max(1).mean()), 3)}


if __name__ == "__main__":
    for path in sys.argv[1:] or [None]:
        print(stats(path))
