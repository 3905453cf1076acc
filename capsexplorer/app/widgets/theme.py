"""Colours taken from the system palette, so light and dark modes both read well."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, QRectF, Qt
from PySide6.QtGui import QColor, QCursor, QFont, QFontMetrics, QPainter, QPalette, QPen
from PySide6.QtWidgets import QApplication, QLabel, QProxyStyle, QStyle, QStyleFactory, QStyleOptionFrame, QToolTip

from capsexplorer.app.widgets.guard import qt_safe

COUPLING_MAP = "viridis"
CHANGE_MAP = "CET-D1"  # diverging blue–white–red for the change between iterations
GREYS = "CET-L1"  # black → white


THEMES = {"system": "&System's", "light": "&Light", "dark": "&Dark"}
_system: dict = {}  # the style and palette the application started with


def _fusion_palette(dark: bool) -> QPalette:
    """Qt's Fusion palette, light, or dark with the same roles (text, bases, highlight, links)."""
    p = QStyleFactory.create("Fusion").standardPalette()
    if not dark:
        return p
    role, group = QPalette.ColorRole, QPalette.ColorGroup
    colours = {role.Window: (45, 45, 48), role.WindowText: (225, 225, 225), role.Base: (30, 30, 32),
               role.AlternateBase: (50, 50, 54), role.ToolTipBase: (60, 60, 64), role.ToolTipText: (235, 235, 235),
               role.Text: (225, 225, 225), role.Button: (55, 55, 58), role.ButtonText: (225, 225, 225),
               role.BrightText: (255, 90, 90), role.Link: (100, 170, 255), role.Highlight: (60, 130, 220),
               role.HighlightedText: (255, 255, 255), role.PlaceholderText: (150, 150, 155),
               role.Light: (75, 75, 80), role.Midlight: (62, 62, 66), role.Mid: (40, 40, 42),
               role.Dark: (25, 25, 27), role.Shadow: (10, 10, 10)}
    for r, rgb in colours.items():
        p.setColor(r, QColor(*rgb))
    for r in (role.WindowText, role.Text, role.ButtonText):
        p.setColor(group.Disabled, r, QColor(120, 120, 125))
    return p


class PlainPanelFrames(QProxyStyle):
    """Fusion, with a panel's (QGroupBox's) frame drawn plainly. Fusion stretches a translucent picture over the
    whole box (`qDrawBorderPixmap`): about 1.5 ms for a panel whenever anything inside it repaints, a fifth of the
    window's paint at a stroke's end (issue 23). The look is Fusion's: a one-pixel rounded border and a faint tint."""

    @qt_safe()
    def drawPrimitive(self, element, option, painter, widget=None) -> None:  # noqa: N802 (Qt naming)
        if element != QStyle.PrimitiveElement.PE_FrameGroupBox or (  # a flat box: Fusion's own line
                isinstance(option, QStyleOptionFrame) and option.features & QStyleOptionFrame.FrameFeature.Flat):
            super().drawPrimitive(element, option, painter, widget)
            return
        window = option.palette.color(QPalette.ColorRole.Window)
        dark = window.lightness() < 128
        tint, border = _blend(window, 0, 0.02 if dark else 0.0125), _blend(window, 255 if dark else 0,
                                                                          0.07 if dark else 0.1)
        rect = option.rect  # Fusion's picture leaves its first column and row clear
        painter.save()
        painter.fillRect(rect.adjusted(2, 2, -1, -1), tint)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(border, 1))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRoundedRect(QRectF(rect).adjusted(1.5, 1.5, -0.5, -0.5), 2, 2)
        painter.restore()


def _blend(colour: QColor, grey: int, alpha: float) -> QColor:
    """`colour` under a grey (0 black … 255 white) of opacity `alpha`."""
    mix = lambda c: round(c * (1 - alpha) + grey * alpha)  # noqa: E731
    return QColor(mix(colour.red()), mix(colour.green()), mix(colour.blue()))


def style_name() -> str:
    """The name of the application's style underneath its proxies ("fusion", "windows" …)."""
    style = QApplication.style()
    while isinstance(style, QProxyStyle) and style.baseStyle() is not None and not style.name():
        style = style.baseStyle()
    return style.name()


def _style(name: str):
    """Qt's style of that name; Fusion with plain panel frames."""
    if name.lower() != "fusion":
        return name
    _system["in_use"] = style = PlainPanelFrames(QStyleFactory.create("Fusion"))  # (kept referenced while in use)
    return style


def apply_theme(name: str) -> str:
    """Sets the whole application's look: "light" or "dark" (Qt's Fusion style with its light or a dark
    palette) or "system" (the style and palette the program started with). Plots read their colours from
    the palette: call `restyle_plots` on a window afterwards and let its panels draw again."""
    app = QApplication.instance()
    if name not in THEMES:
        name = "system"
    if "style" not in _system:
        _system.update(style=style_name(), palette=QPalette(app.palette()))
    if name == "system":
        app.setStyle(_style(_system["style"]))
        app.setPalette(_system["palette"])
    else:
        app.setStyle(_style("Fusion"))
        app.setPalette(_fusion_palette(name == "dark"))
    return name


def restyle_plots(root) -> None:
    """Every plot under `root` takes the palette's background and axis colours again; widgets with a style
    sheet of their own (superqt's slider labels) resolve the new palette again."""
    from PySide6.QtWidgets import QWidget

    for widget in root.findChildren(QWidget):
        if widget.styleSheet():
            widget.setStyleSheet(widget.styleSheet())
    for view in root.findChildren(pg.GraphicsView):
        view.setBackground(background())
        scene_items = view.scene().items() if view.scene() is not None else []
        for item in scene_items:
            if isinstance(item, pg.PlotItem):
                style_plot(item)
            elif isinstance(item, pg.AxisItem) and item.labelText:
                item.labelStyle = {**item.labelStyle, "color": foreground().name()}
                item._updateLabel()
            elif isinstance(item, pg.LabelItem):
                item.setAttr("color", foreground().name())
                item.setText(item.text)


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


# One meaning per colour, from Okabe & Ito's colour-blind-safe set: the winner (and the CapsNet) orange,
# the CNN blue, the runner-up reddish purple. The palette's highlight stays for selection marks.
def cnn_colour() -> QColor:
    return QColor(86, 180, 233) if is_dark() else QColor(0, 114, 178)


def runner_up_colour() -> QColor:
    return QColor(220, 140, 190) if is_dark() else QColor(204, 121, 167)


def style_plot(plot: pg.PlotItem | pg.PlotWidget) -> None:
    """Axis pens and labels in the palette's text colour."""
    item = plot.getPlotItem() if isinstance(plot, pg.PlotWidget) else plot
    for name in ("left", "bottom", "top", "right"):
        axis = item.getAxis(name)
        axis.setPen(pg.mkPen(muted()))
        axis.setTextPen(pg.mkPen(foreground()))


def integer_ticks(plot: pg.PlotWidget, count: int, axis: str = "bottom") -> None:
    """Ticks at 1 … count only (iterations are whole numbers)."""
    step = max(1, count // 8)
    plot.getPlotItem().getAxis(axis).setTicks([[(k, str(k)) for k in range(1, count + 1, step)]])


def label_style() -> dict:
    """Axis titles in the text colour at the body's size (pyqtgraph's default is small and grey)."""
    return {"color": foreground().name(), "font-size": "11pt"}


def static_plot(minimum_height: int = 0) -> pg.PlotWidget:
    """A plot that only shows data: palette background and axes, no mouse panning, no context menu."""
    plot = pg.PlotWidget()
    plot.setBackground(background())
    plot.setMenuEnabled(False)
    plot.setMouseEnabled(False, False)
    plot.hideButtons()
    if minimum_height:
        plot.setMinimumHeight(minimum_height)
    style_plot(plot)
    return plot


def picture_plot(minimum_height: int = 0) -> pg.PlotWidget:
    """A static plot for pictures: rows downwards, square pixels, no axes."""
    plot = static_plot(minimum_height)
    item = plot.getPlotItem()
    item.invertY(True)
    item.setAspectLocked(True)
    item.hideAxis("left")
    item.hideAxis("bottom")
    return plot


def image_item(shape: tuple[int, int], colour_map: str, levels=(0.0, 1.0)) -> pg.ImageItem:
    """An ImageItem for row-major float32 arrays (set per item, not in pyqtgraph's global config),
    with fixed levels and a colour map."""
    item = pg.ImageItem(np.zeros(shape, np.float32), axisOrder="row-major", levels=levels)
    item.setColorMap(pg.colormap.get(colour_map))
    return item


def fix_label_size(label: QLabel, widest: str | None = None, width: int | None = None) -> None:
    """Gives a label whose text changes on every trace a fixed size (wide enough for `widest`, or
    `width`): Qt then skips the layout request a new text would post, so the window is not re-laid out."""
    metrics = label.fontMetrics()
    label.setFixedSize(width if width is not None else metrics.horizontalAdvance(widest) + 8,
                       metrics.height() + 4)


class _HoverReadOut(QObject):
    """Answers the plot's tooltip requests with the numbers under the mouse (Qt would otherwise show a
    static tooltip, or hide ours), and shows them at once while the mouse moves."""

    def __init__(self, plot: pg.PlotWidget, text_at, fallback: str):
        super().__init__(plot)
        self.plot, self.text_at, self.fallback = plot, text_at, fallback
        plot.viewport().installEventFilter(self)
        plot.scene().sigMouseMoved.connect(self._moved)

    def text(self, scene_pos) -> str:
        point = self.plot.getPlotItem().vb.mapSceneToView(scene_pos)
        return self.text_at(point.x(), point.y())

    def _moved(self, scene_pos) -> None:
        text = self.text(scene_pos)
        if text:
            QToolTip.showText(QCursor.pos(), text, self.plot)

    @qt_safe(default=False)
    def eventFilter(self, watched, event) -> bool:  # noqa: N802 (Qt naming)
        if event.type() == QEvent.Type.ToolTip:
            text = self.text(self.plot.mapToScene(event.pos())) or self.fallback
            if text:
                QToolTip.showText(event.globalPos(), text, self.plot)
            else:
                QToolTip.hideText()
            return True
        return False


def hover_read_out(plot: pg.PlotWidget, text_at, fallback: str = "") -> _HoverReadOut:
    """`text_at(x, y)` (data coordinates → the numbers there, or "") shown as the plot's tooltip, at once
    while the mouse moves and on the usual tooltip request; `fallback` where there is nothing to read."""
    return _HoverReadOut(plot, text_at, fallback)


NAME_OVERHANG = 40  # px a class name may reach past either end of its axis


def fitting_names(names: list[str], room: float, base: QFont) -> tuple[list[str], QFont]:
    """Class names that fit `room` px apart under bars or columns: in the body's font, else down to 7 pt, then
    as abbreviations that read as such (data.SHORT_TICK_NAMES), and only where even those run together the
    class numbers."""
    from capsexplorer.data.datasets import SHORT_TICK_NAMES

    font = QFont(base)
    short = [SHORT_TICK_NAMES.get(n, n) for n in names]
    for rows in (1, 2):  # two rows: every other name one line lower, each with twice the room
        for candidate, size in [(list(names), size) for size in (base.pointSizeF(), 8.0, 7.0)] + \
                [(short, size) for size in (8.0, 7.0)]:
            font.setPointSizeF(size)
            if max(QFontMetrics(font).horizontalAdvance(n) for n in candidate) <= room * rows - (rows - 1) * 4:
                return [("\n" if rows == 2 and k % 2 else "") + n for k, n in enumerate(candidate)], font
    return [str(k) for k in range(len(names))], QFont(base)


class ClassAxis(QObject):
    """A plot's bottom axis naming classes at `positions`: the names in the body's font where they fit,
    else in a font down to 7 pt, else the class numbers (the names then on hover) — refitted on resize."""

    def __init__(self, plot: pg.PlotWidget, positions):
        super().__init__(plot)
        self.plot, self.positions = plot, list(positions)
        self.names = [str(k) for k in range(len(self.positions))]
        plot.installEventFilter(self)

    def set_names(self, names, positions=None) -> None:
        """The classes' names; `positions` where they stand (default: 0, 1, … one per name, or the ones held
        when they already number as many)."""
        self.names = list(names)
        if positions is not None:
            self.positions = list(positions)
        elif len(self.positions) != len(self.names):
            self.positions = list(range(len(self.names)))
        self.fit()

    def fit(self) -> None:
        axis = self.plot.getPlotItem().getAxis("bottom")
        view = self.plot.getPlotItem().vb.sceneBoundingRect().width() or self.plot.width() * 0.7
        x_range = self.plot.getPlotItem().vb.viewRange()[0]
        spacing = (self.positions[1] - self.positions[0]) if len(self.positions) > 1 else 1.0
        per_name = view * spacing / max(x_range[1] - x_range[0], 1e-9) - 6  # px between two names, less a gap
        names, font = fitting_names(self.names, per_name, self.plot.font())
        # the first and last names may reach past the axis's ends (pyqtgraph hides such labels by default)
        axis.setStyle(tickFont=font, hideOverlappingLabels=NAME_OVERHANG)
        axis.setTicks([list(zip(self.positions, names)), []])

    @qt_safe(default=False)
    def eventFilter(self, watched, event) -> bool:  # noqa: N802 (Qt naming)
        if event.type() == QEvent.Type.Resize:
            from PySide6.QtCore import QTimer

            QTimer.singleShot(0, self.fit)  # once pyqtgraph has laid the view box out at the new width
        return False
