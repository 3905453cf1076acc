"""MultiMNIST, made from MNIST's digits (Sabour et al. 2017, §6): two digits of different classes,
each shifted by up to ±4 px in each direction on a 36×36 canvas, overlaid by their pixel-wise maximum.
Training pairs are drawn on the fly from the training digits only (a new partner and new shifts for every
sample); the 10,000 held-out pairs — a fixed, seeded set — from MNIST's official test digits only. The network
is judged as the paper judges it: a pair is right when its two longest capsules are exactly the two digits
present."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from capsexplorer.data.datasets import Split
from capsexplorer.errors import DataError
from capsexplorer.net.inference import as_images, map_batches

CANVAS = 36
MAX_SHIFT = 4  # px each way: 28 + 2·4 = 36
HELDOUT_PAIRS = 10_000
PAPER_ACCURACY = 0.948  # the paper's 5.2 % error: both digits right


@dataclass(frozen=True)
class Pairs:
    """A batch or a set of overlaid pairs."""

    images: np.ndarray | torch.Tensor  # (N, 36, 36) — (N, 1, 36, 36) as tensors — the overlay, in [0, 1]
    labels: np.ndarray | torch.Tensor  # (N, 2) the two classes, different
    parts: np.ndarray | torch.Tensor  # (N, 2, 36, 36) each digit alone, as placed: the reconstruction targets
    sources: np.ndarray | torch.Tensor | None = None  # (N, 2) the two digits' indices in the images they came from
    shifts: np.ndarray | torch.Tensor | None = None  # (N, 2, 2) each digit's (dx, dy)

    def __len__(self) -> int:
        return len(self.labels)


def place(digits: torch.Tensor, shifts: torch.Tensor) -> torch.Tensor:
    """digits (B, 28, 28) in [0, 1] centred on a 36×36 canvas and moved by whole pixels: shifts (B, 2) as
    (dx, dy) — the paper's −4…4, or further (the window's overlap control; ink moved off the canvas is lost)
    → (B, 36, 36)."""
    batch = digits.shape[0]
    reach = max(MAX_SHIFT, int(shifts.abs().max()) if shifts.numel() else 0)  # the window view moves further
    canvas = F.pad(digits, (MAX_SHIFT,) * 4)  # (B, 36, 36), the digit centred
    padded = F.pad(canvas, (reach,) * 4)  # (B, 36 + 2·reach, …): room to read a shifted window
    top = reach - shifts[:, 1]  # a digit moved down by dy is read from dy rows higher up
    left = reach - shifts[:, 0]
    rows = (top[:, None] + torch.arange(CANVAS)).view(batch, CANVAS, 1)
    cols = (left[:, None] + torch.arange(CANVAS)).view(batch, 1, CANVAS)
    return padded[torch.arange(batch).view(batch, 1, 1), rows, cols]  # (B, 36, 36)


def partners(labels: torch.Tensor, pool_labels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """For each first digit's class, the index in the pool of a second digit of another class, uniformly
    among the pool's digits of the other classes."""
    count = len(pool_labels)
    chosen = torch.randint(0, count, (len(labels),), generator=generator)
    for _ in range(64):  # redraw the few that hit the same class (1 in 10 per draw)
        same = pool_labels[chosen] == labels
        if not bool(same.any()):
            return chosen
        chosen[same] = torch.randint(0, count, (int(same.sum()),), generator=generator)
    same = pool_labels[chosen] == labels  # vanishingly rare: one of the other classes' digits, by the last draw
    for k in torch.nonzero(same).flatten().tolist():
        others = torch.nonzero(pool_labels != labels[k]).flatten()
        if not len(others):
            raise DataError("MultiMNIST pairs need digits of at least two classes (a larger --limit)")
        chosen[k] = others[int(chosen[k]) % len(others)]
    return chosen


def make_pairs(images: torch.Tensor, labels: torch.Tensor, first: torch.Tensor, generator: torch.Generator) -> Pairs:
    """Pairs whose first digits are `first` (indices into images (N, 28, 28) floats, labels (N,)), their
    second digits and both shifts drawn from `generator`: one training batch."""
    second, shifts = arrangement(labels, first, generator)
    a = place(images[first], shifts[:, 0])  # (B, 36, 36)
    b = place(images[second], shifts[:, 1])
    overlay = torch.maximum(a, b)
    return Pairs(overlay.unsqueeze(1), torch.stack([labels[first], labels[second]], 1), torch.stack([a, b], 1),
                 torch.stack([first, second], 1), shifts)


def arrangement(labels: torch.Tensor, first: torch.Tensor, generator: torch.Generator):
    """The random part of pairs whose first digits are `first`: their second digits (B,) and both digits'
    shifts (B, 2, 2) as (dx, dy), drawn from `generator` in that order."""
    second = partners(labels[first], labels, generator)
    shifts = torch.randint(-MAX_SHIFT, MAX_SHIFT + 1, (len(first), 2, 2), generator=generator)  # (B, digit, xy)
    return second, shifts


def heldout_arrangement(split: Split, count: int | None = None, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """`heldout_pairs`' sources (N, 2) and shifts (N, 2, 2) alone, without making the images: milliseconds, not
    a second (what the window needs to build one pair)."""
    count = count or HELDOUT_PAIRS
    labels = torch.as_tensor(np.asarray(split.labels, np.int64))
    first = torch.arange(count) % len(labels)
    second, shifts = arrangement(labels, first, torch.Generator().manual_seed(seed))
    return torch.stack([first, second], 1).numpy(), shifts.numpy()


def heldout_pairs(split: Split, count: int | None = None, seed: int = 0) -> Pairs:
    """A fixed set of `count` pairs from `split`'s digits alone (the held-out ones), seeded: every first digit
    in turn, its partner and both shifts random. Numpy arrays, images in [0, 1]."""
    count = count or HELDOUT_PAIRS
    generator = torch.Generator().manual_seed(seed)
    images = torch.as_tensor(np.asarray(split.images, np.float32) / 255.0)  # (N, 28, 28)
    labels = torch.as_tensor(np.asarray(split.labels, np.int64))
    first = torch.arange(count) % len(labels)
    pairs = make_pairs(images, labels, first, generator)
    return Pairs(pairs.images[:, 0].numpy(), pairs.labels.numpy(), pairs.parts.numpy(), pairs.sources.numpy(),
                 pairs.shifts.numpy())


def two_longest(lengths: np.ndarray) -> np.ndarray:
    """(N, 2) the classes of the two longest capsules, longest first."""
    return np.argsort(-np.asarray(lengths), axis=1, kind="stable")[:, :2]


def both_right(lengths: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(N,) bool: the two longest capsules are exactly the two digits present (the paper's measure)."""
    found = np.sort(two_longest(lengths), axis=1)
    return np.all(found == np.sort(np.asarray(labels), axis=1), axis=1)


@dataclass(frozen=True)
class PairEvaluation:
    accuracy: float  # share of pairs whose two longest capsules are exactly the two digits present
    lengths: np.ndarray  # (N, 10)
    reconstruction_sse: float  # mean over the pairs of both digits' squared errors, each from its own capsule

    @property
    def found(self) -> np.ndarray:
        return two_longest(self.lengths)


def evaluate_pairs(model, pairs: Pairs, iterations: int | None = None, batch_size: int = 250) -> PairEvaluation:
    """The paper's MultiMNIST measure for a CapsNet of 36×36 inputs: both digits right, and how well each
    digit is redrawn from its own capsule (the true labels' capsules, as the paper's Figure 5 shows)."""
    iterations = iterations or model.config.routing_iterations

    def scores_and_error(images, labels, parts):
        y = torch.as_tensor(np.asarray(labels)).to(model.device)  # (B, 2)
        target = torch.as_tensor(np.asarray(parts, np.float32))  # (B, 2, 36, 36)
        scores, _, recon = model(as_images(images, model.device), iterations, labels=y)  # recon (B, 2, P)
        return scores.float().cpu(), float(((recon.float().cpu() - target.flatten(2)) ** 2).sum())

    answers = list(map_batches(model, scores_and_error, pairs.images, pairs.labels, pairs.parts, batch=batch_size))
    lengths = torch.cat([scores for scores, _ in answers]).numpy() if answers else \
        np.zeros((0, model.config.n_classes), np.float32)
    sse = sum(error for _, error in answers)
    accuracy = float(both_right(lengths, pairs.labels).mean()) if len(pairs) else float("nan")
    return PairEvaluation(accuracy, lengths, sse / max(len(pairs), 1))


ABLATION = (1, 2, 3, 5)  # routing iterations: 1 is uniform couplings, no routing


def routing_ablation(model, pairs: Pairs, counts=ABLATION, batch_size: int = 250) -> dict:
    """Does routing matter on overlapping digits? For each iteration count: the share of held-out pairs with
    both digits right, and the share whose two-digit answer differs from uniform couplings' (1 iteration).
    The primary capsules and their votes are computed once per batch; only routing is repeated."""
    def answers_by_count(images) -> dict:
        u_hat = model.predictions(model.primary_capsules(as_images(images, model.device)))  # (B, 10, N, 16)
        return {count: np.sort(two_longest(model.router(u_hat, count).norm(dim=-1).float().cpu().numpy()), axis=1)
                for count in counts}  # each (B, 2)

    batches = list(map_batches(model, answers_by_count, pairs.images, batch=batch_size))
    answers = {count: [found[count] for found in batches] for count in counts}
    truth = np.sort(np.asarray(pairs.labels), axis=1)
    found = {count: np.concatenate(parts) for count, parts in answers.items()}
    uniform = found[counts[0]]
    return {str(count): {"both_right": float(np.all(f == truth, axis=1).mean()),
                         "differs_from_uniform": float(np.any(f != uniform, axis=1).mean())}
            for count, f in found.items()}


FURTHEST = 8  # px each way the window moves a digit: twice the training range, the canvas's edge for MNIST ink


def overlay(digits: np.ndarray, shifts) -> tuple[np.ndarray, np.ndarray]:
    """Two digits (2, 28, 28) in [0, 1], each moved by its (dx, dy) in `shifts` (2, 2), overlaid by their
    maximum: (image (36, 36), parts (2, 36, 36) each digit alone as placed)."""
    shifts = np.clip(np.asarray(shifts, np.int64).reshape(2, 2), -FURTHEST, FURTHEST)
    parts = place(torch.as_tensor(np.asarray(digits, np.float32)), torch.as_tensor(shifts)).numpy()
    return parts.max(axis=0), parts


def separated(shifts, distance: float) -> np.ndarray:
    """`shifts` (2, 2) with the second digit moved to `distance` px from the first along the line between
    them (sideways if they sit on each other): 0 puts it on top of the first, full overlap. Whole pixels,
    clipped to ±FURTHEST."""
    shifts = np.asarray(shifts, np.int64).reshape(2, 2).copy()
    offset = (shifts[1] - shifts[0]).astype(np.float64)
    norm = float(np.hypot(*offset))
    unit = offset / norm if norm > 0 else np.array([1.0, 0.0])
    shifts[1] = np.clip(np.round(shifts[0] + float(distance) * unit), -FURTHEST, FURTHEST).astype(np.int64)
    return shifts


def distance(shifts) -> float:
    """px between the two digits' placements."""
    offset = np.asarray(shifts, np.float64).reshape(2, 2)
    return float(np.hypot(*(offset[1] - offset[0])))


def ink_overlap(parts: np.ndarray, ink: float = 0.2) -> float:
    """The share of the smaller digit's ink that the other digit's ink covers: 0 apart, 1 on top."""
    a, b = parts[0] >= ink, parts[1] >= ink
    smaller = min(int(a.sum()), int(b.sum()))
    return float((a & b).sum() / smaller) if smaller else 0.0


def in_training_range(shifts) -> bool:
    """Both digits within the paper's ±4 px."""
    return bool(np.abs(np.asarray(shifts)).max() <= MAX_SHIFT)
