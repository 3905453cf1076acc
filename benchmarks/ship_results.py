"""Regenerates the results shipped with a digits model, so the window opens on them at once: the CapsNet's and
the CNN's predictions for MNIST's 10,000 test digits at 1, 2, 3, 5 and 10 routing iterations (the held-out
browser and What routing did), the per-class pose statistics (the Pose tab's ranges, Figure 4), and —
with --slow — robustness (1,000 test digits) and equivariance (300).

    python benchmarks/ship_results.py [--weights mnist] [--cnn mnist] [--out resources] [--slow]

Files are named by the weights' bytes (capsexplorer.analysis.predictions), so they are found wherever the package is.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from capsexplorer.analysis import equivariance, pose_stats, predictions, robustness
from capsexplorer.data.datasets import heldout_samples
from capsexplorer.net.weights import load_baseline, load_model

COUNTS = (3, 1, 2, 5, 10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default="mnist")
    parser.add_argument("--cnn", default="mnist")
    parser.add_argument("--out", default="resources")
    parser.add_argument("--slow", action="store_true", help="also robustness and equivariance")
    parser.add_argument("--only", choices=("heldout", "pose", "robustness", "equivariance"), nargs="+")
    args = parser.parse_args()
    out = Path(args.out)
    capsnet, cnn = load_model(args.weights, device="cpu"), load_baseline(args.cnn, device="cpu")
    key = predictions.weights_key(capsnet.metadata["path"], cnn.metadata["path"])
    wanted = set(args.only or ["heldout", "pose"] + (["robustness", "equivariance"] if args.slow else []))
    split = heldout_samples()
    if "heldout" in wanted:
        for count in COUNTS:
            start = time.perf_counter()
            result = predictions.predict_set(capsnet, cnn, split, None, iterations=count)
            predictions._store(out / predictions.heldout_file(key, count), split.labels, result.capsnet, result.cnn)
            print(f"{count} iteration(s): CapsNet {float((result.prediction == split.labels).mean()):.4f}, "
                  f"CNN {float((result.cnn_prediction == split.labels).mean()):.4f} "
                  f"({time.perf_counter() - start:.0f} s)", flush=True)
    if "pose" in wanted:
        start = time.perf_counter()
        stats = pose_stats.compute(capsnet)
        (out / predictions.pose_stats_file(capsnet)).write_text(json.dumps(stats.to_json()))
        print(f"pose statistics: {stats.source} ({time.perf_counter() - start:.0f} s)", flush=True)
    if "robustness" in wanted:
        result = robustness.measure({"capsnet": capsnet, "cnn": cnn}, robustness.test_digits())
        (out / predictions.robustness_file(capsnet, cnn)).write_text(json.dumps(result))
        print(f"robustness: affine mix {result['affine-mix']} ({result['seconds']:.0f} s)", flush=True)
    if "equivariance" in wanted:
        result = equivariance.measure(capsnet, cnn, equivariance.subset(split, equivariance.LIMIT))
        (out / predictions.equivariance_file(capsnet, cnn)).write_text(json.dumps(result))
        print(f"equivariance: {result['readout']} ({result['seconds']:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
