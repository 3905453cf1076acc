"""The capsule lab's speed in the real window, offscreen, with the shipped model:

1. a 21-step sweep, from the request to its plots drawn (target 150 ms);
2. the Figure-4 grid, 16 × 11 = 176 reconstructions, from the request to the grid drawn (target 100 ms);
3. the GUI thread's longest stall while a pose slider is dragged with the Figure-4 tab shown (target 16 ms);
4. the Votes tab (1152 points): redrawn for another iteration, and for a new input (target 30 ms).

    QT_QPA_PLATFORM=offscreen python benchmarks/bench_lab.py [--repeats 20]
"""
from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402

from capsexplorer.app.main import wait_for  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
from bench_gui import PaintWatch, open_window, slider_stalls  # noqa: E402


def idle(app, worker) -> None:
    """Until the worker has nothing to do (e.g. the CNN's follow-up on the last sweep is done)."""
    while not worker.idle():
        app.processEvents()
        time.sleep(0.005)


def timed(app, request, done, worker, watch: PaintWatch) -> float:
    """`request` → `done` and every repaint it causes (until no widget has painted for 20 ms)."""
    idle(app, worker)
    start = time.perf_counter()
    request()
    ok, _ = wait_for(done, 10_000)
    end = watch.until_quiet(app)
    return end - start if ok else float("nan")


def redrawn(app, change, watch: PaintWatch) -> float:
    """`change` (drawn at once, in the GUI thread) and every repaint it causes."""
    start = time.perf_counter()
    change()
    return watch.until_quiet(app) - start


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=4.0)
    args = parser.parse_args()
    app, window = open_window()
    if window is None:
        print("no trace: is the model there?")
        return 1
    watch = PaintWatch(app)
    window.lab.setCurrentWidget(window.sweep)
    wait_for(window.controller.sweepShown, 10_000)  # warm-up
    sweeps = np.array([timed(app, window.sweep.run_button.click, window.controller.sweepShown, window.worker, watch)
                       for _ in range(args.repeats)]) * 1000
    window.lab.setCurrentWidget(window.grid)
    wait_for(window.controller.gridShown, 10_000)
    grids = np.array([timed(app, window.controller.request_grid, window.controller.gridShown, window.worker, watch)
                      for _ in range(args.repeats)]) * 1000
    print(f"21-step sweep, request → plots drawn: median {np.nanmedian(sweeps):.0f} ms, "
          f"p95 {np.nanpercentile(sweeps, 95):.0f} ms ({args.repeats} runs)")
    print(f"Figure-4 grid (176 reconstructions), request → drawn: median {np.nanmedian(grids):.0f} ms, "
          f"p95 {np.nanpercentile(grids, 95):.0f} ms ({args.repeats} runs)")
    window.lab.setCurrentWidget(window.votes)
    app.processEvents()
    state, steps, news = window.state, [], []
    for k in range(args.repeats * 3):
        steps.append(redrawn(app, lambda k=k: state.set_iteration(k % state.trace.iterations), watch))
    for _ in range(args.repeats):  # what a new trace costs the tab: the projection, colours, points
        news.append(redrawn(app, window.votes._new_result, watch))
    steps, news = np.array(steps) * 1000, np.array(news) * 1000
    print(f"Votes tab, another iteration shown → redrawn: median {np.median(steps):.1f} ms, p95 "
          f"{np.percentile(steps, 95):.1f} ms; a new input → drawn: median {np.median(news):.1f} ms, p95 "
          f"{np.percentile(news, 95):.1f} ms")
    rate, gaps = slider_stalls(window, args.seconds)
    print(f"pose slider dragged with the Figure-4 tab shown: {rate:.0f} reconstructions/s; longest GUI stall "
          f"{gaps.max():.1f} ms; stalls over 16 ms: {int((gaps > 16).sum())}")
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
