"""The one inference loop over a set of images, shared by the held-out predictions, the robustness
measurement and evaluation: batches in inference mode, class scores back as numpy."""
from __future__ import annotations

import numpy as np
import torch


def score_batches(model, images: np.ndarray, iterations: int | None = None, batch: int = 250):
    """Generator over (N, H, W) images — uint8 in [0, 255] or floats in [0, 1] — yielding each batch's
    (B, n_classes) class scores (a CapsNet's lengths, a CNN's probabilities) as float32 numpy, so a
    caller can stop or serve other work between batches. The model's train/eval mode is restored."""
    was_training = model.training
    model.eval()
    scale = 255.0 if images.dtype == np.uint8 else 1.0
    try:
        with torch.inference_mode():
            for start in range(0, len(images), batch):
                chunk = np.ascontiguousarray(images[start:start + batch])
                x = torch.from_numpy(chunk).float().div_(scale).unsqueeze(1).to(model.device)  # (B, 1, H, W)
                yield model.class_scores(x, iterations).float().cpu().numpy()  # (B, n_classes)
    finally:
        model.train(was_training)
