"""The sweep: one transform of the input over a range, every step routed in one batch — the lengths
and the 16 pose dimensions against the transform's parameter, a filmstrip, and the summary that
equivariance is about: how far the pose turns against how much the length changes."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
)

from capsexplorer.analysis import captions, views
from capsexplorer.analysis.sweep import Sweep
from capsexplorer.app.widgets import theme
from capsexplorer.app.widgets.guard import qt_safe
from capsexplorer.data import transforms

RANGES = {"rotate": (-180.0, 180.0), "shift-x": (-6.0, 6.0), "shift-y": (-6.0, 6.0), "scale": (0.6, 1.4),
          "shear": (-30.0, 30.0), "thickness": (-1.0, 2.0)}
STRIP_GAP = 2


MAX_FRAMES = 21  # the filmstrip shows at most this many steps, evenly chosen: each frame stays readable


def strip_steps(count: int, frames: int = MAX_FRAMES) -> np.ndarray:
    """The steps the filmstrip shows: all of them, or `frames` evenly spaced ones with both ends."""
    return np.arange(count) if count <= frames else np.unique(np.round(np.linspace(0, count - 1, frames)).astype(int))


def cell(size: int = 28) -> tuple[int, int]:
    """(width, height) of one step of the filmstrip for size×size images: its input above its reconstruction."""
    return size + STRIP_GAP, 2 * size + 2 * STRIP_GAP


CELL_W, CELL_H = cell(28)


def filmstrip(sweep: Sweep, frames: int = MAX_FRAMES, columns: int | None = None) -> np.ndarray:
    """At most `frames` of the steps, each its input above the followed capsule's reconstruction, laid
    out left to right in rows of `columns` (default: one row): (rows·(2·H + 2·gap), columns·(H + gap))."""
    shown = strip_steps(len(sweep.values), frames)
    columns = max(1, min(columns or len(shown), len(shown)))
    rows = -(-len(shown) // columns)
    size = sweep.images.shape[-1]
    width, height = cell(size)
    strip = np.full((rows * height, columns * width), 0.25, np.float32)
    for k, s in enumerate(shown):
        y, x = (k // columns) * height, (k % columns) * width
        strip[y:y + size, x:x + size] = sweep.images[s]
        strip[y + size + STRIP_GAP:y + 2 * size + STRIP_GAP, x:x + size] = sweep.reconstruction[s]
    return strip


def best_columns(count: int, width: float, height: float, size: int = 28) -> int:
    """The number of columns that shows `count` frames of size×size images largest in a width × height panel."""
    cell_w, cell_h = cell(size)

    def scale(columns: int) -> float:
        rows = -(-count // columns)
        return min(width / (columns * cell_w), height / (rows * cell_h))
    return max(range(1, max(count, 1) + 1), key=scale)


def runs_text(sweep: Sweep, name, unit: str, answers: list[str] | None = None) -> str:
    """"8 (−180 to −36°) → 4 (−32 to +42°) → 2 (+46 to +180°)": what the input is read as, where (`answers`: a
    two-digit model's answer at each step, "7 + 1", instead of its longest class)."""
    runs = [(name(d), first, last) for d, first, last in sweep.prediction_runs()] if answers is None else []
    for value, said in zip(sweep.values, answers or []):
        if runs and runs[-1][0] == said:
            runs[-1] = (said, runs[-1][1], float(value))
        else:
            runs.append((said, float(value), float(value)))
    return " → ".join(f"{said} ({first:+g}{unit})" if first == last else f"{said} ({first:+g} to {last:+g}{unit})"
                      for said, first, last in runs)


class SweepPanel(QGroupBox):
    """The sweep the explorer state holds; its settings are written to the state (the controller sweeps)."""

    exportRequested = Signal(str)  # "png" or "gif"

    def __init__(self, state, parent=None):
        super().__init__("One transform over a range", parent)
        self.state = state
        self.sweep: Sweep | None = None
        self._cnn: np.ndarray | None = None  # (S, 10) the CNN's probabilities along the sweep, once they came
        self.transform = QComboBox()
        for name in transforms.TRANSFORMS:
            self.transform.addItem(name, name)
        self.start, self.stop = QDoubleSpinBox(), QDoubleSpinBox()
        for box in (self.start, self.stop):
            box.setDecimals(2)
            box.setKeyboardTracking(False)
        self.steps = QSpinBox()
        self.steps.setRange(2, 1000)  # as the command line allows
        self.steps.setValue(21)
        self.steps.setToolTip("Values from the first to the last, evenly spaced: 2 to 1000 (the filmstrip shows "
                              f"at most {MAX_FRAMES} of them)")
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

        self.lengths_plot = self._plot("‖v<sub>j</sub>‖ (hover)")
        lengths = self.lengths_plot.getPlotItem()
        self.legend_entries: list[tuple[str, str]] = []  # (colour, words): the title is the legend
        self.length_lines = [lengths.plot([], [], pen=pg.mkPen(theme.bar_colour())) for _ in range(10)]
        self.line_names: list[pg.TextItem] = []  # the other classes that rise, named at their peaks
        self.lengths_item = lengths
        self.cnn_line = lengths.plot([], [], pen=pg.mkPen(theme.cnn_colour(), width=2, style=Qt.PenStyle.DashLine))
        self.read_out_label = QLabel("")
        self.read_out_label.setWordWrap(True)
        self.lengths_plot.scene().sigMouseMoved.connect(self._hover)
        self.pose_plot = self._plot("Δ pose direction")
        self.pose_plot.setToolTip("The change of the followed capsule's unit pose v/‖v‖ in each of its pose "
                                  "dimensions (rows) at each value (columns): its direction apart from its length. "
                                  "Red: the dimension grew, blue: it shrank")
        pose = self.pose_plot.getPlotItem()
        pose.setLabel("left", "dimension")
        self.pose_image = theme.image_item((16, 2), theme.CHANGE_MAP)
        pose.addItem(self.pose_image)
        self.pose_bar = pg.ColorBarItem(values=(-0.1, 0.1), colorMap=pg.colormap.get(theme.CHANGE_MAP),
                                        interactive=False, width=10)
        self.pose_bar.setImageItem(self.pose_image, insert_in=pose)
        self.pose_bar.axis.enableAutoSIPrefix(False)
        self.pose_bar.axis.setWidth(40)
        self.pose_bar.axis.setLabel("Δ v/‖v‖", **theme.label_style())
        self.summary_plot = self._plot("length vs turn")
        summary = self.summary_plot.getPlotItem()
        self.summary_points = pg.ScatterPlotItem(size=7, pen=None)
        summary.addItem(self.summary_points)
        # With the read-outs measured for these weights the plot says what the pose "sees" of the transform:
        # the value read from the pose against the true value, y = x where the pose carries all of it.
        self.truth_line = pg.PlotDataItem([], [], pen=pg.mkPen(theme.muted(), style=Qt.PenStyle.DashLine))
        summary.addItem(self.truth_line)
        self.summary_plot.scene().sigMouseMoved.connect(self._summary_hover)
        self.strip_plot = theme.picture_plot(minimum_height=90)
        strip = self.strip_plot.getPlotItem()
        self.strip_plot.scene().sigMouseMoved.connect(self._strip_hover)
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
        layout.addWidget(self.read_out_label)
        layout.addWidget(self.caption)
        self._transform_changed()
        self._follow(state)
        self.request()  # the settings shown, for when the tab is first shown

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
            plot.getPlotItem().setLabel("bottom", f"{name} ({transforms.UNITS[name]}, {transforms.DIRECTIONS[name]})")

    def values(self) -> np.ndarray:
        return np.linspace(self.start.value(), self.stop.value(), self.steps.value())

    def _name(self, d: int) -> str:
        return self.state.class_name(d)

    def _hover(self, scene_pos) -> None:
        text = self.read_out(self.lengths_plot.getPlotItem().vb.mapSceneToView(scene_pos).x())
        if text:
            self.read_out_label.setText(text)

    def read_out(self, x: float) -> str:
        """Every class's length at the step nearest `x`, longest first: what the input is read as there."""
        if self.sweep is None:
            return ""
        values = self.sweep.values
        s = int(np.argmin(np.abs(values - x)))
        unit = transforms.UNITS[self.sweep.transform]
        order = np.argsort(self.sweep.lengths[s])[::-1]
        text = (f"At {self.sweep.transform} {values[s]:+g}{unit}: " +
                ", ".join(f"{self._name(int(d))} {self.sweep.lengths[s, d]:.3f}" for d in order[:4]) +
                f" (‖v‖, longest first; the network says {self._name(int(self.sweep.prediction[s]))})")
        cnn = self._cnn
        if cnn is not None and len(cnn) == len(values):
            guess = int(np.argmax(cnn[s]))
            text += f"; the CNN says {self._name(guess)} ({cnn[s, guess]:.0%})"
        return text + "."

    def _follow(self, state) -> None:
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
        state.labDataChanged.connect(self._draw_summary)

    def request(self) -> None:
        """The settings shown become the state's: the controller sweeps the input with them."""
        self.state.set_sweep_settings(str(self.transform.currentData()), self.values())

    def show_cnn(self, probabilities: np.ndarray) -> None:
        """(S, 10) the CNN's probabilities for the sweep's inputs: its line follows the same digit."""
        if self.sweep is not None and len(probabilities) == len(self.sweep.values):
            self._cnn = np.asarray(probabilities)
            self.cnn_line.setData(self.sweep.values, probabilities[:, self.sweep.digit])
            self.cnn_line.setPen(pg.mkPen(theme.cnn_colour(), width=2, style=Qt.PenStyle.DashLine))
            self._legend()

    def show_result(self, sweep: Sweep, seconds: float) -> None:
        self.sweep, self._cnn = sweep, None
        values, digit = sweep.values, sweep.digit
        self.cnn_line.setData([], [])  # the CNN's view follows (show_cnn)
        self.read_out_label.setText("Hover the ‖v‖ plot: every class's length at that value.")
        self._lines_for(sweep.lengths.shape[1])
        for d, line in enumerate(self.length_lines):
            line.setData(values, sweep.lengths[:, d])
            line.setPen(pg.mkPen(theme.winner_colour() if d == digit else theme.bar_colour(),
                                 width=3 if d == digit else 1))
        self._name_lines(sweep)
        change = np.nan_to_num(sweep.unit_pose_change())  # (S, D); an undefined direction drawn as 0
        dims = change.shape[1]
        top = views.scale_ceiling(float(np.abs(change).max()) or 0.01)
        self.pose_image.setImage(np.ascontiguousarray(change.T, np.float32), levels=(-top, top), autoLevels=False)
        self.pose_bar.setLevels((-top, top))
        self.pose_bar.axis.setTicks([[(v, f"{v:+.2g}".replace("+0", "0")) for v in (-top, 0.0, top)]])
        width = float(values[-1] - values[0]) / (len(values) - 1) if len(values) > 1 else 1.0
        left = float(values[0]) - width / 2
        self.pose_image.setRect(QRectF(left, 0.5, width * len(values), dims))
        self.pose_plot.getPlotItem().getAxis("left").setTicks(
            [[(k, str(k)) for k in sorted({1, *range(4, dims, 4), dims})]])
        self.pose_plot.getPlotItem().vb.setRange(QRectF(left, 0.5, width * len(values), dims), padding=0)
        self.lengths_plot.getPlotItem().setYRange(0, 1.0, padding=0.02)
        self._draw_summary()
        self._draw_strip()
        for button in (self.png_button, self.gif_button):
            button.setEnabled(True)
        summary = sweep.summary()
        name, unit = self._name(digit), transforms.UNITS[sweep.transform]
        self._legend()
        length = captions.length_range(summary["lowest_relative_length_change"],
                                       summary["highest_relative_length_change"])
        state = self.state
        answers = None
        kept = f"still read as {name} at {summary['kept_prediction']:.0%} of the steps"
        if state is not None and state.two_digits:  # its answer is a pair: the digit followed is in it or not
            from capsexplorer.analysis.seeing import answer

            answers = [answer(row, state.classes, two=True) for row in sweep.lengths]
            share = float(np.mean([name in a.split(" + ") for a in answers]))
            kept = f"{name} still in the answer (the two longest capsules) at {share:.0%} of the steps"
        self.caption.setText(
            f"Read as: {runs_text(sweep, self._name, unit, answers)}. "
            f"Capsule {name}, {sweep.transform} from {values[0]:g} to {values[-1]:g} in {len(values)} steps "
            f"({seconds * 1000:.0f} ms): {kept}; "
            f"while still active (‖v‖ ≥ m⁻, {summary['active_steps']} steps) its pose turned up to "
            f"{summary['max_pose_angle_deg_active']:.1f}° (its direction in pose space); over all the steps its "
            f"length {length} "
            f"(mean size of the change {summary['mean_relative_length_change']:.0%}). "
            f"{self.readout_caption()}Grey points: the capsule under m⁻, its direction meaningless. Filmstrip: "
            "inputs above, "
            f"reconstructions below{'' if len(values) <= MAX_FRAMES else f' ({MAX_FRAMES} of the steps)'}.")

    def readout_caption(self) -> str:
        state, sweep = self.state, self.sweep
        measured = state.equivariance if state is not None else None
        if measured is None or sweep.transform not in measured["transforms"]:
            return ("How much of the transform the pose carries is not measured for these weights (capsexplorer "
                    "equivariance). ")
        row = measured["transforms"][sweep.transform]
        per_class = row["capsnet"].get("readout_r2_per_class")
        fitted = [float(v) for v in row["values"]]
        unit = transforms.UNITS[sweep.transform]
        return (f"Read from the pose: the transform's value recovered from the capsule's pose change by a linear "
                f"read-out (R² {per_class if per_class is not None else row['capsnet']['readout_r2']:.2f} over "
                f"{measured['n'] // 2} held-out digits, fitted on {min(fitted):g} … {max(fitted):g}{unit}); on the "
                "dashed line the pose carries all of it. ")

    def readouts(self) -> np.ndarray | None:
        """(S,) the transform's value read from the followed capsule's pose change at each step, with the
        read-out measured for these weights — or None where none was (or not for this transform)."""
        from capsexplorer.analysis.equivariance import read_out

        state, sweep = self.state, self.sweep
        measured = state.equivariance if state is not None else None
        if sweep is None or measured is None or sweep.transform not in measured["transforms"] \
                or state.result is None or state.sweep is None or state.sweep.request != state.generation:
            return None  # nothing measured, or a sweep of an earlier input
        delta = sweep.poses[:, sweep.digit] - state.result.trace.poses[0, sweep.digit]  # (S, 16)
        return np.atleast_1d(read_out(measured, sweep.transform, delta, sweep.digit))

    def _draw_summary(self) -> None:
        """What the pose reads of the transform against its true value (when measured), else how far the
        pose turned against how much the length changed."""
        sweep = self.sweep
        if sweep is None:
            return
        item = self.summary_plot.getPlotItem()
        active = sweep.active()
        brushes = [pg.mkBrush(theme.winner_colour() if on else theme.muted()) for on in active]
        seen = self.readouts()
        unit = transforms.UNITS[sweep.transform]
        if seen is None:
            item.setTitle("length vs turn", color=theme.foreground().name(), size="10pt")
            item.setLabel("bottom", "pose turns (°)")
            item.setLabel("left", "length change (%)")
            self.summary_points.setData(sweep.pose_angle(), 100 * sweep.relative_length_change(), brush=brushes)
            self.truth_line.setData([], [])
            return
        item.setTitle("read from the pose (hover)", color=theme.foreground().name(), size="10pt")
        item.setLabel("bottom", f"{sweep.transform} applied ({unit})")
        item.setLabel("left", f"read from the pose ({unit})")
        self.summary_points.setData(sweep.values, seen, brush=brushes)
        ends = [float(sweep.values[0]), float(sweep.values[-1])]
        self.truth_line.setData(ends, ends)
        self.truth_line.setPen(pg.mkPen(theme.foreground(), width=1.5, style=Qt.PenStyle.DashLine))

    def _summary_hover(self, scene_pos) -> None:
        seen, sweep = self.readouts(), self.sweep
        if seen is None or sweep is None:
            return
        x = self.summary_plot.getPlotItem().vb.mapSceneToView(scene_pos).x()
        k = int(np.argmin(np.abs(sweep.values - x)))
        unit = transforms.UNITS[sweep.transform]
        self.read_out_label.setText(f"{sweep.transform} {sweep.values[k]:+g}{unit} applied: read from capsule "
                                    f"{self._name(sweep.digit)}'s pose as {seen[k]:+.3g}{unit}"
                                    f"{'' if sweep.active()[k] else ' (the capsule is inactive here)'}.")

    def _draw_strip(self) -> None:
        """The filmstrip in as many rows as make its frames largest in the panel's shape."""
        if self.sweep is None:
            return
        shown = strip_steps(len(self.sweep.values))
        view = self.strip_plot.getPlotItem().vb.size()
        self.strip_columns = best_columns(len(shown), max(view.width(), 1.0), max(view.height(), 1.0),
                                          self.sweep.images.shape[-1])
        strip = filmstrip(self.sweep, columns=self.strip_columns)
        self.strip.setImage(strip, levels=(0, 1), autoLevels=False)  # the picture plot draws row 0 at the top
        self.strip_plot.getPlotItem().setRange(xRange=(0, strip.shape[1]), yRange=(0, strip.shape[0]), padding=0.01)
        unit = transforms.UNITS[self.sweep.transform]
        self.strip_plot.getPlotItem().setTitle("Filmstrip (hover)", color=theme.foreground().name(), size="9pt")
        self.strip_plot.setToolTip(f"{len(shown)} of the steps, {self.sweep.values[shown[0]]:+g}{unit} to "
                                   f"{self.sweep.values[shown[-1]]:+g}{unit}, left to right and row by row: each "
                                   "input above the followed capsule's reconstruction")

    def _strip_hover(self, scene_pos) -> None:
        if self.sweep is None:
            return
        point = self.strip_plot.getPlotItem().vb.mapSceneToView(scene_pos)
        cell_w, cell_h = cell(self.sweep.images.shape[-1])
        column, row = int(point.x() // cell_w), int(point.y() // cell_h)
        shown = strip_steps(len(self.sweep.values))
        k = row * getattr(self, "strip_columns", len(shown)) + column
        if 0 <= column < getattr(self, "strip_columns", len(shown)) and 0 <= k < len(shown):
            self.read_out_label.setText("Frame: " + self.read_out(float(self.sweep.values[shown[k]])))

    @qt_safe()
    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        super().resizeEvent(event)
        self._draw_strip()

    def _legend(self) -> None:
        """Names what each curve is — the followed capsule, the other classes, the CNN (once it came) — in
        the plot's title, in the curves' colours: a legend box inside would cover the curves."""
        entries = []
        if self.sweep is not None:
            name = self._name(self.sweep.digit)
            entries = [(theme.winner_colour().name(), f"━ capsule {name}"), (theme.muted().name(), "─ others")]
            if self._cnn is not None:
                entries.append((theme.cnn_colour().name(), f"┅ CNN p({name})"))
        self.legend_entries = entries
        title = "‖v<sub>j</sub>‖ (hover)" + ("" if not entries else ": " + " ".join(
            f'<span style="color:{colour}">{words}</span>' for colour, words in entries))
        self.lengths_plot.getPlotItem().setTitle(title, color=theme.foreground().name(), size="9pt")

    RISES = 0.5  # a grey line that reaches this length somewhere is named at its peak

    def _name_lines(self, sweep: Sweep | None) -> None:
        """Each other class whose line rises (‖v‖ ≥ RISES somewhere) named at its peak: what the transformed input
        becomes is read off the plot, not only on hover."""
        classes = 0 if sweep is None else sweep.lengths.shape[1]
        while len(self.line_names) < classes:
            text = pg.TextItem("", anchor=(0.5, 1.0))
            self.lengths_item.addItem(text, ignoreBounds=True)
            self.line_names.append(text)
        for d, text in enumerate(self.line_names):
            peak = int(np.argmax(sweep.lengths[:, d])) if d < classes else 0
            top = float(sweep.lengths[peak, d]) if d < classes else 0.0
            rises = d < classes and d != sweep.digit and top >= self.RISES
            text.setVisible(rises)
            if rises:
                text.setText(self._name(d))
                text.setColor(theme.foreground())
                across = 0.0 if peak == 0 else 1.0 if peak == len(sweep.values) - 1 else 0.5  # inside at either end
                text.setAnchor((across, 1.0) if top < 0.85 else (across, -0.1))  # above its peak, or under it at the top
                text.setPos(float(sweep.values[peak]), top)

    def _lines_for(self, classes: int) -> None:
        """One ‖v_j‖ curve per class of the model shown (made when the count changes, then only updated)."""
        while len(self.length_lines) > classes:
            self.lengths_item.removeItem(self.length_lines.pop())
        while len(self.length_lines) < classes:
            self.length_lines.append(self.lengths_item.plot([], [], pen=pg.mkPen(theme.bar_colour())))

    def clear(self) -> None:
        self.sweep = None
        self._cnn = None
        for line in self.length_lines + [self.cnn_line]:
            line.setData([], [])
        self._name_lines(None)
        self.pose_image.setImage(np.zeros((16, 2), np.float32), levels=(-0.1, 0.1), autoLevels=False)
        self.sweep = None
        self._legend()
        self.read_out_label.setText("")
        self.summary_points.setData([], [])
        for button in (self.png_button, self.gif_button):
            button.setEnabled(False)
        self.caption.setText("Draw or load a digit, then press Sweep.")
