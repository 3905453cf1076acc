"""classify, trace and evaluate: the trained network on images and on a held-out set."""
from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path

import numpy as np

from capsexplorer.cli.common import _check_finite, _fail, _load, _same_classes, _targets, model_input
from capsexplorer.errors import CapsExplorerError


def cmd_classify(args) -> int:
    from capsexplorer.net.weights import class_names

    model = _load(args)
    names = class_names(model)
    failed = 0
    for path in args.images:
        try:
            x = model_input(path, model)
        except CapsExplorerError as exc:
            message = str(exc)
            failed += 1
            _fail(message if message.startswith(str(path)) else f"{path}: {message}")
            continue
        tr = model.trace(x[None], iterations=args.iterations)
        _check_finite(model, str(path), tr.final_lengths)
        digit = int(tr.prediction[0])
        lengths = [round(float(v), 4) for v in tr.final_lengths[0]]
        pose = [round(float(v), 4) for v in tr.poses[0, digit]]
        two = model.metadata.get("dataset") == "multimnist"  # a two-digit model: its two longest capsules
        second = int(np.argsort(tr.final_lengths[0])[-2])
        if args.json:
            row = {"path": str(path), "prediction": digit, "class": names[digit], "lengths": lengths, "pose": pose}
            if two:
                row["two_longest"] = [digit, second]
            print(json.dumps(row, allow_nan=False))
        else:
            named = "" if names[digit] == str(digit) else f" {names[digit]}"
            print(f"{path}: {digit}{named}  (length {lengths[digit]:.3f})" + (
                f"; the two longest: {names[digit]} and {names[second]} ({lengths[second]:.3f})" if two else ""))
            print("  lengths: " + " ".join(f"{d}:{v:.3f}" for d, v in enumerate(lengths)))
            print("  pose:    " + " ".join(f"{v:+.3f}" for v in pose))
        sys.stdout.flush()
    return 1 if failed else 0


def cmd_trace(args) -> int:
    out = _trace_target(Path(args.out))
    model = _load(args)
    x = model_input(args.image, model)
    tr = model.trace(x[None], iterations=args.iterations, keep_u_hat=args.u_hat)
    _check_finite(model, args.image, tr.final_lengths, tr.reconstruction)
    try:
        if out.exists() and not out.is_file():  # /dev/null, a FIFO: write into it as it is
            with open(out, "wb") as f:
                tr.save(f)
        else:
            from capsexplorer.files import atomic_write, remove_orphans

            remove_orphans(out)  # what a killed earlier write left beside it
            with atomic_write(out) as f:
                tr.save(f)
    except OSError as exc:
        from capsexplorer.files import reason

        raise CapsExplorerError(f"{out}: cannot write ({reason(exc)})") from None
    from capsexplorer.net.weights import class_names

    winner = int(tr.prediction[0])
    name = class_names(model)[winner]
    said = str(winner) if name == str(winner) else f"{winner} {name}"
    print(f"{args.image}: {said}; trace of {tr.iterations} iterations written to {out}")
    return 0


def _trace_target(out: Path) -> Path:
    """Where `trace --out` writes: FILE.npz (the suffix added when missing, and named so), or a
    character device or FIFO as given (`/dev/null`). Checked before the model is loaded."""
    import stat

    from capsexplorer.files import writable_target

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


def _evaluate_pairs(args, model, dataset) -> int:
    """A two-digit model on the 10,000 held-out pairs (from held-out digits only): the paper's measure."""
    from capsexplorer.data import multimnist

    if model.config.image_size != multimnist.CANVAS or args.model != "capsnet":
        raise CapsExplorerError(f"{model.metadata.get('path')}: MultiMNIST pairs are 36×36 images for a CapsNet; "
                                f"these weights take {model.config.image_size}×{model.config.image_size}")
    pairs = multimnist.heldout_pairs(dataset.heldout, min(args.limit or multimnist.HELDOUT_PAIRS,
                                                          multimnist.HELDOUT_PAIRS))
    result = multimnist.evaluate_pairs(model, pairs, args.iterations)
    _check_finite(model, "the held-out pairs", result.lengths, [result.reconstruction_sse])
    figures = {"accuracy": result.accuracy, "n": len(pairs), "paper_accuracy": multimnist.PAPER_ACCURACY,
               "reconstruction_sse": result.reconstruction_sse, "measure": "both digits right: the two longest "
               "capsules are exactly the two digits present", "iterations": args.iterations or
               model.config.routing_iterations, "dataset": "multimnist",
               "split": dataset.split if len(pairs) == multimnist.HELDOUT_PAIRS else
               f"the first {len(pairs):,} held-out pairs, from {dataset.split}",
               "weights": model.metadata.get("path")}
    if args.json:
        print(json.dumps(figures, allow_nan=False))
        return 0
    print(f"capsnet, {len(pairs):,} held-out MultiMNIST pairs (from MNIST's test digits only): both digits right "
          f"{result.accuracy:.4f} (the paper: {multimnist.PAPER_ACCURACY:.3f}, trained on 60,000,000 pairs)")
    print(f"reconstruction error (each digit from its own capsule, squared, summed over the pixels, mean per "
          f"pair): {result.reconstruction_sse:.2f}")
    return 0


def _digits_test():
    """The digits' held-out set for any digits model: MNIST's official 10,000 test digits (shipped)."""
    from capsexplorer.data.datasets import Dataset, mnist5k, mnist_test

    return Dataset("mnist", mnist5k().train, mnist_test(), split="the official MNIST test set, 10,000 digits "
                   "never trained or selected on")


def _first(dataset, count: int):
    """`dataset` with only its first `count` held-out images (evaluate --limit), the split saying so."""
    from capsexplorer.data.datasets import Split

    heldout = Split(dataset.heldout.images[:count], dataset.heldout.labels[:count])
    return dataclasses.replace(dataset, heldout=heldout, split=f"the first {count:,} images of {dataset.split}")


def cmd_evaluate(args) -> int:
    from capsexplorer.data.datasets import load_dataset
    from capsexplorer.training.train import evaluate

    if args.model == "cnn":
        from capsexplorer.net.weights import load_baseline

        model = load_baseline(args.weights, device=args.device)
    else:
        model = _load(args)
    name = args.dataset or model.metadata.get("dataset", "mnist5k")
    try:
        dataset = _digits_test() if name in ("mnist", "mnist5k") and not args.data_dir \
            else load_dataset(name, args.data_dir)
    except CapsExplorerError as exc:
        if args.dataset:
            raise
        raise CapsExplorerError(f"the weights name the data set {name!r}, which cannot be loaded ({exc}); "
                                "choose one with --dataset") from None
    _same_classes(model, len(dataset.classes), f"the {dataset.name} data set")
    if dataset.name == "multimnist":
        return _evaluate_pairs(args, model, dataset)
    if args.limit is not None and args.limit < len(dataset.heldout):
        dataset = _first(dataset, args.limit)
    result = evaluate(model, dataset.heldout, args.iterations)
    _check_finite(model, f"the {dataset.name} held-out images", result.lengths,
                  None if result.reconstruction_sse is None else [result.reconstruction_sse])
    if args.json:
        print(json.dumps(dict(result.to_dict(), model=args.model, dataset=dataset.name, split=dataset.split,
                              weights=model.metadata.get("path")), allow_nan=False))
        return 0
    print(f"{args.model}, held out ({dataset.split}): accuracy {result.accuracy:.4f} "
          f"on {len(dataset.heldout)} images")
    if result.reconstruction_sse is not None:
        print(f"reconstruction error (squared, summed over the pixels, mean per image): "
              f"{result.reconstruction_sse:.2f}")
    print("confusion (rows: true, columns: predicted)")
    print("      " + " ".join(f"{c:>4}" for c in range(result.confusion.shape[1])))
    for label, row in enumerate(result.confusion):
        print(f"  {label:>2}: " + " ".join(f"{v:>4}" for v in row))
    return 0


def cmd_sample(args) -> int:
    """A held-out digit or pair as a PNG: what `classify`, `trace`, `sweep` and `grid` need to begin with."""
    from PIL import Image

    from capsexplorer.analysis.render import save_png
    from capsexplorer.data.datasets import mnist_test

    if args.pair and args.digit is not None:
        raise CapsExplorerError("--digit picks a single test digit; a pair's two digits are its own (--index)")
    _targets(args, {"out": ".png"})  # as every command checks its output files
    test = mnist_test()
    rng = np.random.default_rng(args.seed)
    if args.pair:
        from capsexplorer.data import multimnist

        index = args.index if args.index is not None else int(rng.integers(multimnist.HELDOUT_PAIRS))
        pairs = multimnist.heldout_pairs(test, index + 1)
        pixels = (np.clip(pairs.images[index], 0, 1) * 255).round().astype(np.uint8)  # (36, 36)
        a, b = (int(v) for v in pairs.labels[index])
        what = f"held-out pair {index} (digits {a} and {b}, 36×36)"
    else:
        choices = np.arange(len(test)) if args.digit is None else np.flatnonzero(test.labels == args.digit)
        if args.index is not None:
            if args.digit is not None and test.labels[args.index] != args.digit:
                raise CapsExplorerError(f"test digit {args.index} is a {test.labels[args.index]}, not a {args.digit}")
            index = args.index
        else:
            index = int(rng.choice(choices))
        pixels = test.images[index]
        what = f"MNIST test digit {index} (a {int(test.labels[index])}, 28×28)"
    image = Image.fromarray(pixels, mode="L")
    if args.scale > 1:
        image = image.resize((image.width * args.scale, image.height * args.scale), Image.Resampling.NEAREST)
    save_png(image, args.out)
    print(f"{args.out}: {what}")
    return 0
