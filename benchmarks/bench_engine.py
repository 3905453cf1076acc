"""Engine speed against plain vectorised CapsNets (benchmarks/baseline.py), in one process: the
strongest plain version (einsum, W shared) and the common one (W broadcast per example); in float32,
and with bf16 autocast for both (what `train --amp` uses).

These machines are noisy: compare the ratios of one run, not absolute figures across runs.
Each measurement interleaves ours and the plain one and reports the median of the repeats.

    python benchmarks/bench_engine.py [--repeats N] [--device cpu|cuda]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from baseline import EinsumCapsNet, PlainCapsNet  # noqa: E402

from capsexplorer.net.losses import margin_loss, reconstruction_loss  # noqa: E402
from capsexplorer.net.model import CapsNet, default_device  # noqa: E402


def timed(fn, device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def compare(ours, plain, repeats: int, device) -> tuple[float, float]:
    ours(), plain()  # warm-up
    a, b = [], []
    for _ in range(repeats):
        a.append(timed(ours, device))
        b.append(timed(plain, device))
    return statistics.median(a), statistics.median(b)


def train_step(model, optimizer, x, y, amp=False):
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=amp):
        lengths, _, recon = model(x, 3, labels=y)
        loss = margin_loss(lengths.float(), y) + reconstruction_loss(recon.float(), x)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--device")
    parser.add_argument("--baseline", choices=("einsum", "broadcast"), default="einsum")
    parser.add_argument("--amp", action="store_true", help="bf16 autocast for both (the batch rows)")
    args = parser.parse_args()
    device = torch.device(args.device) if args.device else default_device()
    torch.manual_seed(0)
    ours = CapsNet().to(device)
    plain = (EinsumCapsNet() if args.baseline == "einsum" else PlainCapsNet()).to(device)
    ours.eval(), plain.eval()
    one = torch.rand(1, 1, 28, 28, device=device)
    batch = torch.rand(128, 1, 28, 28, device=device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"device: {name}; torch {torch.__version__}; baseline: {args.baseline}; "
          f"{'bf16 autocast' if args.amp else 'float32'}")
    rows = []
    autocast = lambda: torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.amp)  # noqa: E731

    def plain_one():
        with torch.inference_mode():
            plain(one)

    if not args.amp:
        t_ours, t_plain = compare(lambda: ours.trace(one, iterations=3), plain_one, args.repeats * 4, device)
        rows.append(("single-image trace (ms)", t_ours * 1e3, t_plain * 1e3, t_plain / t_ours))

    def ours_batch():
        with torch.inference_mode(), autocast():
            ours(batch)

    def plain_batch():
        with torch.inference_mode(), autocast():
            plain(batch)

    t_ours, t_plain = compare(ours_batch, plain_batch, args.repeats, device)
    rows.append(("inference, batch 128 (images/s)", 128 / t_ours, 128 / t_plain, t_plain / t_ours))

    ours.train(), plain.train()
    x, y = batch[:64], torch.randint(0, 10, (64,), device=device)
    opt_ours = torch.optim.Adam(ours.parameters())
    opt_plain = torch.optim.Adam(plain.parameters())
    t_ours, t_plain = compare(lambda: train_step(ours, opt_ours, x, y, args.amp),
                              lambda: train_step(plain, opt_plain, x, y, args.amp), args.repeats, device)
    rows.append(("training, batch 64 (images/s)", 64 / t_ours, 64 / t_plain, t_plain / t_ours))

    print(f"{'':34s} {'ours':>9s} {'plain':>9s} {'speed-up':>9s}")
    for label, a, b, ratio in rows:
        print(f"{label:34s} {a:9.1f} {b:9.1f} {ratio:8.2f}×")
    return 0


if __name__ == "__main__":
    sys.exit(main())
