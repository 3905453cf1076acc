"""Colours taken from the system palette, so light and dark modes both read well."""
from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QLabel

pg.setConfigOptions(imageAxisOrder="row-major", antialias=False)  # bars and grid lines: crisp and cheaper

COUPLING_MAP = "viridis"
CHANGE_MAP = "CET-D1"  # diverging blue–white–red for the change between iterations
GREYS = "CET-L1"  # black → white


def palette() -> QPalette:
    return QApplication.palette()


def background() -> QColor:
    return palette().color(QPalette.ColorRole.Base)


def foreground() -> QColor:
    return palette().color(QPalette.ColorRole.Text)


def muted() -> QColor:
    return palette().color(QPalette.ColorRole.PlaceholderText)


def accent() -> QColor:
    return palette().color(QPalette.ColorRole.Highlight)


def is_dark() -> bool:
    return background().lightness() < 128


def bar_colour() -> QColor:
    return QColor(120, 130, 150) if is_dark() else QColor(170, 178, 195)


def winner_colour() -> QColor:
    return QColor(255, 160, 40) if is_dark() else QColor(230, 120, 0)


def style_plot(plot: pg.PlotItem | pg.PlotWidget) -> None:
    """Axis pens and labels in the palette's text colour."""
    item = plot.getPlotItem() if isinstance(plot, pg.PlotWidget) else plot
    for name in ("left", "bottom", "top", "right"):
        axis = item.getAxis(name)
        axis.setPen(pg.mkPen(muted()))
        axis.setTextPen(pg.mkPen(foreground()))


def fix_label_size(label: QLabel, widest: str | None = None, width: int | None = None) -> None:
    """Gives a label whose text changes on every trace a fixed size (wide enough for `widest`, or
    `width`): Qt then skips the layout request a new text would post, so the window is not re-laid out."""
    metrics = label.fontMetrics()
    label.setFixedSize(width if width is not None else metrics.horizontalAdvance(widest) + 8,
                       metrics.height() + 4)
