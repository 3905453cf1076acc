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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from capsexplorer.data import multimnist
from capsexplorer.data.augment import augment, to_tensor
from capsexplorer.data.datasets import Dataset, Split, load_dataset
from capsexplorer.errors import CapsExplorerError, DivergedError
from capsexplorer.files import remove_orphans, writable_target
from capsexplorer.net.baseline import BaselineCNN
from capsexplorer.net.checkpoint import load_checkpoint, save_checkpoint
from capsexplorer.net.config import MAX_ITERATIONS, ROUTERS
from capsexplorer.net.inference import as_images, evaluating, map_batches
from capsexplorer.net.losses import margin_loss, reconstruction_loss
from capsexplorer.net.model import CapsNet, CapsNetConfig
from capsexplorer.net.weights import save_weights
from capsexplorer.training.decoder_fit import DecoderFit, fit_decoder
from capsexplorer.training.distributed import World, join, leave

MODELS = ("capsnet", "cnn")  # the CapsNet, or the convolutional baseline it is compared with
AUGMENT_STYLES = ("digits", "shifts")


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
    routing: str = "dynamic"  # the router (capsexplorer.net.routers): dynamic, uniform, attention, self-attention
    seed: int = 0
    augment: bool = True
    augment_style: str = "digits"  # "digits": shifts, rotation, scale, shear, thickening; "shifts": the paper's only
    max_shift: int = 2  # the paper's random shifts of up to 2 px
    amp: bool = False  # bf16 autocast (GPUs; on CPUs with AMX or AVX-512 BF16 about 1.7× faster here)
    out: str = "capsnet.safetensors"
    checkpoint: str | None = None  # default: OUT + ".ckpt"
    checkpoint_every: int = 50  # steps between checkpoints (and at every epoch's end)
    device: str | None = None
    limit: int | None = None  # train on the first N examples only (quick runs, tests)
    float16: bool = True  # store the final weights as float16
    init: str | None = None  # start from these weights (a path or a shipped model's name) instead of random ones
    evaluate_each_epoch: bool = False  # report held-out accuracy and reconstructions after every epoch
    decoder_epochs: int = 0  # then fit the decoder on the frozen capsules (capsexplorer.training.decoder_fit)
    validation: int = 0  # training images set aside (a seeded choice) for each epoch's report; 0: none

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
        need(self.routing in ROUTERS, f"--routing must be one of {', '.join(ROUTERS)}, got {self.routing!r}")
        need(self.routing == "dynamic" or self.model == "capsnet", "--routing chooses a CapsNet's router; the CNN has none")
        need(integer(self.seed) and 0 <= self.seed < 2 ** 32, f"--seed must be from 0 to 2³²−1, got {self.seed}")
        need(integer(self.checkpoint_every) and self.checkpoint_every >= 1,
             f"checkpoint_every must be at least 1, got {self.checkpoint_every}")
        need(self.augment_style in AUGMENT_STYLES,
             f"--augment must be one of {', '.join(AUGMENT_STYLES)}, got {self.augment_style!r}")
        need(isinstance(self.amp, bool), f"amp must be true or false, got {self.amp!r}")
        need(integer(self.decoder_epochs) and 0 <= self.decoder_epochs <= 10_000,
             f"--decoder-epochs must be from 0 to 10000, got {self.decoder_epochs}")
        need(not self.decoder_epochs or self.model == "capsnet", "--decoder-epochs is for CapsNets; the CNN has no decoder")
        need(integer(self.max_shift) and 0 <= self.max_shift <= 8, f"max_shift must be from 0 to 8, got {self.max_shift}")
        need(integer(self.validation) and 0 <= self.validation <= 1_000_000,
             f"--validation must be from 0 to 1000000 images, got {self.validation}")
        need(self.dataset != "multimnist" or self.model == "capsnet",
             "--dataset multimnist trains a CapsNet (the CNN baseline reads one digit of 28×28)")
        need(self.dataset != "multimnist" or not self.decoder_epochs,
             "--decoder-epochs refits the decoder on single digits; a MultiMNIST decoder is trained with the pairs")
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
    heldout_accuracy: float | None = None  # after an epoch (`evaluate_each_epoch`) and at the end
    weights: str | None = None
    margin_loss: float | None = None  # this step's, mean over the global batch (the CNN: cross-entropy)
    reconstruction_loss: float | None = None  # this step's, 0.0005 × SSE
    seconds_left: float | None = None  # at this process's pace so far
    elapsed: float = 0.0  # training seconds so far, across resumes
    epoch_end: bool = False  # an epoch's report: held-out accuracy, samples and their reconstructions
    reconstruction_sse: float | None = None
    samples: np.ndarray | None = field(default=None, repr=False)  # (k, 28, 28) uint8 held-out images
    reconstructions: np.ndarray | None = field(default=None, repr=False)  # (k, 28, 28) floats in [0, 1]


@dataclass
class Evaluation:
    accuracy: float
    confusion: np.ndarray  # (10, 10): rows true class, columns predicted
    predictions: np.ndarray  # (N,)
    lengths: np.ndarray = field(repr=False, default=None)  # (N, 10)
    # Mean over the images of Σ_784 (image − reconstruction of the predicted capsule)²; CapsNets only.
    reconstruction_sse: float | None = None

    def to_dict(self) -> dict:
        result = {"accuracy": self.accuracy, "n": int(self.confusion.sum()), "confusion": self.confusion.tolist()}
        if self.reconstruction_sse is not None:
            result["reconstruction_sse"] = self.reconstruction_sse
        return result


def evaluate(model, split: Split, iterations: int | None = None, batch_size: int = 250) -> Evaluation:
    """Accuracy and confusion matrix of `model` (a CapsNet or the baseline CNN) on a split; `lengths`
    holds the class scores (capsule lengths, or the CNN's probabilities). For a CapsNet also the
    reconstruction error: the decoder fed the predicted capsule, against the raw image."""
    iterations = iterations or getattr(model.config, "routing_iterations", 3)
    capsnet = getattr(model, "kind", "") == "capsnet"

    def scores_and_error(images):
        x = as_images(images, model.device)  # (B, 1, H, W)
        if not capsnet:
            return model.class_scores(x, iterations).float().cpu(), 0.0
        x = model.fit_input(x)
        scores, _, recon = model(x, iterations)  # recon: the longest capsule decoded (B, 784)
        return scores.float().cpu(), float(((recon.float() - x.flatten(1)) ** 2).sum())

    answers = list(map_batches(model, scores_and_error, split.images, batch=batch_size))
    lengths = torch.cat([scores for scores, _ in answers]).numpy()
    sse = sum(error for _, error in answers)
    predictions = lengths.argmax(axis=1)
    n = model.config.n_classes
    confusion = np.bincount(split.labels * n + predictions, minlength=n * n).reshape(n, n)
    accuracy = float((predictions == split.labels).mean()) if len(split) else float("nan")
    mean_sse = sse / len(split) if capsnet and len(split) else None
    return Evaluation(accuracy, confusion, predictions, lengths, mean_sse)


def _batch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100_003 + epoch))


def _step_seed(seed: int, epoch: int, step: int, rank: int = 0) -> int:
    """A 64-bit seed of its own for every step (and rank): any seed from 0 to 2³²−1 works, and runs with
    the seeds that fitted unreduced keep the numbers they drew before."""
    return (((seed * 100_003 + epoch) * 1_000_003 + step) * 1_009 ** rank) % 2 ** 64


def _step_generator(seed: int, epoch: int, step: int) -> torch.Generator:
    return torch.Generator().manual_seed(_step_seed(seed, epoch, step))


def _save_checkpoint(path: Path, model, optimizer, scheduler, config: TrainConfig, epoch: int, step: int,
                     sums: dict, elapsed: float) -> None:
    save_checkpoint(path, {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                           "scheduler": scheduler.state_dict(), "epoch": epoch, "step": step,
                           "sums": sums, "elapsed": elapsed, "identity": _identity(config)})


def _identity(config: TrainConfig) -> dict:
    """The settings a checkpoint must share with the run that resumes it."""
    keys = ("model", "dataset", "epochs", "batch_size", "lr", "lr_decay", "iterations", "routing", "seed", "augment",
            "augment_style", "max_shift", "limit", "amp", "init", "validation")
    return {k: getattr(config, k) for k in keys}


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
                  stop: threading.Event | None = None) -> Iterator[Progress]:
    """Trains a CapsNet (or the baseline CNN), yielding a Progress after every step; the last one has
    `finished` set.

    A checkpoint is written atomically every `checkpoint_every` steps and at each epoch's end.
    Setting `stop` (from any thread; Ctrl+C and SIGTERM set it in the main thread) ends the run
    between two steps: the completed step is checkpointed, the last Progress has `interrupted`
    set, and `resume` continues from it to exactly the weights of an uninterrupted run.
    Started by torchrun, each process trains its share of every global batch (DDP); rank 0 alone
    writes checkpoints and weights.
    """
    config.validate()
    world = join(config.device)
    try:
        if world.leader:
            for target in (Path(config.out), config.checkpoint_path):
                remove_orphans(target)  # temporary files of a run that was killed mid-write
        world.barrier()
        stop = stop or threading.Event()
        with deferred_interrupts(stop):
            yield from _train(config, dataset, resume, stop, world)
    except RuntimeError as exc:  # Gloo's or NCCL's report of a peer that died mid-collective
        if not (world.distributed and _from_the_process_group(exc)):
            raise
        ckpt = config.checkpoint_path
        resume_from = f"the last checkpoint ({ckpt}) resumes the run" if ckpt.exists() else "no checkpoint yet"
        raise CapsExplorerError(f"another training process ended or lost its connection (rank {world.rank} of "
                                f"{world.size} stops too); {resume_from}") from exc
    finally:
        leave(world)


def _from_the_process_group(exc: RuntimeError) -> bool:
    text = str(exc).lower()
    return isinstance(exc, torch.distributed.DistError) or "gloo" in text or "nccl" in text


def _subset(train: Split, limit: int | None) -> Split:
    if limit is None:
        return train
    keep = np.unique(np.linspace(0, len(train) - 1, limit).round().astype(np.int64))  # every class represented
    return Split(train.images[keep], train.labels[keep])


def set_aside(train: Split, count: int, seed: int) -> tuple[Split, Split | None]:
    """(the images trained on, `count` images set aside for validation — a seeded choice, in their order)."""
    if not count:
        return train, None
    if count >= len(train):
        raise CapsExplorerError(f"--validation {count} leaves nothing to train on ({len(train)} training images)")
    aside = np.zeros(len(train), bool)
    aside[np.random.default_rng(seed).permutation(len(train))[:count]] = True
    return Split(train.images[~aside], train.labels[~aside]), Split(train.images[aside], train.labels[aside])


def _build_model(config: TrainConfig, n_classes: int, device: torch.device):
    torch.manual_seed(config.seed)  # the same initial weights on every rank
    if config.model == "cnn":
        if n_classes != 10:
            raise CapsExplorerError(f"the CNN baseline has 10 classes; this data set has {n_classes}")
        return BaselineCNN().to(device)
    size = multimnist.CANVAS if config.dataset == "multimnist" else 28  # two digits shifted ±4 px: 36×36
    return CapsNet(CapsNetConfig(image_size=size, routing_iterations=config.iterations, routing=config.routing,
                                 n_classes=n_classes)).to(device)


def _initialise(model, config: TrainConfig) -> None:
    """The weights of `config.init` (one line if they are not this kind of network or do not fit)."""
    from capsexplorer.net.weights import load_baseline, load_model

    loaded = (load_baseline if config.model == "cnn" else load_model)(config.init, device="cpu")
    try:
        model.load_state_dict(loaded.state_dict())
    except RuntimeError:
        if not (config.model == "capsnet" and _same_but_size(loaded.config, model.config)):
            raise CapsExplorerError(f"{config.init}: the --init weights do not fit this run's network "
                                    f"(another number of classes or layer sizes)") from None
        model.load_state_dict(warm_start_state(loaded, model.config))


def _same_but_size(a, b) -> bool:
    """Two CapsNet configurations that differ in the input's size alone."""
    return replace(a, image_size=b.image_size) == b


@torch.no_grad()
def warm_start_state(source, config) -> dict:
    """A state for a CapsNet of `config` from `source`, a CapsNet of another input size (a digits model
    warm-starting the 36×36 two-digit one): the convolutions as they are; each W_ij of the new primary grid
    from the nearest cell of the old grid (same capsule type); the decoder's hidden layers as they are and its
    output layer with each old pixel at the centre of the larger canvas, the border drawn dark; a self-attention
    router's priors b_ij, like W_ij, from the nearest cell."""
    old, state = source.config, source.state_dict()
    new_grid, old_grid = config.grid, old.grid
    nearest = torch.round(torch.arange(new_grid) * (old_grid - 1) / max(new_grid - 1, 1)).long()  # (G_new,)
    w = state["digit_weights"].view(old.primary_types, old_grid, old_grid, *state["digit_weights"].shape[1:])
    w = w[:, nearest][:, :, nearest]  # (T, G_new, G_new, J, D, 8)
    state["digit_weights"] = w.reshape(config.n_primary, *w.shape[3:]).clone()
    if "router.log_priors" in state:  # self-attention's learned priors b_ij: one row per primary capsule, too
        b = state["router.log_priors"].view(old.primary_types, old_grid, old_grid, -1)[:, nearest][:, :, nearest]
        state["router.log_priors"] = b.reshape(config.n_primary, -1).clone()  # (I_new, J)
    last = max(int(k.split(".")[1]) for k in state if k.startswith("decoder."))
    weight, bias = state[f"decoder.{last}.weight"], state[f"decoder.{last}.bias"]  # (H², h2), (H²,)
    size, pad = config.image_size, (config.image_size - old.image_size) // 2
    canvas_w = weight.new_zeros(size, size, weight.shape[1])
    canvas_b = bias.new_full((size, size), -6.0)  # sigmoid(−6) ≈ 0.002: dark
    inner = slice(max(pad, 0), max(pad, 0) + min(old.image_size, size))
    crop = slice(max(-pad, 0), max(-pad, 0) + min(old.image_size, size))
    canvas_w[inner, inner] = weight.view(old.image_size, old.image_size, -1)[crop, crop]
    canvas_b[inner, inner] = bias.view(old.image_size, old.image_size)[crop, crop]
    state[f"decoder.{last}.weight"], state[f"decoder.{last}.bias"] = canvas_w.view(size * size, -1), canvas_b.view(-1)
    return state


def _losses(net, config: TrainConfig, x: torch.Tensor, y: torch.Tensor, parts: torch.Tensor | None = None):
    """→ (class scores (B, C), margin or cross-entropy loss, reconstruction loss), means over the batch.
    MultiMNIST: y (B, 2) both digits' classes, and each digit's reconstruction against `parts` (B, 2, 36, 36),
    that digit alone as placed — the sum of both losses (Sabour et al. 2017, §6)."""
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=config.amp):
        if config.model == "cnn":
            logits = net(x).float()  # argmax of the logits picks the same class as the probabilities
            return logits, F.cross_entropy(logits, y), logits.new_zeros(())
        lengths, _, recon = net(x, config.iterations, labels=y)
        lengths = lengths.float()
        return lengths, margin_loss(lengths, y), reconstruction_loss(recon.float(), x if parts is None else parts)


def _correct(scores: torch.Tensor, y: torch.Tensor) -> float:
    """Right answers in a batch: the class, or — two labels an image — both digits (the two longest)."""
    if y.ndim == 2:
        return float(multimnist.both_right(scores.detach().cpu().numpy(), y.cpu().numpy()).sum())
    return float((scores.argmax(1) == y).sum())


def _train(config, dataset, resume, stop, world: World) -> Iterator[Progress]:
    if dataset is None:  # rank 0 first: a download happens once, then the other ranks read the files
        dataset = load_dataset(config.dataset, config.data_dir) if world.leader else None
        world.barrier()
        dataset = dataset or load_dataset(config.dataset, config.data_dir)
    train, validation = set_aside(_subset(dataset.train, config.limit), config.validation, config.seed)
    if validation is not None:  # each epoch's report measures these: the held-out set is measured once, at the end
        dataset = replace(dataset, validation=validation)
    device = world.device
    model = _build_model(config, len(dataset.classes), device)
    if config.init:
        _initialise(model, config)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=config.lr_decay)
    images, labels = to_tensor(train.images), torch.from_numpy(train.labels).long()
    pairs = config.dataset == "multimnist"  # an epoch: every training digit once as a pair's first digit
    steps = math.ceil(len(train) / config.batch_size)
    epoch, step, elapsed = 0, 0, 0.0
    sums = {"loss": 0.0, "correct": 0.0, "seen": 0.0}
    ckpt = config.checkpoint_path
    if resume and ckpt.exists():
        state = load_checkpoint(ckpt, _identity(config), _identity(TrainConfig()))
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        epoch, step, sums, elapsed = state["epoch"], state["step"], state["sums"], state["elapsed"]
        if epoch > config.epochs or (epoch == config.epochs and step):
            raise CapsExplorerError(f"{ckpt}: the checkpoint is at epoch {epoch + (1 if step else 0)}, past "
                                    f"--epochs {config.epochs}; ask for at least that many (or start over: --fresh)")
    if not world.same(epoch * steps + step):
        raise CapsExplorerError(f"{ckpt}: the training processes would resume from different steps (is the "
                                "checkpoint on a folder every process sees?)")
    net = model
    if world.distributed:
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    model.train()
    started = time.perf_counter() - elapsed
    clock = (time.perf_counter(), epoch * steps + step)  # this process's own start, for the time left

    def diverged(value: float) -> DivergedError:
        kept = f"the last good checkpoint is kept ({ckpt})" if ckpt.exists() else "no checkpoint was written"
        return DivergedError(f"training stopped at epoch {epoch + 1}, step {step + 1}: the loss is not finite "
                             f"({value:g}), the run diverged (try a lower --lr, or other --init weights); "
                             f"{kept}; no weights written")

    def save(e, s):
        if world.any(not all(bool(torch.isfinite(p).all()) for p in model.parameters())):
            raise diverged(float("nan"))  # a finite loss whose step overflowed the weights
        if world.leader:
            _save_checkpoint(ckpt, model, optimizer, scheduler, config, e, s, sums, time.perf_counter() - started)

    def progress(**extra):
        seen = max(sums["seen"], 1)
        done = epoch * steps + step - clock[1]
        left = (time.perf_counter() - clock[0]) / done * (config.epochs * steps - epoch * steps - step) if done else None
        return Progress(min(epoch + 1, config.epochs), config.epochs, step, steps, sums["loss"] / seen,
                        sums["correct"] / seen, extra.pop("images_per_second", 0.0), seconds_left=left,
                        elapsed=time.perf_counter() - started, **extra)

    while epoch < config.epochs:
        order = _batch_order(len(train), config.seed, epoch)
        while step < steps:
            if world.any(stop.is_set()):
                save(epoch, step)
                world.barrier()
                yield progress(interrupted=True)
                return
            tick = time.perf_counter()
            index = order[step * config.batch_size:(step + 1) * config.batch_size]
            parts = None
            if pairs:  # two digits of different classes, each shifted ±4 px, overlaid: made for the global batch
                made = multimnist.make_pairs(images[:, 0], labels, index, _step_generator(config.seed, epoch, step))
                x, y, parts = made.images, made.labels, made.parts
            else:
                x, y = images[index], labels[index]
            if config.augment and not pairs:  # the whole global batch, so every rank sees what one process would
                x = augment(x, _step_generator(config.seed, epoch, step), config.max_shift, config.augment_style)
            mine = world.share(index)
            x, y = x[mine].to(device, non_blocking=True), y[mine].to(device, non_blocking=True)
            parts = parts[mine].to(device, non_blocking=True) if parts is not None else None
            if config.model == "cnn":  # dropout draws from the global generator: seeded per step (and rank), a
                torch.manual_seed(_step_seed(config.seed, epoch, step, world.rank))  # resumed run draws the same
            if len(y):
                scores, main_loss, recon_loss = _losses(net, config, x, y, parts)
                loss = main_loss + recon_loss
                if world.distributed:  # DDP averages gradients over ranks: weight each share by its size
                    loss = loss * (len(y) * world.size / len(index))
            else:  # an empty share (at an epoch's end) still runs DDP's forward and gradient all-reduce, adding 0
                side = model.config.image_size if config.model == "capsnet" else 28
                dummy_y = torch.tensor([[0, 1]] if pairs else [0], device=device)
                dummy_parts = torch.zeros(1, 2, side, side, device=device) if pairs else None
                loss = sum(_losses(net, config, torch.zeros(1, 1, side, side, device=device), dummy_y,
                                   dummy_parts)[1:]) * 0.0
                scores, main_loss, recon_loss = None, torch.zeros(()), torch.zeros(())
            value = float(loss.detach())
            if world.any(not math.isfinite(value)):
                raise diverged(value)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
            correct = _correct(scores, y) if scores is not None else 0.0
            n_main, n_recon, correct, seen = world.sum(
                [float(main_loss.detach()) * len(y), float(recon_loss.detach()) * len(y), correct, float(len(y))])
            sums["loss"] += n_main + n_recon
            sums["correct"] += correct
            sums["seen"] += seen
            if step % config.checkpoint_every == 0 and step < steps:
                save(epoch, step)
            yield progress(images_per_second=seen / (time.perf_counter() - tick),
                           margin_loss=n_main / seen, reconstruction_loss=n_recon / seen)
        epoch, step = epoch + 1, 0
        sums = {"loss": 0.0, "correct": 0.0, "seen": 0.0}
        scheduler.step()
        save(epoch, step)
        if config.evaluate_each_epoch and world.leader and epoch < config.epochs:
            yield _epoch_report(model, dataset, config, progress(epoch_end=True), epoch)
    world.barrier()
    if not world.leader:
        yield progress(finished=True)
        return
    yield from _finish(model, dataset, train, config, time.perf_counter() - started, steps, progress)


EPOCH_PAIRS = 2_000  # held-out pairs an epoch's report of a MultiMNIST run measures (the final one: all 10,000)


def _epoch_report(model, dataset: Dataset, config: TrainConfig, base: Progress, epoch: int) -> Progress:
    """Held-out accuracy and reconstruction error after an epoch, with a few held-out images and their
    reconstructions — what the window's training panel draws. It only reports; nothing is selected by it."""
    if config.dataset == "multimnist":
        pairs = _heldout_pairs(replace(dataset, heldout=dataset.validation or dataset.heldout), EPOCH_PAIRS)
        result = multimnist.evaluate_pairs(model, pairs, config.iterations)
        return replace(base, epoch=epoch, step=base.steps, heldout_accuracy=result.accuracy,
                       reconstruction_sse=result.reconstruction_sse)
    checked = dataset.validation or dataset.heldout
    result = evaluate(model, checked, config.iterations)
    samples, recon = _shown_reconstructions(model, checked, config)
    return replace(base, epoch=epoch, step=base.steps, heldout_accuracy=result.accuracy,
                   reconstruction_sse=result.reconstruction_sse, samples=samples, reconstructions=recon)


def _shown_reconstructions(model, checked: Split, config: TrainConfig) -> tuple[np.ndarray, np.ndarray | None]:
    """A few images the run never trains on, one per class, and the CapsNet's reconstructions of them
    ((k, 28, 28) uint8 and floats in [0, 1]; none for the CNN)."""
    samples = _first_of_each_class(checked, 8)
    if config.model != "capsnet":
        return checked.images[samples], None
    with evaluating(model):
        recon = model(as_images(checked.images[samples], model.device), config.iterations)[2]  # (k, 784)
    return checked.images[samples], recon.float().view(-1, 28, 28).cpu().numpy()


def _first_of_each_class(split: Split, count: int) -> np.ndarray:
    firsts = [np.flatnonzero(split.labels == c)[:1] for c in np.unique(split.labels)]
    picked = np.concatenate(firsts)[:count] if firsts else np.arange(0)
    return np.sort(picked) if len(picked) else np.arange(min(count, len(split)))


def _heldout_pairs(dataset: Dataset, count: int = multimnist.HELDOUT_PAIRS) -> multimnist.Pairs:
    pairs = multimnist.heldout_pairs(dataset.heldout)  # the fixed set: its first `count` pairs
    return multimnist.Pairs(pairs.images[:count], pairs.labels[:count], pairs.parts[:count])


def _finish(model, dataset, train, config, seconds, steps, progress) -> Iterator[Progress]:
    extra = {}
    if config.decoder_epochs and config.model == "capsnet":
        extra = fit_decoder(model, train, DecoderFit(epochs=config.decoder_epochs, seed=config.seed,
                                                     style=config.augment_style))
        extra = {f"decoder_fit_{k}": str(v) for k, v in extra.items()}
    if config.dataset == "multimnist":  # all 10,000 held-out pairs; a --limit run (a quick try) 100
        count = multimnist.HELDOUT_PAIRS if config.limit is None else 100
        result = multimnist.evaluate_pairs(model, _heldout_pairs(dataset, count), config.iterations)
        extra["heldout_pairs"] = str(count)
    else:
        result = evaluate(model, dataset.heldout, config.iterations)
    checked = "validation" if dataset.name == "mnist5k" else "heldout"  # mnist5k's fifth: MNIST training digits
    meta = {
        "model": config.model, "dataset": dataset.name, "split": dataset.split, "epochs": config.epochs,
        "routing_iterations": config.iterations, f"{checked}_accuracy": f"{result.accuracy:.4f}",
        f"{checked}_size": len(dataset.heldout), "train_size": len(train), "seed": config.seed,
        "train_seconds": f"{seconds:.0f}", "amp": "bf16" if config.amp else "off",
        "classes": ",".join(c.replace(",", " ") for c in dataset.classes), "train_config": str(asdict(config)), **extra,
    }
    if result.reconstruction_sse is not None:
        meta["reconstruction_sse"] = f"{result.reconstruction_sse:.3f}"
    if dataset.validation is not None:
        meta["validation_set_aside"] = len(dataset.validation)
    save_weights(model, config.out, meta, float16=config.float16)
    config.checkpoint_path.unlink(missing_ok=True)
    shown = {}
    if config.evaluate_each_epoch and config.dataset != "multimnist":  # the last epoch's pictures, as each other's
        shown = dict(zip(("samples", "reconstructions"),
                         _shown_reconstructions(model, dataset.validation or dataset.heldout, config)))
    yield replace(progress(finished=True), epoch=config.epochs, step=steps, loss=float("nan"),
                  accuracy=float("nan"), heldout_accuracy=result.accuracy,
                  reconstruction_sse=result.reconstruction_sse, weights=config.out, **shown)
