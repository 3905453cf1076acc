"""The paper's Figure 4 for the chosen capsule: each of its 16 pose dimensions perturbed and
decoded, each row named by what it measurably does. Tiles grow with the panel; the rows' names are
never cut; hovering a name gives the measured effects behind it; clicking a tile sets that slider."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint, QRect, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPen
from PySide6.QtWidgets import QComboBox, QGroupBox, QHBoxLayout, QLabel, QPushButton, QToolTip, QVBoxLayout, QWidget

from capsexplorer.analysis import captions
from capsexplorer.analysis.posegrid import EFFECT_UNITS, PoseGrid
from capsexplorer.app.widgets import theme
from capsexplorer.app.widgets.guard import qt_safe

# Figure 4's ranges: ±2σ of the class's training poses per dimension (each row stays a digit, its effect
# can be named), or ± one offset for every dimension — the paper's ±0.25, and wider.
SPANS = (("data", "±2σ of the class"), (0.25, "±0.25 (paper)"), (0.5, "±0.5"), (1.0, "±1"))
MISREAD = QColor(220, 40, 40)  # the frame of a tile the network reads as another class
GAP = 2  # px between tiles
MIN_TILE, MAX_TILE = 18, 72  # px


def row_offsets(grid: PoseGrid) -> np.ndarray:
    """(dims, steps) the offset added in each tile (per dimension on the data's scale)."""
    return np.asarray(grid.dimension_offsets(), dtype=float)


def effects_text(row: dict, offsets: np.ndarray) -> str:
    """What was measured behind a row's name: each moment's change across the row (− end → + end), the
    measures that name a row first, strongest first — in just-visible changes, the figure the name follows."""
    span = float(offsets[-1] - offsets[0])
    lines = [f"Dimension {row['index'] + 1}: {row['label']} (as the value grows, left → right)",
             f"measured on the reconstructions, from {offsets[0]:+.3g} to {offsets[-1]:+.3g}; "
             "strongest first (× a just-visible change):"]
    salience = row.get("salience", {})
    for name in [*salience, *(n for n in row["effects"] if n not in salience)]:
        slope = row["effects"][name]
        if slope is None:
            lines.append(f"  {name}: — (the shape turns round: no axis to turn)")
            continue
        strength = f" (×{salience[name]:.1f})" if name in salience else ""
        lines.append(f"  {name}: {captions.signed_effect(slope * span, EFFECT_UNITS.get(name, ''))}{strength}")
    return "\n".join(lines)


def still_read_text(grid: PoseGrid, labels: list[dict], name=str, item: str = "digit") -> str:
    """Whether the network still reads every reconstruction as the class perturbed, or in which rows' tiles it
    reads another class (and which one, mostly)."""
    if not labels or "read_as" not in labels[0]:
        return ""
    lost = [(row["dimension"], [r for r in row["read_as"] if r != grid.digit]) for row in labels]
    lost = [(d, others) for d, others in lost if others]
    if not lost:
        return f"The network reads every tile as {name(grid.digit)}: each row stays that {item}."

    def one(dimension, others):
        counts = np.bincount(others)
        mostly = "as" if counts.max() == len(others) else "mostly as"
        return f"row {dimension} ({len(others)} tile{'s' if len(others) > 1 else ''}, {mostly} {name(int(counts.argmax()))})"
    tiles = sum(len(o) for _, o in lost)
    return (f"In {tiles} tile{'s' if tiles > 1 else ''} (framed in red) the network reads another class than "
            f"{name(grid.digit)}: {', '.join(one(d, o) for d, o in lost)} — there the row stops being that {item}.")


class GridView(QWidget):
    """Row names left, then the tiles, the offsets below; painted, so it is one cheap widget."""
    tileClicked = Signal(int, int)  # dimension, step

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setMouseTracking(True)
        self.setMinimumSize(200, 16 * (MIN_TILE + GAP) + 24)
        self.grid: PoseGrid | None = None
        self.rows: list[dict] = []
        self.tiles: list[list[QImage]] = []
        self.chosen: tuple[int, int] | None = None  # the tile last clicked (its slider was set): framed

    def set_grid(self, grid: PoseGrid | None, rows: list[dict]) -> None:
        self.chosen = None  # a new grid (input, capsule or span): the slider holds no tile of it
        self.grid, self.rows = grid, rows
        self.tiles = []
        if grid is not None:
            pixels = (np.clip(grid.grid, 0, 1) * 255).astype(np.uint8)  # (16, steps, H, W)
            self._pixels = pixels  # QImage borrows the buffer
            self.tiles = [[QImage(pixels[k, s].data, pixels.shape[3], pixels.shape[2], pixels.shape[3],
                                  QImage.Format.Format_Grayscale8) for s in range(pixels.shape[1])]
                          for k in range(pixels.shape[0])]
        self.update()

    def names(self) -> list[str]:
        return [f"{row['index'] + 1}  {row['label']}" for row in self.rows]

    def geometry_now(self) -> tuple[int, int, int, int]:
        """(label width, tile size, left of the tiles, top) for the current widget size."""
        metrics = self.fontMetrics()
        label_width = max((metrics.horizontalAdvance(n) for n in self.names()), default=0) + 8
        dims, steps = (self.grid.grid.shape[:2] if self.grid is not None else (16, 11))
        bottom_room = metrics.height() + 6
        tile = min((self.width() - label_width) // steps, (self.height() - bottom_room) // dims) - GAP
        tile = max(MIN_TILE, min(MAX_TILE, tile))
        return label_width, tile, label_width, 0

    def tile_at(self, pos: QPoint) -> tuple[int, int] | None:
        if self.grid is None:
            return None
        label_width, tile, left, top = self.geometry_now()
        k, s = (pos.y() - top) // (tile + GAP), (pos.x() - left) // (tile + GAP)
        dims, steps = self.grid.grid.shape[:2]
        if pos.x() >= left and 0 <= k < dims and 0 <= s < steps:
            return int(k), int(s)
        return None

    def row_at(self, pos: QPoint) -> int | None:
        if self.grid is None:
            return None
        label_width, tile, left, top = self.geometry_now()
        k = (pos.y() - top) // (tile + GAP)
        return int(k) if pos.x() < left and 0 <= k < len(self.rows) else None

    @qt_safe()
    def paintEvent(self, _event) -> None:  # noqa: N802 (Qt naming)
        if self.grid is None:
            return
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        label_width, tile, left, top = self.geometry_now()
        metrics = self.fontMetrics()
        painter.setPen(theme.foreground())
        for k, name in enumerate(self.names()):
            y = top + k * (tile + GAP)
            painter.drawText(QRect(0, y, label_width - 6, tile), Qt.AlignmentFlag.AlignRight
                             | Qt.AlignmentFlag.AlignVCenter, name)
            read = self.rows[k].get("read_as") if k < len(self.rows) else None
            for s, image in enumerate(self.tiles[k]):
                painter.drawImage(QRect(left + s * (tile + GAP), y, tile, tile), image)
                if read is not None and read[s] != self.grid.digit:  # the network reads another class here
                    painter.setPen(QPen(MISREAD, 2))
                    painter.drawRect(QRect(left + s * (tile + GAP) + 1, y + 1, tile - 2, tile - 2))
                    painter.setPen(theme.foreground())
        if self.chosen is not None:  # the tile whose value the slider now holds
            k, s = self.chosen
            painter.setPen(QPen(theme.accent(), 3))
            painter.drawRect(QRect(left + s * (tile + GAP) - 2, top + k * (tile + GAP) - 2, tile + 3, tile + 3))
            painter.setPen(theme.foreground())
        offsets = row_offsets(self.grid)
        y = top + len(self.tiles) * (tile + GAP) + 2
        painter.setPen(theme.muted())
        same = self.grid.sigma is None
        for s in range(0, offsets.shape[1], 2):
            text = f"{offsets[0, s]:+.2f}".replace("+0.00", "0") if same else self.column_name(s)
            painter.drawText(QRect(left + s * (tile + GAP) - 10, y, tile + 20, metrics.height() + 4),
                             Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop, text)
        painter.end()

    def column_name(self, s: int) -> str:
        """A column's offset in standard deviations of the class (each row has its own σ)."""
        sigma = float(self.grid.offsets[s])
        return "0" if abs(sigma) < 1e-9 else f"{sigma:+.1f}σ"

    def tooltip_at(self, pos: QPoint) -> str:
        row = self.row_at(pos)
        offsets = row_offsets(self.grid) if self.grid is not None else None
        if row is not None:
            return effects_text(self.rows[row], offsets[row])
        hit = self.tile_at(pos)
        if hit is None:
            return ""
        k, s = hit
        sigma = f" ({self.grid.offsets[s]:+.1f}σ of the class)" if self.grid.sigma is not None else ""
        read = self.rows[k].get("read_as")
        seen = "" if read is None else (f" The network reads it as {read[s]}" + (" (red frame: not the digit)."
                                                                              if read[s] != self.grid.digit else "."))
        return (f"Dimension {k + 1} ({self.rows[k]['label']}) {offsets[k, s]:+.3f}{sigma} from the pose: "
                f"{self.grid.pose[k] + offsets[k, s]:+.3f}.{seen} Click to set that slider.")

    @qt_safe()
    def mouseMoveEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        text = self.tooltip_at(event.position().toPoint())
        if text:
            QToolTip.showText(event.globalPosition().toPoint(), text, self)
        else:
            QToolTip.hideText()

    @qt_safe()
    def mousePressEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        hit = self.tile_at(event.position().toPoint())
        if hit is not None:
            self.chosen = hit
            self.update()
            self.tileClicked.emit(*hit)


class GridPanel(QGroupBox):
    tileClicked = Signal(int, float)  # dimension, offset
    exportRequested = Signal()

    def __init__(self, state, parent=None):
        super().__init__("Every pose dimension, perturbed", parent)
        self.state = state
        self.grid: PoseGrid | None = None
        self.span = QComboBox()
        for span, text in SPANS:
            self.span.addItem(text, span)
        self.span.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.span.setMinimumContentsLength(12)  # a narrow lab: the popup still shows whole names
        self.span.setToolTip("±2σ: each dimension over twice its spread in the class's training poses (the "
                             "data's own scale); ±0.25: the paper's Figure 4, the same offset for every dimension")
        self.span.currentIndexChanged.connect(lambda: state.set_grid_span(self.current_span()))
        self.export_button = QPushButton("PNG…")
        self.export_button.setEnabled(False)
        self.export_button.clicked.connect(self.exportRequested)
        controls = QHBoxLayout()
        controls.addWidget(QLabel("Range"))
        controls.addWidget(self.span)
        controls.addWidget(self.export_button)
        controls.addStretch(1)
        self.view = GridView()
        self.view.tileClicked.connect(self._clicked)
        self.caption = QLabel("Rows: the pose dimensions, named from the reconstructions' image moments. "
                              "Columns: the offset added. Click a tile to set that pose slider.")
        self.caption.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addLayout(controls)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.caption)
        state.set_grid_span(self.current_span())
        state.gridSpanChanged.connect(self._span_from_state)
        self._follow(state)

    def _follow(self, state) -> None:
        """Draws the pose grid the explorer state holds."""
        state.gridChanged.connect(lambda: self.clear() if state.grid is None else
                                  self.show_result(state.grid.value, state.grid.labels))

    def _span_from_state(self) -> None:
        index = self.span.findData(self.state.grid_span)
        if index >= 0 and index != self.span.currentIndex():
            self.span.setCurrentIndex(index)

    def current_span(self):
        """"data" (±2σ of the class) or a span such as 0.25."""
        return self.span.currentData()

    @property
    def row_names(self) -> list[str]:
        return self.view.names()

    def show_result(self, grid: PoseGrid, labels: list[dict]) -> None:
        self.grid = grid
        self.view.set_grid(grid, labels)
        self.export_button.setEnabled(True)
        state = self.state
        name, item = f"The {state.capsule_word} of {state.class_name(grid.digit)}", state.item_word
        scale = ("offsets in standard deviations σ of the class's training poses, each dimension its own σ "
                 "(hover a tile for the value)" if grid.sigma is not None else
                 f"the same offset for every dimension, ±{float(grid.offsets[-1]):g}")
        self.caption.setText(f"{name}: each row adds an offset to one of its "
                             f"{grid.grid.shape[0]} pose dimensions and decodes — "
                             f"{scale}. {still_read_text(grid, labels, self._class_name, item)} A row's name says what "
                             "growing that dimension does (left → right), measured from the reconstructions' image "
                             "moments; it names the strongest effect in just-visible changes — hover a name for "
                             "the numbers. Click a tile to set that pose slider.")

    def _class_name(self, k: int) -> str:
        return self.state.class_name(k)

    def _clicked(self, k: int, s: int) -> None:
        if self.grid is not None:
            self.tileClicked.emit(k, float(row_offsets(self.grid)[k, s]))

    def clear(self) -> None:
        self.grid = None
        self.view.set_grid(None, [])
        self.export_button.setEnabled(False)
