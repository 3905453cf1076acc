"""A decoder fitted afterwards on the frozen capsules of a trained CapsNet.

The paper trains the decoder jointly, its loss scaled by 0.0005 so that it does not dominate the
margin loss (Sabour et al. 2017, §4.1); the reconstructions then stay blurry class prototypes. Here
the capsule layers are frozen — classification is unchanged, bit for bit — and only the decoder
(the same 512-1024-784 network of Fig. 2) is trained further on the full reconstruction error,
fed the DigitCaps output of augmented training images masked to the true class, as in training.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from capsexplorer.data.augment import augment, to_tensor
from capsexplorer.data.datasets import Split
from capsexplorer.errors import DivergedError
from capsexplorer.net.inference import map_batches
from capsexplorer.net.model import CapsNet


@dataclass
class DecoderFit:
    epochs: int = 100  # the settings the shipped digits model's decoder was fitted with (README)
    augmentations: int = 8  # augmented copies of the training set the capsules are computed for (copy 0: raw)
    batch_size: int = 128
    lr: float = 2e-3
    seed: int = 0
    style: str = "digits"  # the training augmentation (capsexplorer.data.augment.augment)


def capsule_inputs(model: CapsNet, split: Split, fit: DecoderFit, iterations: int,
                   progress: Callable[[str], None] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The decoder's training pairs: masked poses (N·A, 10·16) and target images (N·A, 784)."""
    images, labels = to_tensor(split.images), torch.from_numpy(split.labels).long()
    poses, targets = [], []

    def pose_and_target(x, y):
        batch = model.fit_input(x.to(model.device))  # (B, 1, 28, 28)
        v = model.capsules(batch, iterations)  # (B, 10, 16)
        return model.masked(v, y.to(model.device)).float().cpu(), batch.flatten(1).float().cpu()  # (B, 160), (B, 784)

    for copy in range(fit.augmentations):
        x = images if copy == 0 else augment(images, torch.Generator().manual_seed(fit.seed * 7919 + copy),
                                               style=fit.style)
        for pose, target in map_batches(model, pose_and_target, x, labels, batch=256):
            poses.append(pose)
            targets.append(target)
        if progress:
            progress(f"capsules of copy {copy + 1}/{fit.augmentations} "
                     f"({'the images as they are' if copy == 0 else 'augmented'})")
    return torch.cat(poses), torch.cat(targets)


def fit_decoder(model: CapsNet, split: Split, fit: DecoderFit | None = None,
                progress: Callable[[str], None] | None = None) -> dict:
    """Trains `model.decoder` in place (starting from its weights) on the frozen capsules of `split`.
    Returns what was done: pairs, epochs, the final training error, seconds."""
    fit = fit or DecoderFit()
    started = time.perf_counter()
    iterations = model.config.routing_iterations
    poses, targets = capsule_inputs(model, split, fit, iterations, progress)
    decoder = model.decoder.float().train()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    for parameter in decoder.parameters():
        parameter.requires_grad_(True)
    optimizer = torch.optim.Adam(decoder.parameters(), lr=fit.lr)
    steps_per_epoch = math.ceil(len(poses) / fit.batch_size)
    total = fit.epochs * steps_per_epoch
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 0.5 * (1 + math.cos(math.pi * s / total)))
    generator = torch.Generator().manual_seed(fit.seed)
    error = float("nan")
    try:
        for epoch in range(fit.epochs):
            order = torch.randperm(len(poses), generator=generator)
            sse = 0.0
            for step in range(steps_per_epoch):
                index = order[step * fit.batch_size:(step + 1) * fit.batch_size]
                p, t = poses[index].to(model.device), targets[index].to(model.device)
                loss = ((decoder(p) - t) ** 2).sum(dim=1).mean()  # the full SSE, not scaled by 0.0005
                if not math.isfinite(value := float(loss.detach())):
                    raise DivergedError(f"the decoder fit stopped at decoder epoch {epoch + 1}, step {step + 1}: the "
                                        f"loss is not finite ({value:g}), the fit diverged (the decoder's weights "
                                        "overflow, or --lr is too high); no weights written")
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
                sse += value * len(index)
            error = sse / len(poses)
            if progress:
                progress(f"decoder epoch {epoch + 1}/{fit.epochs}: training error {error:.2f}")
    finally:
        for parameter in model.parameters():
            parameter.requires_grad_(True)
        model.eval()
    return {"pairs": len(poses), "epochs": fit.epochs, "augmentations": fit.augmentations,
            "train_sse": round(error, 3), "seconds": round(time.perf_counter() - started, 1)}

