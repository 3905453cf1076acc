"""Capsule lengths ‖v_j‖: 10 bars with the margin lines m⁺ = 0.9 and m⁻ = 0.1, winner highlighted."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import QGroupBox, QVBoxLayout

from capsexplorer.app.session.state import ExplorerState
from capsexplorer.app.widgets import theme
from capsexplorer.app.widgets.guard import Bars, qt_safe
from capsexplorer.net.losses import M_MINUS, M_PLUS

VALUES_FROM_HEIGHT = 110  # pixels: a smaller plot shows its values on hover only
UPRIGHT_BELOW_WIDTH = 380  # a narrower plot writes each value upright above its bar, in a smaller font
SMALL_BELOW_WIDTH = 460  # (a value "0.01" needs about 30 px of the plot's twelfth)
INSIDE_FROM = 0.6  # a longer bar holds its upright value and name inside, from its top down
TOP = 1.34  # the y range's top: room above a full-length bar for its value and the two-line caption


def _place(text: pg.TextItem, x: float, y: float) -> None:
    """A value label moved only where it moves (each move re-lays the text item out)."""
    if getattr(text, "at", None) != (x, y):
        text.at = (x, y)
        text.setPos(x, y)


class LengthsPanel(QGroupBox):
    """The lengths after the iteration the state shows."""

    def __init__(self, state: ExplorerState, parent=None):
        super().__init__("Capsule lengths ‖v_j‖", parent)
        self.state = state
        state.modelChanged.connect(lambda: self.set_classes(state.classes))
        self.plot = theme.static_plot(minimum_height=120)
        item = self.plot.getPlotItem()
        item.setXRange(-0.6, 9.6, padding=0)
        item.setYRange(0, TOP, padding=0)
        item.setLabel("bottom", "digit capsule j")
        item.setLabel("left", "length")
        item.getAxis("bottom").setTicks([[(d, str(d)) for d in range(10)]])
        item.getAxis("left").setTicks([[(v, f"{v:.1f}") for v in (0, 0.5, 1.0)]])  # the margins name 0.1, 0.9
        self.x = np.arange(10)
        self.values = np.zeros(10)
        self.bars = Bars(x=self.x, height=self.values, width=0.7, brushes=[theme.bar_colour()] * 10,
                                    pen=pg.mkPen(None))
        item.addItem(self.bars)
        # The CNN baseline's probability for each class, a thin bar beside each capsule's.
        self.cnn_bars = Bars(x=self.x + 0.3, height=np.zeros(10), width=0.16, brush=theme.cnn_colour(),
                                        pen=pg.mkPen(None))
        item.addItem(self.cnn_bars)
        self.tip = ("Bars: each digit capsule's length ‖v_j‖ (orange: the longest). Thin blue bars: the "
                    "CNN baseline's probability for each class, for the same input.")
        self.hover = theme.hover_read_out(self.plot, lambda x, _y: self.read_out(x), self.tip)
        self.margins = []
        for value in (M_PLUS, M_MINUS):  # the margins, named in the caption (no bar value can cover them there)
            line = pg.InfiniteLine(value, angle=0, pen=pg.mkPen(theme.muted(), width=1, style=Qt.PenStyle.DashLine))
            item.addItem(line)
            self.margins.append(line)
        self.labels = []
        for d in range(10):
            text = pg.TextItem("", color=theme.foreground(), anchor=(0.5, 1.0))
            text.setPos(d, 0)
            item.addItem(text)
            self.labels.append(text)
        # Changing a QGroupBox title re-lays the panel out; a text item inside the plot does not.
        # Top left, above every bar's value (bars end at 1.0, their values below 1.1).
        self.caption = pg.TextItem("", color=theme.muted(), anchor=(0, 0))
        self.caption.setPos(-0.55, TOP)
        item.addItem(self.caption)
        layout = QVBoxLayout(self)
        layout.addWidget(self.plot)
        self.winner = -1
        self._axis_numbers = False
        state.resultChanged.connect(self._show)
        state.iterationChanged.connect(self._show)
        state.cnnChanged.connect(self._show_cnn)

    def read_out(self, x: float) -> str:
        d = int(round(x))
        if self.state.trace is None or not 0 <= d < len(self.values):
            return ""
        names = getattr(self, "tick_names", [str(k) for k in range(len(self.values))])
        text = f"{names[d]}: ‖v‖ = {self.values[d]:.3f}"
        if self.state.cnn is not None and len(self.state.cnn) == len(self.values):
            text += f"; the CNN's probability {self.state.cnn[d]:.1%}"
        return text

    def _show(self, *_) -> None:
        tr = self.state.trace
        if tr is None:
            self.clear()
            return
        self.set_lengths(tr.lengths[self.state.iteration, 0], self.state.iteration + 1, tr.iterations)
        self._show_cnn()

    def _show_cnn(self) -> None:
        cnn = self.state.cnn
        self.cnn_bars.setOpts(height=cnn if cnn is not None and len(cnn) == len(self.x) else np.zeros(len(self.x)))
        self._clear_of_the_cnn()
        tr = self.state.trace
        if tr is not None:
            self._set_caption(self._caption_html(self.state.iteration + 1, tr.iterations))

    @qt_safe()
    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        super().resizeEvent(event)
        self._name_ticks()
        self._show()  # the values appear or go with the plot's height

    def _name_ticks(self) -> None:
        """The class names under the bars: in the body's font where they fit, else in a font down to
        7 pt; the class numbers only where even that would run together."""
        names = getattr(self, "tick_names", [str(d) for d in range(len(self.x))])
        axis = self.plot.getPlotItem().getAxis("bottom")
        per_bar = self.plot.width() / (len(self.x) + 1.5) - 4  # px between two bars' centres, less a gap
        names, font = theme.fitting_names(names, per_bar, self.font())
        self._axis_numbers = names[0] == "0" and getattr(self, "tick_names", ["0"])[0] != "0"
        axis.setStyle(tickFont=font)
        axis.setTicks([list(enumerate(names))])

    def set_lengths(self, lengths: np.ndarray, iteration: int, iterations: int) -> None:
        """lengths (J,): ‖v_j‖ after routing iteration `iteration` (1-based) of `iterations`."""
        self.values = np.asarray(lengths, dtype=float)
        self._follow_count(len(self.values))
        self.winner = int(self.values.argmax())
        longest = 2 if self.state.two_digits else 1  # a pair's answer: two digits
        chosen = set(np.argsort(-self.values, kind="stable")[:longest].tolist())
        brushes = [theme.winner_colour() if d in chosen else theme.bar_colour() for d in range(len(self.values))]
        self.bars.setOpts(height=self.values, brushes=brushes)
        # On a short or narrow plot the values would collide: bars alone then.
        roomy = self.plot.height() >= VALUES_FROM_HEIGHT
        style = (self.plot.width() < SMALL_BELOW_WIDTH, self.plot.width() < UPRIGHT_BELOW_WIDTH, theme.is_dark())
        if style != getattr(self, "_style", None):
            self._style = style
            self._recolour()
            font = QFont(self.font())
            font.setPointSizeF(font.pointSizeF() * (0.8 if style[0] else 1.0))
            for text in self.labels:
                text.setFont(font)
                text.setAngle(90 if style[1] else 0)
                text.setAnchor((0.0, 0.5) if style[1] else (0.5, 1.0))
                text.inside = None  # its place and colours set again below
        # Where the axis shows numbers for classes that have names, each upright value carries its name
        # too — inside a long bar, above a short one — so every class is named at every width.
        names = getattr(self, "tick_names", None)
        named = style[1] and names is not None and self._axis_numbers
        # An upright value of a long bar goes inside it (above, it reached the caption's lines at 1024 px)
        self._inside = [bool(style[1] and value > INSIDE_FROM) for value in self.values]
        for d, (text, value) in enumerate(zip(self.labels, self.values)):
            inside = self._inside[d]
            words = (f"{value:.2f} {names[d]}" if named else f"{value:.2f}") if roomy else ""
            if words != text.toPlainText():  # (a text item re-lays itself out when set)
                text.setText(words)
            if style[1] and getattr(text, "inside", None) != inside:
                text.inside = inside
                text.setAnchor((1.0, 0.5) if inside else (0.0, 0.5))
                text.setColor(QColor(25, 25, 25) if inside else theme.foreground())  # dark on the orange bar
                text.fill = pg.mkBrush(None) if inside else self._label_fill
            if inside:
                _place(text, d, value - 0.02)
        self._clear_of_the_cnn()
        self._set_caption(self._caption_html(iteration, iterations))

    def _set_caption(self, html: str) -> None:
        if html != getattr(self, "_caption_shown", None):
            self._caption_shown = html
            self.caption.setHtml(html)

    def _clear_of_the_cnn(self) -> None:
        """A value above its bar sits above the CNN's bar beside it too, never over its top (a student read a CNN
        bar of 100 % as shorter, its top under the value's box)."""
        cnn = self.state.cnn
        inside = getattr(self, "_inside", [])
        for d, (text, value) in enumerate(zip(self.labels, self.values)):
            if d < len(inside) and not inside[d]:
                top = max(value, float(cnn[d])) if cnn is not None and len(cnn) == len(self.values) else value
                _place(text, d, top + 0.01)

    def _caption_html(self, iteration: int, iterations: int) -> str:
        """The iteration, and — while the CNN's bars are drawn — what their colour means (a legend)."""
        text = f"iteration {iteration} of {iterations}"
        if self.state.cnn is not None:
            text += (f' &nbsp;<span style="color:{theme.cnn_colour().name()}">▮ the CNN\'s probability</span>')
        text += "<br>dashed: the margins m⁺ 0.9, m⁻ 0.1"
        return f'<span style="color:{theme.muted().name()}">{text}</span>'

    def _recolour(self) -> None:
        """Texts and lines in the palette's colours (again after a theme change)."""
        fill = theme.background()
        fill.setAlpha(190)  # a value stays readable over the CNN's bar beside it
        self._label_fill = pg.mkBrush(fill)
        for text in self.labels:
            text.setColor(theme.foreground())
            text.fill = self._label_fill
            text.setZValue(5)
        for line in self.margins:
            line.setPen(pg.mkPen(theme.muted(), width=1, style=Qt.PenStyle.DashLine))
        self.cnn_bars.setOpts(brush=theme.cnn_colour())

    def set_classes(self, classes: tuple[str, ...]) -> None:
        """Bars named by the model's classes (digits, or short garment names)."""
        from capsexplorer.data.datasets import short_name

        names = [short_name(c) for c in classes]
        self._follow_count(len(classes))
        self.tick_names = names
        self._name_ticks()
        item = self.plot.getPlotItem()
        digits = list(classes) == [str(d) for d in range(len(classes))]
        self.hover.fallback = (self.tip + ("" if digits else "\nClasses: " +
                                         ", ".join(f"{n} = {c}" for n, c in zip(names, classes))))
        item.setLabel("bottom", "digit capsule j" if digits else "class capsule j")

    def _follow_count(self, classes: int) -> None:
        """One bar, one CNN bar and one value label per class of the model shown (rebuilt only when the
        count changes)."""
        if classes == len(self.x):
            return
        item = self.plot.getPlotItem()
        self.x, self.values = np.arange(classes), np.zeros(classes)
        self.bars.setOpts(x=self.x, height=self.values, brushes=[theme.bar_colour()] * classes)
        self.cnn_bars.setOpts(x=self.x + 0.3, height=np.zeros(classes))
        item.setXRange(-0.6, classes - 0.4, padding=0)
        while len(self.labels) > classes:
            item.removeItem(self.labels.pop())
        while len(self.labels) < classes:
            text = pg.TextItem("", color=theme.foreground(), anchor=(0.5, 1.0))
            text.setPos(len(self.labels), 0)
            item.addItem(text)
            self.labels.append(text)
        self._style = None  # new labels take the current font and colours at the next draw

    def clear(self) -> None:
        self.cnn_bars.setOpts(height=np.zeros(len(self.x)))
        self.values = np.zeros(len(self.x))
        self.winner = -1
        self.bars.setOpts(height=self.values, brushes=[theme.bar_colour()] * len(self.x))
        for text in self.labels:
            text.setText("")
        self._set_caption("")
