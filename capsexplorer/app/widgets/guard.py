"""One guard for every override of a Qt virtual in the program (paintEvent, eventFilter, data, run …).

A Python exception escaping such an override does not stay an exception in PySide6: shiboken stores it on
its way back into C++, and this version can crash there (a segmentation fault in
`Shiboken::Errors::storePythonOverrideErrorOrPrint`). So no override may let one out: `qt_safe` logs it
with its traceback, reports it once in one line through `sys.excepthook` (the window's error banner) after
the event has returned, and answers Qt with a fallback. `tests/test_guard.py` lists the overrides and
checks that every one wears it.
"""
from __future__ import annotations

import functools
import logging
import sys

import pyqtgraph as pg

log = logging.getLogger("capsexplorer")
_reported: set[tuple[str, str]] = set()  # (override, exception type): a failing paint repeats every frame


def qt_safe(default=None, fallback=None):
    """Decorates an override of a Qt virtual: an exception inside it is logged and reported, and Qt gets
    `default` — or `fallback(*args)` where the answer must depend on the arguments (a validator's)."""
    def wrap(method):
        @functools.wraps(method)
        def guarded(*args, **kwargs):
            try:
                return method(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 — never out of a Qt virtual
                log.error("in %s: %s: %s", method.__qualname__, type(exc).__name__, exc, exc_info=True)
                _report_later(method.__qualname__, exc)
                if fallback is not None:
                    try:
                        return fallback(*args)
                    except Exception:  # noqa: BLE001
                        log.exception("in the fallback of %s", method.__qualname__)
                return default
        guarded.qt_safe = True
        return guarded
    return wrap


def _report_later(where: str, exc: Exception) -> None:
    """Once per override and kind of error, on the next turn of the event loop (not inside a paint)."""
    key = (where, type(exc).__name__)
    if key in _reported:
        return
    _reported.add(key)
    try:
        from PySide6.QtCore import QCoreApplication, QTimer

        if QCoreApplication.instance() is None:
            return
        details = (type(exc), exc, exc.__traceback__)
        QTimer.singleShot(0, lambda: sys.excepthook(*details))
    except Exception:  # noqa: BLE001 — the log has it
        pass


class Bars(pg.BarGraphItem):
    """pyqtgraph's bar chart, drawn safely: a per-bar brush list is kept as long as the bars (a model with
    another number of classes changes `x`), and its paint and bounds are guarded like every override."""

    def setOpts(self, **opts) -> None:  # noqa: N802 (pyqtgraph naming)
        merged = {**getattr(self, "opts", {}), **opts}
        for each in ("brushes", "pens"):
            if merged.get(each) is not None and merged.get("height") is not None \
                    and len(merged[each]) != len(merged["height"]):
                opts[each] = None  # the single brush (pen) until per-bar ones for the new count come
        super().setOpts(**opts)

    @qt_safe()
    def paint(self, *args) -> None:
        super().paint(*args)

    @qt_safe(fallback=lambda self: pg.QtCore.QRectF())
    def boundingRect(self):  # noqa: N802 (Qt naming)
        return super().boundingRect()
