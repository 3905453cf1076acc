"""capsexplorer's command line: the window (no arguments), classify, trace, train, evaluate, snapshot."""
from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import threading
import time
from pathlib import Path

from .errors import CapsExplorerError

log = logging.getLogger("capsexplorer")

TRANSFORMS = ("shift-x", "shift-y", "rotate", "scale", "shear", "thickness")  # capsexplorer.transforms


def _fail(message: str) -> int:
    """One line on standard error as 'capsexplorer: …', and in the log file (logging is set up first)."""
    log.error("%s", message)
    return 1


def _positive_iterations(text: str) -> int:
    from .config import MAX_ITERATIONS

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if not 1 <= value <= MAX_ITERATIONS:
        raise argparse.ArgumentTypeError(f"must be from 1 to {MAX_ITERATIONS}, got {value}")
    return value


def _version() -> str:
    from . import __version__

    return __version__


def _finite(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    return value


def _int_range(low: int, high: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be from {low} to {high}, got {value}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    from .data import DATASETS

    from .logfile import log_path

    parser = argparse.ArgumentParser(
        prog="capsexplorer",
        description="Explore a Capsule Network (Sabour, Frosst & Hinton 2017).\n"
                    "With no command, opens the explorer window.",
        epilog=f"log file (every message, with tracebacks):\n  {log_path()}",
        formatter_class=argparse.RawDescriptionHelpFormatter)  # a path is never broken at its hyphens
    parser.add_argument("--weights", help="a safetensors weights file (default: the shipped model)")
    parser.add_argument("--device", help="cpu, cuda, cuda:1 … (default: CUDA when available)")
    parser.add_argument("--debug", action="store_true", help="log details and full tracebacks")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    # The same options after the command (`classify a.png --weights w.safetensors`) override these.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--weights", default=argparse.SUPPRESS, help="a safetensors weights file")
    common.add_argument("--device", default=argparse.SUPPRESS, help="cpu, cuda, cuda:1 …")
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="full tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    add = lambda name, **kw: sub.add_parser(name, parents=[common], **kw)  # noqa: E731

    gui = add("gui", help="open the explorer window (the default)")
    gui.add_argument("image", nargs="?", help="an image to open")

    classify = add("classify", help="classify image files")
    classify.add_argument("images", nargs="+", metavar="IMAGE")
    classify.add_argument("--json", action="store_true", help="one JSON object per line")
    classify.add_argument("--iterations", type=_positive_iterations, default=3, metavar="N")

    trace = add("trace", help="write the whole routing trace of one image to .npz")
    trace.add_argument("image", metavar="IMAGE")
    trace.add_argument("--out", required=True, metavar="FILE.npz")
    trace.add_argument("--iterations", type=_positive_iterations, default=3, metavar="N")
    trace.add_argument("--u-hat", action="store_true", help="also store the predictions û (737 kB per image)")

    train = add("train", help="train a CapsNet (or, with --model cnn, the CNN baseline)")
    train.add_argument("--model", choices=("capsnet", "cnn"), default="capsnet")
    train.add_argument("--dataset", choices=DATASETS, default="mnist5k")
    train.add_argument("--data-dir", help="where IDX files are, or where to download them")
    train.add_argument("--epochs", type=_int_range(1, 100_000), default=30)
    train.add_argument("--batch-size", type=int, default=64)
    train.add_argument("--lr", type=_finite, default=1e-3)
    train.add_argument("--lr-decay", type=_finite, default=0.95, help="per-epoch exponential decay")
    train.add_argument("--iterations", type=_positive_iterations, default=3, metavar="N")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--no-augment", action="store_true")
    train.add_argument("--augment", choices=("digits", "shifts"), default="digits",
                       help="digits: shifts, rotation, scale, shear, thickening (default); shifts: the paper's only")
    train.add_argument("--init", metavar="WEIGHTS", help="start from these weights (a file, or mnist5k / "
                       "fashion-mnist) instead of random ones: fine-tuning")
    train.add_argument("--decoder-epochs", type=_int_range(0, 10_000), default=0, metavar="N",
                       help="then fit the decoder for N epochs on the frozen capsules (sharper reconstructions)")
    train.add_argument("--progress", choices=("bar", "json"), default="bar",
                       help="bar: a progress bar on stderr; json: JSON lines on stdout, held-out accuracy each epoch")
    train.add_argument("--amp", action="store_true", help="bf16 mixed precision (GPUs; CPUs with AMX or AVX-512 BF16)")
    train.add_argument("--limit", type=int, help="train on N examples only")
    train.add_argument("--out", metavar="FILE.safetensors", help="default: capsnet.safetensors or cnn.safetensors")
    train.add_argument("--checkpoint", help="checkpoint file (default: OUT.ckpt)")
    train.add_argument("--fresh", action="store_true", help="ignore an existing checkpoint")
    train.add_argument("--float32", action="store_true", help="store float32 weights (default float16)")

    evaluate = add("evaluate", help="held-out accuracy and confusion matrix")
    evaluate.add_argument("--model", choices=("capsnet", "cnn"), default="capsnet",
                          help="the CapsNet, or the CNN baseline (its weights: --weights, default the shipped one)")
    evaluate.add_argument("--json", action="store_true")
    evaluate.add_argument("--iterations", type=_positive_iterations, metavar="N")
    evaluate.add_argument("--dataset", choices=DATASETS,
                          help="default: the data set the weights were trained on")
    evaluate.add_argument("--data-dir")

    sweep = add("sweep", help="one transform of the input over a range: lengths and pose at each step")
    sweep.add_argument("image", metavar="IMAGE")
    sweep.add_argument("--transform", required=True, choices=TRANSFORMS)
    sweep.add_argument("--from", dest="start", type=_finite, required=True, metavar="A")
    sweep.add_argument("--to", dest="stop", type=_finite, required=True, metavar="B")
    sweep.add_argument("--steps", type=_int_range(1, 1000), default=21, metavar="N")
    sweep.add_argument("--iterations", type=_positive_iterations, default=3, metavar="N")
    sweep.add_argument("--out", metavar="STRIP.png", help="a filmstrip of inputs and reconstructions")
    sweep.add_argument("--gif", metavar="ANIM.gif", help="an animation, one frame per step")
    sweep.add_argument("--npz", metavar="FILE.npz", help="the Sweep's arrays")
    sweep.add_argument("--json", action="store_true")

    grid = add("grid", help="the paper's Figure 4 for a digit capsule, each dimension named by its effect")
    grid.add_argument("image", metavar="IMAGE")
    grid.add_argument("--digit", type=_int_range(0, 999), metavar="D", help="default: the winner")
    grid.add_argument("--span", type=_finite, default=0.25, help="perturb each dimension by ±SPAN (0 < SPAN ≤ 2)")
    grid.add_argument("--steps", type=_int_range(2, 41), default=11, metavar="N")
    grid.add_argument("--iterations", type=_positive_iterations, default=3, metavar="N")
    grid.add_argument("--out", metavar="GRID.png")
    grid.add_argument("--npz", metavar="FILE.npz", help="grid [16, steps, 28, 28], offsets, pose, digit")
    grid.add_argument("--json", action="store_true")

    refit = add("fit-decoder", help="fit the decoder again on the frozen capsules (sharper reconstructions)")
    refit.add_argument("--out", required=True, metavar="FILE.safetensors")
    refit.add_argument("--epochs", type=_int_range(1, 10_000), default=100)
    refit.add_argument("--augmentations", type=_int_range(1, 100), default=8, metavar="A",
                       help="augmented copies of the training images (the first is the raw set)")
    refit.add_argument("--lr", type=_finite, default=2e-3)
    refit.add_argument("--seed", type=int, default=0)
    refit.add_argument("--data-dir")
    robust = add("robustness", help="held-out accuracy of the CapsNet and the CNN under each transform")
    robust.add_argument("--cnn-weights", metavar="PATH", help="the CNN baseline's weights (default: shipped)")
    robust.add_argument("--iterations", type=_positive_iterations, default=3, metavar="N")
    robust.add_argument("--ablation", action="store_true",
                        help="also the CapsNet with 1, 2, 3, 5 and 10 routing iterations")
    robust.add_argument("--json", action="store_true")
    robust.add_argument("--out", metavar="PLOT.png")

    snapshot = add("snapshot", help="render the explorer window to a PNG, headless")
    snapshot.add_argument("image", nargs="?", metavar="IMAGE")
    snapshot.add_argument("--out", required=True, metavar="FILE.png")
    snapshot.add_argument("--iteration", type=int, metavar="K", help="routing iteration to show (1-based)")
    snapshot.add_argument("--iterations", type=_positive_iterations, default=3, metavar="N")
    snapshot.add_argument("--digit", type=int, choices=range(10), metavar="D",
                          help="digit capsule shown in the pose and spatial panels")
    snapshot.add_argument("--tab", choices=("routing", "primary", "probe", "sweep", "figure4", "heldout", "robustness"),
                          default="routing",
                          help="the lab's tab to show")
    snapshot.add_argument("--view", choices=("deviation", "coupling", "logits", "agreement", "routed"),
                          help="what the routing matrix shows")
    snapshot.add_argument("--primary", type=_int_range(0, 1151), metavar="I", help="primary capsule to inspect")
    snapshot.add_argument("--probe", action="append", default=[], metavar="NAME=VALUE",
                          help="a probe transform, e.g. rotate=30 (repeatable)")
    snapshot.add_argument("--sweep", metavar="NAME:FROM:TO", help="the sweep tab's transform and range, "
                                                                    "e.g. rotate:-180:180")
    return parser


def main(argv: list[str] | None = None) -> int:
    _stand_in_for_closed_stderr()
    # Nothing here compiles (no torch.compile), yet torch's optimisers import torch._dynamo, which loads
    # triton where a CUDA build of torch brought it — and triton's bindings print ~30 "nanobind: leaked"
    # lines at every exit. Marked absent, triton is never loaded (torch then takes it for not installed).
    sys.modules.setdefault("triton", None)
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(args.debug)
    if sys.stdout is None:  # started with standard output closed (`>&-`)
        if (args.command or "gui") != "gui":
            return _fail("standard output is closed: there is nowhere to write the results")
        sys.stdout = open(os.devnull, "w")  # a window started from a launcher needs none
    command = args.command or "gui"
    try:
        if command == "gui":
            from .app.main import run_gui

            return run_gui(weights=args.weights, image=getattr(args, "image", None), device=args.device)
        if command == "snapshot":
            from .app.main import run_snapshot

            return run_snapshot(args)
        handler = {"classify": cmd_classify, "trace": cmd_trace, "train": cmd_train, "fit-decoder": cmd_fit_decoder,
                   "evaluate": cmd_evaluate, "sweep": cmd_sweep, "grid": cmd_grid,
                   "robustness": cmd_robustness}[command]
        return handler(args)
    except CapsExplorerError as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        print("capsexplorer: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `capsexplorer classify … | head`: the reader left; so do we, quietly
        _silence_stdout()
        return 1
    except OSError as exc:  # standard output on a full disk (/dev/full) or otherwise unwritable
        from .files import reason

        return _fail(f"cannot write the output ({reason(exc)})")
    except Exception as exc:  # a bug of ours: one line, and the traceback with --debug and in the log file
        from .logfile import log_path

        log.error("internal error: %s: %s%s", type(exc).__name__, exc,
                  "" if args.debug else f" (the traceback: run with --debug, or see {log_path()})", exc_info=True)
        return 1


def _stand_in_for_closed_stderr() -> None:
    """Started with standard error closed (`2>&-`), Python's sys.stderr is None and print(…, file=None)
    writes to standard output — our error lines would mix into --json results — while the next file
    opened would take descriptor 2 and catch torch's own messages. /dev/null takes its place."""
    if sys.stderr is not None:
        return
    fd = os.open(os.devnull, os.O_WRONLY)
    if fd != 2:
        os.dup2(fd, 2)
        os.close(fd)
    sys.stderr = open(2, "w", buffering=1, closefd=False)


class _OneLine(logging.Formatter):
    tracebacks = False  # --debug

    def format(self, record: logging.LogRecord) -> str:
        text = f"capsexplorer: {record.getMessage()}"
        if record.exc_info and self.tracebacks:
            text += "\n" + self.formatException(record.exc_info)
        return text


def _configure_logging(debug: bool) -> None:
    """Messages go to stderr as 'capsexplorer: …' (tracebacks only with --debug), and to the log file
    with their tracebacks."""
    logger = logging.getLogger("capsexplorer")
    if not any(getattr(h, "_capsexplorer", False) for h in logger.handlers):
        handler = logging.StreamHandler()
        handler._capsexplorer = True
        handler.setFormatter(_OneLine())
        logger.addHandler(handler)
        logger.propagate = False
    for handler in logger.handlers:
        if getattr(handler, "_capsexplorer", False):
            handler.stream = sys.stderr  # the current stderr (tests capture it)
            handler.setLevel(logging.DEBUG if debug else logging.INFO)
            handler.formatter.tracebacks = debug
    logger.setLevel(logging.DEBUG)  # the log file takes every record; standard error INFO and up
    from .files import reason
    from .logfile import add_file_handler, log_path

    try:
        add_file_handler(logger)
    except OSError as exc:
        print(f"capsexplorer: warning: cannot write the log file {log_path()} ({reason(exc)}); "
              f"messages go to standard error only", file=sys.stderr)


def _check_finite(model, what: str, lengths, reconstruction=None) -> None:
    """Weights whose numbers overflow give NaN or infinity: one line naming the weights file, never
    a bare NaN in the output or an "internal error" from the JSON encoder."""
    import numpy as np

    for part, values in (("the capsule lengths for", lengths), ("the decoder's reconstruction of", reconstruction)):
        if values is not None and not np.isfinite(values).all():
            raise CapsExplorerError(f"{model.metadata.get('path', 'the weights')}: {part} {what} "
                                    "is not finite (NaN or infinity): the weights are unusable")


def _defined(value: float, digits: int) -> float | None:
    """A number for JSON: rounded, or None where it is undefined (NaN)."""
    return round(float(value), digits) if math.isfinite(value) else None


def _load(args):
    from .weights import load_model

    if args.weights is not None and not str(args.weights).strip():
        raise CapsExplorerError("--weights is empty: give a weights file")
    return load_model(args.weights, device=args.device)


def _style(model) -> str:
    from .preprocess import style_for

    return style_for(model.metadata.get("dataset"))


def cmd_classify(args) -> int:
    from .preprocess import load_image, preprocess
    from .weights import class_names

    model = _load(args)
    names = class_names(model)
    failed = 0
    for path in args.images:
        try:
            x = preprocess(load_image(path), _style(model))
        except CapsExplorerError as exc:
            message = str(exc)
            failed += 1
            _fail(message if message.startswith(str(path)) else f"{path}: {message}")
            continue
        tr = model.trace(x.unsqueeze(0), iterations=args.iterations)
        _check_finite(model, str(path), tr.final_lengths)
        digit = int(tr.prediction[0])
        lengths = [round(float(v), 4) for v in tr.final_lengths[0]]
        pose = [round(float(v), 4) for v in tr.poses[0, digit]]
        if args.json:
            print(json.dumps({"path": str(path), "prediction": digit, "class": names[digit], "lengths": lengths,
                              "pose": pose}, allow_nan=False))
        else:
            named = "" if names[digit] == str(digit) else f" {names[digit]}"
            print(f"{path}: {digit}{named}  (length {lengths[digit]:.3f})")
            print("  lengths: " + " ".join(f"{d}:{v:.3f}" for d, v in enumerate(lengths)))
            print("  pose:    " + " ".join(f"{v:+.3f}" for v in pose))
        sys.stdout.flush()
    return 1 if failed else 0


def cmd_trace(args) -> int:
    from .preprocess import load_image, preprocess

    out = _trace_target(Path(args.out))
    model = _load(args)
    x = preprocess(load_image(args.image), _style(model))
    tr = model.trace(x.unsqueeze(0), iterations=args.iterations, keep_u_hat=args.u_hat)
    _check_finite(model, args.image, tr.final_lengths, tr.reconstruction)
    try:
        if out.exists() and not out.is_file():  # /dev/null, a FIFO: write into it as it is
            with open(out, "wb") as f:
                tr.save(f)
        else:
            from .files import atomic_write, remove_orphans

            remove_orphans(out)  # what a killed earlier write left beside it
            with atomic_write(out) as f:
                tr.save(f)
    except OSError as exc:
        from .files import reason

        raise CapsExplorerError(f"{out}: cannot write ({reason(exc)})") from None
    print(f"{args.image}: {int(tr.prediction[0])}; trace of {tr.iterations} iterations written to {out}")
    return 0


def _trace_target(out: Path) -> Path:
    """Where `trace --out` writes: FILE.npz (the suffix added when missing, and named so), or a
    character device or FIFO as given (`/dev/null`). Checked before the model is loaded."""
    import stat

    from .files import writable_target

    if str(out) in ("", "."):
        raise CapsExplorerError("an empty --out: give a file name")
    try:
        mode = os.stat(out).st_mode
    except (OSError, ValueError):
        mode = 0
    if stat.S_ISCHR(mode) or stat.S_ISFIFO(mode):
        return out
    if out.suffix.lower() != ".npz":
        out = out.with_name(out.name + ".npz")
    return writable_target(out)


def cmd_train(args) -> int:
    from .distributed import launched_by_torchrun
    from .train import TrainConfig, iter_training

    config = TrainConfig(
        model=args.model, dataset=args.dataset, data_dir=args.data_dir, epochs=args.epochs, batch_size=args.batch_size,
        lr=args.lr, lr_decay=args.lr_decay, iterations=args.iterations, seed=args.seed,
        augment=not args.no_augment, augment_style=args.augment, amp=args.amp, limit=args.limit,
        out=args.out or f"{args.model}.safetensors", checkpoint=args.checkpoint,
        device=args.device, float16=not args.float32, decoder_epochs=args.decoder_epochs,
        evaluate_each_epoch=args.progress == "json", init=args.init)
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
        print(f"held-out accuracy {p.heldout_accuracy:.4f}; weights written to {p.weights}")
    return 0


class _StderrProgress:
    """`progress(done, total)` as one line on stderr, rewritten in place on a terminal and printed at most
    every 10 s otherwise — whatever stdout carries (JSON included)."""

    def __init__(self, what: str):
        self.what, self.start, self.last = what, time.perf_counter(), -math.inf

    def __call__(self, done: int, total: int) -> None:
        now = time.perf_counter()
        tty = sys.stderr is not None and sys.stderr.isatty()
        if done < total and now - self.last < (0.5 if tty else 10.0):
            return
        self.last = now
        left = (now - self.start) / done * (total - done) if done else None
        text = f"capsexplorer: {self.what}: {done} of {total} batches" + \
            (f", about {left:.0f} s left" if left is not None and done < total else "")
        try:
            print(("\r" + text + " " * 8) if tty else text, end="\n" if not tty or done == total else "",
                  file=sys.stderr, flush=True)
        except (OSError, ValueError, AttributeError):
            pass  # stderr closed or gone: progress is only a courtesy


def _silence_stdout() -> None:
    """Standard output's reader has gone: what is still buffered, and whatever follows, goes nowhere
    (Python's own flush at exit would otherwise complain on stderr)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


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
        from . import progress_events as events

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
        from .progress_events import encode

        print(encode(record), flush=True)


def cmd_fit_decoder(args) -> int:
    """The decoder trained further on the frozen capsules of the training images; classification is unchanged."""
    from .data import augmentation_for, load_dataset
    from .decoder_fit import DecoderFit, fit_decoder
    from .files import writable_target
    from .train import evaluate
    from .weights import save_weights
    import torch

    if Path(args.out).suffix.lower() != ".safetensors":
        raise CapsExplorerError(f"{args.out}: the weights are written as safetensors; name the file *.safetensors")
    if not (0 < args.lr <= 10):
        raise CapsExplorerError(f"--lr must be above 0 and at most 10, got {args.lr}")
    writable_target(args.out)
    model = _load(args)
    dataset = load_dataset(model.metadata.get("dataset", "mnist5k"), args.data_dir)
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
                reconstruction_sse=f"{after.reconstruction_sse:.3f}")
    save_weights(model, args.out, meta)
    print(f"held-out accuracy {before.accuracy:.4f} → {after.accuracy:.4f}; reconstruction error (mean SSE) "
          f"{before.reconstruction_sse:.2f} → {after.reconstruction_sse:.2f}; weights written to {args.out}")
    return 0


def cmd_evaluate(args) -> int:
    from .data import load_dataset
    from .train import evaluate

    if args.model == "cnn":
        from .weights import load_baseline

        model = load_baseline(args.weights, device=args.device)
    else:
        model = _load(args)
    name = args.dataset or model.metadata.get("dataset", "mnist5k")
    try:
        dataset = load_dataset(name, args.data_dir)
    except CapsExplorerError as exc:
        if args.dataset:
            raise
        raise CapsExplorerError(f"the weights name the data set {name!r}, which cannot be loaded ({exc}); "
                                "choose one with --dataset") from None
    if model.config.n_classes != len(dataset.classes):
        raise CapsExplorerError(f"{model.metadata.get('path')}: the weights have {model.config.n_classes} classes, "
                                f"the {dataset.name} data set {len(dataset.classes)}; choose another --dataset")
    result = evaluate(model, dataset.heldout, args.iterations)
    _check_finite(model, f"the {dataset.name} held-out images", result.lengths,
                  None if result.reconstruction_sse is None else [result.reconstruction_sse])
    if args.json:
        print(json.dumps(dict(result.to_dict(), model=args.model, dataset=dataset.name, split=dataset.split,
                              weights=model.metadata.get("path")), allow_nan=False))
        return 0
    print(f"{args.model}, {dataset.name} held-out ({dataset.split}): accuracy {result.accuracy:.4f} "
          f"on {len(dataset.heldout)} images")
    print("confusion (rows: true, columns: predicted)")
    print("      " + " ".join(f"{c:>4}" for c in range(result.confusion.shape[1])))
    for label, row in enumerate(result.confusion):
        print(f"  {label:>2}: " + " ".join(f"{v:>4}" for v in row))
    return 0


def _targets(args, suffixes: dict[str, str]) -> None:
    """Every output file is checked before the model loads; a missing suffix is an error."""
    from .files import writable_target

    for option, suffix in suffixes.items():
        path = getattr(args, option)
        if path is None:
            continue
        if Path(path).suffix.lower() != suffix:
            raise CapsExplorerError(f"{path}: --{option} is written as {suffix[1:].upper()}; name it *{suffix}")
        writable_target(path)


def _network_input(args, model):
    from .preprocess import load_image, preprocess_array

    try:
        return preprocess_array(load_image(args.image), _style(model))
    except CapsExplorerError as exc:
        message = str(exc)
        raise CapsExplorerError(message if message.startswith(str(args.image)) else f"{args.image}: {message}")


def _save_npz(path: str, arrays: dict) -> None:
    import numpy as np

    from .files import atomic_write

    with atomic_write(path) as f:
        np.savez_compressed(f, **arrays)


def cmd_sweep(args) -> int:
    import numpy as np

    from . import render, transforms

    for value in (args.start, args.stop):
        transforms.check(args.transform, value)
    _targets(args, {"out": ".png", "gif": ".gif", "npz": ".npz"})
    model = _load(args)
    x = _network_input(args, model)
    sweep = model.sweep(x, args.transform, np.linspace(args.start, args.stop, args.steps), args.iterations)
    _check_finite(model, args.image, sweep.lengths, sweep.reconstruction)
    if args.npz:
        _save_npz(args.npz, sweep.arrays())
    if args.out:
        render.save_png(render.sweep_strip(sweep), args.out)
    if args.gif:
        render.save_gif(render.sweep_frames(sweep), args.gif)
    change, angle = sweep.relative_length_change(), sweep.pose_angle()
    if args.json:
        print(json.dumps({"image": str(args.image), "transform": args.transform, "digit": sweep.digit,
                          "values": [round(float(v), 6) for v in sweep.values],
                          "prediction": [int(p) for p in sweep.prediction],
                          "lengths": [[round(float(v), 4) for v in row] for row in sweep.lengths],
                          "relative_length_change": [_defined(v, 4) for v in change],
                          "pose_angle_deg": [_defined(v, 3) for v in angle],
                          "summary": {k: _defined(v, 6) if isinstance(v, float) else v
                                      for k, v in sweep.summary().items()}}, allow_nan=False))
        return 0
    print(f"{args.image}: digit {sweep.digit} (‖v‖ {sweep.reference_lengths[sweep.digit]:.3f}) under {args.transform}")
    print(f"  {'value':>8}  predicted  ‖v_{sweep.digit}‖   length change  pose turns")
    for value, predicted, length, c, a in zip(sweep.values, sweep.prediction, sweep.lengths[:, sweep.digit],
                                              change, angle):
        c = f"{c:+13.1%}" if math.isfinite(c) else f"{'undefined':>13}"  # a capsule of length 0 has
        a = f"{a:8.1f}°" if math.isfinite(a) else "undefined"  # neither a relative change nor a direction
        print(f"  {value:>8.3g}  {int(predicted):>9}  {length:6.3f}  {c}  {a}")
    for option in ("out", "gif", "npz"):
        if getattr(args, option):
            print(f"  written: {getattr(args, option)}")
    return 0


def cmd_grid(args) -> int:
    from . import render
    from .posegrid import EFFECT_UNITS

    if not 0 < args.span <= 2:
        raise CapsExplorerError(f"--span must be above 0 and at most 2, got {args.span:g}")
    _targets(args, {"out": ".png", "npz": ".npz"})
    model = _load(args)
    x = _network_input(args, model)
    tr = model.trace(x[None], iterations=args.iterations)
    _check_finite(model, args.image, tr.final_lengths)
    n = model.config.n_classes
    if args.digit is not None and args.digit >= n:
        raise CapsExplorerError(f"--digit must be from 0 to {n - 1} for these weights, got {args.digit}")
    digit = int(tr.prediction[0]) if args.digit is None else args.digit
    grid = model.pose_grid(tr.poses[0, digit], digit, args.span, args.steps)
    _check_finite(model, f"{args.image}'s pose grid", None, grid.grid)
    labels = grid.labels()
    if args.npz:
        _save_npz(args.npz, grid.arrays())
    if args.out:
        render.save_png(render.grid_image(grid, labels), args.out)
    if args.json:
        print(json.dumps({"image": str(args.image), "digit": digit, "length": round(float(tr.final_lengths[0, digit]), 4),
                          "offsets": [round(float(o), 6) for o in grid.offsets],
                          "effect_units": EFFECT_UNITS,
                          "dimensions": [dict(row, effects={k: None if v is None else round(v, 5)
                                                            for k, v in row["effects"].items()})
                                         for row in labels]}, allow_nan=False))
        return 0
    print(f"{args.image}: digit capsule {digit} (‖v‖ {tr.final_lengths[0, digit]:.3f}), each pose dimension "
          f"±{args.span:g}:")
    for row in labels:
        print(f"  {row['index'] + 1:>2}  {row['label']}")
    for option in ("out", "npz"):
        if getattr(args, option):
            print(f"  written: {getattr(args, option)}")
    return 0


def cmd_robustness(args) -> int:
    from . import robustness
    from .data import heldout_samples
    from .weights import load_baseline

    _targets(args, {"out": ".png"})
    models = {"capsnet": _load(args), "cnn": load_baseline(args.cnn_weights, device=args.device)}
    split = heldout_samples()
    result = robustness.measure(models, split, args.iterations, progress=_StderrProgress("measuring"))
    from .data import mnist5k

    if args.iterations == 3 and len(split) == len(mnist5k().heldout):  # what the window shows: it reuses this
        from .predictions import robustness_file, store_json

        name = robustness_file(models["capsnet"], models["cnn"])
        if name:
            store_json(name, result)
    if args.ablation:
        result["routing-ablation"] = robustness.routing_ablation(models["capsnet"], split)
    if args.out:
        robustness.plot(result, args.out)
    if args.json:
        print(json.dumps(result, allow_nan=False))
        return 0
    for name in ("capsnet", "cnn"):
        print(f"{name}:")
        for transform, row in result[name].items():
            print(f"  {transform:<10} " + "  ".join(f"{v}: {a:.3f}" for v, a in row.items()))
    print("affine mix: " + ", ".join(f"{n} {a:.3f}" for n, a in result["affine-mix"].items()))
    for r, row in result.get("routing-ablation", {}).items():
        print(f"capsnet, {r} routing iteration{'s' if r != '1' else ''}: held-out {row['heldout']:.3f}, "
              f"affine mix {row['affine-mix']:.3f}")
    print(f"measured in {result['seconds']:.0f} s" + (f"; written: {args.out}" if args.out else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
