"""A panel's drawing deferred while it is hidden — a lab tab not shown computes nothing until it is — and, for the
heavier panels, while a stroke is still being drawn: they catch up at the stroke's end (issue 23)."""
from __future__ import annotations

from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QGraphicsOpacityEffect, QWidget

from capsexplorer.app.widgets.guard import qt_safe


DIMMED = 0.35  # the opacity of a panel waiting for a stroke's end


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
        live = self.state is not None and self.state.live
        if self._visible() and not live:
            self._draw()
        else:
            self.stale = True
            if live:
                self._dim(True)  # on screen but out of date until the stroke's end: said by fading it

    def _settled(self) -> None:
        if self.stale and self._visible():
            self._draw()
        self._dim(False)

    def _draw(self) -> None:
        self.stale = False
        self._dim(False)
        self.draw()

    def _dim(self, dim: bool) -> None:
        """Fades the widget while it waits for a stroke's end (the effect is the widget's: Qt deletes it)."""
        if dim and self.widget.graphicsEffect() is None:
            effect = QGraphicsOpacityEffect(self.widget)
            effect.setOpacity(DIMMED)
            self.widget.setGraphicsEffect(effect)
        elif not dim and self.widget.graphicsEffect() is not None:
            self.widget.setGraphicsEffect(None)

    @qt_safe(default=False)
    def eventFilter(self, watched, event) -> bool:  # noqa: N802 (Qt naming)
        if watched is self.widget and event.type() == QEvent.Type.Show and self.stale:
            self.stale = False
            self.draw()
        return False
