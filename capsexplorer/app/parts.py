"""Parts and the whole: switch primary capsules off — by type, or by brushing over the 6×6 grid of
positions — and the input is routed again without them. (Which parts does the 8 need?)"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, QSize, Signal
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import (QGridLayout, QGroupBox, QHBoxLayout, QLabel, QPushButton, QToolButton, QVBoxLayout,
                               QWidget)

from superqt.utils import signals_blocked

from .. import views
from . import theme
from .state import ExplorerState

# On: the ordinary button face; off: red, unmistakably (a style for one state only leaves the other to the
# platform, which can paint both alike).
TYPE_BUTTON_STYLE = ("QToolButton { border: 1px solid palette(mid); border-radius: 3px; padding: 1px; }"
                     "QToolButton:checked { background: palette(button); color: palette(button-text); }"
                     "QToolButton:!checked { background: #c9463d; color: white; }")


class PositionBrush(QWidget):
    """The 6×6 grid of positions over the input: press and drag to switch positions off (or on, if
    the first cell pressed was off)."""

    changed = Signal(object)  # (36,) bool

    CELL = 22

    def __init__(self, parent=None):
        super().__init__(parent)
        self.on = np.ones(views.POSITIONS, bool)
        self.image = np.zeros((28, 28), np.float32)
        self._paint_value: bool | None = None
        self.setFixedSize(self.sizeHint())
        self.setToolTip("Press and drag to switch positions off (red) or on again (grey: the ink there); "
                        "each cell is one of the 6×6 positions, all 32 types there")

    def sizeHint(self) -> QSize:
        return QSize(views.GRID * self.CELL + 1, views.GRID * self.CELL + 1)

    def set_state(self, on: np.ndarray, image: np.ndarray | None) -> None:
        self.on = np.asarray(on, bool).copy()
        if image is not None:
            self.image = image
        self.update()

    def _cell(self, pos) -> int | None:
        col, row = int(pos.x() // self.CELL), int(pos.y() // self.CELL)
        return row * views.GRID + col if 0 <= row < views.GRID and 0 <= col < views.GRID else None

    def mousePressEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        cell = self._cell(event.position())
        if cell is not None:
            self._paint_value = not self.on[cell]
            self._paint(cell)

    def mouseMoveEvent(self, event) -> None:  # noqa: N802
        cell = self._cell(event.position())
        if cell is not None and self._paint_value is not None:
            self._paint(cell)

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802
        self._paint_value = None

    def _paint(self, cell: int) -> None:
        if self.on[cell] != self._paint_value:
            self.on[cell] = self._paint_value
            self.update()
            self.changed.emit(self.on.copy())

    def paintEvent(self, event) -> None:  # noqa: N802
        painter = QPainter(self)
        size = self.CELL
        for position in range(views.POSITIONS):
            row, col = divmod(position, views.GRID)
            # The input under the cell's centre (2r + 8, 2c + 8), bright where there is ink.
            ink = float(self.image[2 * row + 7:2 * row + 10, 2 * col + 7:2 * col + 10].mean())
            grey = int(40 + 180 * ink)
            colour = QColor(grey, grey, grey) if self.on[position] else QColor(200, 60, 40)
            painter.fillRect(QRectF(col * size, row * size, size, size), colour)
        painter.setPen(QPen(theme.background(), 1))
        for k in range(views.GRID + 1):
            painter.drawLine(0, k * size, views.GRID * size, k * size)
            painter.drawLine(k * size, 0, k * size, views.GRID * size)
        painter.end()


class PartsPanel(QGroupBox):
    def __init__(self, state: ExplorerState, parent=None):
        super().__init__("Parts and the whole — switch primary capsules off", parent)
        self.state = state
        self.types_on = np.ones(views.TYPES, bool)
        self.positions_on = np.ones(views.POSITIONS, bool)
        self.type_buttons: list[QToolButton] = []
        types = QGridLayout()
        types.setSpacing(2)
        for t in range(views.TYPES):
            button = QToolButton()
            button.setText(str(t))
            button.setCheckable(True)
            button.setChecked(True)
            button.setToolTip(f"Capsule type {t}: all 36 positions (checked = on)")
            button.setFixedWidth(28)
            button.setStyleSheet(TYPE_BUTTON_STYLE)
            button.toggled.connect(lambda on, t=t: self._type_toggled(t, on))
            types.addWidget(button, t // 8, t % 8)
            self.type_buttons.append(button)
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
        state.partsChanged.connect(self._show)
        state.resultChanged.connect(self._show)
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
        on = int(enabled.sum())
        off_types = int((~self.types_on).sum())
        self.types_label.setText("Types — all 32 on (click one to switch it off: it turns red)" if not off_types
                                 else f"Types — {off_types} of 32 switched off (red); click to switch on again")
        text = f"{on} of 1152 primary capsules on."
        if tr is not None and on < 1152:
            text += (f" Without the others the network says {int(tr.prediction[0])} "
                     f"(‖v‖ = {tr.final_lengths[0].max():.3f}); every panel shows this routing.")
        self.count.setText(text)
