"""Does routing matter on overlapping digits? The shipped MultiMNIST CapsNet on the 10,000 held-out pairs (made
from MNIST's official test digits only): both digits right with 1 (uniform couplings), 2, 3 and 5 routing iterations, and
how often routing changes the two-digit answer against uniform couplings.

    python benchmarks/multimnist_ablation.py [--weights multimnist] [--out benchmarks/multimnist-ablation.json]
"""
from __future__ import annotations

import argparse
import json
import sys
import time

from capsexplorer.data import multimnist
from capsexplorer.data.datasets import mnist_test
from capsexplorer.net.weights import load_model


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--weights", default="multimnist")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    model = load_model(args.weights, device="cpu")
    pairs = multimnist.heldout_pairs(mnist_test())
    start = time.perf_counter()
    result = multimnist.routing_ablation(model, pairs)
    result = {"pairs": len(pairs), "seconds": round(time.perf_counter() - start, 1), "iterations": result}
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        with open(args.out, "w") as handle:
            handle.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
