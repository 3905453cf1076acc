"""The sweep: one transform of the input over a range, every step routed in one batch — the lengths
and the 16 pose dimensions against the transform's parameter, a filmstrip, and the summary that
equivariance is about: how far the pose turns against how much the length changes."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QComboBox, QDoubleSpinBox, QGridLayout, QGroupBox, QHBoxLayout, QLabel, QPushButton,
                               QSpinBox, QToolButton, QVBoxLayout)

from .. import transforms
from ..sweep import Sweep
from . import theme

RANGES = {"rotate": (-180.0, 180.0), "shift-x": (-6.0, 6.0), "shift-y": (-6.0, 6.0), "scale": (0.6, 1.4),
          "shear": (-30.0, 30.0), "thickness": (-1.0, 2.0)}
STRIP_GAP = 2


def filmstrip(sweep: Sweep) -> np.ndarray:
    """(2·28 + gap, S·(28 + gap)) the inputs above the followed capsule's reconstructions."""
    steps = len(sweep.values)
    strip = np.full((2 * 28 + STRIP_GAP, max(1, steps * (28 + STRIP_GAP))), 0.25, np.float32)
    for s in range(steps):
        x = s * (28 + STRIP_GAP)
        strip[:28, x:x + 28] = sweep.images[s]
        strip[28 + STRIP_GAP:, x:x + 28] = sweep.reconstruction[s]
    return strip


class SweepPanel(QGroupBox):
    sweepRequested = Signal(str, object)  # transform, values (S,)
    exportRequested = Signal(str)  # "png" or "gif"

    def __init__(self, parent=None):
        super().__init__("One transform over a range", parent)
        self.sweep: Sweep | None = None
        self.transform = QComboBox()
        for name in transforms.TRANSFORMS:
            self.transform.addItem(name, name)
        self.start, self.stop = QDoubleSpinBox(), QDoubleSpinBox()
        for box in (self.start, self.stop):
            box.setDecimals(2)
            box.setKeyboardTracking(False)
        self.steps = QSpinBox()
        self.steps.setRange(2, 121)
        self.steps.setValue(21)
        self.run_button = QPushButton("Sweep")
        self.png_button = QToolButton()
        self.png_button.setText("PNG…")
        self.png_button.setToolTip("Export the filmstrip as PNG")
        self.gif_button = QToolButton()
        self.gif_button.setText("GIF…")
        self.gif_button.setToolTip("Export an animation, one frame per step")
        for button in (self.png_button, self.gif_button):
            button.setEnabled(False)
        self.png_button.clicked.connect(lambda: self.exportRequested.emit("png"))
        self.gif_button.clicked.connect(lambda: self.exportRequested.emit("gif"))
        self.transform.setCurrentIndex(self.transform.findData("rotate"))  # the classic: a digit turning round
        self.transform.currentIndexChanged.connect(self._transform_changed)
        self.run_button.clicked.connect(self.request)
        controls = QVBoxLayout()
        for widgets in ((self.transform, QLabel("from"), self.start, QLabel("to"), self.stop),
                        (QLabel("steps"), self.steps, self.run_button, self.png_button, self.gif_button)):
            row = QHBoxLayout()
            for widget in widgets:
                row.addWidget(widget)
            row.addStretch(1)
            controls.addLayout(row)

        self.lengths_plot = self._plot("‖v<sub>j</sub>‖")
        self.length_lines = [self.lengths_plot.getPlotItem().plot([], [], pen=pg.mkPen(theme.bar_colour()))
                             for _ in range(10)]
        self.cnn_line = self.lengths_plot.getPlotItem().plot(
            [], [], pen=pg.mkPen(theme.accent(), width=2, style=Qt.PenStyle.DashLine))
        self.pose_plot = self._plot("Δ pose direction")
        self.pose_plot.setToolTip("The change of the capsule's unit pose v/‖v‖, one line per dimension: its "
                                  "direction apart from its length")
        colours = [pg.intColor(k, 16) for k in range(16)]
        self.pose_lines = [self.pose_plot.getPlotItem().plot([], [], pen=pg.mkPen(colours[k])) for k in range(16)]
        self.summary_plot = self._plot("length vs turn")
        summary = self.summary_plot.getPlotItem()
        summary.setLabel("bottom", "pose turns (°)")
        summary.setLabel("left", "length change (%)")
        self.summary_points = pg.ScatterPlotItem(size=7, pen=None)
        summary.addItem(self.summary_points)
        self.strip_plot = theme.picture_plot(minimum_height=90)
        strip = self.strip_plot.getPlotItem()
        strip.showAxis("bottom")
        self.strip = theme.image_item((58, 30), theme.GREYS)
        strip.addItem(self.strip)
        self.caption = QLabel("Choose a transform and press Sweep.")
        self.caption.setWordWrap(True)
        self.caption.setMinimumHeight(self.caption.fontMetrics().height() * 3 + 4)
        plots = QGridLayout()  # two by two: room for each plot's axes in a narrow window
        plots.addWidget(self.lengths_plot, 0, 0)
        plots.addWidget(self.pose_plot, 0, 1)
        plots.addWidget(self.summary_plot, 1, 0)
        plots.addWidget(self.strip_plot, 1, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(controls)
        layout.addLayout(plots, 1)
        layout.addWidget(self.caption)
        self._transform_changed()

    def _plot(self, title: str) -> pg.PlotWidget:
        plot = theme.static_plot(minimum_height=110)
        plot.getPlotItem().setTitle(title, color=theme.foreground().name(), size="10pt")
        plot.getPlotItem().getAxis("left").enableAutoSIPrefix(False)
        return plot

    def _transform_changed(self) -> None:
        name = str(self.transform.currentData())
        low, high = transforms.LIMITS[name]
        start, stop = RANGES[name]
        for box, value in ((self.start, start), (self.stop, stop)):
            box.setRange(low, high)
            box.setSingleStep(0.05 if name == "scale" else 0.5 if name in ("thickness",) else 1.0)
            box.setValue(value)
            box.setSuffix({"scale": "×", "rotate": "°", "shear": "°"}.get(name, " px"))
        for plot in (self.lengths_plot, self.pose_plot):
            plot.getPlotItem().setLabel("bottom", f"{name} ({transforms.UNITS[name]})")

    def values(self) -> np.ndarray:
        return np.linspace(self.start.value(), self.stop.value(), self.steps.value())

    def follow(self, state) -> None:
        """Draws the sweep the explorer state holds (and the CNN's view of it, when it comes)."""
        def draw() -> None:
            result = state.sweep
            if result is None:
                self.clear()
                return
            if self.sweep is not result.value:
                self.show_result(result.value, result.seconds)
            if state.sweep_cnn is not None:
                self.show_cnn(state.sweep_cnn)

        state.sweepChanged.connect(draw)

    def request(self) -> None:
        self.sweepRequested.emit(str(self.transform.currentData()), self.values())

    def show_cnn(self, probabilities: np.ndarray) -> None:
        """(S, 10) the CNN's probabilities for the sweep's inputs: its line follows the same digit."""
        if self.sweep is not None and len(probabilities) == len(self.sweep.values):
            self.cnn_line.setData(self.sweep.values, probabilities[:, self.sweep.digit])

    def show_result(self, sweep: Sweep, seconds: float) -> None:
        self.sweep = sweep
        values, digit = sweep.values, sweep.digit
        self.cnn_line.setData([], [])  # the CNN's view follows (show_cnn)
        for d, line in enumerate(self.length_lines):
            line.setData(values, sweep.lengths[:, d])
            line.setPen(pg.mkPen(theme.winner_colour() if d == digit else theme.bar_colour(),
                                 width=3 if d == digit else 1))
        change = sweep.unit_pose_change()
        for k, line in enumerate(self.pose_lines):
            line.setData(values, change[:, k])
        self.lengths_plot.getPlotItem().setYRange(0, 1.0, padding=0.02)
        active = sweep.active()
        brushes = [pg.mkBrush(theme.winner_colour() if on else theme.muted()) for on in active]
        self.summary_points.setData(sweep.pose_angle(), 100 * sweep.relative_length_change(), brush=brushes)
        strip = filmstrip(sweep)
        self.strip.setImage(strip, levels=(0, 1), autoLevels=False)
        step = max(1, len(values) // 5)
        self.strip_plot.getPlotItem().getAxis("bottom").setTicks(
            [[(s * (28 + STRIP_GAP) + 14, f"{values[s]:g}") for s in range(0, len(values), step)]])
        self.strip_plot.getPlotItem().setRange(xRange=(0, strip.shape[1]), yRange=(0, strip.shape[0]), padding=0.01)
        for button in (self.png_button, self.gif_button):
            button.setEnabled(True)
        summary = sweep.summary()
        self.caption.setText(
            f"Digit {digit}, {sweep.transform} from {values[0]:g} to {values[-1]:g} in {len(values)} steps "
            f"({seconds * 1000:.0f} ms): still read as {digit} at {summary['kept_prediction']:.0%} of the steps; "
            f"while still active (‖v‖ ≥ m⁻, {summary['active_steps']} steps) its pose turned up to "
            f"{summary['max_pose_angle_deg_active']:.1f}°, and its length changed up to "
            f"{summary['max_relative_length_change']:.0%} (mean {summary['mean_relative_length_change']:.0%}). "
            "Grey points: the capsule under m⁻, its direction meaningless. Dashed blue: the CNN's probability "
            "for the same digit. Filmstrip: inputs above, reconstructions below.")

    def clear(self) -> None:
        self.sweep = None
        for line in self.length_lines + self.pose_lines + [self.cnn_line]:
            line.setData([], [])
        self.summary_points.setData([], [])
        for button in (self.png_button, self.gif_button):
            button.setEnabled(False)
        self.caption.setText("Draw or load a digit, then press Sweep.")
