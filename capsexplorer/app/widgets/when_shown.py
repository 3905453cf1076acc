"""A panel's drawing deferred while it is hidden: a lab tab not shown computes nothing until it is (issue 23)."""
from __future__ import annotations

from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QWidget

from capsexplorer.app.widgets.guard import qt_safe


class WhenShown(QObject):
    """`draw` run now if `widget` is visible, else once, when it is next shown. Call it wherever `draw`
    would be called (a state signal's slot); `draw` must redraw everything from the state."""

    def __init__(self, widget: QWidget, draw):
        super().__init__(widget)
        self.widget, self.draw, self.stale = widget, draw, False
        widget.installEventFilter(self)

    def __call__(self, *_) -> None:
        if self.widget.isVisible():
            self.stale = False
            self.draw()
        else:
            self.stale = True

    @qt_safe(default=False)
    def eventFilter(self, watched, event) -> bool:  # noqa: N802 (Qt naming)
        if watched is self.widget and event.type() == QEvent.Type.Show and self.stale:
            self.stale = False
            self.draw()
        return False
