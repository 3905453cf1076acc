"""Is the CapsNet more robust than the CNN here? Accuracy of both on the held-out digits under each
transform, measured in the worker (a few minutes on a laptop CPU, then cached per weights file)."""
from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QGridLayout, QGroupBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout

from capsexplorer.analysis import robustness
from capsexplorer.app.panels.training_panel import duration
from capsexplorer.app.widgets import theme
from capsexplorer.data import transforms

COLOURS = {"capsnet": "winner", "cnn": "accent"}


WAITING_FOR = {"predictions": "held-out predictions", "pose_stats": "pose statistics",
               "ablation": "routing ablation (accuracy by iteration count)"}

class RobustnessPanel(QGroupBox):
    measureRequested = Signal()

    def __init__(self, state, parent=None):
        super().__init__("CapsNet vs CNN, transformed", parent)
        self.result: dict | None = None
        self.missing_baseline = False
        self.button = QPushButton("Measure (minutes)")
        self.button.setToolTip("Both models on 1,000 of MNIST's test digits under every transform; kept for next time")
        self.button.clicked.connect(self._measure)
        self.status = QLabel("Not measured yet.")
        self.status.setWordWrap(True)
        self.plots, self.lines = {}, {}
        grid = QGridLayout()
        for k, transform in enumerate(robustness.VALUES):
            plot = theme.static_plot(minimum_height=90)
            plot.setMinimumWidth(90)
            item = plot.getPlotItem()
            item.setTitle(f"{transform} ({transforms.UNITS[transform]})", color=theme.foreground().name(), size="9pt")
            item.setYRange(0, 1.02, padding=0)
            item.getAxis("left").setTicks([[(0, "0"), (0.5, "0.5"), (1, "1")]])
            if k % 3 == 0:
                item.setLabel("left", "held-out accuracy", **theme.label_style())
            for name, role in COLOURS.items():
                colour = theme.winner_colour() if role == "winner" else theme.cnn_colour()
                self.lines[transform, name] = item.plot([], [], pen=pg.mkPen(colour, width=2), symbol="o",
                                                        symbolSize=4, symbolBrush=colour, symbolPen=None)
            self.plots[transform] = plot
            plot.scene().sigMouseMoved.connect(lambda pos, t=transform: self._hover(t, pos))
            plot.hide()  # no empty plots with placeholder axes: they appear with a result
            grid.addWidget(plot, k // 3, k % 3)
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        self.read_out = QLabel("")
        self.read_out.setWordWrap(True)
        top = QHBoxLayout()
        top.addWidget(self.button)
        self.key = QLabel("orange CapsNet, blue CNN")
        top.addWidget(self.key)
        top.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(grid, 1)
        layout.addWidget(self.read_out)
        layout.addWidget(self.summary)
        layout.addWidget(self.status)
        self._follow(state)

    def _measure(self) -> None:
        self.button.setEnabled(False)
        self.status.setText("Measuring… the explorer stays usable meanwhile.")
        self.measureRequested.emit()

    def value_text(self, transform: str, x: float) -> str:
        """Both models' accuracies at the measured value nearest `x` of one transform."""
        if self.result is None:
            return ""
        row = {name: self.result.get(name, {}).get(transform, {}) for name in COLOURS}
        values = [float(v) for v in row["capsnet"]]
        if not values:
            return ""
        nearest = min(values, key=lambda v: abs(v - x))
        key = f"{nearest:g}"
        parts = [f"{'CapsNet' if name == 'capsnet' else 'CNN'} {row[name][key]:.1%}" for name in COLOURS
                 if key in row[name]]
        return f"{transform} {nearest:+g}{transforms.UNITS[transform]}: " + ", ".join(parts)

    def _hover(self, transform: str, scene_pos) -> None:
        x = self.plots[transform].getPlotItem().vb.mapSceneToView(scene_pos).x()
        text = self.value_text(transform, x)
        if text:
            self.read_out.setText(text + " (held-out accuracy)")

    def _follow(self, state) -> None:
        """Draws the measurement the explorer state holds, and its progress while it runs."""
        state.modelChanged.connect(lambda: self.no_baseline(state.model is not None and state.model.cnn_path is None))
        state.robustnessChanged.connect(lambda: self.clear() if state.robustness is None else
                                        self.show_result(state.robustness))
        state.progressChanged.connect(lambda kind: kind == "robustness" and self.show_progress(state.progress.get(kind)))
        state.progressChanged.connect(lambda kind: kind != "robustness" and self.show_waiting(kind, state.progress))

    def show_waiting(self, kind: str, progress: dict) -> None:
        """Measure pressed while another long job runs (it finishes first): what it waits for, and how far."""
        if self.button.isEnabled() or progress.get("robustness") is not None:
            return  # not asked, or measuring already
        running = progress.get(kind)
        if running is None:
            self.status.setText("Measuring… starting. The explorer stays usable meanwhile.")
            return
        share = running.done / max(running.total, 1)
        self.status.setText(f"Waiting for the {WAITING_FOR.get(kind, kind)} to finish ({share:.0%} done), then "
                            "measuring. The explorer stays usable meanwhile.")

    def show_progress(self, progress) -> None:
        """A `jobs.Progress`, or None when the measurement ended or was cancelled (a model switch)."""
        if progress is None:
            self.button.setEnabled(True)
            if self.result is None:
                self.status.setText("Not measured yet.")
            return
        self.button.setEnabled(False)
        left = progress.seconds_left
        self.status.setText(f"Measuring… {progress.done} of {progress.total} batches"
                            + (f", about {duration(left)} left" if left is not None else "")
                            + ". The explorer stays usable meanwhile.")

    def no_baseline(self, missing: bool) -> None:
        """A model with no CNN baseline of its data: nothing to compare, said in place of the plots."""
        self.missing_baseline = missing
        self.button.setVisible(not missing)
        self.key.setVisible(not missing)  # no curves to tell apart
        if missing:
            self.status.setText("No CNN baseline of this model's data ships with capsexplorer: the comparison "
                                "is for the digits model (File ▸ Shipped models ▸ Digits).")

    def clear(self) -> None:
        """No result for the model in use (yet)."""
        self.result = None
        for plot in self.plots.values():
            plot.hide()
        self.read_out.setText("")
        self.button.setEnabled(True)
        self.button.setToolTip("Both models on 1,000 of MNIST's test digits under every transform; kept for next time")
        for line in self.lines.values():
            line.setData([], [])
        self.summary.setText("")
        self.status.setText(self.status.text() if self.missing_baseline else "Not measured yet.")

    def show_result(self, result: dict) -> None:
        self.result = result
        for plot in self.plots.values():
            plot.show()
        self.read_out.setText("Hover a plot: both models' accuracy at each measured value.")
        self.button.setEnabled(False)  # measured for these weights: the same numbers would come again
        self.button.setToolTip("Already measured for these weights")
        for (transform, name), line in self.lines.items():
            row = result.get(name, {}).get(transform, {})
            colour = theme.winner_colour() if COLOURS[name] == "winner" else theme.cnn_colour()  # this theme's
            line.setData([float(v) for v in row], list(row.values()), pen=pg.mkPen(colour, width=2),
                         symbolBrush=colour)
        mix = result["affine-mix"]
        model_name = {"capsnet": "CapsNet", "cnn": "CNN"}
        worst = {name: min((a, t, v) for t, row in result[name].items() for v, a in row.items()) for name in mix}
        self.summary.setText(
            "Affine mix (affNIST-style, within 28×28): "
            + ", ".join(f"{model_name.get(n, n)} {a:.1%}" for n, a in mix.items())
            + ". Worst single condition: "
            + ", ".join(f"{model_name.get(n, n)} {a:.1%} ({t} {float(v):+g}{transforms.UNITS.get(t, '')})"
                        for n, (a, t, v) in worst.items()) + ".")
        seconds = f"{result['seconds']:.0f} s"
        self.status.setText({
            "shipped": f"Shipped with capsexplorer for these weights (measured in {seconds} on its developers' "
                       "2-core CPU).",
            "kept": f"Measured earlier for these weights, here or by `capsexplorer robustness` ({seconds}).",
        }.get(result.get("source"), f"Measured in {seconds} on this machine; kept for these weights."))
