"""Training and evaluation: one importable loop that yields progress objects.

The CLI shows them with tqdm; any other caller (a GUI, a test) reads the same objects.
Every batch's order and augmentation derive from (seed, epoch, step), so a run interrupted at any
step resumes from its checkpoint to exactly the weights an uninterrupted run would reach.
"""
from __future__ import annotations

import math
import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from .data import Dataset, Split, load_dataset
from .errors import CapsExplorerError
from .losses import margin_loss, reconstruction_loss
from .baseline import BaselineCNN
from .config import MAX_ITERATIONS
from .files import reason, regular_file, writable_target
from .model import CapsNet, CapsNetConfig, resolve_device
from .weights import atomic_path, remove_orphans, save_weights


MODELS = ("capsnet", "cnn")  # the CapsNet, or the convolutional baseline it is compared with


@dataclass
class TrainConfig:
    model: str = "capsnet"
    dataset: str = "mnist5k"
    data_dir: str | None = None
    epochs: int = 30
    batch_size: int = 64
    lr: float = 1e-3
    lr_decay: float = 0.95  # per epoch, exponential
    iterations: int = 3  # routing iterations while training (the paper: 3)
    seed: int = 0
    augment: bool = True
    max_shift: int = 2  # the paper's random shifts of up to 2 px
    out: str = "capsnet.safetensors"
    checkpoint: str | None = None  # default: OUT + ".ckpt"
    checkpoint_every: int = 50  # steps between checkpoints (and at every epoch's end)
    device: str | None = None
    limit: int | None = None  # train on the first N examples only (quick runs, tests)
    float16: bool = True  # store the final weights as float16

    @property
    def checkpoint_path(self) -> Path:
        return Path(self.checkpoint or self.out + ".ckpt")

    def validate(self) -> None:
        """Every setting checked before any work: one CapsExplorerError line naming the first bad one."""
        def need(ok: bool, message: str) -> None:
            if not ok:
                raise CapsExplorerError(message)

        integer = lambda v: isinstance(v, int) and not isinstance(v, bool)  # noqa: E731
        need(self.model in MODELS, f"--model must be one of {', '.join(MODELS)}, got {self.model!r}")
        need(integer(self.epochs) and 1 <= self.epochs <= 100_000, f"--epochs must be from 1 to 100000, got {self.epochs}")
        need(integer(self.batch_size) and 1 <= self.batch_size <= 65536,
             f"--batch-size must be from 1 to 65536, got {self.batch_size}")
        need(self.limit is None or (integer(self.limit) and self.limit >= 1),
             f"--limit must be at least 1, got {self.limit}")
        need(isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and 0 < self.lr <= 10,
             f"--lr must be a number above 0 and at most 10, got {self.lr}")
        need(isinstance(self.lr_decay, (int, float)) and math.isfinite(self.lr_decay) and 0 < self.lr_decay <= 1,
             f"--lr-decay must be above 0 and at most 1, got {self.lr_decay}")
        need(integer(self.iterations) and 1 <= self.iterations <= MAX_ITERATIONS,
             f"--iterations must be from 1 to {MAX_ITERATIONS}, got {self.iterations}")
        need(integer(self.seed) and 0 <= self.seed < 2 ** 32, f"--seed must be from 0 to 2³²−1, got {self.seed}")
        need(integer(self.checkpoint_every) and self.checkpoint_every >= 1,
             f"checkpoint_every must be at least 1, got {self.checkpoint_every}")
        need(integer(self.max_shift) and 0 <= self.max_shift <= 8, f"max_shift must be from 0 to 8, got {self.max_shift}")
        need(Path(self.out).suffix.lower() == ".safetensors",
             f"{self.out}: the weights are written as safetensors; name the file *.safetensors")
        need(self.checkpoint_path.resolve() != Path(self.out).resolve(),
             f"{self.out}: the checkpoint and the weights need different files")
        writable_target(self.out)
        writable_target(self.checkpoint_path)


@dataclass
class Progress:
    epoch: int  # 1-based
    epochs: int
    step: int  # steps done in this epoch
    steps: int  # steps per epoch
    loss: float  # running mean over this epoch
    accuracy: float  # running training accuracy over this epoch
    images_per_second: float
    finished: bool = False
    interrupted: bool = False  # stopped on request; the checkpoint holds the last completed step
    heldout_accuracy: float | None = None
    weights: str | None = None


@dataclass
class Evaluation:
    accuracy: float
    confusion: np.ndarray  # (10, 10): rows true class, columns predicted
    predictions: np.ndarray  # (N,)
    lengths: np.ndarray = field(repr=False, default=None)  # (N, 10)

    def to_dict(self) -> dict:
        return {"accuracy": self.accuracy, "n": int(self.confusion.sum()),
                "confusion": self.confusion.tolist()}


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, 28, 28) → float (N, 1, 28, 28) in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(images)).float().div_(255.0).unsqueeze(1)


def augment(x: torch.Tensor, generator: torch.Generator, max_shift: int = 2) -> torch.Tensor:
    """Random shifts of up to `max_shift` px (the paper), plus mild rotation, scale and stroke
    thickening, which drawn digits need. x: (B, 1, 28, 28)."""
    batch = x.shape[0]
    rand = lambda *shape: torch.rand(*shape, generator=generator)
    angle = (rand(batch) * 2 - 1) * math.radians(12)
    scale = 0.88 + rand(batch) * 0.24
    shear = (rand(batch) * 2 - 1) * 0.15
    shift = torch.randint(-max_shift, max_shift + 1, (batch, 2), generator=generator).float() * (2.0 / 28)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin + shear, shift[:, 0]], 1),
                         torch.stack([sin, cos, shift[:, 1]], 1)], 1)  # (B, 2, 3)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, align_corners=False, padding_mode="zeros")
    thicken = (rand(batch) < 0.25).float().view(batch, 1, 1, 1) * (0.4 + 0.6 * rand(batch).view(batch, 1, 1, 1))
    return torch.maximum(x, thicken * F.max_pool2d(x, 3, stride=1, padding=1))


def evaluate(model, split: Split, iterations: int | None = None, batch_size: int = 250) -> Evaluation:
    """Accuracy and confusion matrix of `model` (a CapsNet or the baseline CNN) on a split; `lengths`
    holds the class scores (capsule lengths, or the CNN's probabilities)."""
    iterations = iterations or getattr(model.config, "routing_iterations", 3)
    was_training = model.training
    model.eval()
    lengths = []
    with torch.inference_mode():
        for start in range(0, len(split), batch_size):
            x = to_tensor(split.images[start:start + batch_size]).to(model.device)
            lengths.append(model.class_scores(x, iterations).float().cpu())
    model.train(was_training)
    lengths = torch.cat(lengths).numpy()
    predictions = lengths.argmax(axis=1)
    n = model.config.n_classes
    confusion = np.bincount(split.labels * n + predictions, minlength=n * n).reshape(n, n)
    accuracy = float((predictions == split.labels).mean()) if len(split) else float("nan")
    return Evaluation(accuracy, confusion, predictions, lengths)


def _batch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100_003 + epoch))


def _step_generator(seed: int, epoch: int, step: int) -> torch.Generator:
    return torch.Generator().manual_seed((seed * 100_003 + epoch) * 1_000_003 + step)


def _save_checkpoint(path: Path, model, optimizer, scheduler, config: TrainConfig, epoch: int, step: int,
                     sums: dict, elapsed: float) -> None:
    state = {
        "model": model.state_dict(), "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(), "epoch": epoch, "step": step,
        "sums": sums, "elapsed": elapsed,
        "identity": _identity(config),
    }
    try:
        with atomic_path(path) as tmp:
            torch.save(state, tmp)
    except OSError as exc:
        raise CapsExplorerError(f"{path}: cannot write the checkpoint ({reason(exc)})") from None


def _identity(config: TrainConfig) -> dict:
    """The settings a checkpoint must share with the run that resumes it."""
    keys = ("model", "dataset", "epochs", "batch_size", "lr", "lr_decay", "iterations", "seed", "augment",
            "max_shift", "limit")
    return {k: getattr(config, k) for k in keys}


def _load_checkpoint(path: Path, config: TrainConfig) -> dict:
    if regular_file(path, CapsExplorerError, "checkpoint").st_size == 0:
        raise CapsExplorerError(f"{path}: the checkpoint is empty; delete it or pass --fresh")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        detail = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise CapsExplorerError(f"{path}: unreadable checkpoint ({detail}); delete it or pass --fresh") from None
    if not isinstance(state, dict) or not {"model", "optimizer", "scheduler", "epoch", "step"} <= set(state):
        raise CapsExplorerError(f"{path}: not a capsexplorer training checkpoint; delete it or pass --fresh")
    if state.get("identity") != _identity(config):
        raise CapsExplorerError(f"{path}: the checkpoint was made with other settings "
                                f"({state.get('identity')}); use the same settings or pass --fresh")
    return state


@contextmanager
def deferred_interrupts(stop: threading.Event):
    """In the main thread, Ctrl+C and SIGTERM only set `stop` while the block runs: a signal that
    lands inside `optimizer.step()` (Adam updates parameters one by one) can then never leave a
    half-applied step behind. Elsewhere (a worker thread) this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    handler = lambda _signum, _frame: stop.set()  # noqa: E731
    previous = {number: signal.signal(number, handler) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, old in previous.items():
            signal.signal(number, old)


def iter_training(config: TrainConfig, dataset: Dataset | None = None, resume: bool = True,
                  on_step: Callable[[int, int], None] | None = None,
                  stop: threading.Event | None = None) -> Iterator[Progress]:
    """Trains a CapsNet, yielding a Progress after every step; the last one has `finished` set.

    A checkpoint is written atomically every `checkpoint_every` steps and at each epoch's end.
    Setting `stop` (from any thread; Ctrl+C and SIGTERM set it in the main thread) ends the run
    between two steps: the completed step is checkpointed, the last Progress has `interrupted`
    set, and `resume` continues from it to exactly the weights of an uninterrupted run.
    """
    config.validate()
    device = resolve_device(config.device)
    for target in (Path(config.out), config.checkpoint_path):
        remove_orphans(target)  # temporary files of a run that was killed mid-write
    stop = stop or threading.Event()
    with deferred_interrupts(stop):
        yield from _train(config, dataset, resume, on_step, stop, device)


def _train(config, dataset, resume, on_step, stop, device) -> Iterator[Progress]:
    dataset = dataset or load_dataset(config.dataset, config.data_dir)
    train = dataset.train
    if config.limit is not None:  # evenly spaced, so every class is represented
        keep = np.unique(np.linspace(0, len(train) - 1, config.limit).round().astype(np.int64))
        train = Split(train.images[keep], train.labels[keep])
    torch.manual_seed(config.seed)
    if config.model == "cnn":
        model = BaselineCNN().to(device)
    else:
        model = CapsNet(CapsNetConfig(routing_iterations=config.iterations)).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=config.lr_decay)
    images, labels = to_tensor(train.images), torch.from_numpy(train.labels)
    steps = math.ceil(len(train) / config.batch_size)
    epoch, step, elapsed = 0, 0, 0.0
    sums = {"loss": 0.0, "correct": 0.0, "seen": 0.0}
    ckpt = config.checkpoint_path
    if resume and ckpt.exists():
        state = _load_checkpoint(ckpt, config)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        epoch, step, sums, elapsed = state["epoch"], state["step"], state["sums"], state["elapsed"]
    model.train()
    started = time.perf_counter() - elapsed
    save = lambda e, s: _save_checkpoint(ckpt, model, optimizer, scheduler, config, e, s, sums,
                                         time.perf_counter() - started)
    progress = lambda: Progress(epoch + 1, config.epochs, step, steps,  # noqa: E731
                                sums["loss"] / max(sums["seen"], 1), sums["correct"] / max(sums["seen"], 1), 0.0)
    while epoch < config.epochs:
        order = _batch_order(len(train), config.seed, epoch)
        while step < steps:
            if stop.is_set():
                save(epoch, step)
                yield replace(progress(), interrupted=True)
                return
            tick = time.perf_counter()
            index = order[step * config.batch_size:(step + 1) * config.batch_size]
            x, y = images[index], labels[index]
            if config.augment:
                x = augment(x, _step_generator(config.seed, epoch, step), config.max_shift)
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            if config.model == "cnn":
                lengths = model(x)  # logits: argmax picks the same class
                loss = F.cross_entropy(lengths, y)
            else:
                lengths, _, recon = model(x, config.iterations, labels=y)
                loss = margin_loss(lengths, y) + reconstruction_loss(recon, x)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
            sums["loss"] += float(loss.detach()) * len(y)
            sums["correct"] += float((lengths.argmax(1) == y).sum())
            sums["seen"] += len(y)
            if on_step is not None:
                on_step(epoch, step)
            if step % config.checkpoint_every == 0 and step < steps:
                save(epoch, step)
            yield Progress(epoch + 1, config.epochs, step, steps, sums["loss"] / sums["seen"],
                           sums["correct"] / sums["seen"], len(y) / (time.perf_counter() - tick))
        epoch, step = epoch + 1, 0
        sums = {"loss": 0.0, "correct": 0.0, "seen": 0.0}
        scheduler.step()
        save(epoch, step)
    seconds = time.perf_counter() - started
    result = evaluate(model, dataset.heldout, config.iterations)
    save_weights(model, config.out, {
        "model": config.model, "dataset": dataset.name, "split": dataset.split, "epochs": config.epochs,
        "routing_iterations": config.iterations, "heldout_accuracy": f"{result.accuracy:.4f}",
        "heldout_size": len(dataset.heldout), "train_size": len(train), "seed": config.seed,
        "train_seconds": f"{seconds:.0f}", "classes": ",".join(dataset.classes),
        "train_config": str(asdict(config)),
    }, float16=config.float16)
    ckpt.unlink(missing_ok=True)
    yield Progress(config.epochs, config.epochs, steps, steps, float("nan"), float("nan"), 0.0,
                   finished=True, heldout_accuracy=result.accuracy, weights=config.out)
