"""Agreement as a picture: the votes û_j|i of all primary capsules for one class capsule, each a point
whose area is its coupling c_ij at the iteration shown, around v_j (Sabour et al. 2017, Procedure 1).
Step the iterations: the votes that agree with v_j gain weight, the rest lose it."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QGroupBox, QHBoxLayout, QLabel, QVBoxLayout
from superqt.utils import signals_blocked

from capsexplorer.analysis.votes import VoteView, vote_view
from capsexplorer.app.session.state import WINNER, ExplorerState
from capsexplorer.app.widgets import theme
from capsexplorer.app.widgets.when_shown import WhenShown

BASE_SIZE = 9.0  # px across a vote whose coupling is uniform (1/J)
MAX_SIZE = 40.0
BARELY = 0.005  # a mean |Δc_ij| below this changes a point's area by under 5 %: said in words
COLOURINGS = {"length": "by ‖u_i‖ (how present the part is)", "type": "by capsule type (32 colours)"}


LEVELS = 24  # colours a scale is drawn in: few distinct (size, colour) symbols keep pyqtgraph's atlas small


def point_sizes(coupling: np.ndarray, classes: int = 10) -> np.ndarray:
    """Point diameters (px) whose areas are proportional to c_ij: uniform 1/J draws BASE_SIZE. Rounded to
    a quarter pixel — finer than a screen shows — so that pyqtgraph renders few distinct symbols."""
    size = np.clip(BASE_SIZE * np.sqrt(np.clip(coupling, 0, None) * classes), 1.0, MAX_SIZE)
    return np.round(size * 4) / 4


class VotesPanel(QGroupBox):
    def __init__(self, state: ExplorerState, parent=None):
        super().__init__("Votes û_j|i around v_j — agreement as a picture", parent)
        self.state = state
        self.view: VoteView | None = None
        self.shown = np.zeros(0, dtype=int)  # the primary capsules drawn (the ones switched on)
        self.capsule = QComboBox()
        self.capsule.setMinimumContentsLength(9)
        self.capsule.currentIndexChanged.connect(
            lambda: self.state.set_overlay_digit(int(self.capsule.currentData())))
        self.colouring = QComboBox()
        for key, text in COLOURINGS.items():
            self.colouring.addItem(f"colour {text}", key)
        self.colouring.setMinimumContentsLength(12)
        self.colouring.currentIndexChanged.connect(self._draw_points)
        controls = QHBoxLayout()
        controls.addWidget(QLabel("Votes for"))
        controls.addWidget(self.capsule)
        controls.addWidget(self.colouring, 1)
        self.plot = theme.static_plot(minimum_height=160)
        item = self.plot.getPlotItem()
        item.setLabel("bottom", "agreement with v_j: û_j|i · v̂_j (final v_j's direction)", **theme.label_style())
        item.setLabel("left", "across v_j: the votes' main spread", **theme.label_style())
        item.setAspectLocked(True)  # one scale on both axes: distances are the pose space's own
        for axis in ("left", "bottom"):
            item.getAxis(axis).enableAutoSIPrefix(False)  # plain numbers, never "(x0.001)"
        self.zero = pg.InfiniteLine(0, angle=90, pen=pg.mkPen(theme.muted(), style=Qt.PenStyle.DashLine))
        item.addItem(self.zero)
        # The points' colour scale beside the plot, its ends written: ‖u_i‖ over this input's own range
        self.length_bar = pg.ColorBarItem(values=(0.0, 1.0), colorMap=pg.colormap.get(theme.COUPLING_MAP),
                                          interactive=False, width=10)
        self.length_bar.axis.enableAutoSIPrefix(False)
        self.length_bar.axis.setWidth(60)
        self.length_bar.axis.setLabel("‖u_i‖", **theme.label_style())
        item.layout.addItem(self.length_bar, 2, 5)
        self.points = pg.ScatterPlotItem(pxMode=True, pen=pg.mkPen(0, 0, 0, 70))  # pale points stay visible
        item.addItem(self.points)
        self.points.sigClicked.connect(self._clicked)
        self.mean_mark = pg.ScatterPlotItem(symbol="+", size=16, pen=pg.mkPen(theme.foreground(), width=2))
        self.v_mark = pg.ScatterPlotItem(symbol="star", size=20, pen=pg.mkPen(theme.foreground(), width=1))
        item.addItem(self.mean_mark)
        item.addItem(self.v_mark)
        self.hover = theme.hover_read_out(self.plot, self.text_at)
        self.caption = QLabel("")
        self.caption.setWordWrap(True)
        self.caption.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.caption.setMinimumHeight(self.caption.fontMetrics().height() * 5 + 4)
        layout = QVBoxLayout(self)
        layout.addLayout(controls)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.caption)
        self.redraw = WhenShown(self, self._new_result)  # hidden: nothing computed until the tab is shown
        state.resultChanged.connect(self.redraw)
        state.overlayDigitChanged.connect(self.redraw)
        self.iterate = WhenShown(self, lambda: self._show_iteration() if not self.redraw.stale else None)
        state.iterationChanged.connect(self.iterate)
        state.modelChanged.connect(self._name_classes)

    # --- data ---------------------------------------------------------------------------------
    def _name_classes(self) -> None:
        with signals_blocked(self.capsule):
            self.capsule.clear()
            self.capsule.addItem("the winner", WINNER)
            for j, name in enumerate(self.state.classes):
                self.capsule.addItem(name, j)
            self.capsule.setCurrentIndex(max(0, self.capsule.findData(self.state.overlay_digit)))

    def _new_result(self) -> None:
        tr = self.state.trace
        if tr is None or tr.u_hat is None:
            self.view = None
            self.points.setData([], [])
            for mark in (self.mean_mark, self.v_mark):
                mark.setData([], [])
            self.length_bar.setVisible(False)  # no points, no scale
            self.caption.setText("Draw or load an image to see its votes.")
            return
        if self.capsule.count() == 0:
            self._name_classes()
        with signals_blocked(self.capsule):
            self.capsule.setCurrentIndex(max(0, self.capsule.findData(self.state.overlay_digit)))
        j = self.state.shown_overlay_digit()
        self.view = vote_view(tr.u_hat[0], tr.coupling[:, 0], tr.iteration_poses[:, 0], j)
        self.shown = np.flatnonzero(self.state.enabled)  # parts switched off are not drawn
        self._draw_points()

    def _draw_points(self) -> None:
        if self.view is None:
            return
        tr, i = self.state.trace, self.shown
        if self.colouring.currentData() == "type":
            g = self.state.geometry
            palette = self._palette("type", g.types)
            brushes = palette[i // g.positions]
        else:
            lengths = tr.primary_lengths[0, i]
            low, top = (float(lengths.min()), float(lengths.max())) if len(lengths) else (0.0, 1.0)
            self._length_range = (low, top)  # this input's own range: most ‖u_i‖ crowd near 1
            level = np.clip(((lengths - low) / max(top - low, 1e-9) * LEVELS).astype(int), 0, LEVELS - 1)
            brushes = self._palette("length", LEVELS)[level]
            self.length_bar.setLevels((low, max(top, low + 1e-6)))
            self.length_bar.axis.setTicks([[(v, f"{v:.2f}") for v in (low, (low + top) / 2, top)]])
        self.length_bar.setVisible(self.colouring.currentData() != "type")
        self.points.setData(self.view.x[i], self.view.y[i], brush=brushes, data=i,
                            size=point_sizes(self.view.coupling[self.state.iteration][i]))
        self.zero.setPen(pg.mkPen(theme.muted(), style=Qt.PenStyle.DashLine))
        self._fix_range()
        self._show_iteration()

    def _fix_range(self) -> None:
        """One range for every iteration of this trace — the votes, v_j and the weighted means at each — so
        stepping changes only the points' areas, never the axes (auto-range followed the areas' pixels)."""
        view, i = self.view, self.shown
        xs = np.concatenate([view.x[i], view.v[:, 0], view.weighted_mean[:, 0], [0.0]])
        ys = np.concatenate([view.y[i], view.v[:, 1], view.weighted_mean[:, 1]])
        xs, ys = xs[np.isfinite(xs)], ys[np.isfinite(ys)]
        if not (xs.size and ys.size):
            return
        self._hold_caption_height()
        vb = self.plot.getPlotItem().vb
        vb.disableAutoRange()
        vb.setRange(xRange=(float(xs.min()), float(xs.max())), yRange=(float(ys.min()), float(ys.max())),
                    padding=0.08)

    def _hold_caption_height(self) -> None:
        """The caption as tall as its longest text over this trace's iterations: a caption that grew by a line
        would shrink the plot, and with its aspect locked its range — the points would jump."""
        from PySide6.QtCore import QRect

        width = max(self.caption.width(), 200)
        metrics = self.caption.fontMetrics()
        tallest = max(metrics.boundingRect(QRect(0, 0, width, 100_000), Qt.TextFlag.TextWordWrap,
                                           self.caption_text(r)).height() for r in range(len(self.view.coupling)))
        self.caption.setMinimumHeight(max(metrics.height() * 5 + 4, tallest + 4))

    def _palette(self, kind: str, count: int) -> np.ndarray:
        """(count,) object array of brushes, made once: a capsule type's hue, or a level of the colour map."""
        cache = self.__dict__.setdefault("_palettes", {})
        if kind not in cache or len(cache[kind]) != count:
            if kind == "type":
                colours = [pg.intColor(k, hues=count, alpha=170) for k in range(count)]
            else:
                colours = pg.colormap.get(theme.COUPLING_MAP).map(np.linspace(0, 1, count), mode="qcolor")
                for colour in colours:
                    colour.setAlpha(170)
            cache[kind] = np.array([pg.mkBrush(c) for c in colours], dtype=object)
        return cache[kind]

    def _show_iteration(self) -> None:
        """Only the areas and v_j move with the iteration: cheap enough for the player's every step."""
        view = self.view
        if view is None:
            return
        r = min(self.state.iteration, len(view.coupling) - 1)
        self.points.setSize(point_sizes(view.coupling[r][self.shown]))
        winner_colour = theme.winner_colour()
        self.v_mark.setData([view.v[r, 0]], [view.v[r, 1]], brush=winner_colour,
                            pen=pg.mkPen(theme.foreground(), width=1))
        self.mean_mark.setData([view.weighted_mean[r, 0]], [view.weighted_mean[r, 1]],
                               pen=pg.mkPen(theme.foreground(), width=2))
        self.caption.setText(self.caption_text(r))

    def caption_text(self, r: int) -> str:
        view, s = self.view, self.state
        name = s.class_name(view.j)
        c = view.coupling[:, self.shown] if len(self.shown) else view.coupling
        change = np.abs(c[r] - c[0]) if len(c[0]) else np.zeros(1)
        i, most = view.largest_change()
        low, top = getattr(self, "_length_range", (0.0, 1.0))
        colour = (f"Colour: ‖u_i‖ from {low:.2f} (dark purple) to {top:.2f} (yellow), this input's range"
                  if self.colouring.currentData() != "type" else
                  f"Colour: the capsule's type (0–{s.geometry.types - 1})")
        moved = (f"From iteration 1 to {r + 1}, the couplings of the {change.size} votes shown moved by "
                 f"{float(change.mean()):.4f} on average (in absolute value)")
        where = ("on these two digits" if s.two_digits
                 else f"on a single {s.item_word}")
        honest = ("At iteration 1 every coupling is uniform (1/J): step the iterations to see them move."
                  if r == 0 else
                  f"{moved}: most points barely change size — {where} routing has little to do here; the most, "
                  f"over all iterations, capsule {i} ({most:+.3f})."
                  if change.mean() < BARELY else f"{moved}; the most, over all iterations, capsule {i} ({most:+.3f}).")
        return (f"Each point is one primary capsule's vote û_j|i for the {s.capsule_word} of {name}, its area "
                f"∝ c_ij at iteration {r + 1} of {view.coupling.shape[0]} (uniform 1/J: the base size). Right of "
                f"the dashed line votes agree with v_j (★, orange; + where the weighted votes meet, s_j / Σc). "
                f"{honest} {colour}. The vertical axis shows {view.spread_share:.0%} of the votes' spread "
                "across v_j. Hover a point to name it; click to inspect it.")

    # --- pointer ------------------------------------------------------------------------------
    def capsule_at(self, x: float, y: float, radius_px: float = 8.0) -> int | None:
        """The primary capsule whose point is nearest to (x, y) in data coordinates, within `radius_px`."""
        if self.view is None or not len(self.shown):
            return None
        vb = self.plot.getPlotItem().vb
        sx, sy = vb.viewPixelSize()  # data units per pixel
        dx = (self.view.x[self.shown] - x) / max(sx, 1e-12)
        dy = (self.view.y[self.shown] - y) / max(sy, 1e-12)
        k = int(np.argmin(dx * dx + dy * dy))
        return int(self.shown[k]) if dx[k] ** 2 + dy[k] ** 2 <= radius_px ** 2 else None

    def read_out(self, i: int) -> str:
        view, tr, r = self.view, self.state.trace, self.state.iteration
        t, row, col = self.state.geometry.place(i)
        c = view.coupling[:, i]
        return (f"Primary capsule {i} (type {t}, row {row}, col {col}): "
                f"‖u_i‖ = {tr.primary_lengths[0, i]:.3f}; agreement {view.x[i]:+.4f}; "
                f"c_ij {' → '.join(f'{value:.4f}' for value in c)} (iteration {r + 1}: {c[r]:.4f}). "
                "Click to inspect it.")

    def text_at(self, x: float, y: float) -> str:
        i = self.capsule_at(x, y)
        return self.read_out(i) if i is not None else ""

    def _clicked(self, _item, points, _event=None) -> None:
        if len(points):
            self.open_capsule(int(points[0].data()))

    def open_capsule(self, i: int) -> None:
        """The Primary tab, on capsule i."""
        self.state.set_primary(i)
        self.state.set_lab_view("primary")
