"""sweep, grid, robustness and equivariance: the lab's measurements from the command line, with progress on stderr."""
from __future__ import annotations

import json
import math
import sys
import time

from capsexplorer.cli.common import _check_finite, _defined, _load, _network_input, _same_classes, _save_npz, _targets
from capsexplorer.errors import CapsExplorerError


class _StderrProgress:
    """`progress(done, total)` as one line on stderr, rewritten in place on a terminal and printed at most
    every 10 s otherwise — whatever stdout carries (JSON included). Nothing for the first `delay` seconds:
    work done by then needs no progress."""

    def __init__(self, what: str, delay: float = 0.0):
        self.what, self.start, self.last, self.delay = what, time.perf_counter(), -math.inf, delay

    def __call__(self, done: int, total: int) -> None:
        now = time.perf_counter()
        tty = sys.stderr is not None and sys.stderr.isatty()
        if now - self.start < self.delay or done < total and now - self.last < (0.5 if tty else 10.0):
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


def cmd_sweep(args) -> int:
    import numpy as np

    from capsexplorer.analysis import render
    from capsexplorer.analysis.sweep import run_sweep
    from capsexplorer.data import transforms

    for value in (args.start, args.stop):
        transforms.check(args.transform, value)
    if args.steps == 1 and args.stop != args.start:
        raise CapsExplorerError(f"--steps 1 routes one value, but --from {args.start:g} and --to {args.stop:g} "
                                "differ: give more steps, or the same value twice")
    _targets(args, {"out": ".png", "gif": ".gif", "npz": ".npz"})
    model = _load(args)
    x = _network_input(args, model)
    sweep = run_sweep(model, x, args.transform, np.linspace(args.start, args.stop, args.steps), args.iterations)
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
    from capsexplorer.analysis import render
    from capsexplorer.analysis.posegrid import EFFECT_UNITS, pose_grid, read_as

    if args.range == "data" and args.span is not None:
        raise CapsExplorerError("--span sets the paper's range; --range data spans ±2σ of each dimension: "
                                "give --range paper with --span, or leave --span out")
    mode = args.range or ("paper" if args.span is not None else "data")
    span = args.span if args.span is not None else 0.25
    if not 0 < span <= 2:
        raise CapsExplorerError(f"--span must be above 0 and at most 2, got {span:g}")
    _targets(args, {"out": ".png", "npz": ".npz"})
    model = _load(args)
    x = _network_input(args, model)
    tr = model.trace(x[None], iterations=args.iterations)
    _check_finite(model, args.image, tr.final_lengths)
    n = model.config.n_classes
    if args.digit is not None and args.digit >= n:
        raise CapsExplorerError(f"--digit must be from 0 to {n - 1} for these weights, got {args.digit}")
    digit = int(tr.prediction[0]) if args.digit is None else args.digit
    sigma = _grid_sigma(args, model, digit) if mode == "data" else None
    if sigma is not None:
        from capsexplorer.analysis.pose_stats import SIGMAS

        span = SIGMAS
    else:
        mode = "paper"
    grid = pose_grid(model, tr.poses[0, digit], digit, span, args.steps, sigma=sigma)
    _check_finite(model, f"{args.image}'s pose grid", None, grid.grid)
    labels = grid.labels()
    for row, read in zip(labels, read_as(model, grid, args.iterations)):
        row["read_as"] = read.tolist()  # the class the network reads in each tile's reconstruction
    if args.npz:
        _save_npz(args.npz, grid.arrays())
    if args.out:
        render.save_png(render.grid_image(grid, labels), args.out)
    rows = grid.dimension_offsets()  # (16, steps)
    if args.json:
        print(json.dumps({"image": str(args.image), "digit": digit, "length": round(float(tr.final_lengths[0, digit]), 4),
                          "range": mode,
                          "offsets": [round(float(o), 6) for o in grid.offsets],
                          "offsets_unit": "standard deviations of the class's training poses" if mode == "data"
                          else "pose units",
                          **({"sigma": [round(float(v), 6) for v in sigma]} if sigma is not None else {}),
                          "effect_units": EFFECT_UNITS,
                          "dimensions": [dict(row, effects={k: None if v is None else round(v, 5)
                                                            for k, v in row["effects"].items()},
                                              salience={k: round(v, 3) for k, v in row["salience"].items()},
                                              offsets=[round(float(o), 6) for o in rows[row["index"]]])
                                         for row in labels]}, allow_nan=False))
        return 0
    extent = "±2σ of its class's training poses" if mode == "data" else f"±{span:g}"
    print(f"{args.image}: digit capsule {digit} (‖v‖ {tr.final_lengths[0, digit]:.3f}), each pose dimension "
          f"{extent}:")
    for row in labels:
        lost = sum(r != digit for r in row["read_as"])
        print(f"  {row['index'] + 1:>2}  {row['label']}" + (f"  (not read as {digit} in {lost} of its "
                                                           f"{len(row['read_as'])} tiles)" if lost else ""))
    for option in ("out", "npz"):
        if getattr(args, option):
            print(f"  written: {getattr(args, option)}")
    return 0


def _grid_sigma(args, model, digit: int):
    """The spread (16,) of `digit`'s poses over the model's training images — kept, shipped, or computed now
    (progress on stderr) — or None, said in one line, where they are not here and --range data was not asked."""
    from capsexplorer.analysis import pose_stats
    from capsexplorer.cli.common import log
    from capsexplorer.errors import DataError

    try:
        stats = pose_stats.load_or_compute(model, _StderrProgress("pose statistics of the training images", 2.0))
    except DataError as exc:
        if args.range == "data":
            raise
        log.warning("%s; the grid spans the paper's ±0.25 instead (--range paper)", exc)
        return None
    return pose_stats.spread(stats, digit)


DIGIT_DATA = ("mnist5k", "mnist", "multimnist")  # weights whose classes are the ten digits


def cmd_robustness(args) -> int:
    from capsexplorer.analysis import robustness
    from capsexplorer.net.weights import load_baseline

    _targets(args, {"out": ".png"})
    capsnet = _load(args)
    dataset = capsnet.metadata.get("dataset") or "mnist5k"
    if dataset not in DIGIT_DATA or capsnet.config.n_classes != 10:
        raise CapsExplorerError(f"robustness is measured on MNIST test digits: these weights were trained on "
                                f"{dataset} ({capsnet.config.n_classes} classes), so their answers there mean nothing")
    models = {"capsnet": capsnet, "cnn": load_baseline(args.cnn_weights or _cnn_of(dataset), device=args.device)}
    split = robustness.test_digits()
    result = robustness.measure(models, split, args.iterations, progress=_StderrProgress("measuring"))
    if args.iterations == 3:  # what the window shows: it reuses this
        from capsexplorer.analysis.predictions import robustness_file, store_json

        name = robustness_file(models["capsnet"], models["cnn"])
        if name:
            store_json(name, result)
    if args.ablation:
        result["routing-ablation"] = robustness.routing_ablation(models["capsnet"], split)
    if args.json:  # the measurement first: a picture that cannot be written (a full disk) does not lose it
        print(json.dumps(result, allow_nan=False), flush=True)
        _plot_after(robustness.plot, result, args.out, say=False)
        return 0
    for name in ("capsnet", "cnn"):
        print(f"{name}:")
        for transform, row in result[name].items():
            print(f"  {transform:<10} " + "  ".join(f"{v}: {a:.3f}" for v, a in row.items()))
    print("affine mix: " + ", ".join(f"{n} {a:.3f}" for n, a in result["affine-mix"].items()))
    for r, row in result.get("routing-ablation", {}).items():
        print(f"capsnet, {r} routing iteration{'s' if r != '1' else ''}: held-out {row['heldout']:.3f}, "
              f"affine mix {row['affine-mix']:.3f}")
    print(f"measured in {result['seconds']:.0f} s", flush=True)
    _plot_after(robustness.plot, result, args.out)
    return 0


def _plot_after(plot, result: dict, out, say: bool = True) -> None:
    """Writes the picture once the figures are printed, and says where (a failure is the command's one line)."""
    if out:
        plot(result, out)
        if say:
            print(f"written: {out}")


def cmd_equivariance(args) -> int:
    from capsexplorer.analysis import equivariance
    from capsexplorer.data.datasets import model_samples
    from capsexplorer.net.weights import load_baseline

    _targets(args, {"out": ".png"})
    if args.cnn_weights is not None and not str(args.cnn_weights).strip():
        raise CapsExplorerError("--cnn-weights is empty: give the CNN's weights file")
    capsnet = _load(args)
    dataset = capsnet.metadata.get("dataset") or "mnist5k"
    samples = model_samples(dataset)
    if samples is None:
        raise CapsExplorerError(f"no held-out images of {dataset} are shipped to measure these weights on")
    _same_classes(capsnet, int(samples[0].labels.max()) + 1, f"its metadata's data set ({dataset}: {samples[1]} images)",
                  "equivariance is measured on a model's own test images")
    cnn = load_baseline(args.cnn_weights or _cnn_of(dataset), device=args.device)
    cnn_dataset = cnn.metadata.get("dataset") or "mnist5k"
    if dataset != cnn_dataset:
        raise CapsExplorerError(f"the CapsNet was trained on {dataset}, the CNN on {cnn_dataset}: give --cnn-weights "
                                f"of a CNN trained on {dataset}")
    split = equivariance.subset(samples[0], args.limit)
    result = equivariance.measure(capsnet, cnn, split, progress=_StderrProgress("measuring equivariance"))
    if args.limit == equivariance.LIMIT and dataset in ("mnist5k", "mnist"):  # what the window shows: it reuses this
        from capsexplorer.analysis.predictions import equivariance_file, store_json

        name = equivariance_file(capsnet, cnn)
        if name:
            store_json(name, result)
    if args.json:
        print(json.dumps(result, allow_nan=False), flush=True)
        _plot_after(equivariance.plot, result, args.out, say=False)
        return 0
    percent = lambda values: "  ".join("    n/a" if v is None else f"{v:+7.1%}" for v in values)  # noqa: E731
    print(f"equivariance over {result['n']} {samples[1]} images: {result['readout']}")
    for transform, row in result["transforms"].items():
        caps, cnn_row = row["capsnet"], row["cnn"]
        print(f"{transform} ({row['unit']}): read-out R² capsnet {_r2(caps['readout_r2'])}, "
              f"cnn {_r2(cnn_row['readout_r2'])}; one read-out per class: capsnet "
              f"{_r2(caps['readout_r2_per_class'])}, cnn {_r2(cnn_row['readout_r2_per_class'])}; "
              f"cnn from all its {result.get('cnn_features', '')} features: "
              f"{_r2(cnn_row['readout_r2_all_features'])}")
        print("  value               " + "  ".join(f"{v:>7g}" for v in row["values"]))
        print("  capsnet ‖v_y‖ mean  " + percent(caps["length_change"]))
        print("  cnn p(y) mean       " + percent(cnn_row["probability_change"]))
        print("  capsnet ‖v_y‖ median" + percent(caps["length_change_median"]))
        print("  cnn p(y) median     " + percent(cnn_row["probability_change_median"]))
        print("  capsnet alignment   " + "  ".join("    n/a" if a is None else f"{a:7.2f}" for a in caps["alignment"]))
    print(f"measured in {result['seconds']:.0f} s", flush=True)
    _plot_after(equivariance.plot, result, args.out)
    return 0


def _cnn_of(dataset: str) -> str:
    """The shipped CNN trained alike with a digits CapsNet of `dataset` (mnist5k's own; else the full MNIST's)."""
    return "mnist5k" if dataset == "mnist5k" else "mnist"


def _r2(value) -> str:
    return "n/a" if value is None else f"{value:.2f}"
