"""train and fit-decoder, and the progress they show: a bar on stderr or JSON lines on stdout."""
from __future__ import annotations

import os
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

from capsexplorer.cli.common import _load, _same_classes, _silence_stdout, log
from capsexplorer.errors import CapsExplorerError


def cmd_data(args) -> int:
    """`capsexplorer data mnist`: the full MNIST into the data folder; progress on stderr, where it went on stdout."""
    from capsexplorer.data import mnist_files

    say = lambda line: print(f"capsexplorer: {line}", file=sys.stderr, flush=True)  # noqa: E731
    folder = mnist_files.fetch(args.data_dir, args.source, say)
    print(folder)
    return 0


def cmd_train(args) -> int:
    from capsexplorer.training.distributed import launched_by_torchrun
    from capsexplorer.training.train import TrainConfig, iter_training

    if getattr(args, "weights", None):
        raise CapsExplorerError(f"train writes new weights (--out) and reads none: to start from {args.weights} "
                                f"(fine-tuning), use --init {args.weights}")
    config = TrainConfig(
        model=args.model, dataset=args.dataset, data_dir=args.data_dir, epochs=args.epochs, batch_size=args.batch_size,
        lr=args.lr, lr_decay=args.lr_decay, iterations=args.iterations, routing=args.routing, seed=args.seed,
        augment=not args.no_augment, augment_style=args.augment, amp=args.amp, limit=args.limit,
        out=args.out or f"{args.model}.safetensors", checkpoint=args.checkpoint,
        device=args.device, float16=not args.float32, decoder_epochs=args.decoder_epochs,
        evaluate_each_epoch=args.progress == "json", init=args.init, validation=args.validation)
    leader = os.environ.get("RANK", "0") == "0" or not launched_by_torchrun()
    report = (_JsonProgress if args.progress == "json" else _BarProgress)() if leader else None
    # Ctrl+C and SIGTERM only ask the loop to stop: it finishes the step it is in, checkpoints
    # that completed step and ends with an `interrupted` progress object. A progress reader that
    # goes away (`| head -1`) asks the same.
    stop = threading.Event()
    reader_left = False
    p = None
    for p in iter_training(config, resume=not args.fresh, stop=stop):
        if report is not None:
            try:
                report(p, config)
            except BrokenPipeError:
                _silence_stdout()
                report, reader_left = None, True
                stop.set()
        if p.finished or p.interrupted:
            break
    if p is None or not leader:
        return 130 if p is not None and p.interrupted else 0
    if reader_left:
        done = f"weights written to {p.weights}" if p.finished else f"checkpoint saved at {config.checkpoint_path}"
        print(f"capsexplorer: the progress reader went away; {done}", file=sys.stderr)
        return 0 if p.finished else 1
    if p.interrupted:
        print(f"capsexplorer: interrupted after step {p.step} of epoch {p.epoch}; checkpoint saved to "
              f"{config.checkpoint_path} — run the same command to resume", file=sys.stderr)
        return 130
    if args.progress != "json":
        checked = "validation" if config.dataset == "mnist5k" else "held-out"  # mnist5k: its own fifth, MNIST training digits
        print(f"{checked} accuracy {p.heldout_accuracy:.4f}; weights written to {p.weights}")
    return 0


class _BarProgress:
    """A tqdm bar per epoch on stderr."""

    def __init__(self):
        self.bar = None

    def __call__(self, p, config) -> None:
        from tqdm import tqdm

        if p.finished or p.interrupted or p.epoch_end:
            if self.bar is not None and (p.finished or p.interrupted):
                self.bar.close()
            return
        if self.bar is None or self.bar.desc != f"epoch {p.epoch}/{p.epochs}":
            if self.bar is not None:
                self.bar.close()
            self.bar = tqdm(total=p.steps, initial=p.step - 1, desc=f"epoch {p.epoch}/{p.epochs}",
                            unit="batch", dynamic_ncols=True, file=sys.stderr)
        self.bar.update(1)
        self.bar.set_postfix(loss=f"{p.loss:.4f}", acc=f"{p.accuracy:.3f}", img_s=f"{p.images_per_second:.0f}")


class _JsonProgress:
    """One JSON object per line on stdout (`--progress json`), as `capsexplorer.progress_events` defines
    them for programs such as the window's Training dialog."""

    def __init__(self):
        self.last = float("-inf")
        self.started = False

    def __call__(self, p, config) -> None:
        from capsexplorer import progress_events as events

        if not self.started:
            self.started = True
            self.emit(events.start(p, config))
        record = events.record(p, config)
        if record["event"] == "step":
            now = time.monotonic()
            if now - self.last < events.STEP_EVERY_S and p.step < p.steps:
                return
            self.last = now
        self.emit(record)

    @staticmethod
    def emit(record: dict) -> None:
        from capsexplorer.progress_events import encode

        print(encode(record), flush=True)


def cmd_fit_decoder(args) -> int:
    """The decoder trained further on the frozen capsules of the training images; classification is unchanged."""
    import torch

    from capsexplorer.data.datasets import augmentation_for, load_dataset
    from capsexplorer.files import writable_target
    from capsexplorer.net.weights import save_weights
    from capsexplorer.training.decoder_fit import DecoderFit, fit_decoder
    from capsexplorer.training.train import evaluate

    if Path(args.out).suffix.lower() != ".safetensors":
        raise CapsExplorerError(f"{args.out}: the weights are written as safetensors; name the file *.safetensors")
    if not (0 < args.lr <= 10):
        raise CapsExplorerError(f"--lr must be above 0 and at most 10, got {args.lr}")
    writable_target(args.out)
    model = _load(args)
    dataset = load_dataset(model.metadata.get("dataset", "mnist5k"), args.data_dir)
    if dataset.name in ("mnist", "mnist5k"):  # a digits model is measured on the official test digits (shipped)
        from capsexplorer.data.datasets import mnist_test

        dataset = replace(dataset, heldout=mnist_test())
    _same_classes(model, len(dataset.classes), f"its metadata's data set ({dataset.name})",
                  "fit-decoder refits the decoder on the model's own training data")
    before = evaluate(model, dataset.heldout)
    fit = DecoderFit(epochs=args.epochs, augmentations=args.augmentations, lr=args.lr, seed=args.seed,
                     style=augmentation_for(dataset.name))
    info = fit_decoder(model, dataset.train, fit, progress=lambda text: log.info("%s", text))
    with torch.no_grad():  # measured as stored: float16, which the capsules already were
        for parameter in model.parameters():
            parameter.copy_(parameter.half().float())
    after = evaluate(model, dataset.heldout)
    meta = {k: v for k, v in model.metadata.items() if k not in ("config", "path")}
    meta.update({f"decoder_fit_{k}": str(v) for k, v in info.items()}, decoder_fit_lr=str(args.lr),
                decoder_fit_seed=str(args.seed), heldout_accuracy=f"{after.accuracy:.4f}",
                heldout_size=str(len(dataset.heldout)), reconstruction_sse=f"{after.reconstruction_sse:.3f}")
    save_weights(model, args.out, meta)
    print(f"held-out accuracy {before.accuracy:.4f} → {after.accuracy:.4f}; reconstruction error (mean SSE) "
          f"{before.reconstruction_sse:.2f} → {after.reconstruction_sse:.2f}; weights written to {args.out}")
    return 0
