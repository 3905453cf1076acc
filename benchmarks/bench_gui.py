"""Explorer responsiveness on this machine, offscreen, with the shipped model:

1. stroke end → every panel updated (the window's traceShown, then every repaint) — p50 / p95: the pen lifted 60 ms
   after the stroke's last move (its last live trace still on its way or being drawn), and after a 300 ms pause
   (that trace drawn);
2. a pose slider dragged continuously → reconstructions shown per second;
3. the longest stall of the GUI thread while a person draws and drags (gap between idle ticks).

    QT_QPA_PLATFORM=offscreen python benchmarks/bench_gui.py [--strokes 60] [--seconds 4]
"""
from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
from PySide6.QtCore import QEvent, QObject, QPointF, Qt, QTimer  # noqa: E402
from PySide6.QtGui import QMouseEvent  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from capsexplorer.app.main import configure_process, freeze_startup_objects, wait_for  # noqa: E402
from capsexplorer.app.window import MainWindow  # noqa: E402


def mouse(widget, kind, x, y, held=True):
    buttons = Qt.MouseButton.LeftButton if held else Qt.MouseButton.NoButton
    pos = QPointF(x, y)
    QApplication.sendEvent(widget, QMouseEvent(kind, pos, widget.mapToGlobal(pos), Qt.MouseButton.LeftButton,
                                               buttons, Qt.KeyboardModifier.NoModifier))


class PaintWatch(QObject):
    """Sees every paint of any widget (an application-wide event filter)."""

    def __init__(self, app):
        super().__init__()
        self.painted = False
        app.installEventFilter(self)

    def eventFilter(self, watched, event):  # noqa: N802 (Qt naming)
        if event.type() in (QEvent.Type.Paint, QEvent.Type.UpdateRequest):
            self.painted = True
        return False

    def until_quiet(self, app, quiet: float = 0.02, limit: float = 2.0) -> float:
        """Runs the event loop until no widget has painted for `quiet` seconds; returns when the last event
        processing that painted something ended (a repaint posted for later counts: it is waited for). Gives up
        after `limit` seconds of painting without a pause."""
        start = last = time.perf_counter()
        while time.perf_counter() - last < quiet and time.perf_counter() - start < limit:
            self.painted = False
            app.processEvents()
            if self.painted:
                last = time.perf_counter()
        return last


class StallMeter:
    """Records the gaps between runs of a zero-interval timer: the GUI thread's stalls."""

    def __init__(self):
        self.last = None
        self.gaps = []
        self.timer = QTimer()
        self.timer.setInterval(0)
        self.timer.timeout.connect(self._tick)

    def _tick(self):
        now = time.perf_counter()
        if self.last is not None:
            self.gaps.append(now - self.last)
        self.last = now

    def start(self):
        self.last, self.gaps = None, []
        self.timer.start()

    def stop(self):
        self.timer.stop()
        return np.array(self.gaps)


def run_events(seconds: float):
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        QApplication.processEvents()


def stroke_latency(app, window, strokes: int, settle: bool = True, pause: float = 0.06) -> np.ndarray:
    """Stroke end → traceShown and every repaint it causes (until no widget has painted for 20 ms: a repaint
    posted for later is waited for, not missed). `settle`: before each stroke, wait until the worker has
    answered the last one completely (its CNN follow-up and the lab tab's view), as a person who looks. `pause`:
    seconds between the stroke's last move and the pen's lift (the live traces are throttled to one per 40 ms:
    at 0.06 the last one is often still being routed or drawn when the pen lifts)."""
    watch = PaintWatch(app)
    canvas = window.draw.canvas
    side = min(canvas.width(), canvas.height())
    rng = np.random.default_rng(0)
    times = []
    for _ in range(strokes):
        canvas.clear()
        run_events(0.05)
        while settle and not window.worker.idle():
            app.processEvents()
        x0, y0 = rng.uniform(0.3, 0.7, 2) * side
        points = [(x0 + 60 * np.sin(t), y0 + 80 * np.cos(t)) for t in np.linspace(0, 5, 40)]
        mouse(canvas, QEvent.Type.MouseButtonPress, *points[0])
        for p in points[1:]:
            mouse(canvas, QEvent.Type.MouseMove, *p)
        run_events(pause)
        start = time.perf_counter()
        shown = []
        window.controller.traceShown.connect(shown.append)  # listening before the release: it may answer at once
        mouse(canvas, QEvent.Type.MouseButtonRelease, *points[-1], held=False)
        ok = bool(shown) or wait_for(window.controller.traceShown, 5000)[0]
        window.controller.traceShown.disconnect(shown.append)
        end = watch.until_quiet(app)  # every repaint it caused, however posted
        if ok:
            times.append(end - start)
    return np.array(times)


def slider_rate(window, seconds: float) -> float:
    slider = window.pose.sliders[0]
    low, high = slider.minimum(), slider.maximum()
    shown = []
    window.controller.reconstructionShown.connect(lambda r: shown.append(time.perf_counter()))
    start = time.perf_counter()
    step = 0
    while time.perf_counter() - start < seconds:  # a drag delivers a move event per mouse report
        step += 1
        slider.setValue(low + (high - low) * (0.5 + 0.5 * np.sin(step / 15)))
        QApplication.processEvents()
    return len(shown) / seconds


def slider_stalls(window, seconds: float, meter: StallMeter | None = None) -> tuple[float, np.ndarray]:
    """A pose slider dragged for `seconds`: (reconstructions shown per second, the GUI thread's gaps in ms)."""
    meter = meter or StallMeter()
    meter.start()
    rate = slider_rate(window, seconds)
    return rate, meter.stop() * 1000


def drawing_session(window, seconds: float, meter: StallMeter) -> np.ndarray:
    """A person drawing at 120 mouse reports per second, lifting the pen every 60 reports."""
    canvas = window.draw.canvas
    side = min(canvas.width(), canvas.height())
    meter.start()
    start = time.perf_counter()
    k = 0
    while time.perf_counter() - start < seconds:
        t = k / 60 * 2 * np.pi
        x, y = side / 2 + 0.3 * side * np.sin(t), side / 2 + 0.35 * side * np.cos(1.3 * t)
        if k % 60 == 0:
            mouse(canvas, QEvent.Type.MouseButtonPress, x, y)
        elif k % 60 == 59:
            mouse(canvas, QEvent.Type.MouseButtonRelease, x, y, held=False)
        else:
            mouse(canvas, QEvent.Type.MouseMove, x, y)
        k += 1
        next_report = start + k / 120
        while time.perf_counter() < next_report:
            QApplication.processEvents()
    return meter.stop()


def open_window():
    """The app set up as `capsexplorer` does, its window at 1500×920 with a sample traced; (app, None)
    if no trace came."""
    app = QApplication.instance() or QApplication(sys.argv[:1])
    configure_process()
    window = MainWindow(persist=False, sample_seed=0)
    window.resize(1500, 920)
    window.show()
    if not wait_for(window.controller.traceShown, 120_000)[0]:
        return app, None
    while window.browser.predictions is None or window.browser.predictions.cnn is None:
        if not wait_for(window.controller.predictionsShown, 60_000)[0]:  # the start-up's background work, done once
            break
    freeze_startup_objects()
    return app, window


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--strokes", type=int, default=60)
    parser.add_argument("--seconds", type=float, default=4.0)
    args = parser.parse_args()
    app, window = open_window()
    if window is None:
        print("no trace: is the model there?")
        return 1
    run_events(0.5)
    meter = StallMeter()

    for pause in (0.06, 0.3):
        latency = stroke_latency(app, window, args.strokes, pause=pause) * 1000
        print(f"stroke end ({1000 * pause:.0f} ms after the last move) → all panels updated: "
              f"p50 {np.percentile(latency, 50):.1f} ms, p95 {np.percentile(latency, 95):.1f} ms, "
              f"max {latency.max():.1f} ms ({len(latency)} strokes)")
    rate = slider_rate(window, args.seconds)
    print(f"pose slider dragged: {rate:.0f} reconstructions shown per second")
    gaps = drawing_session(window, args.seconds, meter) * 1000
    print(f"GUI thread while drawing: longest stall {gaps.max():.1f} ms; stalls over 16 ms: "
          f"{int((gaps > 16).sum())}; over 8 ms: {int((gaps > 8).sum())}")
    _, gaps = slider_stalls(window, args.seconds, meter)
    print(f"GUI thread while dragging a slider: longest stall {gaps.max():.1f} ms; stalls over 16 ms: "
          f"{int((gaps > 16).sum())}")
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
