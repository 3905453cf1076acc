"""Issue 22 §13: no exception may escape an override of a Qt virtual (this PySide6 can crash storing it)."""
from __future__ import annotations

import importlib
import inspect
import pkgutil
import sys

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QWidget

import capsexplorer.app as app
from capsexplorer.app.widgets.guard import Bars, qt_safe


def overrides() -> list[tuple[str, object]]:
    """Every method of the program's classes that overrides one of Qt's (or pyqtgraph's, which Qt calls)."""
    found = []
    for info in pkgutil.walk_packages(app.__path__, "capsexplorer.app."):  # app/ and its session, panels, widgets
        module = importlib.import_module(info.name)
        short = info.name.rsplit(".", 1)[-1]
        for name, cls in vars(module).items():
            if not inspect.isclass(cls) or cls.__module__ != module.__name__:
                continue
            bases = [b for b in cls.__mro__[1:] if b.__module__.split(".")[0] in ("PySide6", "pyqtgraph")]
            for attr, method in vars(cls).items():
                if attr.startswith("__") or not inspect.isfunction(method) or attr == "setOpts":
                    continue
                if any(hasattr(b, attr) for b in bases):
                    found.append((f"{short}.{name}.{attr}", method))
    return found


def test_every_override_of_a_qt_virtual_is_guarded():
    found = overrides()
    names = {name for name, _ in found}
    assert {"canvas.DrawingCanvas.paintEvent", "worker.InferenceWorker.run", "guard.Bars.paint",
            "browser.ThumbnailModel.data", "player.IterationsBox.validate"} <= names  # the listing finds them
    unguarded = [name for name, method in found if not getattr(method, "qt_safe", False)]
    assert not unguarded, unguarded


def test_a_failing_paint_is_logged_and_reported_once_and_the_program_goes_on(qtbot, monkeypatch, caplog):
    reported = []
    monkeypatch.setattr(sys, "excepthook", lambda kind, value, tb: reported.append(f"{kind.__name__}: {value}"))

    class Broken(QWidget):
        @qt_safe()
        def paintEvent(self, event) -> None:  # noqa: N802 (Qt naming)
            raise ValueError("cannot reshape")

    widget = Broken()
    qtbot.addWidget(widget)
    widget.resize(40, 40)
    for _ in range(3):
        widget.grab()  # three paints, three failures
    qtbot.waitUntil(lambda: bool(reported), timeout=2000)
    qtbot.wait(50)
    assert reported == ["ValueError: cannot reshape"]  # once, after the paint returned
    assert "Broken.paintEvent" in caplog.text


def test_a_validator_s_fallback_answers_from_its_arguments(qtbot, monkeypatch):
    reported = []
    monkeypatch.setattr(sys, "excepthook", lambda kind, value, tb: reported.append(kind))
    class Box:
        @qt_safe(fallback=lambda self, text, pos: ("intermediate", text, pos))
        def validate(self, text, pos):
            raise KeyError(text)

    assert Box().validate("7", 1) == ("intermediate", "7", 1)
    qtbot.waitUntil(lambda: reported == [KeyError], timeout=2000)


def test_bars_keep_per_bar_colours_only_as_long_as_the_bars(qtbot):
    """A model of 3 classes coloured its 3 bars; the next has 10: the bars draw (pyqtgraph's own item would
    index the 3 colours with 10 bars, an IndexError inside paint)."""
    plot = pg.PlotWidget()
    qtbot.addWidget(plot)
    bars = Bars(x=np.arange(3), height=np.ones(3), width=0.5, brushes=["r", "g", "b"])
    plot.addItem(bars)
    plot.grab()
    bars.setOpts(x=np.arange(10), height=np.arange(10.0))
    assert bars.opts["brushes"] is None
    plot.grab()
    bars.setOpts(height=np.ones(10), brushes=["r"] * 10)
    assert len(bars.opts["brushes"]) == 10
    plot.grab()
