"""Train a model from the window and watch it learn: the settings, live plots of the two losses per
step and the held-out accuracy per epoch, a few held-out images with their reconstructions after
each epoch, and the time left. The run is `capsexplorer train` in its own process (TrainingProcess)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEventLoop, QPoint, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from capsexplorer.app.session.training_process import TrainingProcess, TrainingRequest
from capsexplorer.app.widgets import theme
from capsexplorer.data.datasets import augmentation_for
from capsexplorer.progress_events import image_rows

# label shown → (the command's --dataset, whether it needs a folder)
DATASETS = {
    "Bundled digits (4,000 of MNIST)": ("mnist5k", False),
    "MNIST, all 60,000 (installed by `capsexplorer data mnist`)": ("mnist", False),
    "Fashion-MNIST (IDX files)": ("fashion-mnist", True),
    "Folder of images (one subfolder or name prefix per class)": ("folder", True),
}
FASHION_DEFAULT = "/usr/share/datasets/fashion-mnist"
SHOWN = 8  # held-out images shown with their reconstructions


def models_folder() -> Path:
    """Where trained models go by default: the platform's data folder (~/.local/share/capsexplorer/models)."""
    import platformdirs

    return Path(platformdirs.user_data_dir("capsexplorer", appauthor=False)) / "models"


def default_out(dataset: str) -> Path:
    """A name of the user's own — never a shipped model's (capsnet-mnist5k.safetensors)."""
    return models_folder() / f"my-capsnet-{dataset}.safetensors"


def _full_mnist_installed() -> bool:
    from capsexplorer.data.mnist_files import PICKLE_NAME, data_home

    home = data_home()
    return (home / PICKLE_NAME).is_file() or any(home.glob("train-images*"))


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "estimating…"
    seconds = max(0, int(round(seconds)))
    if seconds < 90:
        return f"{seconds} s"
    if seconds < 5400:
        return f"{round(seconds / 60)} min"
    return f"{seconds // 3600} h {round(seconds % 3600 / 60)} min"


class TrainingPanel(QWidget):
    """Settings, controls and live plots for one training run at a time."""

    openRequested = Signal(str)  # the weights of a finished run, to open in the explorer

    def __init__(self, process: TrainingProcess | None = None, parent=None):
        super().__init__(parent)
        self.process = process or TrainingProcess(self)
        self.weights: str | None = None
        self.extra_arguments: list[str] = []  # more `capsexplorer train` options (tests: --limit, --device)
        self._build_form()
        self._build_plots()
        self._build_controls()
        layout = QHBoxLayout(self)
        left = QVBoxLayout()
        left.addLayout(self.form)
        left.addLayout(self.controls)
        left.addWidget(self.status)
        left.addStretch(1)
        layout.addLayout(left, 0)
        layout.addLayout(self.plots, 1)
        self.process.stateChanged.connect(self._state_changed)
        self.process.step.connect(self.show_step)
        self.process.epoch.connect(self.show_epoch)
        self.process.finished.connect(self._finished)
        self.process.paused.connect(self._paused)
        self.process.cancelled.connect(self._cancelled)
        self.process.failed.connect(lambda message: self._say(message, error=True))
        self._dataset_changed()
        self._state_changed("idle")

    # --- building -------------------------------------------------------------------------
    def _build_form(self) -> None:
        self.dataset = QComboBox()
        self.dataset.addItems(list(DATASETS))
        self.dataset.currentIndexChanged.connect(self._dataset_changed)
        self.folder = QLineEdit()
        self.folder.setPlaceholderText("folder with the data")
        browse = QToolButton()
        browse.setText("…")
        browse.setToolTip("Choose the folder")
        browse.clicked.connect(self._choose_folder)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder, 1)
        folder_row.addWidget(browse)
        self.epochs = self._spin(1, 10_000, 10)
        self.batch = self._spin(1, 4096, 64)
        self.lr = QDoubleSpinBox()
        self.lr.setDecimals(5)
        self.lr.setRange(0.00001, 1.0)
        self.lr.setSingleStep(0.0005)
        self.lr.setValue(0.001)
        self.iterations = self._spin(1, 10, 3)
        self.iterations.setToolTip("Routing iterations while training (the paper: 3)")
        self.amp = QCheckBox("bf16 mixed precision")
        self.amp.setToolTip("Faster on GPUs and on CPUs with AMX or AVX-512 BF16; same network")
        self.out = QLineEdit()
        self.out.textChanged.connect(lambda _t: self._state_changed(self.process.state))
        self.out.textChanged.connect(lambda text: self.out.setToolTip(f"Saved as {text}" if text else ""))  # whole
        save = QToolButton()
        save.setText("…")
        save.clicked.connect(self._choose_out)
        out_row = QHBoxLayout()
        out_row.addWidget(self.out, 1)
        out_row.addWidget(save)
        self.form = QFormLayout()
        self.form.addRow("Data", self.dataset)
        self.form.addRow("Folder", folder_row)
        self.form.addRow("Epochs", self.epochs)
        self.form.addRow("Batch size", self.batch)
        self.form.addRow("Learning rate", self.lr)
        self.form.addRow("Routing iterations", self.iterations)
        self.form.addRow("", self.amp)
        self.form.addRow("Save as", out_row)

    @staticmethod
    def _spin(low: int, high: int, value: int) -> QSpinBox:
        box = QSpinBox()
        box.setRange(low, high)
        box.setValue(value)
        return box

    def _build_controls(self) -> None:
        self.start_button = QPushButton("Start")
        self.pause_button = QPushButton("Pause")
        self.pause_button.setToolTip("Save a checkpoint and stop; Resume continues exactly from it")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop and delete the checkpoint")
        self.open_button = QPushButton("Open in explorer")
        self.open_button.setToolTip("Load the trained model into the window")
        self.start_button.clicked.connect(self.start)
        self.pause_button.clicked.connect(self.process.pause)
        self.cancel_button.clicked.connect(self.cancel)
        self.open_button.clicked.connect(lambda: self.weights and self.openRequested.emit(self.weights))
        self.controls = QGridLayout()
        for k, button in enumerate((self.start_button, self.pause_button, self.cancel_button, self.open_button)):
            self.controls.addWidget(button, k // 2, k % 2)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

    def _build_plots(self) -> None:
        self.progress_label = QLabel("Not started.")
        self.progress_label.setWordWrap(True)
        # The title is the legend: a legend box inside the plot would cover the curves' start.
        recon_colour = QColor(0, 158, 115)  # Okabe & Ito's bluish green: a colour with no other meaning here
        self.loss_plot = self._epoch_plot(
            f'Loss per step: <span style="color:{theme.winner_colour().name()}">━ margin</span>, '
            f'<span style="color:{recon_colour.name()}">━ reconstruction ×0.0005</span>',
            "loss", 140)
        item = self.loss_plot.getPlotItem()
        self.margin_line = item.plot([], [], pen=pg.mkPen(theme.winner_colour(), width=2))
        self.recon_line = item.plot([], [], pen=pg.mkPen(recon_colour, width=2))
        self.accuracy_plot = self._epoch_plot("Accuracy on images it never trains on (each epoch's end)",
                                              "accuracy", 120)
        item = self.accuracy_plot.getPlotItem()
        self.accuracy_line = item.plot([], [], pen=pg.mkPen(theme.winner_colour(), width=2), symbol="o",
                                       symbolSize=6, symbolBrush=theme.winner_colour(), symbolPen=None)
        self.pictures = theme.picture_plot(minimum_height=90)
        self.pictures.getPlotItem().setTitle("Images it never trains on, their reconstructions below<br>(each "
                                             "epoch's end)", color=theme.foreground().name(), size="10pt")
        self.mosaic = theme.image_item((56, 28 * SHOWN), "CET-L1")
        self.pictures.addItem(self.mosaic)
        self.plots = QVBoxLayout()
        self.plots.addWidget(self.progress_label)
        self.plots.addWidget(self.loss_plot, 3)
        self.plots.addWidget(self.accuracy_plot, 2)
        self.plots.addWidget(self.pictures, 2)
        self._clear_plots()

    @staticmethod
    def _epoch_plot(title: str, quantity: str, minimum_height: int) -> pg.PlotWidget:
        """A static plot of `quantity` against epochs, its numbers plain (no SI prefix such as ×0.001)."""
        plot = theme.static_plot(minimum_height=minimum_height)
        item = plot.getPlotItem()
        item.setTitle(title, color=theme.foreground().name(), size="10pt")
        item.setLabel("bottom", "epoch", **theme.label_style())
        item.setLabel("left", quantity, **theme.label_style())
        item.getAxis("left").enableAutoSIPrefix(False)
        item.getAxis("bottom").enableAutoSIPrefix(False)  # never "epoch (x0.001)"
        return plot

    # --- settings -------------------------------------------------------------------------
    def request(self) -> TrainingRequest:
        name, needs_folder = DATASETS[self.dataset.currentText()]
        augment = augmentation_for(name)
        folder = self.folder.text().strip() or None
        return TrainingRequest(out=self.out.text().strip(), dataset=name, data_dir=folder if needs_folder else None,
                               epochs=self.epochs.value(), batch_size=self.batch.value(), lr=self.lr.value(),
                               iterations=self.iterations.value(), augment=augment, amp=self.amp.isChecked(),
                               extra=list(self.extra_arguments))

    def _dataset_changed(self) -> None:
        name, needs_folder = DATASETS[self.dataset.currentText()]
        self.folder.setEnabled(needs_folder)
        if name == "fashion-mnist" and not self.folder.text().strip() and Path(FASHION_DEFAULT).is_dir():
            self.folder.setText(FASHION_DEFAULT)
        current = Path(self.out.text().strip()) if self.out.text().strip() else None
        defaults = {default_out(d) for d, _ in DATASETS.values()}
        if current is None or current in defaults:  # a name the user typed is kept
            self.out.setText(str(default_out(name)))


    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder with the training data", self.folder.text())
        if folder:
            self.folder.setText(folder)

    def _choose_out(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save the trained model as", self.out.text(),
                                              "Weights (*.safetensors)")
        if path:
            self.out.setText(path if path.endswith(".safetensors") else path + ".safetensors")

    def _problem(self, request: TrainingRequest) -> str | None:
        """What the dialog itself can tell before starting (the command checks the rest, in one line)."""
        if not request.out:
            return "Choose where to save the model."
        if not request.out.endswith(".safetensors"):
            return "The model is saved as *.safetensors."
        if request.dataset == "mnist" and not _full_mnist_installed():
            return "The full MNIST is not installed: run `capsexplorer data mnist` once, then start again."
        if DATASETS[self.dataset.currentText()][1] and not request.data_dir:
            return "Choose the folder with the data."
        if request.data_dir and not Path(request.data_dir).is_dir():
            return f"{request.data_dir}: no such folder."
        return None

    def save_settings(self, settings) -> None:
        """The last run's settings, so that after a restart the dialog offers Resume for its checkpoint."""
        for key, value in (("dataset", self.dataset.currentText()), ("folder", self.folder.text()),
                           ("out", self.out.text()), ("epochs", self.epochs.value()), ("batch", self.batch.value()),
                           ("lr", self.lr.value()), ("iterations", self.iterations.value()),
                           ("amp", self.amp.isChecked())):
            settings.setValue(f"training/{key}", value)

    def restore_settings(self, settings) -> None:
        if settings.value("training/out") is None:
            return
        try:
            dataset = str(settings.value("training/dataset", self.dataset.currentText()))
            if dataset in DATASETS:
                self.dataset.setCurrentText(dataset)
            self.folder.setText(str(settings.value("training/folder", "")))
            self.out.setText(str(settings.value("training/out", self.out.text())))
            self.epochs.setValue(int(settings.value("training/epochs", self.epochs.value())))
            self.batch.setValue(int(settings.value("training/batch", self.batch.value())))
            self.lr.setValue(float(settings.value("training/lr", self.lr.value())))
            self.iterations.setValue(int(settings.value("training/iterations", self.iterations.value())))
            self.amp.setChecked(settings.value("training/amp", False, type=bool))
        except (TypeError, ValueError):
            pass  # a hand-edited settings file: the defaults stay
        self._state_changed(self.process.state)
        if self.process.has_checkpoint(self.request()):
            self._say("A checkpoint of the last run is here: Resume continues it; Cancel deletes it.")

    # --- running --------------------------------------------------------------------------
    def start(self) -> None:
        request = self.request()
        problem = self._problem(request)
        if problem:
            self._say(problem, error=True)
            return
        try:
            Path(request.out).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            self._say(f"{Path(request.out).parent}: cannot create the folder ({exc.strerror or exc})", error=True)
            return
        resuming = self.process.has_checkpoint(request)
        if not resuming:
            self._clear_plots()
        self.weights = None
        self._say("Resuming from the checkpoint…" if resuming else "Starting… (loading the data)")
        self.progress_label.setText("Loading the data and the network…")
        self.process.start(request)

    def cancel(self) -> None:
        """Stops the run and deletes its checkpoint — asking first when that throws away finished steps."""
        running = self.process.running()
        if running and self._steps or not running and self.process.has_checkpoint(self.request()):
            question = ("Stop this run and delete its checkpoint? Its training so far is lost (Pause keeps it)."
                        if running else
                        "The paused run's checkpoint holds its training so far. Delete it? (Resume would continue it.)")
            answer = QMessageBox.question(
                self, "Delete the checkpoint?", question,
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No)
            if answer != QMessageBox.StandardButton.Yes:
                return
        if self.process.request is None:  # a checkpoint from an earlier session: this dialog's settings
            self.process.request = self.request()
        self.process.cancel()

    def _cancelled(self) -> None:
        self._clear_plots()
        self.progress_label.setText("Not started.")
        self._say("Stopped; nothing was kept (no checkpoint).")

    def _clear_plots(self) -> None:
        self._steps: list[float] = []
        self._margin: list[float] = []
        self._recon: list[float] = []
        self._epochs: list[int] = []
        self._accuracy: list[float] = []
        self.margin_line.setData([], [])
        self.recon_line.setData([], [])
        self.accuracy_line.setData([], [])
        self.accuracy_plot.getPlotItem().getAxis("left").setTicks(None)  # no tick of the last run's accuracy
        self.mosaic.setImage(np.zeros((56, 28 * SHOWN), np.float32), levels=(0, 1))

    def show_step(self, record: dict) -> None:
        epoch, step, steps = record.get("epoch", 1), record.get("step", 0), max(record.get("steps", 1), 1)
        x = epoch - 1 + step / steps
        if self._steps and x <= self._steps[-1]:  # a resumed run repeats no step; drop any overlap
            keep = int(np.searchsorted(self._steps, x))
            del self._steps[keep:], self._margin[keep:], self._recon[keep:]
        margin, recon = record.get("margin_loss"), record.get("reconstruction_loss")
        if margin is not None and recon is not None:
            self._steps.append(x)
            self._margin.append(margin)
            self._recon.append(recon)
            self.margin_line.setData(self._steps, self._margin)
            self.recon_line.setData(self._steps, self._recon)
        if self.status.text().startswith(("Starting", "Resuming")):  # the run is under way: say so
            self._say("Training… Pause keeps a checkpoint; Resume continues from it.")
        speed = record.get("images_per_second") or 0
        self.progress_label.setText(
            f"Epoch {epoch} of {record.get('epochs', '?')} · step {step} of {steps} · {speed:.0f} images/s · "
            f"time left: {duration(record.get('seconds_left'))}")

    def show_epoch(self, record: dict) -> None:
        epoch, accuracy = record.get("epoch"), record.get("heldout_accuracy")
        if epoch is not None and accuracy is not None:
            while self._epochs and self._epochs[-1] >= epoch:
                self._epochs.pop()
                self._accuracy.pop()
            self._epochs.append(epoch)
            self._accuracy.append(accuracy)
            self._show_accuracy()
        self._show_pictures(record)
        if accuracy is not None:
            self._say(f"After epoch {epoch}: {self._checked_on()} accuracy {accuracy:.2%}.")

    def _show_pictures(self, record: dict) -> None:
        """Images the run never trains on over their reconstructions (after an epoch, and at the end)."""
        samples, recon = record.get("samples"), record.get("reconstructions")
        if samples:
            top = image_rows(samples)[:SHOWN]  # (k, side, side)
            bottom = image_rows(recon)[:SHOWN] if recon else np.zeros_like(top)
            side = top.shape[1]
            mosaic = np.zeros((2 * side, side * SHOWN), np.float32)
            mosaic[:side, :side * len(top)] = np.concatenate(list(top), axis=1)
            mosaic[side:, :side * len(bottom)] = np.concatenate(list(bottom), axis=1)
            self.mosaic.setImage(mosaic, levels=(0, 1))

    def _checked_on(self) -> str:
        """What the accuracy is measured on: the bundled digits' own validation fifth (MNIST training digits,
        never trained on in this run), or images of the data set's test split."""
        return "validation" if DATASETS[self.dataset.currentText()][0] == "mnist5k" else "held-out"

    def _show_accuracy(self) -> None:
        self.accuracy_line.setData(self._epochs, self._accuracy)
        item = self.accuracy_plot.getPlotItem()
        theme.integer_ticks(self.accuracy_plot, max(self._epochs[-1], self.epochs.value()))
        low = min(self._accuracy)
        ticks = np.unique(np.round(np.linspace(low, max(self._accuracy), 4), 3))
        item.getAxis("left").setTicks([[(t, f"{t:.1%}") for t in ticks]])

    def _finished(self, record: dict) -> None:
        self.weights = record.get("weights")
        accuracy = record.get("heldout_accuracy")
        if accuracy is not None and self._epochs[-1:] != [self.epochs.value()]:
            self._epochs.append(self.epochs.value())
            self._accuracy.append(accuracy)
            self._show_accuracy()
        self._show_pictures(record)  # a 1-epoch run has no epoch report: its pictures come with the end
        self.progress_label.setText("Finished.")
        text = f"Finished: {self._checked_on()} accuracy {accuracy:.2%}." if accuracy is not None else "Finished."
        self._say(f"{text} Saved to {self.weights}.")
        self._state_changed(self.process.state)

    def _paused(self, record: dict) -> None:
        where = f" after step {record['step']} of epoch {record['epoch']}" if "step" in record else ""
        self.progress_label.setText(f"Paused{where}.")
        self._say(f"Paused{where}; the checkpoint is saved. Resume continues from it.")

    def show_error(self, message: str) -> None:
        """One line in this dialog's status (not on the explorer's window behind it)."""
        self._say(message, error=True)

    def _say(self, text: str, error: bool = False) -> None:
        self.status.setText(text)
        colour = "#d04040" if error else theme.foreground().name()
        self.status.setStyleSheet(f"color: {colour}")

    def _state_changed(self, state: str) -> None:
        running = state in ("running", "pausing", "cancelling")
        checkpoint = self.process.has_checkpoint(self.request()) if self.out.text().strip() else False
        self.start_button.setText("Resume" if checkpoint and not running else "Start")
        self.start_button.setEnabled(not running)
        self.pause_button.setEnabled(state == "running")
        self.cancel_button.setEnabled(running and state != "cancelling" or checkpoint)
        self.open_button.setEnabled(not running and bool(self.weights) and Path(self.weights).is_file())
        paused = state == "paused" and checkpoint  # its settings are the checkpoint's until Cancel
        for widget in (self.dataset, self.folder, self.epochs, self.batch, self.lr, self.iterations, self.amp):
            widget.setEnabled(not running and not paused and (widget is not self.folder
                                                              or DATASETS[self.dataset.currentText()][1]))
        self.out.setEnabled(not running)


class TrainingDialog(QDialog):
    """The panel in a window of its own, beside the explorer (not modal)."""

    def __init__(self, parent=None, process: TrainingProcess | None = None):
        super().__init__(parent)
        self.setWindowTitle("Train a model — capsexplorer")
        self.panel = TrainingPanel(process, self)
        layout = QVBoxLayout(self)
        layout.addWidget(self.panel)
        self.resize(980, 620)

    def place_beside(self, window) -> None:
        """Beside the explorer where the screen has room — narrowed to fit there, down to its minimum width —
        else at the screen's far side, never over its middle: both stay in view while a model trains."""
        screen, frame = window.screen().availableGeometry(), window.frameGeometry()
        room = max(screen.right() - frame.right(), frame.left() - screen.left()) - 8
        if self.minimumSizeHint().width() <= room < self.width():
            self.resize(room, self.height())
        self.move(beside(frame, self.width(), self.height(), screen))

    @property
    def process(self) -> TrainingProcess:
        return self.panel.process

    def stop_for_closing(self, explorer, ask: bool = True) -> bool:
        """The explorer is closing while a model may train: asks first (False: keep both open) unless not `ask` (a
        SIGTERM or Ctrl+C in the terminal: nobody there sees a dialog); stopping, the run ends its step and writes its
        checkpoint (a later Resume continues) while both windows go at once."""
        if not self.process.running():
            return True
        answer = QMessageBox.StandardButton.Yes if not ask else QMessageBox.question(
            explorer, "A model is training",
            "A model is still training. Stop it and close? Its checkpoint is kept: "
            "Train a model ▸ Resume continues where it stopped.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No)
        if answer != QMessageBox.StandardButton.Yes:
            return False
        self.process.pause()
        for window in (self, explorer):
            window.hide()
        QApplication.processEvents(QEventLoop.ProcessEventsFlag.ExcludeUserInputEvents)
        self.process.stop_and_wait()
        return True


def beside(frame, width: int, height: int, screen) -> QPoint:
    """Where a window of `width`×`height` goes beside the window `frame` on `screen` (QRects): right of it,
    else left of it, else at the screen's side away from the frame's centre."""
    if frame.right() + 8 + width <= screen.right():
        x = frame.right() + 8
    elif frame.left() - 8 - width >= screen.left():
        x = frame.left() - 8 - width
    elif frame.center().x() < screen.center().x():
        x = screen.right() - width
    else:
        x = screen.left()
    return QPoint(x, max(screen.top(), min(frame.top(), screen.bottom() - height)))
