"""The explorer under a long job, offscreen, with the shipped model (issue: dependable in use):

1. stroke end → all panels drawn, with each lab tab shown (p50 / p95; target p95 ≤ 30 ms);
2. during a real robustness measurement: stroke end → classified and drawn (target ≤ 150 ms);
3. closing the window during the measurement, and during the start-up's held-out predictions (target ≤ 2 s);
4. a model switch during the measurement (target ≤ 5 s);
5. with --huge: a 144-megapixel PNG (greyscale, RGBA) opened — the GUI thread's longest gap (target ≤ 50 ms).

The shipped results are hidden for this run, so the measurement and the predictions really run.

    QT_QPA_PLATFORM=offscreen python benchmarks/bench_dependable.py [--strokes 40] [--huge]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="capsexplorer-bench-")  # nothing cached from before

import numpy as np  # noqa: E402

from capsexplorer.analysis import predictions  # noqa: E402
from capsexplorer.app.main import wait_for  # noqa: E402
from capsexplorer.app.window import MainWindow  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
from bench_gui import open_window, run_events, stroke_latency  # noqa: E402

predictions.cached_file = lambda name: None  # hide the results shipped for these weights


def percentiles(ms: np.ndarray) -> str:
    return f"p50 {np.percentile(ms, 50):.1f} ms, p95 {np.percentile(ms, 95):.1f} ms, max {ms.max():.1f} ms"


def huge_files(app) -> None:
    """A 12000×12000 greyscale PNG and an RGBA one dropped on the window: the GUI thread's longest gap."""
    from bench_gui import StallMeter
    from PIL import Image

    folder = tempfile.mkdtemp(prefix="capsexplorer-huge-")
    window = MainWindow(persist=False, sample_seed=0)
    window.show()
    wait_for(window.controller.traceShown, 120_000)
    for mode in ("L", "RGBA"):
        path = os.path.join(folder, f"huge-{mode}.png")
        ink = Image.new("L", (12000, 12000), 255)
        ink.paste(0, (5000, 2000, 7000, 10000))  # a thick "1"
        (ink if mode == "L" else ink.convert("RGBA")).save(path, compress_level=1)
        meter = StallMeter()
        run_events(0.3)
        meter.start()
        start = time.perf_counter()
        window.open_image(path)
        ok, _ = wait_for(window.controller.traceShown, 120_000)
        gaps = meter.stop() * 1000
        print(f"a 12000×12000 {mode} PNG opened: {time.perf_counter() - start:.1f} s to its trace"
              f"{'' if ok else ' (none!)'}; longest GUI gap {gaps.max():.1f} ms, gaps over 50 ms: "
              f"{int((gaps > 50).sum())}")
        os.unlink(path)
    window.close()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--strokes", type=int, default=40)
    parser.add_argument("--huge", action="store_true", help="also open two 144-megapixel PNGs (a minute)")
    args = parser.parse_args()
    app, window = open_window()
    if window is None:
        print("no trace: is the model there?")
        return 1
    for tab in ("Routing", "Primary", "Probe", "Sweep", "Figure 4"):
        index = next(k for k in range(window.lab.count()) if window.lab.tabText(k) == tab)
        window.lab.setCurrentIndex(index)
        run_events(0.5)
        ms = stroke_latency(app, window, args.strokes) * 1000
        print(f"{tab} tab shown — stroke end → all panels drawn: {percentiles(ms)} ({len(ms)} strokes)")

    window.lab.setCurrentIndex(0)
    window.controller.measure_robustness()
    wait_for(window.state.progressChanged, 30_000)
    ms = stroke_latency(app, window, args.strokes, settle=False) * 1000  # the worker is never idle here
    progress = window.state.progress.get("robustness")
    print(f"during the robustness measurement — stroke end → classified and drawn: {percentiles(ms)} "
          f"({len(ms)} strokes; measurement at {progress.done if progress else '?'} of "
          f"{progress.total if progress else '?'} batches)")
    start = time.perf_counter()
    window.controller.load(None)
    ok, _ = wait_for(window.controller.modelReady, 30_000)
    print(f"model switch during the measurement: {time.perf_counter() - start:.2f} s{'' if ok else ' (no model!)'}")
    window.controller.measure_robustness()
    wait_for(window.state.progressChanged, 30_000)
    run_events(1.0)
    start = time.perf_counter()
    window.close()
    print(f"closing the window during the measurement: {time.perf_counter() - start:.2f} s")

    if args.huge:
        huge_files(app)
    fresh = MainWindow(persist=False, sample_seed=0)  # its start-up computes the held-out predictions
    fresh.show()
    wait_for(fresh.state.progressChanged, 60_000)
    run_events(0.5)
    start = time.perf_counter()
    fresh.close()
    print(f"closing the window during the start-up's held-out predictions: {time.perf_counter() - start:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
