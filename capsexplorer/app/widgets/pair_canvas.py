"""A sheet for two digits: draw the first (orange), then the second (blue) where it should overlap it."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy

from capsexplorer.app.widgets.canvas import CANVAS_SIZE, SquareWidget, _smooth_path
from capsexplorer.app.widgets.guard import qt_safe

LAYER_COLOURS = (QColor(230, 159, 0), QColor(0, 114, 178))  # Okabe–Ito orange and blue: first, second digit
PEN = 18.0  # sheet units, as the main canvas's default pen


class PairCanvas(SquareWidget):
    """Two layers of strokes on one sheet; `layer` (0 or 1) is the one drawn on. Emits `changed` when a
    stroke ends, and on undo and clear."""

    changed = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setMinimumSize(150, 150)
        policy = QSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        policy.setHeightForWidth(True)
        self.setSizePolicy(policy)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.layer = 0
        self.strokes: list[list[list[QPointF]]] = [[], []]  # per layer, each stroke's points in sheet units
        self._order: list[int] = []  # the layer of each stroke, in the order drawn (for undo)
        self._current: list[QPointF] | None = None

    @qt_safe(fallback=lambda self: QSize(0, 0))
    def sizeHint(self) -> QSize:
        return QSize(200, 200)

    # --- content ------------------------------------------------------------------------------
    def is_empty(self, layer: int | None = None) -> bool:
        return not any(self.strokes[k] for k in ((0, 1) if layer is None else (layer,)))

    def undo(self) -> None:
        if self._order:
            self.strokes[self._order.pop()].pop()
            self.update()
            self.changed.emit()

    def clear(self) -> None:
        if not self.is_empty():
            self.strokes, self._order = [[], []], []
            self.layer = 0
            self.update()
            self.changed.emit()

    def layer_image(self, layer: int, size: int = CANVAS_SIZE) -> np.ndarray:
        """One layer alone rendered at size×size: uint8 greyscale, dark ink on white (as the main canvas)."""
        image = QImage(size, size, QImage.Format.Format_Grayscale8)
        image.fill(QColor("white"))
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        self._draw(painter, self.strokes[layer], QColor("black"), size / CANVAS_SIZE)
        painter.end()
        bits = np.frombuffer(image.constBits(), dtype=np.uint8).reshape(size, image.bytesPerLine())
        return bits[:, :size].copy()

    def ink_centre(self, layer: int) -> tuple[float, float] | None:
        """The layer's centre of ink (x, y) as fractions of the sheet, or None when it is empty."""
        ink = 255.0 - self.layer_image(layer, 70).astype(np.float64)
        total = ink.sum()
        if total <= 0:
            return None
        ys, xs = np.mgrid[0:70, 0:70] + 0.5
        return float((xs * ink).sum() / total / 70), float((ys * ink).sum() / total / 70)

    # --- painting and the mouse ---------------------------------------------------------------
    @staticmethod
    def _draw(painter: QPainter, strokes, colour: QColor, scale: float) -> None:
        pen = QPen(colour, PEN * scale, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap, Qt.PenJoinStyle.RoundJoin)
        painter.setPen(pen)
        for points in strokes:
            if len(points) == 1:
                painter.drawPoint(points[0] * scale)
            else:
                painter.drawPath(_smooth_path([p * scale for p in points]))

    def _sheet(self) -> QRectF:
        side = min(self.width(), self.height())
        return QRectF((self.width() - side) / 2, (self.height() - side) / 2, side, side)

    @qt_safe()
    def paintEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        sheet = self._sheet()
        painter.fillRect(sheet, QColor("white"))
        painter.translate(sheet.topLeft())
        scale = sheet.width() / CANVAS_SIZE
        for layer in (0, 1):
            colour = QColor(LAYER_COLOURS[layer])
            colour.setAlpha(200)
            strokes = self.strokes[layer] + ([self._current] if self._current and layer == self.layer else [])
            self._draw(painter, strokes, colour, scale)
        painter.resetTransform()
        painter.setPen(QPen(self.palette().mid().color(), 1))
        painter.drawRect(sheet.adjusted(0, 0, -1, -1))
        painter.end()

    def _to_sheet(self, pos: QPointF) -> QPointF:
        sheet = self._sheet()
        return (pos - sheet.topLeft()) * (CANVAS_SIZE / max(sheet.width(), 1.0))

    @qt_safe()
    def mousePressEvent(self, event) -> None:  # noqa: N802
        if event.button() == Qt.MouseButton.LeftButton:
            self._current = [self._to_sheet(event.position())]
            self.update()

    @qt_safe()
    def mouseMoveEvent(self, event) -> None:  # noqa: N802
        if self._current is not None:
            self._current.append(self._to_sheet(event.position()))
            self.update()

    @qt_safe()
    def mouseReleaseEvent(self, event) -> None:  # noqa: N802
        if self._current is not None:
            self.strokes[self.layer].append(self._current)
            self._order.append(self.layer)
            self._current = None
            self.update()
            self.changed.emit()
