"""The equivariance measurement and the per-class pose statistics, with the shipped models (no Qt):

1. `capsexplorer equivariance` at its default --limit (target ≤ 3 minutes on a 2-core CPU), and where the
   time goes (the models' batches, the transforms, the read-out fits);
2. the pose statistics of each shipped CapsNet over its training images (computed once per weights file).

Nothing is read from or written to a cache: both really run.

    python benchmarks/bench_equivariance.py [--limit 300] [--skip-stats] [--skip-fashion]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="capsexplorer-bench-")  # nothing cached from before

import numpy as np  # noqa: E402
import torch  # noqa: E402

from capsexplorer.analysis import equivariance, pose_stats
from capsexplorer.data import transforms  # noqa: E402
from capsexplorer.data.datasets import heldout_samples  # noqa: E402
from capsexplorer.net.weights import load_baseline, load_model  # noqa: E402


def equivariance_timing(limit: int) -> None:
    capsnet, cnn = load_model(device="cpu"), load_baseline(device="cpu")
    split = equivariance.subset(heldout_samples(), limit)
    images = split.images.astype(np.float32) / 255
    start = time.perf_counter()
    for transform, values in equivariance.VALUES.items():
        for value in values:
            equivariance.transformed(images, transform, value)
    warping = time.perf_counter() - start
    start = time.perf_counter()
    steps = equivariance.collect_steps(capsnet, cnn, split)
    while True:
        try:
            next(steps)
        except StopIteration as finished:
            found = finished.value
            break
    collecting = time.perf_counter() - start
    start = time.perf_counter()
    result = equivariance.summarise(found)
    fitting = time.perf_counter() - start
    total = collecting + fitting
    print(f"equivariance, {len(split)} digits × {1 + sum(map(len, equivariance.VALUES.values()))} conditions × 2 "
          f"models on {torch.get_num_threads()} threads: {total:.0f} s (models and transforms {collecting:.0f} s, "
          f"of which the transforms {warping:.1f} s; read-outs and alignment {fitting:.1f} s)")
    for transform, row in result["transforms"].items():
        caps, cnn_row = row["capsnet"], row["cnn"]
        print(f"  {transform:<10} R² capsnet {caps['readout_r2']:.2f} (per class {caps['readout_r2_per_class']:.2f}), "
              f"cnn {cnn_row['readout_r2']:.2f} (per class {cnn_row['readout_r2_per_class']:.2f}); median length "
              f"change at {row['values'][0]:g}{transforms.UNITS[transform]}: {caps['length_change_median'][0]:+.1%}")


def stats_timing(name: str) -> None:
    model = load_model(name, device="cpu")
    start = time.perf_counter()
    stats = pose_stats.compute(model)
    print(f"pose statistics of {name}: {time.perf_counter() - start:.0f} s over {int(stats.counts.sum()):,} images "
          f"({stats.source})")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, default=equivariance.LIMIT)
    parser.add_argument("--skip-stats", action="store_true")
    parser.add_argument("--skip-fashion", action="store_true")
    args = parser.parse_args()
    equivariance_timing(args.limit)
    if not args.skip_stats:
        stats_timing("mnist5k")
        if not args.skip_fashion:
            stats_timing("fashion-mnist")
    return 0


if __name__ == "__main__":
    sys.exit(main())
