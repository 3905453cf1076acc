"""Routing: the coupling coefficients c_ij of each iteration, as the whole 1152×10 matrix grouped
by capsule type and position, and as one digit's coupling over the 6×6 grid laid over the input."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (QCheckBox, QComboBox, QGroupBox, QHBoxLayout, QLabel, QSlider, QSpinBox,
                               QStyle, QToolButton, QVBoxLayout, QWidget)

from .. import views
from ..config import MAX_ITERATIONS
from ..trace import RoutingTrace
from . import theme


HOVER_HINT = "Hover over the matrix to read one coupling coefficient."


class RoutingPanel(QGroupBox):
    """Shows iteration `iteration` (0-based) of a trace; emits `iterationChanged(r)`,
    `iterationsRequested(n)` when the user picks another routing-iteration count and
    `digitChosen(j)` when the spatial view's digit changes."""

    iterationChanged = Signal(int)
    iterationsRequested = Signal(int)
    digitChosen = Signal(int)
    optionsChanged = Signal()

    def __init__(self, parent=None):
        super().__init__("Dynamic routing — coupling coefficients c_ij", parent)
        self.trace: RoutingTrace | None = None
        self.iteration = 0
        self.digit = 0
        self._levels = (0.0, 1.0)
        self._spatial_levels = (0.0, 1.0)
        self._mode = (False, False)  # (weighted, change) the colour maps were set for
        self._build_controls()
        self._build_matrix()
        self._build_spatial()
        self.hover = QLabel(HOVER_HINT)
        self.hover.setWordWrap(True)
        self.hover.setMinimumHeight(self.hover.fontMetrics().height() * 2)

        views_row = QHBoxLayout()
        views_row.addWidget(self.matrix_plot, 3)
        views_row.addWidget(self.spatial_box, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(self.controls)
        layout.addLayout(views_row, 1)
        layout.addWidget(self.hover)
        self._timer = QTimer(self)
        self._timer.setInterval(800)
        self._timer.timeout.connect(self._tick)
        self._set_enabled(False)

    # --- construction -------------------------------------------------------------------------
    def _button(self, icon: QStyle.StandardPixmap, tip: str, slot) -> QToolButton:
        button = QToolButton()
        button.setIcon(self.style().standardIcon(icon))
        button.setToolTip(tip)
        button.clicked.connect(slot)
        return button

    def _build_controls(self) -> None:
        sp = QStyle.StandardPixmap
        self.first_button = self._button(sp.SP_MediaSkipBackward, "First iteration (Alt+Home)", self.first)
        self.previous_button = self._button(sp.SP_MediaSeekBackward, "Previous iteration ([ or Alt+Left)",
                                            self.previous)
        self.play_button = self._button(sp.SP_MediaPlay, "Play / pause the iterations (P)", self.toggle_play)
        self.next_button = self._button(sp.SP_MediaSeekForward, "Next iteration (] or Alt+Right)", self.next)
        self.last_button = self._button(sp.SP_MediaSkipForward, "Last iteration (Alt+End)", self.last)
        self.scrubber = QSlider(Qt.Orientation.Horizontal)
        self.scrubber.setRange(1, 3)
        self.scrubber.setPageStep(1)
        self.scrubber.setTickPosition(QSlider.TickPosition.TicksBelow)
        self.scrubber.setToolTip("Routing iteration shown")
        self.scrubber.valueChanged.connect(lambda v: self.set_iteration(v - 1))
        self.position = QLabel("iteration – of –")
        theme.fix_label_size(self.position, "iteration 10 of 10")
        self.iterations = QSpinBox()
        self.iterations.setRange(1, MAX_ITERATIONS)
        self.iterations.setValue(3)
        self.iterations.setToolTip("How many routing iterations the network runs (the paper uses 3)")
        self.iterations.valueChanged.connect(self.iterationsRequested)
        self.weighted = QCheckBox("weight by ‖u_i‖")
        self.weighted.setToolTip("Multiply c_ij by the primary capsule's length: inactive capsules fade out")
        self.change = QCheckBox("change from previous")
        self.change.setToolTip("Show c_ij(r) − c_ij(r−1): where routing moved coupling this iteration")
        for box in (self.weighted, self.change):
            box.toggled.connect(self._options_changed)

        navigation = QHBoxLayout()
        for w in (self.first_button, self.previous_button, self.play_button, self.next_button, self.last_button):
            navigation.addWidget(w)
        navigation.addWidget(self.scrubber, 1)
        navigation.addWidget(self.position)
        options = QHBoxLayout()
        options.addWidget(QLabel("Routing iterations"))
        options.addWidget(self.iterations)
        options.addSpacing(16)
        options.addWidget(self.weighted)
        options.addWidget(self.change)
        options.addStretch(1)
        self.controls = QVBoxLayout()
        self.controls.addLayout(navigation)
        self.controls.addLayout(options)

        for keys, slot in (("[", self.previous), ("]", self.next), ("Alt+Left", self.previous),
                           ("Alt+Right", self.next), ("Alt+Home", self.first), ("Alt+End", self.last),
                           ("P", self.toggle_play)):
            shortcut = QShortcut(QKeySequence(keys), self)
            shortcut.setContext(Qt.ShortcutContext.WindowShortcut)
            shortcut.activated.connect(slot)

    def _build_matrix(self) -> None:
        self.matrix_plot = pg.PlotWidget()
        self.matrix_plot.setBackground(theme.background())
        self.matrix_plot.setMenuEnabled(False)
        self.matrix_plot.setMouseEnabled(False, False)
        self.matrix_plot.hideButtons()
        self.matrix_plot.setMinimumHeight(220)
        theme.style_plot(self.matrix_plot)
        item = self.matrix_plot.getPlotItem()
        item.invertY(True)
        item.setLabel("bottom", "digit capsule j  (each block: the 6×6 positions, row by row)")
        item.setLabel("left", "primary capsule type")
        item.getAxis("bottom").setTicks([[(views.POSITIONS * (d + 0.5), str(d)) for d in range(10)], []])
        item.getAxis("left").setTicks([[(t + 0.5, str(t)) for t in (0, 8, 16, 24, 31)], []])
        self.matrix = pg.ImageItem(np.zeros((views.TYPES, 10 * views.POSITIONS), np.float32))
        self.matrix.setColorMap(pg.colormap.get(theme.COUPLING_MAP))
        item.addItem(self.matrix)
        item.setXRange(0, 10 * views.POSITIONS, padding=0)
        item.setYRange(0, views.TYPES, padding=0)
        separator = pg.mkPen(theme.background(), width=2)
        for d in range(1, 10):
            item.addItem(pg.InfiniteLine(d * views.POSITIONS, angle=90, pen=separator))
        self.winner_box = pg.QtWidgets.QGraphicsRectItem(0, 0, views.POSITIONS, views.TYPES)
        self.winner_box.setPen(pg.mkPen(theme.winner_colour(), width=2))
        item.addItem(self.winner_box)
        self.colorbar = pg.ColorBarItem(values=(0, 1), colorMap=pg.colormap.get(theme.COUPLING_MAP),
                                        interactive=False, width=14)
        self.colorbar.setImageItem(self.matrix, insert_in=item)
        self.colorbar.axis.enableAutoSIPrefix(False)
        self.colorbar.axis.setLabel("c_ij")
        self.matrix.hoverEvent = self._hover

    def _build_spatial(self) -> None:
        self.spatial_box = QWidget()
        self.digit_choice = QComboBox()
        self.digit_choice.addItems([f"digit {d}" for d in range(10)])
        self.digit_choice.setToolTip("Digit capsule whose coupling is laid over the input")
        self.digit_choice.currentIndexChanged.connect(self._digit_changed)
        self.spatial_plot = pg.PlotWidget()
        self.spatial_plot.setBackground(theme.background())
        self.spatial_plot.setMenuEnabled(False)
        self.spatial_plot.setMouseEnabled(False, False)
        self.spatial_plot.hideButtons()
        self.spatial_plot.setMinimumSize(200, 200)
        theme.style_plot(self.spatial_plot)
        item = self.spatial_plot.getPlotItem()
        item.invertY(True)
        item.setAspectLocked(True)
        item.hideAxis("left")
        item.hideAxis("bottom")
        self.input_image = pg.ImageItem(np.zeros((28, 28), np.float32), levels=(0, 1))
        self.input_image.setColorMap(pg.colormap.get(theme.GREYS))
        self.overlay = pg.ImageItem(np.zeros((views.GRID, views.GRID), np.float32))
        self.overlay.setColorMap(pg.colormap.get(theme.COUPLING_MAP))
        self.overlay.setOpacity(0.62)
        size = views.GRID * views.GRID_STEP
        self.overlay.setRect(QRectF(views.GRID_ORIGIN, views.GRID_ORIGIN, size, size))
        item.addItem(self.input_image)
        item.addItem(self.overlay)
        item.setRange(xRange=(0, 28), yRange=(0, 28), padding=0.02)
        self.spatial_bar = pg.ColorBarItem(values=(0, 1), colorMap=pg.colormap.get(theme.COUPLING_MAP),
                                           interactive=False, width=10)
        self.spatial_bar.setImageItem(self.overlay, insert_in=item)
        self.spatial_bar.axis.enableAutoSIPrefix(False)
        self.spatial_caption = QLabel("")
        self.spatial_caption.setWordWrap(True)
        layout = QVBoxLayout(self.spatial_box)
        layout.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        row.addWidget(QLabel("Over the input:"))
        row.addWidget(self.digit_choice, 1)
        layout.addLayout(row)
        layout.addWidget(self.spatial_plot, 1)
        layout.addWidget(self.spatial_caption)

    # --- state --------------------------------------------------------------------------------
    def _set_enabled(self, enabled: bool) -> None:
        for w in (self.first_button, self.previous_button, self.play_button, self.next_button,
                  self.last_button, self.scrubber):
            w.setEnabled(enabled)

    def set_trace(self, trace: RoutingTrace, iteration: int | None = None) -> None:
        """Shows a new trace (batch of one), at `iteration` (default: the last)."""
        self.trace = trace
        n = trace.iterations
        self.scrubber.blockSignals(True)
        self.scrubber.setRange(1, n)
        self.scrubber.blockSignals(False)
        if self.iterations.value() != n:
            self.iterations.blockSignals(True)
            self.iterations.setValue(n)
            self.iterations.blockSignals(False)
        self._set_enabled(True)
        for item in (self.overlay, self.winner_box, self.matrix):
            item.show()
        if self.hover.text() != HOVER_HINT and not self.matrix.isUnderMouse():
            self.hover.setText(HOVER_HINT)
        self._update_levels()
        self.set_iteration(n - 1 if iteration is None else min(iteration, n - 1), force=True)

    def clear(self) -> None:
        self.trace = None
        self.stop()
        self._set_enabled(False)
        self.matrix.setImage(np.zeros((views.TYPES, 10 * views.POSITIONS), np.float32), levels=(0, 1))
        self.input_image.setImage(np.zeros((28, 28), np.float32), levels=(0, 1))
        for item in (self.overlay, self.winner_box, self.matrix):
            item.hide()
        self.position.setText("iteration – of –")
        self.hover.setText("Draw a digit, or load a sample, to see how it is routed.")

    def set_digit(self, digit: int) -> None:
        if digit != self.digit_choice.currentIndex():
            self.digit_choice.setCurrentIndex(digit)  # → _digit_changed

    def _digit_changed(self, digit: int) -> None:
        self.digit = digit
        if self.trace is not None:
            self._update_spatial_levels()
            self._render()
        self.digitChosen.emit(digit)

    def _options_changed(self) -> None:
        if self.trace is not None:
            self._update_levels()
            self._render()
        self.optionsChanged.emit()

    def _update_levels(self) -> None:
        weighted, change = self.weighted.isChecked(), self.change.isChecked()
        levels = views.levels(self.trace, 0, weighted, change)
        if levels != self._levels:  # rounded levels: most new traces keep the scale and its axis
            self._levels = levels
            self.colorbar.setLevels(levels)
        self._update_spatial_levels()
        if (weighted, change) != self._mode:  # colour maps and labels change only with the options
            self._mode = (weighted, change)
            colour_map = pg.colormap.get(theme.CHANGE_MAP if change else theme.COUPLING_MAP)
            for image, bar in ((self.matrix, self.colorbar), (self.overlay, self.spatial_bar)):
                image.setColorMap(colour_map)
                bar.setColorMap(colour_map)
            self.colorbar.axis.setLabel(("Δ" if change else "") + ("c_ij·‖u_i‖" if weighted else "c_ij"))

    def _update_spatial_levels(self) -> None:
        levels = views.levels(self.trace, 0, self.weighted.isChecked(), self.change.isChecked(), digit=self.digit)
        if levels != self._spatial_levels:
            self._spatial_levels = levels
            self.spatial_bar.setLevels(levels)

    # --- navigation ---------------------------------------------------------------------------
    def set_iteration(self, iteration: int, force: bool = False) -> None:
        if self.trace is None:
            return
        iteration = int(np.clip(iteration, 0, self.trace.iterations - 1))
        if iteration == self.iteration and not force:
            return
        self.iteration = iteration
        self.scrubber.blockSignals(True)
        self.scrubber.setValue(iteration + 1)
        self.scrubber.blockSignals(False)
        self._render()
        self.iterationChanged.emit(iteration)

    def first(self) -> None:
        self.set_iteration(0)

    def last(self) -> None:
        if self.trace is not None:
            self.set_iteration(self.trace.iterations - 1)

    def previous(self) -> None:
        self.set_iteration(self.iteration - 1)

    def next(self) -> None:  # noqa: A003
        self.set_iteration(self.iteration + 1)

    @property
    def playing(self) -> bool:
        return self._timer.isActive()

    def toggle_play(self) -> None:
        if self.playing:
            self.stop()
        elif self.trace is not None:
            if self.iteration == self.trace.iterations - 1:
                self.set_iteration(0)
            self._timer.start()
            self.play_button.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_MediaPause))

    def stop(self) -> None:
        self._timer.stop()
        self.play_button.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_MediaPlay))

    def _tick(self) -> None:
        if self.trace is None:
            self.stop()
        elif self.iteration >= self.trace.iterations - 1:
            self.set_iteration(0)
        else:
            self.next()

    # --- drawing ------------------------------------------------------------------------------
    def current_matrix(self) -> np.ndarray:
        """(1152, 10) what the matrix view shows now."""
        return views.coupling_matrix(self.trace, self.iteration, 0, self.weighted.isChecked(),
                                     self.change.isChecked())

    def _render(self) -> None:
        tr, r = self.trace, self.iteration
        matrix = self.current_matrix()
        self.matrix.setImage(views.mosaic(matrix).astype(np.float32), levels=self._levels, autoLevels=False)
        winner = int(tr.lengths[r, 0].argmax())
        self.winner_box.setRect(winner * views.POSITIONS, 0, views.POSITIONS, views.TYPES)
        weighted = self.weighted.isChecked()
        grid = views.spatial(matrix, self.digit, weighted).astype(np.float32)
        self.overlay.setImage(grid, levels=self._spatial_levels, autoLevels=False)
        self.input_image.setImage(tr.images[0], levels=(0, 1), autoLevels=False)
        self.position.setText(f"iteration {r + 1} of {tr.iterations}")
        what = "sum over types of c·‖u‖" if weighted else "mean c over the 32 types"
        if self.change.isChecked():
            what = "change of the " + what + (" (none before the first iteration)" if r == 0 else "")
        self.spatial_caption.setText(f"Digit {self.digit}: {what} at each of the 6×6 positions, "
                                     f"centred on its 17×17 receptive field.")

    def _hover(self, event) -> None:
        if self.trace is None or event.isExit():
            return
        pos = event.pos()
        row, col = int(pos.y()), int(pos.x())
        if not (0 <= row < views.TYPES and 0 <= col < 10 * views.POSITIONS):
            return
        i, digit, grid_row, grid_col = views.capsule_at(row, col)
        c = self.trace.coupling[self.iteration, 0, i, digit]
        length = self.trace.primary_lengths[0, i]
        shown = self.current_matrix()[i, digit]
        self.hover.setText(f"Primary capsule {i} (type {row}, position row {grid_row}, col {grid_col}; "
                           f"‖u_i‖ = {length:.3f}) → digit {digit}: c_ij = {c:.4f}; shown value {shown:+.4f} "
                           f"(iteration {self.iteration + 1}).")
