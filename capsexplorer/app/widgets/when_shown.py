"""A panel's drawing deferred while it is hidden — a lab tab not shown computes nothing until it is — and, for the
heavier panels, while a stroke is still being drawn: they catch up at the stroke's end (issue 23)."""
from __future__ import annotations

from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QWidget

from capsexplorer.app.widgets.guard import qt_safe


class WhenShown(QObject):
    """`draw` run now if `widget` is visible, else once, when it is next shown. Call it wherever `draw`
    would be called (a state signal's slot); `draw` must redraw everything from the state. With `state`,
    also deferred while `state.live` (a stroke still being drawn) until the state says `settled`;
    `hidden=False` draws a hidden widget too (deferred only while live)."""

    def __init__(self, widget: QWidget, draw, state=None, hidden: bool = True):
        super().__init__(widget)
        self.widget, self.draw, self.stale, self.state, self.hidden = widget, draw, False, state, hidden
        widget.installEventFilter(self)
        if state is not None:
            state.settled.connect(self._settled)

    def _visible(self) -> bool:
        return self.widget.isVisible() or not self.hidden

    def __call__(self, *_) -> None:
        if self._visible() and not (self.state is not None and self.state.live):
            self.stale = False
            self.draw()
        else:
            self.stale = True

    def _settled(self) -> None:
        if self.stale and self._visible():
            self.stale = False
            self.draw()

    @qt_safe(default=False)
    def eventFilter(self, watched, event) -> bool:  # noqa: N802 (Qt naming)
        if watched is self.widget and event.type() == QEvent.Type.Show and self.stale:
            self.stale = False
            self.draw()
        return False
