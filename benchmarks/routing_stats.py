"""How much does routing change the couplings of a model? Over MNIST's 10,000 test digits:

    python benchmarks/routing_stats.py [--weights mnist] [--out resources]

prints the figures the window's guide quotes — the mean |c_ij − 1/J| after 3 iterations (all capsules, and the
active parts: the top 10 % by their longest prediction ‖û_j|i‖), the mean coupling to the winner, the mean
entropy per iteration, and how often routing (3 iterations) decides differently from uniform couplings
(1 iteration) — and with --out writes them where the window finds them (routing-KEY.json, named by the weights'
bytes).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from capsexplorer import load_model
from capsexplorer.analysis import predictions, routing_movement
from capsexplorer.data.datasets import heldout_samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default="mnist")
    parser.add_argument("--out", help="a folder: write routing-KEY.json there (resources/ to ship it)")
    args = parser.parse_args()
    model = load_model(args.weights, device="cpu")
    split = heldout_samples()
    stats = routing_movement.measure(model, split)
    print(f"MNIST test digits: {stats['n']} ({stats['seconds']:.0f} s)")
    print(f"mean |c_ij - 1/J| after 3 iterations: all {stats['moved']:.4f}, active parts {stats['moved_active']:.4f}")
    print(f"mean coupling to the winner: all {stats['to_winner']:.4f}, active parts {stats['to_winner_active']:.4f}")
    print("mean coupling entropy per iteration: " + ", ".join(f"{e:.4f}" for e in stats["entropy"])
          + f" (uniform {stats['uniform_entropy']:.4f})")
    print(f"prediction differs between 3 iterations and uniform couplings: {stats['changed']} of {stats['n']}")
    if args.out:
        path = Path(args.out) / predictions.routing_file(model)
        path.write_text(json.dumps(stats))
        print(f"written: {path}")


if __name__ == "__main__":
    main()
