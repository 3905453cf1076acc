"""Decode as every class: the input's ten reconstructions, each from one class capsule's own pose — what
each capsule "thinks it saw" (Sabour et al. 2017, §4.1: the decoder reads one capsule's pose at a time)."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint, QRect, Qt, Signal
from PySide6.QtGui import QImage, QPainter, QPen
from PySide6.QtWidgets import QToolTip, QWidget

from capsexplorer.app.widgets import theme
from capsexplorer.app.widgets.guard import qt_safe
from capsexplorer.app.widgets.tiles import grey_image, grey_pixels
from capsexplorer.data.datasets import SHORT_TICK_NAMES, TICK_NAMES
from capsexplorer.net.losses import M_MINUS

COLUMNS = 5
GAP = 4
FRAME = 2  # px round the tiles: a chosen tile's 2-px frame lies outside it


class ClassStrip(QWidget):
    """Ten tiles in two rows, each named with its length; the winner outlined; a click picks a capsule."""

    capsuleClicked = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setMouseTracking(True)
        self.images: list[QImage] = []
        self.names: list[str] = []
        self.lengths = np.zeros(0)
        self.winner = -1
        self.chosen = -1
        self.setMinimumHeight(2 * (48 + self.fontMetrics().height() + GAP))  # tiles of 48 px at least

    def set_data(self, reconstructions: np.ndarray, names, lengths: np.ndarray, winner: int, chosen: int) -> None:
        """reconstructions (J, H, W) in [0, 1]; lengths (J,) the capsules' ‖v_j‖."""
        stack = grey_pixels(reconstructions)  # (J, H, W)
        drawn = [grey_image(None, pixels) for pixels in stack]
        self.images = [image for image, _ in drawn]
        self._pixels = [pixels for _, pixels in drawn]  # the QImages borrow these buffers
        self.names, self.lengths = list(names), np.asarray(lengths, float)
        self.short = [TICK_NAMES.get(n, n) for n in self.names]  # "T-shirt", "Boot": under a small tile
        self.winner, self.chosen = int(winner), int(chosen)
        self.update()

    def clear(self) -> None:
        self.images = []
        self.update()

    def tile_rect(self, j: int) -> QRect:
        """Tile j, inside a margin of FRAME px: the winner's and the chosen tile's frames drawn whole."""
        rows = max(1, -(-len(self.images) // COLUMNS))
        label = self.fontMetrics().height()
        side = max(16, min((self.width() - 2 * FRAME - GAP * (COLUMNS - 1)) // COLUMNS,
                           (self.height() - FRAME - rows * (label + GAP)) // rows))
        left = (self.width() - (COLUMNS * side + (COLUMNS - 1) * GAP)) // 2
        row, col = divmod(j, COLUMNS)
        return QRect(left + col * (side + GAP), FRAME + row * (side + label + GAP), side, side)

    def capsule_at(self, pos: QPoint) -> int | None:
        for j in range(len(self.images)):
            rect = self.tile_rect(j)
            if rect.adjusted(0, 0, 0, self.fontMetrics().height()).contains(pos):
                return j
        return None

    def tooltip(self, j: int) -> str:
        state = "the winner" if j == self.winner else ("inactive: under m⁻ = 0.1, its image means little"
                                                        if self.lengths[j] < M_MINUS else "not the winner")
        return (f"{self.names[j]}: its own pose decoded — what this capsule 'thinks it saw' (‖v‖ = "
                f"{self.lengths[j]:.3f}, {state}). Click to hold its pose in the sliders.")

    @qt_safe()
    def paintEvent(self, _event) -> None:  # noqa: N802 (Qt naming)
        if not self.images:
            return
        painter = QPainter(self)
        font = self.font()
        font.setPointSizeF(font.pointSizeF() * 0.85)
        painter.setFont(font)
        metrics = painter.fontMetrics()
        for j, image in enumerate(self.images):
            rect = self.tile_rect(j)
            painter.drawImage(rect, image)
            if j in (self.winner, self.chosen):
                colour = theme.winner_colour() if j == self.winner else theme.accent()
                painter.setPen(QPen(colour, 2))
                painter.drawRect(rect.adjusted(-1, -1, 1, 1))  # a 2-px pen: FRAME px beyond the tile
            painter.setPen(theme.foreground() if self.lengths[j] >= M_MINUS else theme.muted())
            width = rect.width() + GAP
            shorter = SHORT_TICK_NAMES.get(self.short[j], self.short[j])  # "Sneak." where "Sneaker" is too wide
            fits = [t for t in (f"{self.short[j]} {self.lengths[j]:.2f}", f"{shorter} {self.lengths[j]:.2f}",
                                self.short[j], shorter) if metrics.horizontalAdvance(t) <= width]
            # never into the next caption: the value on hover then
            text = fits[0] if fits else metrics.elidedText(shorter, Qt.TextElideMode.ElideRight, width)
            painter.drawText(QRect(rect.left() - GAP // 2, rect.bottom() + FRAME + 1, width, metrics.height()),
                             Qt.AlignmentFlag.AlignHCenter, text)
        painter.end()

    @qt_safe()
    def mouseMoveEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        j = self.capsule_at(event.position().toPoint())
        if j is not None:
            QToolTip.showText(event.globalPosition().toPoint(), self.tooltip(j), self)

    @qt_safe()
    def mousePressEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        j = self.capsule_at(event.position().toPoint())
        if j is not None:
            self.capsuleClicked.emit(j)
