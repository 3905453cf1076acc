"""Pose: the 16 dimensions of one digit capsule as sliders, and the decoder's redrawing of it. By default
each slider spans ±2σ of the class's training poses, with their histogram behind it and the input's own
value marked (the data's scale); the paper's Fig. 4 range, ±0.25 about the input's pose, is an option."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QEvent, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)
from superqt.utils import signals_blocked

from capsexplorer.app.panels.class_strip import ClassStrip
from capsexplorer.app.session.state import WINNER, ExplorerState
from capsexplorer.app.widgets import theme
from capsexplorer.app.widgets.guard import qt_safe
from capsexplorer.app.widgets.tiles import ImageTile
from capsexplorer.app.widgets.when_shown import WhenShown
from capsexplorer.net.losses import M_MINUS

DIMENSIONS = 16
SPANS = (("data", "±2σ (data)"), (0.25, "±0.25 (paper)"), (0.5, "±0.5"), (1.0, "±1"))
NUMERIC_SPANS = tuple(span for span, _ in SPANS if span != "data")
MARGIN = 6.0  # a pose slider's groove ends about half a handle from its edges
HISTOGRAM_PIXELS = 240  # the width a histogram is drawn at, then stretched onto its slider


class HistogramSlider(QSlider):
    """A QSlider that paints, behind its groove and handle, a histogram over its own range (the class's
    training poses of this dimension) and a mark at one value (the input's own pose)."""

    def __init__(self, parent=None):
        super().__init__(Qt.Orientation.Horizontal, parent)
        self._backdrop = None
        self._picture: tuple[tuple, QPixmap] | None = None  # (the histogram it shows, drawn)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)  # no focus from the wheel

    @property
    def backdrop(self):
        """(counts (bins,), edges (bins + 1,), low, high, the input's value), or None: what is painted behind."""
        return self._backdrop

    @backdrop.setter
    def backdrop(self, value) -> None:
        self._backdrop = value
        self.update()

    @qt_safe()
    def wheelEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        event.ignore()  # the wheel scrolls the panel; it never moves a pose slider by accident

    @qt_safe()
    def paintEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        backdrop = self._backdrop
        if backdrop is not None and backdrop[3] > backdrop[2] and len(backdrop[0]):
            _, edges, low, high, marked = backdrop
            width = max(1.0, self.width() - 2 * MARGIN)
            scale = width / (high - low)  # pose units → pixels
            painter = QPainter(self)
            painter.setClipRect(QRectF(MARGIN, 0, width, self.height()))
            left, right = MARGIN + (float(edges[0]) - low) * scale, MARGIN + (float(edges[-1]) - low) * scale
            painter.drawPixmap(QRectF(left, 0, right - left, self.height()), self._histogram(),
                               QRectF(0, 0, HISTOGRAM_PIXELS, self.height()))
            painter.setClipping(False)
            if low <= marked <= high:
                x = int(MARGIN + (marked - low) * scale)
                painter.setPen(QPen(theme.winner_colour(), 2))
                painter.drawLine(x, 1, x, self.height() - 1)
            painter.end()
        super().paintEvent(event)

    def _histogram(self) -> QPixmap:
        """The histogram over its own bins' span, drawn into a pixmap only when it, the height or the theme change
        and stretched onto the slider's range when painted: all 16 sliders repaint on every trace, and drawing
        their bars each time was most of the panel's paint."""
        counts, edges = self._backdrop[:2]
        height, dark = self.height(), theme.is_dark()
        key = (counts.tobytes(), edges.tobytes(), height, dark, theme.foreground().rgba())
        if self._picture is None or self._picture[0] != key:
            picture = QPixmap(HISTOGRAM_PIXELS, max(1, height))
            picture.fill(Qt.GlobalColor.transparent)
            colour = QColor(theme.foreground())
            colour.setAlpha(70 if dark else 55)
            painter = QPainter(picture)
            x = (np.asarray(edges, float) - edges[0]) / max(float(edges[-1] - edges[0]), 1e-12) * HISTOGRAM_PIXELS
            top = float(counts.max()) or 1.0
            for count, a, b in zip(counts, x[:-1], x[1:]):
                if count and b > a:
                    bar = (height - 2) * float(count) / top
                    painter.fillRect(QRectF(a, height - 1 - bar, b - a, bar), colour)
            painter.end()
            self._picture = (key, picture)
        return self._picture[1]


class PoseSlider(QWidget):
    """A float slider with its value beside it. Light on purpose: all 16 re-centre on every trace,
    and a label of fixed width never re-lays the panel out."""

    valueChanged = Signal(float)
    STEPS = 1000

    def __init__(self, parent=None):
        super().__init__(parent)
        self.slider = HistogramSlider()
        self.slider.setRange(0, self.STEPS)
        self.slider.setPageStep(self.STEPS // 20)
        self.slider.setSingleStep(self.STEPS // 100)  # an arrow key: 1 % of the range (a step of 1 was 0.1 %)
        self.label = QLabel("+0.000")
        self.label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        theme.fix_label_size(self.label, "−0.000")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.label)
        self._low, self._high = -0.25, 0.25
        self._exact: float | None = None  # the value set, until a drag moves the handle: no rounding to steps
        self.describe = None  # () → its tooltip, written when asked for (16 of them follow every trace)
        self.slider.valueChanged.connect(self._moved)

    @qt_safe(default=False)
    def event(self, event) -> bool:  # noqa: N802 (Qt naming)
        if event.type() == QEvent.Type.ToolTip and self.describe is not None:
            self.setToolTip(self.describe())
        return super().event(event)

    def minimum(self) -> float:
        return self._low

    def maximum(self) -> float:
        return self._high

    def setRange(self, low: float, high: float) -> None:  # noqa: N802 (Qt naming)
        self._low, self._high = float(low), float(high)

    def value(self) -> float:
        if self._exact is not None:
            return self._exact
        return self._low + (self._high - self._low) * self.slider.value() / self.STEPS

    def setValue(self, value: float) -> None:  # noqa: N802
        span = self._high - self._low
        value = min(max(float(value), self._low), self._high)  # scalars: numpy's clip costs 16× per trace
        step = min(max(round((value - self._low) / span * self.STEPS), 0), self.STEPS) if span > 0 else 0
        if step == self.slider.value():
            self._exact = value
            self._show(value)
        else:
            self._exact = None
            with signals_blocked(self.slider):
                self.slider.setValue(step)
            self._exact = value
            self._moved(step, exact=True)

    def text(self) -> str:
        """The value as written beside the slider."""
        return self.label.text()

    def _show(self, value: float) -> None:
        self.label.setText(f"{value:+.3f}")  # (the same text sets nothing)

    def _moved(self, _step: int, exact: bool = False) -> None:
        if not exact:  # the handle was dragged: its step is the value
            self._exact = None
        value = self.value()
        self._show(value)
        self.valueChanged.emit(value)


class PosePanel(QGroupBox):
    """The chosen digit capsule's pose as 16 sliders and the decoder's image of it. A slider moved is an intent
    written to the state (`bend_pose`); the decoder's drawing comes back through it (`bent`)."""

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
        for span, text in SPANS:
            self.span.addItem(text, span)
        self.span.setToolTip("±2σ of the class: each slider over its dimension's spread in the class's training "
                             "poses, their histogram behind it (orange: this input's value). ±0.25 about the pose: "
                             "the paper's Figure 4, the same range for every dimension")
        self.span.currentIndexChanged.connect(lambda _i: self._span_changed())
        self.reset_button = QPushButton("Reset")
        self.reset_button.setToolTip("Back to the pose the network computed")
        self.reset_button.clicked.connect(self.reset)

        self.sliders: list[PoseSlider] = []  # one per pose dimension of the model shown
        self._rows: list[tuple[QLabel, PoseSlider]] = []  # made as needed; a smaller pose hides the rest
        grid = self.slider_grid = QGridLayout()
        grid.setVerticalSpacing(1)
        grid.setHorizontalSpacing(6)
        self._slider_count(DIMENSIONS)

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
        self.span.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.span.setMinimumContentsLength(8)  # a narrow column: the popup still shows whole names
        bottom.addWidget(QLabel("Slider range"))
        bottom.addWidget(self.span)
        bottom.addStretch(1)
        tiles = QHBoxLayout()
        tiles.addWidget(self.input_tile)
        tiles.addWidget(self.reconstruction_tile)
        # Three parts: the capsule and its pictures, the sliders, then the range and every class decoded. In a
        # column they stack; as a lab tab (a small window) the sliders stand beside the rest, so nothing of it
        # falls below the fold at 1024×700 (see `set_beside`).
        self.head, self.tail = QVBoxLayout(), QVBoxLayout()
        self.head.addLayout(top)
        self.head.addLayout(tiles)
        self.head.addWidget(self.caption)
        self.tail.addLayout(bottom)
        self.tail.addWidget(self.keep_capsule)
        self.tail.addWidget(self.every_class_title)
        self.tail.addWidget(self.every_class)
        self.tail.addStretch(1)
        self.parts = QGridLayout(self)
        self.beside = None
        self.set_beside(False)

        self.digit = 0  # self.origin (D,): the pose the network computed
        self._edges = None  # (statistics, class, (D, bins + 1) their edges): see `_class_edges`
        self.setEnabled(False)
        self._follow_result = WhenShown(self, self._show, state, hidden=False)  # mid-stroke: at the stroke's end
        state.resultChanged.connect(self._follow_result)
        state.resultChanged.connect(self._enable)
        state.poseDigitChanged.connect(self._pose_digit_changed)
        state.modelChanged.connect(self._name_classes)
        state.labDataChanged.connect(self._data_arrived)  # the data's scale: bends kept
        state.bentChanged.connect(lambda: state.bent is not None and self.set_reconstruction(state.bent.digit,
                                                                                          state.bent.image))

    def set_beside(self, beside: bool) -> None:
        """The sliders beside the pictures and the decoded classes (a lab tab), or below them (a column)."""
        if beside == self.beside:
            return
        self.beside = beside
        for part in (self.head, self.slider_grid, self.tail):
            self.parts.removeItem(part)
        if beside:
            self.parts.addLayout(self.head, 0, 0)
            self.parts.addLayout(self.tail, 1, 0)
            self.parts.addLayout(self.slider_grid, 0, 1, 2, 1)
            self.parts.setColumnStretch(0, 2)
            self.parts.setColumnStretch(1, 3)
        else:
            self.parts.addLayout(self.head, 0, 0)
            self.parts.addLayout(self.slider_grid, 1, 0)
            self.parts.addLayout(self.tail, 2, 0)
            self.parts.setColumnStretch(0, 1)
            self.parts.setColumnStretch(1, 0)

    def _name_classes(self) -> None:
        """Titles and choices in the words of the model's data (digits, or its class names)."""
        self.setTitle(f"Pose — bend a {self.state.capsule_word}")
        for d in range(min(10, self.capsule.count() - 1)):
            self.capsule.setItemText(d + 1, f"capsule {self.state.class_name(d)}")
        self.capsule.setToolTip(f"Which {self.state.capsule_word}'s {self.state.geometry.pose_dim}-D pose the "
                                "sliders hold")
        with signals_blocked(self.capsule):
            self.capsule.clear()
            self.capsule.addItem("winner's capsule", WINNER)
            for d in range(self.state.geometry.classes):
                self.capsule.addItem(f"capsule {self.state.class_name(d)}", d)
            self.capsule.setCurrentIndex(max(0, self.capsule.findData(self.state.pose_digit)))
        self._slider_count(self.state.geometry.pose_dim)

    def _slider_count(self, dims: int) -> None:
        """One slider per pose dimension: rows made when first needed, hidden when a model has fewer."""
        while len(self._rows) < dims:
            k = len(self._rows)
            slider = PoseSlider()
            slider.setRange(-0.25, 0.25)
            slider.setValue(0.0)
            slider.setToolTip(f"Pose dimension {k + 1}")
            slider.describe = lambda k=k: self.describe(k)
            slider.valueChanged.connect(self._moved)
            label = QLabel(f"{k + 1}")
            label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.slider_grid.addWidget(label, k, 0)
            self.slider_grid.addWidget(slider, k, 1)
            self._rows.append((label, slider))
        for k, (label, slider) in enumerate(self._rows):
            label.setVisible(k < dims)
            slider.setVisible(k < dims)
        self.sliders = [slider for _, slider in self._rows[:dims]]
        self.origin = np.zeros(dims, np.float32)

    # --- from the state -----------------------------------------------------------------------
    def _pose_digit_changed(self, choice: int) -> None:
        index = self.capsule.findData(choice)
        if index != self.capsule.currentIndex():
            with signals_blocked(self.capsule):
                self.capsule.setCurrentIndex(index)
        self._show()

    def _enable(self) -> None:
        """Usable while there is a trace: from a stroke's first live trace (under its veil), so that enabling — which
        re-styles every child — is not part of the stroke's end."""
        enabled = self.state.result is not None
        if enabled != self.isEnabled():
            self.setEnabled(enabled)

    def _show(self) -> None:
        """Re-centres the sliders on the chosen capsule's computed pose; no network run needed:
        the trace holds all ten poses and their reconstructions."""
        result = self.state.result
        if result is None:
            self.clear()
            return
        if not self.isEnabled():
            self.setEnabled(True)
        digit = self.state.shown_pose_digit()
        self.digit = digit
        self.origin = np.asarray(result.trace.poses[0, digit], np.float32).copy()
        self._recentre()
        bent, drawn = self.state.bent_pose, self.state.bent
        kept = bent is not None and bent[0] == digit and len(bent[1]) == len(self.sliders)
        if kept:  # the same trace drawn again (a theme changed): the user's bend stays
            for slider, value in zip(self.sliders, bent[1].tolist()):
                with signals_blocked(slider):
                    slider.setValue(value)
        self.input_tile.set_image(result.image)
        self.reconstruction_tile.set_image(drawn.image if kept and drawn is not None and drawn.digit == digit
                                           else result.reconstructions[digit])
        self.every_class.set_data(result.reconstructions, self.state.classes, result.trace.final_lengths[0],
                                  result.winner, digit)
        caption = self._caption()
        if caption != self.caption.text():
            self.caption.setText(caption)

    def _caption(self) -> str:
        """What the sliders hold, in words (and whether the data's scale is known yet)."""
        result, digit = self.state.result, self.digit
        length = float(result.trace.final_lengths[0, digit])
        which = "the winner" if digit == result.winner else "not the winner"
        capsule = f"The {self.state.capsule_word} of {self.state.class_name(digit)}"
        caption = (f"{capsule} ({which}), ‖v‖ = {length:.3f}. Drag a slider to move one of its "
                   f"{len(self.sliders)} pose "
                   "dimensions; the decoder redraws it.")
        bent = self.pose() if len(self.sliders) == len(self.origin) else self.origin
        moved = int((np.abs(bent - self.origin) > 1e-6).sum())
        if moved:
            caption += (f" As the sliders hold it now ({moved} of {len(bent)} values moved): ‖v‖ = "
                        f"{float(np.linalg.norm(bent)):.3f}.")
        if length < M_MINUS:
            caption = (f"{capsule} is inactive: ‖v‖ = {length:.3f}, under m⁻ = {M_MINUS:g}. "
                       "The decoder was never trained on such poses: its image means little.")
        if self.span.currentData() == "data" and self.state.pose_stats is None:
            why = self.state.pose_stats_why
            known = f"cannot be had — {why}" if why else "are being computed (once for these weights)"
            caption += f" The sliders span ±0.25 for now: the class's statistics {known}."
        return caption

    def _data_arrived(self) -> None:
        """The class's statistics (or why there are none): the sliders take the data's scale, bends kept."""
        self._span_changed(always=False)
        if self.state.result is not None:
            self.caption.setText(self._caption())

    def _span_changed(self, always: bool = True) -> None:
        """A wider or narrower range around the same computed pose; the user's bend is kept (clipped) and
        redrawn — `always`, or only where the new range clipped it (new statistics, not the user's choice)."""
        bent = self.pose()
        self._recentre()
        for slider, value in zip(self.sliders, bent):
            with signals_blocked(slider):
                slider.setValue(float(value))
        clipped = not np.allclose(self.pose(), bent, atol=1e-3 * np.ptp(self.slider_ranges(), axis=1).max())
        if self.state.result is not None and (always or clipped):
            self.state.bend_pose(self.digit, self.pose())

    def slider_ranges(self) -> np.ndarray:
        """(D, 2) the sliders' (low, high): ±2σ of the class (once its statistics are known; ±0.25 about the
        pose until then, or where they cannot be had), or ± a span about the computed pose."""
        from capsexplorer.analysis import pose_stats

        span, stats = self.span.currentData(), self.state.pose_stats
        if span == "data" and stats is not None and self.digit < len(stats.counts):
            return pose_stats.ranges(stats, self.digit, "data", pose=self.origin)
        span = pose_stats.PAPER_SPAN if span == "data" else float(span)
        return np.stack([self.origin - span, self.origin + span], 1)

    def _recentre(self) -> None:
        stats = self.state.pose_stats
        known = stats is not None and self.digit < len(stats.counts)
        edges = self._class_edges(stats) if known else None
        for k, (slider, value, (low, high)) in enumerate(zip(self.sliders, self.origin.tolist(),
                                                             self.slider_ranges().tolist())):
            with signals_blocked(slider):
                slider.setRange(low, high)
                slider.setValue(value)
            backdrop = (stats.histogram[self.digit, k], edges[k], low, high, value) if known else None
            slider.slider.backdrop = backdrop  # (repaints it)

    def _class_edges(self, stats) -> np.ndarray:
        """(D, bins + 1) the histograms' bin edges of the class shown, computed once per class and statistics."""
        cached = self._edges
        if cached is None or cached[0] is not stats or cached[1] != self.digit or len(cached[2]) != len(self.sliders):
            cached = self._edges = (stats, self.digit, np.stack([stats.edges(self.digit, k)
                                                                 for k in range(len(self.sliders))]))
        return cached[2]

    def z_score(self, k: int, value: float) -> float | None:
        stats = self.state.pose_stats
        if stats is None or self.digit >= len(stats.counts) or stats.std[self.digit, k] <= 0:
            return None
        return float((value - stats.mean[self.digit, k]) / stats.std[self.digit, k])

    def describe(self, k: int) -> str:
        """Slider k's tooltip: its value, as a z-score of the class's training poses where they are known."""
        value = self.sliders[k].value()
        z = self.z_score(k, value)
        text = f"Pose dimension {k + 1}: {value:+.3f}"
        if z is not None:
            stats = self.state.pose_stats
            text += (f"\nz = {z:+.1f} among the {self.state.class_name(self.digit)}s the model trained on\n"
                     f"(mean {stats.mean[self.digit, k]:+.3f}, σ {stats.std[self.digit, k]:.3f}; behind the "
                     f"slider, their histogram);\nthe input's own value {self.origin[k]:+.3f} "
                     f"(z = {self.z_score(k, self.origin[k]):+.1f}) is marked in orange")
        return text

    # --- intents ------------------------------------------------------------------------------
    def reset(self) -> None:
        self._recentre()
        self.state.bend_pose(self.digit, self.pose())

    def set_dimension(self, k: int, value: float) -> None:
        """Moves slider k to `value` (widening the range if it lies outside), as a drag would."""
        slider = self.sliders[k]
        if not slider.minimum() <= value <= slider.maximum():  # this slider alone widens: the range kept
            with signals_blocked(slider):
                slider.setRange(min(slider.minimum(), value), max(slider.maximum(), value))
            backdrop = slider.slider.backdrop
            if backdrop is not None:
                slider.slider.backdrop = backdrop[:2] + (slider.minimum(), slider.maximum(), backdrop[4])
        slider.setValue(float(value))

    def pose(self) -> np.ndarray:
        return np.array([s.value() for s in self.sliders], np.float32)

    def _moved(self, _value=None) -> None:
        self.state.bend_pose(self.digit, self.pose())

    def set_reconstruction(self, digit: int, image: np.ndarray) -> None:
        """The decoder's answer to a slider move, if it is still about the capsule shown."""
        if digit == self.digit and self.state.result is not None:
            self.reconstruction_tile.set_image(image)
            self.caption.setText(self._caption())  # the length the sliders make now

    def clear(self) -> None:
        self.setEnabled(False)
        size = self.state.geometry.size
        self.reconstruction_tile.set_image(np.zeros((size, size), np.float32))
        self.input_tile.set_image(np.zeros((size, size), np.float32))
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
        self.state.set_pose_digit(digit if -1 <= digit < self.state.geometry.classes else WINNER)
