"""The drawing canvas: smooth strokes from mouse or pen, undo, clear, and a loaded image beneath."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from capsexplorer.app.widgets.guard import qt_safe

CANVAS_SIZE = 280  # the sheet's units (strokes are stored in them), and its size on a wide screen
MINIMUM_SIZE = 180  # the smallest the canvas gets on a small screen


class SquareWidget(QWidget):
    """A widget as tall as it is wide (a drawing sheet)."""

    @qt_safe(fallback=lambda self, width: width)
    def heightForWidth(self, width: int) -> int:
        return width

    @qt_safe(default=False)
    def hasHeightForWidth(self) -> bool:
        return True


class DrawingCanvas(SquareWidget):
    """Dark ink on a white sheet. Emits `strokeMoved` while drawing and `changed` when a stroke
    ends, or on undo, clear and load. Undo steps back through strokes, clears and loads alike."""

    strokeMoved = Signal()
    changed = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setMinimumSize(MINIMUM_SIZE, MINIMUM_SIZE)
        policy = QSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        policy.setHeightForWidth(True)  # a square sheet: the layout gives it as much height as width
        self.setSizePolicy(policy)
        self.setAttribute(Qt.WidgetAttribute.WA_StaticContents)
        # paintEvent covers every pixel: the panel behind is not painted first (it was, at every pen move)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setToolTip("Draw a digit. Ctrl+Z undoes the last stroke; Esc clears.")
        self.pen_width = 18.0  # in canvas units (the sheet is CANVAS_SIZE units wide)
        self.empty_hint = "Draw a digit here"  # what the empty sheet invites (the window sets it per model)
        self._strokes: list[tuple[float, list[QPointF]]] = []  # (width, points) in sheet units
        self._current: list[QPointF] | None = None
        self._background: QImage | None = None  # a loaded image, greyscale, dark ink on light
        self._paper = QColor("white")
        self._history: list[tuple] = []  # the sheet before each clear or load, for undo
        self._exact: np.ndarray | None = None  # a loaded dataset digit: the network input as it is
        self._label = ""  # where a loaded image came from ("MNIST test sample #12, class 3", a file's name)
        # The sheet with its finished strokes, rendered once per size: a paint or a trace request
        # then draws only the stroke in progress on top, however many strokes there are.
        self._layers: dict[int, QImage] = {}

    @qt_safe(fallback=lambda self: QSize(0, 0))
    def sizeHint(self) -> QSize:
        return QSize(CANVAS_SIZE + 40, CANVAS_SIZE + 40)

    # --- content ------------------------------------------------------------------------------
    @property
    def stroke_count(self) -> int:
        return len(self._strokes)

    def is_empty(self) -> bool:
        return not self._strokes and self._current is None and self._background is None

    def clear(self) -> None:
        """Empties the sheet; undo brings it back."""
        if self.is_empty():
            self.changed.emit()
            return
        self._remember()
        self._strokes = []
        self._current = None
        self._background = None
        self._exact = None
        self._label = ""
        self._paper = QColor("white")
        self._layers.clear()
        self.update()
        self.changed.emit()

    def undo(self) -> None:
        """Removes the last stroke or, when the sheet has none since the last clear or load,
        brings back the sheet as it was before that."""
        if self._strokes:
            self._strokes.pop()
        elif self._history:
            strokes, self._background, self._paper, self._exact, self._label = self._history.pop()
            self._strokes = list(strokes)
        elif self._background is not None:  # an image loaded on an empty sheet
            self._background, self._paper, self._exact, self._label = None, QColor("white"), None, ""
        else:
            return
        self._current = None
        self._layers.clear()
        self.update()
        self.changed.emit()

    def _remember(self) -> None:
        """Saves the sheet before a clear or a load, for undo."""
        self._history.append((tuple(self._strokes), self._background, QColor(self._paper), self._exact, self._label))
        del self._history[:-20]  # a bounded history: loaded images are large

    def set_image(self, image: np.ndarray, exact: np.ndarray | None = None, label: str = "") -> None:
        """Shows a loaded image (H, W) greyscale in [0, 255], light ink on dark or dark on light,
        as dark ink on the sheet; strokes drawn afterwards go on top of it. `exact`: a dataset digit's
        28×28 network input (floats in [0, 1]), used as it is until the sheet is drawn on. `label`: where the
        image came from, said until the sheet is drawn on."""
        array = np.asarray(image, dtype=np.float32)
        border = np.concatenate([array[0], array[-1], array[:, 0], array[:, -1]])
        if np.median(border) < 128:  # light on dark → show dark on light
            array = 255.0 - array
            border = 255.0 - border
        gray = np.ascontiguousarray(np.clip(array, 0, 255).astype(np.uint8))
        qimage = QImage(gray.data, gray.shape[1], gray.shape[0], gray.strides[0], QImage.Format.Format_Grayscale8)
        if not self.is_empty():
            self._remember()
        self._background = qimage.copy()
        self._exact = None if exact is None else np.array(exact, np.float32)
        self._label = str(label)
        paper = int(np.clip(np.median(border), 0, 255))
        self._paper = QColor(paper, paper, paper)  # fills the sheet beside a non-square image
        self._strokes = []
        self._current = None
        self._layers.clear()
        self.update()
        self.changed.emit()

    def label(self) -> str:
        """Where the sheet's picture came from; "" once it is drawn on (then it is the user's drawing)."""
        return self._label if not self._strokes and self._current is None else ""

    def exact_input(self) -> np.ndarray | None:
        """The loaded dataset digit as the network input, while nothing is drawn over it."""
        return self._exact if self._exact is not None and not self._strokes and self._current is None else None

    def image_array(self, size: int = CANVAS_SIZE) -> np.ndarray:
        """The sheet rendered at `size`×`size` as uint8 greyscale, dark ink on white."""
        image = self._layer(size).convertToFormat(QImage.Format.Format_Grayscale8)
        if self._current:
            painter = QPainter(image)
            self._draw_strokes(painter, [(self.pen_width, self._current)], size / CANVAS_SIZE)
            painter.end()
        bits = np.frombuffer(image.constBits(), dtype=np.uint8).reshape(size, image.bytesPerLine())
        return bits[:, :size].copy()

    # --- painting -----------------------------------------------------------------------------
    def _scale(self) -> float:
        return min(self.width(), self.height()) / CANVAS_SIZE

    def _origin(self) -> QPointF:
        side = min(self.width(), self.height())
        return QPointF((self.width() - side) / 2, (self.height() - side) / 2)

    def _layer(self, size: int) -> QImage:
        """The white sheet, the loaded image and every finished stroke at `size`×`size`."""
        layer = self._layers.get(size)
        if layer is None:
            layer = QImage(size, size, QImage.Format.Format_RGB32)
            layer.fill(self._paper if self._background is not None else QColor("white"))
            painter = QPainter(layer)
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
            if self._background is not None:
                painter.drawImage(_fit_square(self._background.width(), self._background.height(), size),
                                  self._background)
            self._draw_strokes(painter, self._strokes, size / CANVAS_SIZE)
            painter.end()
            if len(self._layers) > 4:  # sizes seen while the window is resized
                self._layers.clear()
            self._layers[size] = layer
        return layer

    @staticmethod
    def _draw_strokes(painter: QPainter, strokes, scale: float) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        for width, points in strokes:
            pen = QPen(QColor(20, 20, 20), width * scale, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap,
                       Qt.PenJoinStyle.RoundJoin)
            painter.setPen(pen)
            painter.drawPath(_smooth_path([p * scale for p in points]))

    @qt_safe()
    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        side = min(self.width(), self.height())
        painter.fillRect(self.rect(), self.palette().window())
        painter.translate(self._origin())
        painter.drawImage(0, 0, self._layer(side))
        if self._current:
            painter.save()
            painter.setClipRect(QRectF(0, 0, side, side), Qt.ClipOperation.IntersectClip)  # ink stays on the sheet
            self._draw_strokes(painter, [(self.pen_width, self._current)], self._scale())
            painter.restore()
        painter.setPen(QPen(self.palette().mid().color(), 1))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRect(QRectF(0.5, 0.5, side - 1, side - 1))
        if self.is_empty():
            painter.setPen(QColor(150, 150, 150))
            painter.drawText(QRectF(8, 0, side - 16, side), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                             self.empty_hint)  # wrapped: a model's class names never cut at the sheet's edges
        painter.end()

    # --- input --------------------------------------------------------------------------------
    def _to_sheet(self, pos: QPointF) -> QPointF:
        return (pos - self._origin()) / self._scale()

    def _press(self, pos: QPointF) -> None:
        self._current = [self._to_sheet(pos)]
        self.update()
        self.strokeMoved.emit()

    def _move(self, pos: QPointF) -> None:
        if self._current is None:
            return
        point = self._to_sheet(pos)
        if (point - self._current[-1]).manhattanLength() >= 0.5:
            self._current.append(point)
            self.update(self._tail_rect())
            self.strokeMoved.emit()

    def _tail_rect(self) -> QRect:
        """Where a move redraws the stroke: its last three samples (the curve through their midpoints changes
        there only) widened by the pen — a 40-px square, not the whole sheet."""
        scale, origin = self._scale(), self._origin()
        xs = [origin.x() + p.x() * scale for p in self._current[-3:]]
        ys = [origin.y() + p.y() * scale for p in self._current[-3:]]
        pad = self.pen_width * scale / 2 + 2
        return QRectF(QPointF(min(xs) - pad, min(ys) - pad), QPointF(max(xs) + pad, max(ys) + pad)).toAlignedRect()

    def _release(self) -> None:
        if self._current is None:
            return
        if len(self._current) == 1:  # a click leaves a dot
            self._current.append(self._current[0] + QPointF(0.01, 0))
        stroke = (self.pen_width, self._current)
        self._strokes.append(stroke)
        for size, layer in self._layers.items():
            painter = QPainter(layer)
            self._draw_strokes(painter, [stroke], size / CANVAS_SIZE)
            painter.end()
        self._current = None
        self.update()
        self.changed.emit()

    @qt_safe()
    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._press(event.position())

    @qt_safe()
    def mouseMoveEvent(self, event) -> None:
        if event.buttons() & Qt.MouseButton.LeftButton:
            self._move(event.position())

    @qt_safe()
    def mouseReleaseEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._release()

    @qt_safe()
    def tabletEvent(self, event) -> None:
        kind = event.type()
        if kind == event.Type.TabletPress:
            self._press(event.position())
        elif kind == event.Type.TabletMove:
            self._move(event.position())
        elif kind == event.Type.TabletRelease:
            self._release()
        event.accept()


def _fit_square(width: int, height: int, side: float) -> QRectF:
    """The rectangle of a width×height image fitted, aspect kept, in the middle of a side×side sheet."""
    scale = side / max(width, height)
    w, h = width * scale, height * scale
    return QRectF((side - w) / 2, (side - h) / 2, w, h)


def _smooth_path(points: list[QPointF]) -> QPainterPath:
    """Quadratic curves through the midpoints of successive samples: smooth, no corners."""
    path = QPainterPath(points[0])
    if len(points) < 3:
        for p in points[1:]:
            path.lineTo(p)
        return path
    for a, b in zip(points[1:-1], points[2:]):
        path.quadTo(a, (a + b) / 2)
    path.lineTo(points[-1])
    return path
