"""The transform probe: shift, rotate, scale, shear or thicken the network's 28×28 input itself
(after preprocessing, no re-centring) and watch the chosen capsule's pose follow while its length —
the probability that the digit is there — should hold (Sabour et al. 2017, §1, §5.1)."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGridLayout, QGroupBox, QHBoxLayout, QLabel, QPushButton, QSlider, QVBoxLayout
from superqt.utils import signals_blocked

from capsexplorer.analysis import captions
from capsexplorer.app.session.state import ExplorerState
from capsexplorer.app.widgets import theme
from capsexplorer.app.widgets.guard import Bars
from capsexplorer.app.widgets.tiles import ImageTile
from capsexplorer.data import transforms

# name → (label, low, high, step, unit)
SLIDERS = {"shift-x": ("shift x", -8, 8, 0.5, "px"), "shift-y": ("shift y", -8, 8, 0.5, "px"),
           "rotate": ("rotate", -180, 180, 1, "°"), "scale": ("scale", 0.5, 1.5, 0.05, "×"),
           "shear": ("shear", -45, 45, 1, "°"), "thickness": ("thickness", -2, 2, 0.25, "px")}


class ProbePanel(QGroupBox):
    """Writes the transforms to the state; draws the worker's ProbeResult given to `show_result`."""

    def __init__(self, state: ExplorerState, parent=None):
        super().__init__("Transform the input", parent)
        self.state = state
        self.result = None
        self.sliders: dict[str, QSlider] = {}
        self.values: dict[str, QLabel] = {}
        grid = QGridLayout()
        grid.setVerticalSpacing(2)
        for row, (name, (label, low, high, step, unit)) in enumerate(SLIDERS.items()):
            slider = QSlider(Qt.Orientation.Horizontal)
            slider.setRange(round(low / step), round(high / step))
            slider.setValue(round(transforms.IDENTITY[name] / step))
            slider.setToolTip(f"{label} of the network input ({unit}; {transforms.DIRECTIONS[name]})")
            slider.setMinimumWidth(60)
            slider.valueChanged.connect(lambda v, name=name, step=step: state.set_probe(name, v * step))
            value = QLabel("")
            theme.fix_label_size(value, "−180°")
            grid.addWidget(QLabel(label), row, 0)
            grid.addWidget(slider, row, 1)
            grid.addWidget(value, row, 2)
            self.sliders[name], self.values[name] = slider, value
        self.reset_button = QPushButton("Untransformed")
        self.reset_button.clicked.connect(state.reset_probe)

        self.input_tile = ImageTile("Transformed input", size=84)
        self.reconstruction_tile = ImageTile("Its reconstruction", size=84)
        self.reconstruction_tile.setToolTip("The decoder's image of the followed capsule's pose for the transformed "
                                            "input (the Pose panel on the right holds the untransformed input's)")
        self.lengths = theme.static_plot(minimum_height=120)
        item = self.lengths.getPlotItem()
        item.setTitle("‖v<sub>j</sub>‖", color=theme.foreground().name(), size="10pt")
        item.setYRange(0, 1.05, padding=0)
        self.class_axis = theme.ClassAxis(self.lengths, range(10))
        state.modelChanged.connect(self._follow_model)
        self.ghost_lengths = Bars(x=np.arange(10), height=np.zeros(10), width=0.8,
                                             brush=pg.mkBrush(None), pen=pg.mkPen(theme.muted(), width=1))
        self.length_bars = Bars(x=np.arange(10), height=np.zeros(10), width=0.5,
                                           brush=theme.bar_colour(), pen=pg.mkPen(None))
        item.addItem(self.length_bars)
        item.addItem(self.ghost_lengths)
        self.pose = theme.static_plot(minimum_height=120)
        item = self.pose.getPlotItem()
        item.setTitle("the capsule's pose", color=theme.foreground().name(), size="10pt")
        item.getAxis("bottom").setTicks([[(k, str(k + 1)) for k in range(16)]])
        self.ghost_pose = Bars(x=np.arange(16), height=np.zeros(16), width=0.8, brush=pg.mkBrush(None),
                                          pen=pg.mkPen(theme.muted(), width=1))
        self.pose_bars = Bars(x=np.arange(16), height=np.zeros(16), width=0.5, brush=theme.accent(),
                                         pen=pg.mkPen(None))
        item.addItem(self.pose_bars)
        item.addItem(self.ghost_pose)
        self.caption = QLabel("")
        self.caption.setWordWrap(True)
        self.caption.setMinimumHeight(self.caption.fontMetrics().height() * 5 + 4)  # never runs onto what follows
        self.read_out = QLabel("Hover the bars: their values, transformed and untransformed.")
        self.read_out.setWordWrap(True)
        for plot in (self.lengths, self.pose):
            plot.scene().sigMouseMoved.connect(lambda pos, plot=plot: self._hover(plot, pos))

        controls = QVBoxLayout()
        controls.addLayout(grid)
        controls.addWidget(self.reset_button, alignment=Qt.AlignmentFlag.AlignLeft)
        images = QVBoxLayout()
        images.addWidget(self.input_tile)
        images.addWidget(self.reconstruction_tile)
        tiles = QHBoxLayout()
        tiles.addLayout(controls, 1)
        tiles.addLayout(images)
        plots = QHBoxLayout()
        plots.addWidget(self.lengths, 2)
        plots.addWidget(self.pose, 3)
        for plot in (self.lengths, self.pose):
            plot.setMinimumWidth(120)
        layout = QVBoxLayout(self)
        layout.addLayout(tiles)
        layout.addLayout(plots, 1)
        layout.addWidget(self.read_out)
        layout.addWidget(self.caption)
        state.probeChanged.connect(self._show_settings)
        state.probeResultChanged.connect(lambda: state.probe_result is not None and self.show_result(state.probe_result))
        state.resultChanged.connect(self._show)
        state.labDataChanged.connect(self._show)  # the read-outs for these weights arrived
        state.poseDigitChanged.connect(self._show)
        self._show_settings()

    def _show_settings(self) -> None:
        for name, (_label, _low, _high, step, unit) in SLIDERS.items():
            value = self.state.probe[name]
            with signals_blocked(self.sliders[name]):
                self.sliders[name].setValue(round(value / step))
            self.values[name].setText(f"×{value:.2f}" if name == "scale" else f"{value:+g}{unit}")

    def bar_text(self, which: str, k: int) -> str:
        """One bar's numbers: `which` "lengths" (class k) or "pose" (dimension k, 0-based)."""
        reference, result = self.state.result, self.result
        if reference is None or result is None:
            return ""
        digit = self.state.shown_pose_digit()
        if which == "lengths" and 0 <= k < len(result.lengths):
            return (f"Class {self.state.class_name(k)}: ‖v‖ = {result.lengths[k]:.3f} transformed, "
                    f"{reference.trace.final_lengths[0, k]:.3f} untransformed.")
        if which == "pose" and 0 <= k < result.poses.shape[1]:
            return (f"Capsule {self.state.class_name(digit)}, pose dimension {k + 1}: {result.poses[digit, k]:+.3f} "
                    f"transformed, {reference.trace.poses[0, digit, k]:+.3f} untransformed.")
        return ""

    def _hover(self, plot, scene_pos) -> None:
        k = int(round(plot.getPlotItem().vb.mapSceneToView(scene_pos).x()))
        text = self.bar_text("lengths" if plot is self.lengths else "pose", k)
        if text:
            self.read_out.setText(text)

    def show_result(self, result) -> None:
        """A ProbeResult for the current input."""
        self.result = result
        self._show()

    def _follow_model(self) -> None:
        """A bar per class of the model shown and per dimension of its poses."""
        g = self.state.geometry
        self.class_axis.set_names(self.state.tick_names)
        for bars in (self.ghost_lengths, self.length_bars):
            bars.setOpts(x=np.arange(g.classes), height=np.zeros(g.classes))
        self.lengths.getPlotItem().setXRange(-0.6, g.classes - 0.4, padding=0)
        for bars in (self.ghost_pose, self.pose_bars):
            bars.setOpts(x=np.arange(g.pose_dim), height=np.zeros(g.pose_dim))
        item = self.pose.getPlotItem()
        item.getAxis("bottom").setTicks([[(k, str(k + 1)) for k in range(g.pose_dim)]])
        item.setXRange(-0.6, g.pose_dim - 0.4, padding=0)

    def _show(self, *_) -> None:
        reference, result = self.state.result, self.result
        if self.sender() is self.state:  # a new input: the bar read-out is of the old one
            self.read_out.setText("Hover the bars: their values, transformed and untransformed.")
        if reference is None or result is None:
            self.caption.setText("Draw or load a digit, then move a slider: the input changes, the network "
                                 "routes it again.")
            return
        digit = self.state.shown_pose_digit()
        ghost_lengths = reference.trace.final_lengths[0]
        if len(result.lengths) != len(ghost_lengths) or not 0 <= digit < len(ghost_lengths):
            return  # a probe of another model's input, answered after a switch: the next one follows
        ghost_pose = reference.trace.poses[0, digit]
        self.input_tile.set_image(result.image)
        self.reconstruction_tile.set_image(result.reconstructions[digit])
        self.pose.getPlotItem().setTitle(f"the pose of capsule {self.state.class_name(digit)}",
                                         color=theme.foreground().name(), size="10pt")
        colours = [theme.winner_colour() if d == result.prediction else theme.bar_colour()
                   for d in range(len(result.lengths))]
        self.length_bars.setOpts(height=result.lengths, brushes=colours)
        outline = pg.mkPen(theme.foreground(), width=1.5)  # the untransformed input: visible in either theme
        self.ghost_lengths.setOpts(height=ghost_lengths, pen=outline)
        self.pose_bars.setOpts(height=result.poses[digit])
        self.ghost_pose.setOpts(height=ghost_pose, pen=outline)
        span = float(max(np.abs(result.poses[digit]).max(), np.abs(ghost_pose).max(), 0.1))
        self.pose.getPlotItem().setYRange(-span * 1.1, span * 1.1, padding=0)
        unit = result.poses[digit] / max(np.linalg.norm(result.poses[digit]), 1e-9)
        ghost_unit = ghost_pose / max(np.linalg.norm(ghost_pose), 1e-9)
        angle = float(np.degrees(np.arccos(np.clip(unit @ ghost_unit, -1, 1))))
        turned = captions.pose_turn(angle, result.lengths[digit] >= 0.1)
        length = captions.length_change(float(ghost_lengths[digit]), float(result.lengths[digit]))
        holds = captions.length_holds(float(ghost_lengths[digit]), float(result.lengths[digit]))
        cnn = "" if result.cnn is None else (
            f" The CNN baseline says {self.state.class_name(int(np.argmax(result.cnn)))} "
            f"({float(np.max(result.cnn)):.0%}) for the same transformed input.")
        self.caption.setText(
            f"Transformed, the network says {self.state.answer(result.lengths)} (untransformed, "
            f"{self.state.answer(ghost_lengths)} — what the rest of the window shows).{cnn} Capsule "
            f"{self.state.class_name(digit)}: {turned}; its length {length}. {self.readout_text(result, digit)}"
            "Equivariance would be the pose carrying the transform (a read-out recovers it) while the length "
            f"holds; {'here the length holds' if holds else 'here the length does not hold'} "
            f"(within ±{captions.HOLDS:.0%}). Outlined bars: the untransformed input.")

    def readout_text(self, result, digit: int) -> str:
        """What the pose "sees" of each transform applied, read with the read-outs measured for these weights
        (capsexplorer equivariance), or why it cannot be said."""
        from capsexplorer.analysis.equivariance import readout_words

        applied = {name: value for name, value in result.settings.items() if value != transforms.IDENTITY[name]}
        if not applied:
            return ""
        measured = self.state.equivariance
        if result.request != self.state.generation:
            return ""  # a probe of an earlier input: its pose change would be against the wrong one
        if measured is None:
            return ("How much of the transform the pose carries is not measured for these weights "
                    "(`capsexplorer equivariance` measures it, and the window then says it here). ")
        delta = result.poses[digit] - self.state.result.trace.poses[0, digit]  # (D,) the pose's change
        words = [readout_words(measured, name, value, delta, digit) for name, value in applied.items()
                 if name in measured["transforms"]]
        several = " (each read-out was fitted on one transform alone)" if len(words) > 1 else ""
        return "; ".join(words) + several + ". "
