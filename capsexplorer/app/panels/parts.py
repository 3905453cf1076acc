"""Parts and the whole: switch primary capsules off — by type, or by brushing over the 6×6 grid of
positions — and the input is routed again without them. (Which parts does the 8 need?)"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Signal
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import (
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)
from superqt.utils import signals_blocked

from capsexplorer.analysis import views
from capsexplorer.app.session.state import ExplorerState
from capsexplorer.app.widgets import theme
from capsexplorer.app.widgets.guard import qt_safe
from capsexplorer.app.widgets.when_shown import WhenShown

# On: the ordinary button face; off: red, unmistakably (a style for one state only leaves the other to the
# platform, which can paint both alike).
TYPE_BUTTON_STYLE = ("QToolButton { border: 1px solid palette(mid); border-radius: 3px; padding: 1px; }"
                     "QToolButton:checked { background: palette(button); color: palette(button-text); }"
                     "QToolButton:!checked { background: #c9463d; color: white; }")


class PositionBrush(QWidget):
    """The G×G grid of positions over the input (6×6 in the paper): press and drag to switch positions off
    (or on, if the first cell pressed was off)."""

    changed = Signal(object)  # (G², ) bool

    SIDE = 132  # px: the paper's 6×6 grid at 22 px a cell; a larger grid gets smaller cells

    def __init__(self, parent=None):
        super().__init__(parent)
        self.geometry_ = views.PAPER
        self.on = np.ones(views.POSITIONS, bool)
        self.image = np.zeros((28, 28), np.float32)
        self._paint_value: bool | None = None
        self.set_geometry(views.PAPER)

    @property
    def CELL(self) -> int:  # noqa: N802 (a size, as it was a constant)
        return max(8, self.SIDE // self.geometry_.grid)

    def set_geometry(self, geometry: views.Geometry) -> None:
        self.geometry_ = geometry
        self.on = np.ones(geometry.positions, bool)
        self.setFixedSize(self.sizeHint())
        self.setToolTip("Press and drag to switch positions off (red) or on again (grey: the ink there); "
                        f"each cell is one of the {geometry.grid}×{geometry.grid} positions, all {geometry.types} "
                        "types there")
        self.update()

    @qt_safe(fallback=lambda self: QSize(0, 0))
    def sizeHint(self) -> QSize:
        return QSize(self.geometry_.grid * self.CELL + 1, self.geometry_.grid * self.CELL + 1)

    def set_state(self, on: np.ndarray, image: np.ndarray | None) -> None:
        self.on = np.asarray(on, bool).copy()
        if image is not None:
            self.image = image
        self.update()

    def _cell(self, pos) -> int | None:
        col, row, grid = int(pos.x() // self.CELL), int(pos.y() // self.CELL), self.geometry_.grid
        return row * grid + col if 0 <= row < grid and 0 <= col < grid else None

    @qt_safe()
    def mousePressEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        cell = self._cell(event.position())
        self._last = event.position()
        if cell is not None:
            self._paint_value = not self.on[cell]
            self._paint([cell])

    @qt_safe()
    def mouseMoveEvent(self, event) -> None:  # noqa: N802
        if self._paint_value is None:
            return
        here = event.position()
        self._paint(self._cells_between(getattr(self, "_last", here), here))  # a quick drag skips no cell
        self._last = here

    @qt_safe()
    def mouseReleaseEvent(self, event) -> None:  # noqa: N802
        self._paint_value = None

    def _cells_between(self, start, end) -> list[int]:
        """Every cell the straight drag from `start` to `end` crosses (sampled at a quarter cell): mouse moves
        come tens of pixels apart when the hand is quick."""
        steps = max(1, int(np.ceil(np.hypot(end.x() - start.x(), end.y() - start.y()) / (self.CELL / 4))))
        cells = []
        for t in np.linspace(0.0, 1.0, steps + 1):
            cell = self._cell(QPointF(start.x() + t * (end.x() - start.x()), start.y() + t * (end.y() - start.y())))
            if cell is not None and cell not in cells:
                cells.append(cell)
        return cells

    def _paint(self, cells: list[int]) -> None:
        changed = [cell for cell in cells if self.on[cell] != self._paint_value]
        if changed:
            self.on[changed] = self._paint_value
            self.update()
            self.changed.emit(self.on.copy())

    @qt_safe()
    def paintEvent(self, event) -> None:  # noqa: N802
        painter = QPainter(self)
        size, g = self.CELL, self.geometry_
        for position in range(g.positions):
            row, col = divmod(position, g.grid)
            # The input under the cell's centre (2r + k − 1, 2c + k − 1), bright where there is ink.
            y, x = int(g.step * row + g.origin), int(g.step * col + g.origin)
            patch = self.image[y:y + 3, x:x + 3]
            ink = float(patch.mean()) if patch.size else 0.0
            grey = int(40 + 180 * ink)
            colour = QColor(grey, grey, grey) if self.on[position] else QColor(200, 60, 40)
            painter.fillRect(QRectF(col * size, row * size, size, size), colour)
        painter.setPen(QPen(theme.background(), 1))
        for k in range(g.grid + 1):
            painter.drawLine(0, k * size, g.grid * size, k * size)
            painter.drawLine(k * size, 0, k * size, g.grid * size)
        painter.end()


class PartsPanel(QGroupBox):
    def __init__(self, state: ExplorerState, parent=None):
        super().__init__("Parts and the whole — switch primary capsules off", parent)
        self.state = state
        self.types_on = np.ones(views.TYPES, bool)
        self.positions_on = np.ones(views.POSITIONS, bool)
        self.type_buttons: list[QToolButton] = []
        types = self.types_grid = QGridLayout()
        types.setSpacing(2)
        self._type_buttons(views.TYPES, views.POSITIONS)
        self.brush = PositionBrush()
        self.brush.changed.connect(self._positions_changed)
        self.all_on = QPushButton("All parts on")
        self.all_on.clicked.connect(self.reset)
        self.count = QLabel("")
        self.count.setWordWrap(True)
        positions = QVBoxLayout()
        positions.addWidget(QLabel("Positions: press and drag"))
        legend = QLabel("grey: the input's ink there; red: switched off")
        legend.setWordWrap(True)
        positions.addWidget(legend)
        positions.addWidget(self.brush)
        positions.addWidget(self.all_on)
        positions.addStretch(1)
        row = QHBoxLayout()
        row.addLayout(positions)
        row.addWidget(self.count, 1)
        layout = QVBoxLayout(self)
        self.types_label = QLabel("")
        self.types_label.setWordWrap(True)
        layout.addWidget(self.types_label)
        layout.addLayout(types)
        layout.addLayout(row)
        self.redraw = WhenShown(self, self._show)  # hidden: nothing computed until the tab is shown
        state.partsChanged.connect(self.redraw)
        state.resultChanged.connect(self.redraw)
        state.modelChanged.connect(self._follow_model)
        self._show()

    def _type_buttons(self, count: int, positions: int) -> None:
        """A toggle per capsule type, eight to a row: made when a model has more, hidden when fewer."""
        while len(self.type_buttons) < count:
            t = len(self.type_buttons)
            button = QToolButton()
            button.setText(str(t))
            button.setCheckable(True)
            button.setChecked(True)
            button.setFixedWidth(28)
            button.setStyleSheet(TYPE_BUTTON_STYLE)
            button.toggled.connect(lambda on, t=t: self._type_toggled(t, on))
            self.types_grid.addWidget(button, t // 8, t % 8)
            self.type_buttons.append(button)
        for t, button in enumerate(self.type_buttons):
            button.setVisible(t < count)
            button.setToolTip(f"Capsule type {t}: all {positions} positions (checked = on)")

    def _follow_model(self) -> None:
        """Another model's types and grid: all of its parts on."""
        g = self.state.geometry
        if len(self.types_on) == g.types and len(self.positions_on) == g.positions:
            return
        self.types_on, self.positions_on = np.ones(g.types, bool), np.ones(g.positions, bool)
        self._type_buttons(g.types, g.positions)
        for button in self.type_buttons:
            with signals_blocked(button):
                button.setChecked(True)
        self.brush.set_geometry(g)
        self._show()

    def _type_toggled(self, capsule_type: int, on: bool) -> None:
        self.types_on[capsule_type] = on
        self._apply()

    def _positions_changed(self, on: np.ndarray) -> None:
        self.positions_on = on
        self._apply()

    def _apply(self) -> None:
        self.state.set_enabled((self.types_on[:, None] & self.positions_on[None, :]).reshape(-1))

    def reset(self) -> None:
        self.types_on[:] = True
        self.positions_on[:] = True
        for button in self.type_buttons:
            with signals_blocked(button):
                button.setChecked(True)
        self._apply()

    def _show(self) -> None:
        enabled = self.state.enabled  # this panel is its only writer: its toggles mirror it
        tr = self.state.trace
        self.brush.set_state(self.positions_on, tr.images[0] if tr is not None else None)
        on, g = int(enabled.sum()), self.state.geometry
        off_types = int((~self.types_on).sum())
        self.types_label.setText(f"Types — all {g.types} on (click one to switch it off: it turns red)"
                                 if not off_types else
                                 f"Types — {off_types} of {g.types} switched off (red); click to switch on again")
        text = f"{on} of {len(enabled)} primary capsules on."
        if tr is not None and on < len(enabled):
            text += (f" Without the others the network says {self.state.class_name(int(tr.prediction[0]))} "
                     f"(‖v‖ = {tr.final_lengths[0].max():.3f}); every panel shows this routing.")
        self.count.setText(text)
