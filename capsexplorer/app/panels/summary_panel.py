"""What routing did to this input, iteration by iteration: each digit capsule's length and its mean
coupling from the active primary capsules, and how far the couplings are from uniform (entropy)."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGroupBox, QLabel, QVBoxLayout

from capsexplorer.analysis import views
from capsexplorer.app.layout import scrolling
from capsexplorer.app.session.state import ExplorerState
from capsexplorer.app.widgets import theme
from capsexplorer.app.widgets.when_shown import WhenShown


class RoutingSummaryPanel(QGroupBox):
    def __init__(self, state: ExplorerState, parent=None):
        super().__init__("What routing did", parent)
        self.state = state
        self.lengths_plot = self._plot("‖v<sub>j</sub>‖", "length")
        self.coupling_plot = self._plot("mean c<sub>ij</sub> of active parts; dashed: 1/J", "coupling")
        self.lines = {key: self._lines(plot) for key, plot in (("lengths", self.lengths_plot),
                                                               ("active_coupling", self.coupling_plot))}
        self.uniform = pg.InfiniteLine(0.1, angle=0, pen=pg.mkPen(theme.muted(), style=Qt.PenStyle.DashLine))
        self.coupling_plot.getPlotItem().addItem(self.uniform)
        self.iteration_line = [pg.InfiniteLine(1, angle=90, pen=pg.mkPen(theme.muted(), width=1))
                               for _ in range(2)]
        self.lengths_plot.getPlotItem().addItem(self.iteration_line[0])
        self.coupling_plot.getPlotItem().addItem(self.iteration_line[1])
        self._style = None  # (dark, iterations) the pens and the x axis were set for
        self._coupling_span = None
        self.lengths_plot.getPlotItem().setYRange(0, 1.0, padding=0.02)
        self.lengths_plot.getPlotItem().getAxis("left").setTicks([[(0, "0"), (1, "1")]])
        self.summary = None
        self.caption = QLabel("")
        self.caption.setWordWrap(True)
        self.caption.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        # A fixed height that scrolls when narrow: a new text re-lays nothing out and is never cut off.
        self.caption_area = caption_area = scrolling(self.caption)
        caption_area.setMinimumWidth(60)
        caption_area.setFixedHeight(self.caption.fontMetrics().height() * 4 + 6)
        plots = QVBoxLayout()
        plots.addWidget(self.lengths_plot)
        plots.addWidget(self.coupling_plot)
        for plot in (self.lengths_plot, self.coupling_plot):
            plot.setMinimumWidth(120)
        layout = QVBoxLayout(self)
        layout.addLayout(plots, 1)
        layout.addWidget(caption_area)
        self.hovers = [theme.hover_read_out(plot, lambda x, _y, k=key: self.read_out(k, x),
                                            "Hover over an iteration for every class's value")
                       for plot, key in ((self.lengths_plot, "lengths"), (self.coupling_plot, "active_coupling"))]
        self.redraw = WhenShown(self, self._show, state)  # hidden or mid-stroke: computed when shown, at its end
        state.resultChanged.connect(self.redraw)
        self.iterate = WhenShown(self, lambda: self._show_iteration(self.state.iteration) if not self.redraw.stale else None)
        state.iterationChanged.connect(self.iterate)

    def _plot(self, title: str, left: str) -> pg.PlotWidget:
        plot = theme.static_plot(minimum_height=60)
        item = plot.getPlotItem()
        item.setTitle(title, color=theme.foreground().name(), size="9pt")
        item.getAxis("left").enableAutoSIPrefix(False)
        return plot

    def read_out(self, key: str, x: float) -> str:
        """Every class's length ("lengths") or mean coupling ("active_coupling") after the iteration
        nearest `x`, largest first — the numbers behind the lines."""
        if self.summary is None:
            return ""
        values = self.summary[key]  # (iterations, classes)
        r = int(round(x)) - 1
        if not 0 <= r < len(values):
            return ""
        what = "‖v_j‖" if key == "lengths" else "mean c_ij from the active parts"
        order = np.argsort(values[r])[::-1]
        digits = 3 if key == "lengths" else 4
        return (f"After iteration {r + 1}, {what}:\n"
                + "\n".join(f"  {self.state.class_name(int(j))}: {values[r, j]:.{digits}f}" for j in order))

    @staticmethod
    def _lines(plot: pg.PlotWidget) -> dict[str, pg.PlotCurveItem]:
        """Three bare curves whose pens never change: every class in grey as one broken line, then the runner-up
        and the winner over it. (A curve per class, restyled whenever the winner changed, cost ~15 ms of a
        stroke's end: twenty curves' bounds, pens and thick antialiased lines.)"""
        curves = {"classes": pg.PlotCurveItem([], [], connect="finite"), "runner_up": pg.PlotCurveItem([], []),
                  "winner": pg.PlotCurveItem([], []),
                  "points": pg.ScatterPlotItem([], [], size=7, pen=None)}  # a one-pass router's lines are points
        for z, curve in enumerate(curves.values()):
            curve.setZValue(z)
            plot.getPlotItem().addItem(curve)
        curves["points"].setVisible(False)
        return curves

    def class_line(self, key: str, digit: int) -> tuple[np.ndarray, np.ndarray]:
        """(x, y) of class `digit`'s line as drawn in the "lengths" or "active_coupling" plot."""
        x, y = self.lines[key]["classes"].getData()
        rounds = self.summary[key].shape[0] + 1 if self.summary is not None else 0  # each class's points, then a gap
        if not 0 <= digit < (len(x) // rounds if rounds else 0):
            raise IndexError(f"no line for class {digit}")
        part = slice(digit * rounds, (digit + 1) * rounds - 1)
        return x[part], y[part]

    def _show(self) -> None:
        tr = self.state.trace
        if tr is None:
            for curves in self.lines.values():
                for curve in curves.values():
                    curve.setData([], [])
                curves["points"].setVisible(False)
            self.caption.setText("")
            self.summary = None
            for line in self.iteration_line:
                line.setVisible(False)  # no iteration to mark on empty plots
            return
        self.summary = summary = views.routing_summary(tr)
        r = np.arange(1, tr.iterations + 1)
        final = summary["lengths"][-1]
        order = np.argsort(final)[::-1]
        winner, runner_up = int(order[0]), int(order[1])
        classes = tr.coupling.shape[-1]
        uniform = 1.0 / classes
        gap = np.full((classes, 1), np.nan)  # the classes' lines as one curve, broken between classes
        x = np.concatenate([np.tile(r, (classes, 1)), gap], 1).ravel()
        for key, curves in self.lines.items():
            values = summary[key]  # (iterations, classes)
            curves["classes"].setData(x, np.concatenate([values.T, gap], 1).ravel())
            curves["winner"].setData(r, values[:, winner])
            curves["runner_up"].setData(r, values[:, runner_up])
            curves["points"].setVisible(tr.iterations == 1)  # uniform, self-attention: one value a class
            if tr.iterations == 1:  # drawn in order: the winner last, over any point at its place (uniform: all)
                order = [d for d in range(classes) if d not in (winner, runner_up)] + [runner_up, winner]
                brushes = [pg.mkBrush(theme.bar_colour()) for _ in order[:-2]] + \
                    [pg.mkBrush(theme.runner_up_colour()), pg.mkBrush(theme.winner_colour())]
                curves["points"].setData(np.ones(classes), values[0, order], brush=brushes, data=order)
        style = (theme.is_dark(), tr.iterations)
        if style != self._style:  # pens and the x axis follow the theme and the iteration count only
            self._style = style
            for curves in self.lines.values():
                curves["classes"].setPen(pg.mkPen(theme.bar_colour(), width=1))
                curves["runner_up"].setPen(pg.mkPen(theme.runner_up_colour(), width=2))
                curves["winner"].setPen(pg.mkPen(theme.winner_colour(), width=3))
            self.uniform.setPen(pg.mkPen(theme.muted(), style=Qt.PenStyle.DashLine))
            for line in self.iteration_line:
                line.setPen(pg.mkPen(theme.muted(), width=1))
            for plot in (self.lengths_plot, self.coupling_plot):
                plot.getPlotItem().setXRange(0.8, max(2, tr.iterations) + 0.2, padding=0)
                theme.integer_ticks(plot, tr.iterations)
        self.uniform.setValue(uniform)
        low = float(summary["active_coupling"].min())
        high = float(summary["active_coupling"].max())
        top = views.nice_ceiling(max(high - uniform, uniform - low, 0.002))  # rounded: the range rarely moves
        if (top, classes) != self._coupling_span:
            self._coupling_span = (top, classes)
            self.coupling_plot.getPlotItem().setYRange(uniform - 1.1 * top, uniform + 1.1 * top, padding=0)
            # three ticks, never running together however short the plot
            self.coupling_plot.getPlotItem().getAxis("left").setTicks(
                [[(uniform - top, f"{uniform - top:.3g}"), (uniform, f"{uniform:.3g}"),
                  (uniform + top, f"{uniform + top:.3g}")]])
        entropy = summary["entropy"]
        moved = float(np.abs(tr.coupling[-1, 0] - uniform).mean())
        margin = summary["lengths"][:, winner] - summary["lengths"][:, runner_up]
        name = self.state.class_name
        two = self.state.two_digits
        mark = "point" if tr.iterations == 1 else "line"
        first = (f"The two longest: {name(winner)} (orange {mark}) and {name(runner_up)} (reddish-purple {mark}) — the "
                 "pair's answer, both orange among the bars" if two else
                 f"Winner {name(winner)} (orange {mark}), runner-up {name(runner_up)} (reddish-purple {mark})")
        self.caption.setText(
            f"{first}; margin "
            + (f"{margin[0]:+.2f} (one pass: one value a class). " if tr.iterations == 1 else
               f"{margin[0]:+.2f} → {margin[-1]:+.2f}. ") +
            f"On this input, the last iteration's couplings c_ij differ from uniform ({uniform:.3g}) by {moved:.4f} "
            f"on average over all {tr.coupling.shape[2]} primary capsules × {classes} classes; mean entropy by "
            "iteration "
            f"{' → '.join(f'{e:.4f}' for e in entropy)} (uniform ln {classes} = {np.log(classes):.4f}). "
            "Active parts: the "
            f"{int(summary['active'].sum())} "
            "primary capsules with the longest predictions û. Hover over a plot for every class's values.")
        self.caption_area.settle()
        self.caption_area.verticalScrollBar().setValue(0)  # a new input's caption is read from its start
        self._show_iteration(self.state.iteration)

    def _show_iteration(self, iteration: int) -> None:
        for line in self.iteration_line:
            line.setValue(iteration + 1)
            line.setVisible(self.summary is not None)
