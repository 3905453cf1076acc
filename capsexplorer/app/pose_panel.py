"""Pose: the 16 dimensions of one digit capsule as sliders, and the decoder's redrawing of it
(Sabour et al. 2017, Fig. 4: each dimension perturbed in [−0.25, 0.25])."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QGridLayout, QGroupBox, QHBoxLayout, QLabel, QPushButton,
                               QSlider, QVBoxLayout, QWidget)

from superqt.utils import signals_blocked

from ..losses import M_MINUS
from . import theme
from .class_strip import ClassStrip
from .state import WINNER, ExplorerState
from .tiles import ImageTile

DIMENSIONS = 16
SPANS = (0.25, 0.5, 1.0)


class PoseSlider(QWidget):
    """A float slider with its value beside it. Light on purpose: all 16 re-centre on every trace,
    and a label of fixed width never re-lays the panel out."""

    valueChanged = Signal(float)
    STEPS = 1000

    def __init__(self, parent=None):
        super().__init__(parent)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, self.STEPS)
        self.slider.setPageStep(self.STEPS // 20)
        self.label = QLabel("+0.000")
        self.label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        theme.fix_label_size(self.label, "−0.000")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.label)
        self._low, self._high = -0.25, 0.25
        self.slider.valueChanged.connect(self._moved)

    def minimum(self) -> float:
        return self._low

    def maximum(self) -> float:
        return self._high

    def setRange(self, low: float, high: float) -> None:  # noqa: N802 (Qt naming)
        self._low, self._high = float(low), float(high)

    def value(self) -> float:
        return self._low + (self._high - self._low) * self.slider.value() / self.STEPS

    def setValue(self, value: float) -> None:  # noqa: N802
        span = self._high - self._low
        step = round((float(value) - self._low) / span * self.STEPS) if span > 0 else 0
        step = int(np.clip(step, 0, self.STEPS))
        if step == self.slider.value():
            self._show(self.value())
        else:
            self.slider.setValue(step)  # → _moved

    def _show(self, value: float) -> None:
        self.label.setText(f"{value:+.3f}")

    def _moved(self, _step: int) -> None:
        value = self.value()
        self._show(value)
        self.valueChanged.emit(value)


class PosePanel(QGroupBox):
    """The chosen digit capsule's pose as 16 sliders and the decoder's image of it. Emits
    `poseChanged(digit, pose)` while a slider moves (the window asks the decoder)."""

    poseChanged = Signal(int, object)

    def __init__(self, state: ExplorerState, parent=None):
        super().__init__("Pose — bend a digit capsule", parent)
        self.state = state
        self.capsule = QComboBox()
        self.capsule.addItem("winner's capsule", WINNER)
        for d in range(10):
            self.capsule.addItem(f"capsule {d}", d)
        self.capsule.setToolTip("Which digit capsule's 16-D pose the sliders hold")
        self.capsule.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.capsule.setMinimumContentsLength(9)  # narrow windows: the popup still shows whole names
        self.capsule.currentIndexChanged.connect(lambda: state.set_pose_digit(int(self.capsule.currentData())))
        self.span = QComboBox()
        for span in SPANS:
            self.span.addItem(f"±{span:g}", span)
        self.span.setToolTip("Slider range around the capsule's pose (the paper's Fig. 4 uses ±0.25)")
        self.span.currentIndexChanged.connect(self._span_changed)
        self.reset_button = QPushButton("Reset")
        self.reset_button.setToolTip("Back to the pose the network computed")
        self.reset_button.clicked.connect(self.reset)

        self.sliders: list[PoseSlider] = []
        grid = QGridLayout()
        grid.setVerticalSpacing(1)
        grid.setHorizontalSpacing(6)
        for k in range(DIMENSIONS):
            slider = PoseSlider()
            slider.setRange(-0.25, 0.25)
            slider.setValue(0.0)
            slider.setToolTip(f"Pose dimension {k + 1}")
            slider.valueChanged.connect(self._moved)
            label = QLabel(f"{k + 1}")
            label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            grid.addWidget(label, k, 0)
            grid.addWidget(slider, k, 1)
            self.sliders.append(slider)

        self.input_tile = ImageTile("Input")
        self.reconstruction_tile = ImageTile("Reconstruction")
        self.reconstruction_tile.setToolTip("The decoder's image of this capsule's pose")
        self.caption = QLabel("")
        self.caption.setWordWrap(True)
        self.caption.setMinimumHeight(self.caption.fontMetrics().height() * 3 + 4)  # never re-lays out

        self.every_class = ClassStrip()
        self.every_class.capsuleClicked.connect(state.set_pose_digit)
        self.every_class_title = QLabel("Decoded as every class — each capsule's own pose:")
        self.every_class_title.setWordWrap(True)
        self.every_class_title.setToolTip("What each class capsule 'thinks it saw': the input's ten "
                                          "reconstructions, one from each capsule's pose. Click one to hold it.")
        top = QHBoxLayout()
        top.addWidget(self.capsule, 1)
        top.addWidget(self.reset_button)
        self.keep_capsule = QCheckBox("keep")
        self.keep_capsule.setToolTip("Keep this capsule for new inputs (otherwise each new input shows its winner)")
        self.keep_capsule.toggled.connect(lambda on: state.pin(pose=on))
        bottom = QHBoxLayout()
        bottom.addWidget(QLabel("Slider range around the pose"))
        bottom.addWidget(self.span)
        bottom.addStretch(1)
        tiles = QHBoxLayout()
        tiles.addWidget(self.input_tile)
        tiles.addWidget(self.reconstruction_tile)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(tiles)
        layout.addWidget(self.caption)
        layout.addLayout(grid)
        layout.addLayout(bottom)
        layout.addWidget(self.keep_capsule)
        layout.addWidget(self.every_class_title)
        layout.addWidget(self.every_class)
        layout.addStretch(1)

        self.digit = 0
        self.origin = np.zeros(DIMENSIONS, np.float32)  # the pose the network computed
        self.setEnabled(False)
        state.resultChanged.connect(self._show)
        state.poseDigitChanged.connect(self._pose_digit_changed)
        state.modelChanged.connect(self._name_classes)

    def _name_classes(self) -> None:
        """Titles and choices in the words of the model's data (digits, or its class names)."""
        self.setTitle(f"Pose — bend a {self.state.capsule_word}")
        for d in range(min(10, self.capsule.count() - 1)):
            self.capsule.setItemText(d + 1, f"capsule {self.state.class_name(d)}")
        self.capsule.setToolTip(f"Which {self.state.capsule_word}'s 16-D pose the sliders hold")

    # --- from the state -----------------------------------------------------------------------
    def _pose_digit_changed(self, choice: int) -> None:
        index = self.capsule.findData(choice)
        if index != self.capsule.currentIndex():
            with signals_blocked(self.capsule):
                self.capsule.setCurrentIndex(index)
        self._show()

    def _show(self) -> None:
        """Re-centres the sliders on the chosen capsule's computed pose; no network run needed:
        the trace holds all ten poses and their reconstructions."""
        result = self.state.result
        if result is None:
            self.clear()
            return
        self.setEnabled(True)
        digit = self.state.shown_pose_digit()
        self.digit = digit
        self.origin = np.asarray(result.trace.poses[0, digit], np.float32).copy()
        self._recentre()
        self.input_tile.set_image(result.image)
        self.reconstruction_tile.set_image(result.reconstructions[digit])
        self.every_class.set_data(result.reconstructions, self.state.classes, result.trace.final_lengths[0],
                                  result.winner, digit)
        length = float(result.trace.final_lengths[0, digit])
        which = "the winner" if digit == result.winner else "not the winner"
        capsule = f"The {self.state.capsule_word} of {self.state.class_name(digit)}"
        caption = (f"{capsule} ({which}), ‖v‖ = {length:.3f}. Drag a slider to move one of its 16 pose "
                   "dimensions; the decoder redraws it.")
        if length < M_MINUS:
            caption = (f"{capsule} is inactive: ‖v‖ = {length:.3f}, under m⁻ = {M_MINUS:g}. "
                       "The decoder was never trained on such poses: its image means little.")
        if caption != self.caption.text():
            self.caption.setText(caption)

    def _span_changed(self) -> None:
        """A wider or narrower range around the same computed pose; the user's bend is kept (clipped)."""
        bent = self.pose()
        self._recentre()
        for slider, value in zip(self.sliders, bent):
            with signals_blocked(slider):
                slider.setValue(float(value))
        if self.state.result is not None:
            self.poseChanged.emit(self.digit, self.pose())

    def _recentre(self) -> None:
        span = self.span.currentData()
        for slider, value in zip(self.sliders, self.origin):
            with signals_blocked(slider):
                slider.setRange(float(value) - span, float(value) + span)
                slider.setValue(float(value))

    # --- intents ------------------------------------------------------------------------------
    def reset(self) -> None:
        self._recentre()
        self.poseChanged.emit(self.digit, self.pose())

    def set_dimension(self, k: int, value: float) -> None:
        """Moves slider k to `value` (widening the range if it lies outside), as a drag would."""
        slider = self.sliders[k]
        if not slider.minimum() <= value <= slider.maximum():
            index = next((n for n, span in enumerate(SPANS) if abs(value - self.origin[k]) <= span), len(SPANS) - 1)
            self.span.setCurrentIndex(index)
        slider.setValue(float(value))

    def pose(self) -> np.ndarray:
        return np.array([s.value() for s in self.sliders], np.float32)

    def _moved(self, _value=None) -> None:
        self.poseChanged.emit(self.digit, self.pose())

    def set_reconstruction(self, digit: int, image: np.ndarray) -> None:
        """The decoder's answer to a slider move, if it is still about the capsule shown."""
        if digit == self.digit and self.state.result is not None:
            self.reconstruction_tile.set_image(image)

    def clear(self) -> None:
        self.setEnabled(False)
        self.reconstruction_tile.set_image(np.zeros((28, 28), np.float32))
        self.input_tile.set_image(np.zeros((28, 28), np.float32))
        self.every_class.clear()
        self.caption.setText("")

    # --- settings -----------------------------------------------------------------------------
    def save_settings(self, settings) -> None:
        settings.setValue("pose/span", self.span.currentIndex())
        settings.setValue("pose/digit", self.state.pose_digit)
        settings.setValue("pose/keep", self.keep_capsule.isChecked())

    def restore_settings(self, settings) -> None:
        try:
            span, digit = int(settings.value("pose/span", 0)), int(settings.value("pose/digit", WINNER))
        except (TypeError, ValueError):
            span, digit = 0, WINNER
        self.span.setCurrentIndex(span if 0 <= span < len(SPANS) else 0)
        self.keep_capsule.setChecked(settings.value("pose/keep", False, type=bool))
        self.state.set_pose_digit(digit if -1 <= digit <= 9 else WINNER)
