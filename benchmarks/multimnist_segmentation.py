"""Segmentation by routing, measured: on held-out MultiMNIST pairs, which strokes the shipped two-digit CapsNet's
routed mass gives to which digit (capsexplorer.analysis.segmentation, the Pairs tab's pictures), after each routing
iteration against uniform couplings (iteration 1), scored against each digit drawn alone.

    python benchmarks/multimnist_segmentation.py [--weights multimnist] [--pairs 1000] [--out FILE.json]

For every pair whose two longest capsules are the two digits present: the share of the strokes only one digit
draws that go to that digit's capsule ("own strokes"), the share of the strokes both draw that go to the first,
and how many ink pixels change sides (share above or below one half) between uniform couplings and routing.
"""
from __future__ import annotations

import argparse
import json
import sys

from capsexplorer.analysis import segmentation
from capsexplorer.data import multimnist
from capsexplorer.data.datasets import mnist_test
from capsexplorer.net.weights import load_model
from capsexplorer.progress_events import run_steps


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--weights", default="multimnist")
    parser.add_argument("--pairs", type=int, default=1000)
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    model = load_model(args.weights, device="cpu")
    pairs = multimnist.heldout_pairs(mnist_test(), args.pairs)
    result = run_steps(segmentation.measure_steps(model, pairs.images, pairs.labels, pairs.parts, args.iterations))
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        with open(args.out, "w") as handle:
            handle.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
