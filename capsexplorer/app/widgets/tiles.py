"""A small titled image: the network input (28×28, or the model's size), a reconstruction."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QImage, QPainter
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from capsexplorer.app.widgets import theme
from capsexplorer.app.widgets.guard import qt_safe


def grey_pixels(array: np.ndarray) -> np.ndarray:
    """(..., H, W) values in [0, 1] → bytes, black 0 → white 1 (one pass for a whole stack)."""
    return np.ascontiguousarray((np.clip(np.nan_to_num(array), 0, 1) * 255).round().astype(np.uint8))


def grey_image(array: np.ndarray, pixels: np.ndarray | None = None) -> tuple[QImage, np.ndarray]:
    """(H, W) values in [0, 1] (or their `pixels`, from `grey_pixels`) → a greyscale QImage and the bytes it
    borrows (keep both)."""
    pixels = grey_pixels(array) if pixels is None else pixels
    return QImage(pixels.data, pixels.shape[1], pixels.shape[0], pixels.shape[1],
                  QImage.Format.Format_Grayscale8), pixels


class Picture(QWidget):
    """An image drawn pixel-exact (no smoothing), as large as fits with square pixels, centred."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.image, self._pixels = grey_image(np.zeros((28, 28), np.float32))
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)  # it fills itself: nothing beneath is painted

    def set_array(self, array: np.ndarray) -> None:
        self.image, self._pixels = grey_image(array)
        self.update()

    def target(self) -> QRect:
        h, w = self.image.height(), self.image.width()
        scale = min(self.width() / max(w, 1), self.height() / max(h, 1))
        scale = float(int(scale)) if scale >= 1 else scale  # every pixel the same size (36 px in 112: 3 each)
        width, height = round(w * scale), round(h * scale)
        return QRect((self.width() - width) // 2, (self.height() - height) // 2, width, height)

    @qt_safe()
    def paintEvent(self, _event) -> None:  # noqa: N802 (Qt naming)
        painter = QPainter(self)
        painter.fillRect(self.rect(), theme.background())
        painter.drawImage(self.target(), self.image)  # nearest neighbour: QPainter smooths only when asked
        painter.end()


class ImageTile(QWidget):
    """A greyscale image in [0, 1] drawn pixel-exact with a title. Plain painting, not a plot: it changes with
    every trace, and a plot's scene repainted the window on its own (Qt's QGraphicsView does)."""

    def __init__(self, title: str, size: int = 112, parent=None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        self.title = QLabel(title)
        self.title.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        self.view = Picture()
        self.view.setFixedSize(size, size)
        layout.addWidget(self.title)
        layout.addWidget(self.view, alignment=Qt.AlignmentFlag.AlignHCenter)
        self.data = np.zeros((28, 28), np.float32)

    def set_image(self, array: np.ndarray) -> None:
        self.data = np.ascontiguousarray(array, dtype=np.float32)
        self.view.set_array(self.data)
