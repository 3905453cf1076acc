"""The paper's Figure 4 for the chosen capsule: each of its 16 pose dimensions perturbed and
decoded, each row named by what it measurably does. Clicking a tile sets that slider."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QGroupBox, QHBoxLayout, QLabel, QPushButton, QScrollArea, QVBoxLayout

from ..posegrid import PoseGrid
from . import theme

GAP = 2
SPANS = (0.25, 0.5, 1.0)
LABEL_ROOM = 240  # image pixels left of the grid for the rows' names (one screen pixel each)
LABEL_PIXELS = 240


def mosaic(grid: PoseGrid) -> np.ndarray:
    """(16·30, steps·30) the grid's images with gaps, row k = dimension k."""
    dims, steps = grid.grid.shape[:2]
    out = np.full((dims * (28 + GAP), steps * (28 + GAP)), 0.2, np.float32)
    for k in range(dims):
        for s in range(steps):
            out[k * (28 + GAP):k * (28 + GAP) + 28, s * (28 + GAP):s * (28 + GAP) + 28] = grid.grid[k, s]
    return out


class GridPanel(QGroupBox):
    gridRequested = Signal(float)  # span
    tileClicked = Signal(int, float)  # dimension, offset
    exportRequested = Signal()

    def __init__(self, parent=None):
        super().__init__("Every pose dimension, perturbed", parent)
        self.grid: PoseGrid | None = None
        self.span = QComboBox()
        for span in SPANS:
            self.span.addItem(f"±{span:g}", span)
        self.span.currentIndexChanged.connect(lambda: self.gridRequested.emit(self.current_span()))
        self.export_button = QPushButton("PNG…")
        self.export_button.setEnabled(False)
        self.export_button.clicked.connect(self.exportRequested)
        controls = QHBoxLayout()
        controls.addWidget(QLabel("Range"))
        controls.addWidget(self.span)
        controls.addWidget(self.export_button)
        controls.addStretch(1)
        # A fixed size in a scroll area: tiles stay readable and the rows' names whole in a small window.
        self.plot = theme.static_plot()
        self.plot.setFixedSize(LABEL_PIXELS + 11 * (28 + GAP) + 20, 16 * (28 + GAP) + 40)
        scroll = QScrollArea()
        scroll.setWidget(self.plot)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setMinimumWidth(200)
        item = self.plot.getPlotItem()
        item.invertY(True)
        item.setAspectLocked(True)
        item.hideAxis("left")  # the rows' names are text items beside them: an axis thins crowded labels out
        self.row_labels = []
        for k in range(16):
            label = pg.TextItem("", color=theme.foreground(), anchor=(1, 0.5))
            label.setPos(-4, k * (28 + GAP) + 14)
            item.addItem(label)
            self.row_labels.append(label)
        self.image = theme.image_item((16 * 30, 11 * 30), theme.GREYS)
        self.image.mouseClickEvent = self._click
        item.addItem(self.image)
        self.caption = QLabel("Rows: the 16 dimensions, named from the reconstructions' image moments. "
                              "Columns: the offset added. Click a tile to set that pose slider.")
        self.caption.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addLayout(controls)
        layout.addWidget(scroll, 1)
        layout.addWidget(self.caption)

    def follow(self, state) -> None:
        """Draws the pose grid the explorer state holds."""
        self.state = state
        state.gridChanged.connect(lambda: self.clear() if state.grid is None else
                                  self.show_result(state.grid.value, state.grid.labels))

    def current_span(self) -> float:
        return float(self.span.currentData())

    def show_result(self, grid: PoseGrid, labels: list[dict]) -> None:
        self.grid = grid
        image = mosaic(grid)
        self.image.setImage(image, levels=(0, 1), autoLevels=False)
        item = self.plot.getPlotItem()
        step = 28 + GAP
        for label, row in zip(self.row_labels, labels):
            label.setText(f"{row['index'] + 1}  {row['label']}")
        item.getAxis("bottom").setTicks([[(s * step + 14, f"{o:+.2f}".replace("+0.00", "0"))
                                          for s, o in enumerate(grid.offsets) if s % 2 == 0]])
        item.setRange(xRange=(-LABEL_ROOM, image.shape[1]), yRange=(0, image.shape[0]), padding=0.01)
        self.export_button.setEnabled(True)
        state = getattr(self, "state", None)
        name = f"The {state.capsule_word} of {state.class_name(grid.digit)}" if state else f"Capsule {grid.digit}"
        self.caption.setText(f"{name}: rows are its 16 pose dimensions, named from the "
                             "reconstructions' image moments; columns add the offset below. Click a tile to set "
                             "that pose slider.")

    def _click(self, event) -> None:
        if self.grid is None:
            return
        step = 28 + GAP
        k, s = int(event.pos().y() // step), int(event.pos().x() // step)
        if 0 <= k < self.grid.grid.shape[0] and 0 <= s < self.grid.grid.shape[1]:
            self.tileClicked.emit(k, float(self.grid.offsets[s]))
            event.accept()

    def clear(self) -> None:
        self.grid = None
        self.export_button.setEnabled(False)
