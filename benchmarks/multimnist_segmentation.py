"""Segmentation by routing, measured: on held-out MultiMNIST pairs, which strokes the shipped two-digit CapsNet's
routed mass gives to which digit (capsexplorer.analysis.segmentation, the Pairs tab's pictures), after each routing
iteration against uniform couplings (iteration 1), scored against each digit drawn alone.

    python benchmarks/multimnist_segmentation.py [--pairs 1000] [--out benchmarks/multimnist-segmentation.json]

For every pair whose two longest capsules are the two digits present: the share of the strokes only one digit
draws that go to that digit's capsule ("own strokes"), the share of the strokes both draw that go to the first,
and how many ink pixels change sides (share above or below one half) between uniform couplings and routing.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from capsexplorer.analysis import segmentation
from capsexplorer.analysis.views import Geometry
from capsexplorer.data import multimnist
from capsexplorer.data.datasets import mnist_test
from capsexplorer.net.weights import load_model


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--weights", default="multimnist")
    parser.add_argument("--pairs", type=int, default=1000)
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    model = load_model(args.weights, device="cpu")
    geometry = Geometry.of(model.config)
    pairs = multimnist.heldout_pairs(mnist_test(), args.pairs)
    start = time.perf_counter()
    own = {r: [] for r in range(args.iterations)}
    shared = {r: [] for r in range(args.iterations)}
    moved, ink_pixels, right = {r: 0 for r in range(args.iterations)}, 0, 0
    for k in range(len(pairs)):
        trace = model.trace(pairs.images[k][None, None], iterations=args.iterations, keep_u_hat=True)
        capsules = segmentation.two_capsules(trace)
        labels = pairs.labels[k]
        if sorted(capsules) != sorted(int(c) for c in labels):
            continue  # scored where the answer is right: which capsule is which digit is then known
        right += 1
        a, b = int(labels[0]), int(labels[1])
        ink = pairs.images[k] >= segmentation.INK
        ink_pixels += int(ink.sum())
        uniform = segmentation.split(trace, geometry, a, b, 0).share
        for r in range(args.iterations):
            share = segmentation.split(trace, geometry, a, b, r).share
            found = segmentation.agreement(share, pairs.parts[k])
            own[r].append(found["own_strokes"])
            shared[r].append(found["shared_to_a"])
            moved[r] += int((((share > 0.5) != (uniform > 0.5)) & ink).sum())
    result = {"pairs": len(pairs), "both_right": right, "seconds": round(time.perf_counter() - start, 1),
              "iterations": {str(r + 1): {"own_strokes": round(float(np.nanmean(own[r])), 4),
                                          "shared_to_first": round(float(np.nanmean(shared[r])), 4),
                                          "ink_pixels_changing_side": moved[r],
                                          "of_ink_pixels": ink_pixels}
                             for r in range(args.iterations)}}
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        with open(args.out, "w") as handle:
            handle.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
