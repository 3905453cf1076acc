"""A panel's drawing deferred while it is hidden — a lab tab not shown computes nothing until it is — and, for the
heavier panels, while a stroke is still being drawn: they catch up at the stroke's end (issue 23)."""
from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QPainter, QPalette
from PySide6.QtWidgets import QWidget

from capsexplorer.app.widgets.guard import qt_safe

DIMMED = 0.35  # how much of a panel waiting for a stroke's end shows through its veil
UNTIL_LIFTED = "Updates when you lift the pen"  # written on the veil: what the fading means


class Veil(QWidget):
    """The window's background laid over a panel at 1 − DIMMED while `dimmed`: the panel is seen faded, out of
    date until the stroke's end. It is never hidden, only clear while not dimmed — showing or hiding a child re-lays
    its parent out, and that rippled up to the lab's tabs, which repainted whole. (A QGraphicsOpacityEffect faded
    too, but drew the whole panel offscreen again each time it came and went.) Clicks and hovers pass through."""

    def __init__(self, panel: QWidget):
        super().__init__(panel)
        self.dimmed = False
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setGeometry(panel.rect())

    def set_dimmed(self, dimmed: bool) -> None:
        if dimmed != self.dimmed:
            self.dimmed = dimmed
            if dimmed:
                self.raise_()
            self.update()

    @qt_safe()
    def paintEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        if not self.dimmed:
            return
        colour = self.palette().color(QPalette.ColorRole.Window)
        colour.setAlphaF(1.0 - DIMMED)
        painter = QPainter(self)
        painter.fillRect(event.rect(), colour)
        painter.setPen(self.palette().color(QPalette.ColorRole.WindowText))
        line = self.fontMetrics().height()
        painter.drawText(self.rect().adjusted(4, line + 2, -4, 0),
                         Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop | Qt.TextFlag.TextWordWrap,
                         UNTIL_LIFTED)
        painter.end()


def waiting(widget: QWidget) -> bool:
    """Whether `widget` is veiled, waiting for a stroke's end (shown or not: its tab may be hidden)."""
    veil = widget.findChild(Veil, options=Qt.FindChildOption.FindDirectChildrenOnly)
    return veil is not None and veil.dimmed


class WhenShown(QObject):
    """`draw` run now if `widget` is visible, else once, when it is next shown. Call it wherever `draw`
    would be called (a state signal's slot); `draw` must redraw everything from the state. With `state`,
    also deferred while `state.live` (a stroke still being drawn) until the state says `settled`;
    `hidden=False` draws a hidden widget too (deferred only while live)."""

    def __init__(self, widget: QWidget, draw, state=None, hidden: bool = True):
        super().__init__(widget)
        self.widget, self.draw, self.stale, self.state, self.hidden = widget, draw, False, state, hidden
        self.veil: Veil | None = None  # laid over the widget while it waits for a stroke's end
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
        """Fades the widget while it waits for a stroke's end (the veil is the widget's child: Qt deletes it)."""
        if self.veil is None:
            if not dim:
                return
            self.veil = Veil(self.widget)
            self.veil.show()
        self.veil.set_dimmed(dim)

    @qt_safe(default=False)
    def eventFilter(self, watched, event) -> bool:  # noqa: N802 (Qt naming)
        if watched is self.widget:
            if event.type() == QEvent.Type.Show and self.stale:
                self.stale = False
                self.draw()
            elif event.type() == QEvent.Type.Resize and self.veil is not None:
                self.veil.setGeometry(self.widget.rect())  # laid while hidden, at its old size: now its size
        return False
