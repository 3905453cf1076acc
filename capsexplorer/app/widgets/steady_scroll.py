"""A scroll area whose size hint never follows its contents: a text that grows or shrinks with every trace
re-lays out what is inside it, never the window around it (a column moved and repainted whole on each stroke)."""
from __future__ import annotations

from PySide6.QtCore import QCoreApplication, QEvent, QSize, Qt
from PySide6.QtWidgets import QScrollArea, QWidget

from capsexplorer.app.widgets.guard import qt_safe


class SteadyScrollArea(QScrollArea):
    """Frameless, resizing its widget to its width, scrolling vertically; its size hint is its minimum size (or a
    few lines of text), whatever its widget holds."""

    def __init__(self, widget: QWidget, parent=None):
        super().__init__(parent)
        self.setWidget(widget)
        self.setWidgetResizable(True)
        self.setFrameShape(QScrollArea.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)

    @qt_safe(default=QSize())
    def sizeHint(self) -> QSize:  # noqa: N802 (Qt naming)
        lines = self.fontMetrics().height() * 4
        return QSize(max(self.minimumWidth(), lines), max(self.minimumHeight(), lines))

    def settle(self) -> None:
        """Fits its widget to a new text now, before the window paints it: the layout request a new text posts
        was otherwise handled after that paint, and its new height painted again."""
        QCoreApplication.sendPostedEvents(self.viewport(), QEvent.Type.LayoutRequest)
