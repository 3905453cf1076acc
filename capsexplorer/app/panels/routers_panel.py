"""The Routers tab: the input shown under the shipped model of every router — dynamic routing, uniform couplings,
attention, self-attention, all trained alike — side by side. Per router: its couplings per iteration on one colour
scale, the lengths, the answer, for a pair the strokes routed to each digit, and the figures it measured
(`capsexplorer routers`). The iteration player steps them all; a click on a router opens its model."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPen
from PySide6.QtWidgets import QGroupBox, QLabel, QVBoxLayout, QWidget

from capsexplorer.analysis import router_comparison as rc
from capsexplorer.app.panels.pair_panel import painted_split
from capsexplorer.app.session.state import ExplorerState
from capsexplorer.app.widgets import theme
from capsexplorer.app.widgets.guard import qt_safe
from capsexplorer.app.widgets.when_shown import WhenShown
from capsexplorer.net.config import ROUTER_SHORT

HEAD = 74  # px: a column's heading — the router's name and its measured figures
BAR = 16  # px: the colour scale's height


def compact(value: float) -> str:
    """A coupling in at most five characters: .124, −.031, 1.00."""
    text = f"{value:.3f}" if abs(value) < 1 else f"{value:.2f}"
    return text.replace("0.", ".", 1).replace("-", "−")


def figures_lines(row: dict | None, pair: bool) -> list[str]:
    """The router's measured figures, two short lines (from the shipped table; "—" where one is not measured)."""
    if row is None:
        return ["not measured"]
    first = f"test {rc.figure_text(row, 'test_accuracy')} · {rc.figure_text(row, 'parameters')}"
    if pair:
        second = f"pairs {rc.figure_text(row, 'multimnist')} · own strokes {rc.figure_text(row, 'segmentation')}"
    else:
        second = f"±40° {rc.figure_text(row, 'rotate_40')} · ±6 px {rc.figure_text(row, 'shifts_6')}"
    return [first, second]


class RoutersView(QWidget):
    """Paints one column per router; a click on a column asks the state for that router's model."""

    def __init__(self, state: ExplorerState, parent=None):
        super().__init__(parent)
        self.state = state
        self.views: tuple = ()
        self.table = rc.shipped_table()
        self.scale = (0.0, 1.0)
        self.setMinimumSize(480, 330)
        self.setMouseTracking(True)
        self._columns: list[QRectF] = []
        self._cells: list[tuple[QRectF, str]] = []  # every drawn number's place and its full reading (tooltip)

    def set_views(self, views) -> None:
        self.views = tuple(views)
        self.scale = rc.shared_scale(list(self.views))
        self.update()

    def shown_iteration(self, view) -> int:
        trace = self.state.trace
        return rc.shown_pass(view, self.state.iteration, trace.iterations if trace is not None else 1)

    @qt_safe()
    def paintEvent(self, _event) -> None:  # noqa: N802 (Qt naming)
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        self._columns, self._cells = [], []
        if not self.views:
            painter.end()
            return
        width = self.width() / len(self.views)
        for k, view in enumerate(self.views):
            self._paint_column(painter, view, QRectF(k * width + 3, 0, width - 6, self.height() - BAR - 44))
        self._paint_scale(painter, QRectF(40, self.height() - BAR - 18, self.width() - 80, BAR))
        painter.end()

    def _paint_column(self, painter: QPainter, view, box: QRectF) -> None:
        self._columns.append(box)
        text, muted, small = theme.foreground(), theme.muted(), QFont(self.font())
        small.setPointSizeF(max(7.0, self.font().pointSizeF() - 1.5))
        current = self.is_open(view.weights)
        bold = QFont(self.font())
        bold.setBold(True)
        bold.setUnderline(current)  # the model open in the window: underlined, in the highlight colour
        painter.setFont(bold)
        painter.setPen(theme.accent() if current else text)
        painter.drawText(QRectF(box.left(), box.top(), box.width(), 18), Qt.AlignmentFlag.AlignLeft,
                         ROUTER_SHORT.get(view.name, view.name))
        painter.setFont(small)
        painter.setPen(muted)
        for n, line in enumerate(figures_lines(rc.row_for(self.table, view.name), view.split is not None)):
            painter.drawText(QRectF(box.left(), box.top() + 18 + 14 * n, box.width(), 14),
                             Qt.AlignmentFlag.AlignLeft, line)
        r = self.shown_iteration(view)
        answer = view.answer_at(r)
        painter.setPen(text)
        painter.setFont(self.font())
        pair = view.split is not None
        answer_text = (f"→ {' and '.join(self.state.class_name(k) for k in answer)}" if pair else
                       f"→ {self.state.class_name(answer[0])}   ‖v‖ = {view.lengths[r, answer[0]]:.2f}")
        painter.drawText(QRectF(box.left(), box.top() + 50, box.width(), 18), Qt.AlignmentFlag.AlignLeft, answer_text)
        top = box.top() + HEAD
        picture = min(box.width() * 0.6, 96.0, (box.bottom() - top) * 0.3) if pair else 0.0
        grid_bottom = box.bottom() - (picture + 30 if pair else 0)
        self._paint_grid(painter, view, r, QRectF(box.left(), top, box.width(), grid_bottom - top), small)
        if pair:  # under the grid: the strokes each digit's capsule receives at the pass shown
            self._paint_split(painter, view, r, QRectF(box.left() + 16, grid_bottom + 4, picture, picture))

    def _paint_grid(self, painter: QPainter, view, r: int, box: QRectF, small: QFont) -> None:
        """Rows: classes. Columns: each pass's mean coupling of the active primary capsules, then the lengths."""
        classes = view.coupling.shape[1]
        label_w, length_w = 16.0, 44.0
        passes = view.iterations
        cell_w = max(8.0, (box.width() - label_w - length_w - 4) / passes)
        cell_h = min(32.0, (box.height() - 16) / classes)
        low, high = self.scale
        colours = pg.colormap.get(theme.COUPLING_MAP).map(((view.coupling - low) / (high - low)).ravel(), mode="qcolor")
        painter.setFont(small)
        for p in range(passes):
            painter.setPen(theme.muted())
            painter.drawText(QRectF(box.left() + label_w + p * cell_w, box.top(), cell_w, 14),
                             Qt.AlignmentFlag.AlignCenter, f"{p + 1}")
        painter.drawText(QRectF(box.left() + label_w + passes * cell_w + 4, box.top(), length_w, 14),
                         Qt.AlignmentFlag.AlignLeft, "‖v‖")
        top = box.top() + 16
        for j in range(classes):
            y = top + j * cell_h
            painter.setPen(theme.foreground())
            painter.drawText(QRectF(box.left(), y, label_w, cell_h), Qt.AlignmentFlag.AlignCenter,
                             self.state.class_name(j)[:2])
            for p in range(passes):
                cell = QRectF(box.left() + label_w + p * cell_w, y, cell_w - 1, cell_h - 1)
                colour = colours[p * classes + j]
                painter.fillRect(cell, colour)
                value = float(view.coupling[p, j])
                if cell_w >= 26 and cell_h >= 11:
                    painter.setPen(QColor("black") if colour.lightness() > 110 else QColor("white"))
                    painter.drawText(cell, Qt.AlignmentFlag.AlignCenter, compact(value))
                self._cells.append((cell, f"{ROUTER_SHORT.get(view.name, view.name)}, pass {p + 1}: the active "
                                          f"primary capsules' mean coupling to {self.state.class_name(j)} is "
                                          f"{value:.4f} (an even split: {view.even(p):.4f})"))
            length = float(view.lengths[r, j])
            bar = QRectF(box.left() + label_w + passes * cell_w + 4, y + 2, (length_w - 4) * length, cell_h - 5)
            painter.fillRect(bar, theme.winner_colour() if j in view.answer_at(r) else theme.bar_colour())
            painter.setPen(theme.foreground())
            painter.drawText(QRectF(bar.left() + 1, y, length_w, cell_h), Qt.AlignmentFlag.AlignVCenter,
                             f"{length:.2f}".replace("0.", ".", 1))
            self._cells.append((QRectF(bar.left(), y, length_w, cell_h),
                                f"{ROUTER_SHORT.get(view.name, view.name)}, after pass {r + 1}: ‖v_{self.state.class_name(j)}‖"
                                f" = {length:.4f}"))
        painter.setPen(QPen(theme.accent(), 2))  # the pass the player shows
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRect(QRectF(box.left() + label_w + r * cell_w, top, cell_w - 1, classes * cell_h - 1))

    def _paint_split(self, painter: QPainter, view, r: int, box: QRectF) -> None:
        image = np.asarray(self.state.result.image if self.state.result is not None else np.zeros(view.split.shape[1:]))
        rgb = (painted_split(image, view.split[r]) * 255).astype(np.uint8)  # (H, H, 3)
        rgb = np.ascontiguousarray(rgb)
        picture = QImage(rgb.data, rgb.shape[1], rgb.shape[0], 3 * rgb.shape[1], QImage.Format.Format_RGB888)
        painter.drawImage(box, picture)
        painter.setPen(theme.muted())
        small = QFont(self.font())
        small.setPointSizeF(max(7.0, self.font().pointSizeF() - 1.5))
        painter.setFont(small)
        first, second = self.state.class_name(view.prediction), self.state.class_name(view.second)
        painter.drawText(QRectF(box.right() + 6, box.top(), 90, box.height()),
                         Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter | Qt.TextFlag.TextWordWrap,
                         f"strokes routed to {first} (orange) and {second} (blue)")
        self._cells.append((box, f"{ROUTER_SHORT.get(view.name, view.name)}, pass {r + 1}: each stroke in the colour of the "
                                 f"digit its routed mass goes to (orange {first}, blue {second})"))

    def _paint_scale(self, painter: QPainter, box: QRectF) -> None:
        """The one colour scale of every router's couplings, its ends and 1/J written as numbers."""
        low, high = self.scale
        colours = pg.colormap.get(theme.COUPLING_MAP).map(np.linspace(0, 1, 64), mode="qcolor")
        step = box.width() / len(colours)
        for k, colour in enumerate(colours):
            painter.fillRect(QRectF(box.left() + k * step, box.top(), step + 1, box.height()), colour)
        painter.setPen(theme.foreground())
        below = QRectF(box.left() - 40, box.bottom() + 1, box.width() + 80, 16)
        painter.drawText(below, Qt.AlignmentFlag.AlignLeft, f"{low:.3f}")
        painter.drawText(below, Qt.AlignmentFlag.AlignRight, f"{high:.3f}")
        classes = self.views[0].coupling.shape[1]
        uniform = 1.0 / classes
        x = box.left() + box.width() * (uniform - low) / (high - low)
        painter.setPen(QPen(theme.foreground(), 2))
        painter.drawLine(int(x), int(box.top()) - 3, int(x), int(box.bottom()) + 3)
        painter.setPen(theme.foreground())
        painter.drawText(QRectF(box.left() - 40, box.top() - 17, box.width() + 80, 16), Qt.AlignmentFlag.AlignCenter,
                         f"mean coupling c_ij of the active primary capsules, one scale for every router; "
                         f"the line: uniform, 1/J = {uniform:.3f}")

    def router_at(self, x: float, y: float) -> str | None:
        """The shipped model whose column heading (name, figures, answer) is at (x, y): a click there opens it."""
        for view, column in zip(self.views, self._columns):
            if column.contains(x, y) and y < column.top() + HEAD:
                return view.weights
        return None

    def reading_at(self, x: float, y: float) -> str:
        return next((words for cell, words in self._cells if cell.contains(x, y)), "")

    @qt_safe()
    def mouseMoveEvent(self, event) -> None:  # noqa: N802
        position = event.position()
        words = self.reading_at(position.x(), position.y())
        name = self.router_at(position.x(), position.y())
        self.setToolTip(words or (f"Click to open the model {name} in the whole window" if name else ""))
        self.setCursor(Qt.CursorShape.PointingHandCursor if name else Qt.CursorShape.ArrowCursor)

    @qt_safe()
    def mousePressEvent(self, event) -> None:  # noqa: N802
        position = event.position()
        name = self.router_at(position.x(), position.y())
        if name is not None and not self.is_open(name):
            self.state.want_model(name)

    def is_open(self, name: str) -> bool:
        """The shipped model `name` is the one in use."""
        from pathlib import Path

        from capsexplorer.net.weights import resolve_weights

        model = self.state.model
        try:
            return model is not None and Path(model.path).resolve() == resolve_weights(name).resolve()
        except (OSError, ValueError):
            return False


class RoutersPanel(QGroupBox):
    def __init__(self, state: ExplorerState, parent=None):
        super().__init__("Every router, trained alike, on this input", parent)
        self.state = state
        self.view = RoutersView(state)
        self.caption = QLabel("")
        self.caption.setWordWrap(True)
        self.caption.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QVBoxLayout(self)
        layout.addWidget(self.caption)
        layout.addWidget(self.view, 1)
        self._draw = WhenShown(self, self._render, state)
        state.routersChanged.connect(self._draw)
        state.iterationChanged.connect(lambda _i: self.view.update())
        state.resultChanged.connect(self._draw)
        state.modelChanged.connect(self._draw)
        self._render()

    def _render(self) -> None:
        result = self.state.routers
        views = result.views if result is not None else ()
        self.view.set_views(views)
        self.view.setVisible(bool(views))
        pair = bool(views) and views[0].split is not None
        kind = "two-digit models (12,000 pairs more each)" if pair else "digits models"
        why = result.why if result is not None else ""
        open_one = next((v.name for v in views if self.view.is_open(v.weights)), None)
        model = Path(self.state.model.path).name if self.state.model is not None else "none"
        which = (f"The model open ({model}) is not one of them; the underlined one is open." if open_one is None
                 else "The underlined one is the model open.")
        about = (f"The {kind} of every router, trained alike (3 epochs of MNIST's 60,000 digits, one seed and "
                 "recipe), on the input shown. Rows: classes; columns: each pass's mean coupling c_ij of the active "
                 "primary capsules (the top 10 % by their longest prediction) to the class; then the lengths ‖v‖ "
                 "after the pass the player shows (framed). " + rc.priors_note(views) +
                 f" {which} Hover a cell to read it; click a router's name to open its model.")
        self.caption.setText(f"{about} {why}".strip() if views else
                             why or "Draw a digit or pick a sample: every router's model answers it here.")
