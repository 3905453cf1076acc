"""How much does routing change the couplings of the shipped model? Over MNIST's 10,000 test digits:

    python benchmarks/routing_stats.py

prints the figures the window's guide quotes: the mean |c_ij − 1/J| after 3 iterations (all
capsules, and the active parts: the top 10 % by their longest prediction ‖û_j|i‖), the mean coupling
to the winner, the mean entropy per iteration, and how often routing (3 iterations) decides
differently from uniform couplings (1 iteration).
"""
from __future__ import annotations

import numpy as np

from capsexplorer import load_model, views
from capsexplorer.data import heldout_samples


def main() -> None:
    model = load_model(device="cpu")
    split = heldout_samples()
    moved, moved_active, to_winner, to_winner_active, entropy, changed = [], [], [], [], [], 0
    for start in range(0, len(split), 50):
        x = split.images[start:start + 50].astype(np.float32) / 255.0
        tr = model.trace(x, iterations=3, keep_u_hat=True)
        uniform = model.trace(x, iterations=1)
        changed += int((tr.prediction != uniform.prediction).sum())
        for b in range(tr.batch_size):
            c = tr.coupling[-1, b]  # (1152, 10)
            active = views.active_primaries(tr, b)
            winner = int(tr.prediction[b])
            moved.append(np.abs(c - 0.1).mean())
            moved_active.append(np.abs(c[active] - 0.1).mean())
            to_winner.append(c[:, winner].mean())
            to_winner_active.append(c[active, winner].mean())
            entropy.append(views.routing_summary(tr, b)["entropy"])
    entropy = np.mean(entropy, axis=0)
    print(f"held-out digits: {len(split)}")
    print(f"mean |c_ij - 0.1| after 3 iterations: all {np.mean(moved):.4f}, active parts {np.mean(moved_active):.4f}")
    print(f"mean coupling to the winner: all {np.mean(to_winner):.4f}, active parts {np.mean(to_winner_active):.4f}")
    print("mean coupling entropy per iteration: " + ", ".join(f"{e:.4f}" for e in entropy) + " (uniform 2.3026)")
    print(f"prediction differs between 3 iterations and uniform couplings: {changed} of {len(split)}")


if __name__ == "__main__":
    main()
