"""A small titled image: the network input (28×28, or the model's size), a reconstruction."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from capsexplorer.app.widgets import theme


class ImageTile(QWidget):
    """A greyscale image in [0, 1] drawn pixel-exact with a title; the ImageItem is made once."""

    def __init__(self, title: str, size: int = 112, parent=None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        self.title = QLabel(title)
        self.title.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        self.view = pg.GraphicsLayoutWidget()
        self.view.setBackground(theme.background())
        self.view.setFixedSize(size, size)
        self.view.ci.setContentsMargins(0, 0, 0, 0)
        self.box = self.view.addViewBox(lockAspect=True, invertY=True, enableMouse=False)
        self.box.setMenuEnabled(False)
        self.image = theme.image_item((28, 28), theme.GREYS)
        self.box.addItem(self.image)
        self.box.setRange(xRange=(0, 28), yRange=(0, 28), padding=0)
        layout.addWidget(self.title)
        layout.addWidget(self.view, alignment=Qt.AlignmentFlag.AlignHCenter)
        self.data = np.zeros((28, 28), np.float32)

    def set_image(self, array: np.ndarray) -> None:
        previous = self.data.shape
        self.data = np.ascontiguousarray(array, dtype=np.float32)
        self.image.setImage(self.data, levels=(0.0, 1.0), autoLevels=False)
        if self.data.shape != previous:  # another model's input size: the view fits it
            self.box.setRange(xRange=(0, self.data.shape[1]), yRange=(0, self.data.shape[0]), padding=0)
