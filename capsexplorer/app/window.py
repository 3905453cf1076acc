"""The explorer window: composes the panels around one ExplorerState, wires the state to the
inference worker, and owns the menus, the status bar, settings and exports. It computes nothing
and reads no widget to learn the state."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QFileDialog, QLabel, QMainWindow, QMessageBox, QScrollArea, QSplitter,
                               QTabWidget, QVBoxLayout, QWidget)

from .. import __version__
from ..errors import CapsExplorerError
from . import theme
from .banner import ErrorBanner
from .browser import BrowserPanel
from .robustness_panel import RobustnessPanel
from .draw_panel import DrawPanel
from .export import save_png, save_routing_gif
from .guide import SHORTCUTS, GuidePanel, about_text
from .grid_panel import GridPanel
from .inspector import PrimaryInspector
from .lengths import LengthsPanel
from .parts import PartsPanel
from .player import IterationPlayer
from .pose_panel import PosePanel
from .probe import ProbePanel
from .routing_view import RoutingPanel
from .samples import IMAGE_FILTER, SamplesPanel
from .state import ExplorerState
from .summary_panel import RoutingSummaryPanel
from .sweep_panel import SweepPanel
from .training_panel import TrainingDialog
from .worker import Blank, InferenceWorker, ModelInfo

log = logging.getLogger("capsexplorer")
THROTTLE_MS = 40  # while a stroke is being drawn, at most one trace request per this interval
TITLE = "capsexplorer — Dynamic Routing Between Capsules"


def scrolling(widget: QWidget) -> QScrollArea:
    """`widget` in a frameless scroll area: on a short screen the column scrolls instead of squashing."""
    area = QScrollArea()
    area.setWidget(widget)
    area.setWidgetResizable(True)
    area.setFrameShape(QScrollArea.Shape.NoFrame)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    area.setMinimumWidth(widget.minimumSizeHint().width() + area.verticalScrollBar().sizeHint().width())
    return area


class MainWindow(QMainWindow):
    traceShown = Signal(object)  # TraceResult, after every panel has drawn it
    reconstructionShown = Signal(object)  # ReconstructionResult
    modelReady = Signal(object)  # ModelInfo
    blankShown = Signal()  # nothing to show: the canvas is empty, or the image held no ink
    sweepShown = Signal(object)  # LabResult
    gridShown = Signal(object)  # LabResult
    predictionsShown = Signal(object)  # SetPredictions for the held-out browser
    robustnessShown = Signal(object)  # the robustness result dict
    errorShown = Signal(str)

    def __init__(self, weights: str | None = None, device: str | None = None, image: str | None = None,
                 persist: bool = True, sample_seed: int | None = None, model=None):
        """`model`: an already loaded CapsNet instead of `weights` (tests share one)."""
        super().__init__()
        self.setWindowTitle(TITLE)
        self.setAcceptDrops(True)
        self.settings = QSettings() if persist else None
        self.model_info: ModelInfo | None = None
        self.training: TrainingDialog | None = None
        self._initial_image = image
        self._sample_seed = sample_seed

        self.state = ExplorerState(self)
        self.draw = DrawPanel(self.state)
        self.samples = SamplesPanel()
        self.player = IterationPlayer(self.state)
        self.routing = RoutingPanel(self.state)
        self.lengths = LengthsPanel(self.state)
        self.summary = RoutingSummaryPanel(self.state)
        self.inspector = PrimaryInspector(self.state)
        self.parts = PartsPanel(self.state)
        self.probe = ProbePanel(self.state)
        self.sweep = SweepPanel()
        self.grid = GridPanel()
        self.browser = BrowserPanel()
        self.robustness = RobustnessPanel()
        self.pose = PosePanel(self.state)
        self.panels = (self.draw, self.routing, self.pose)  # those with settings of their own
        self._compose()
        self.banner = ErrorBanner(self.centralWidget())
        self._build_menus()
        self._build_status_bar()

        self._throttle = QTimer(self)
        self._throttle.setSingleShot(True)
        self._throttle.setInterval(THROTTLE_MS)
        self._throttle.timeout.connect(lambda: self.request_trace(live=True))
        self.draw.strokeMoved.connect(self._stroke_moved)
        self.draw.changed.connect(self.request_trace)
        self.samples.sampleChosen.connect(self._show_sample)
        self.samples.openRequested.connect(self.open_image_dialog)
        self.samples.failed.connect(self.show_error)
        self.state.iterationsChanged.connect(lambda _n: self.request_trace())
        self.state.partsChanged.connect(self.request_trace)
        self.pose.poseChanged.connect(self._pose_changed)
        self.state.resultChanged.connect(self._lab_inputs_changed)
        self.state.probeChanged.connect(self._request_probe)
        self.state.poseDigitChanged.connect(lambda _d: self._request_grid())
        self.lab.currentChanged.connect(lambda _i: self._lab_inputs_changed())
        self.sweep.sweepRequested.connect(self._request_sweep)
        self.sweep.exportRequested.connect(self._export_sweep)
        self.grid.gridRequested.connect(lambda _span: self._request_grid())
        self.grid.tileClicked.connect(lambda k, offset: self.pose.set_dimension(k, self.pose.origin[k] + offset))
        self.grid.exportRequested.connect(self._export_grid)
        self.browser.sampleChosen.connect(self._open_from_browser)
        self.robustness.measureRequested.connect(lambda: self.worker.request_robustness())

        self.worker = InferenceWorker(weights, device, model=model)
        self.worker.modelLoaded.connect(self._model_loaded)
        self.worker.traceReady.connect(self._take_trace)
        self.worker.reconstructionReady.connect(self._take_reconstruction)
        self.worker.imageOpened.connect(self._take_image)
        self.worker.probeReady.connect(self._take_probe)
        self.worker.cnnReady.connect(self._take_cnn)
        self.worker.sweepCnnReady.connect(self._take_sweep_cnn)
        self.worker.sweepReady.connect(self._take_sweep)
        self.worker.gridReady.connect(self._take_grid)
        self.worker.predictionsReady.connect(self._take_predictions)
        self.worker.predictionsProgress.connect(self.browser.show_progress)
        self.worker.robustnessReady.connect(self._take_robustness)
        self.worker.robustnessProgress.connect(self.robustness.show_progress)
        self.worker.failed.connect(self.show_error)
        self._restore_settings()
        self.worker.start()

    # --- layout -------------------------------------------------------------------------------
    def _compose(self) -> None:
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.draw)
        left_layout.addWidget(self.samples)
        left_layout.addWidget(GuidePanel())
        left_layout.addStretch(1)
        lengths_and_summary = QSplitter(Qt.Orientation.Horizontal)
        lengths_and_summary.addWidget(self.lengths)
        lengths_and_summary.addWidget(self.summary)
        lengths_and_summary.setChildrenCollapsible(False)
        routing_and_lengths = QSplitter(Qt.Orientation.Vertical)
        routing_and_lengths.addWidget(self.routing)
        routing_and_lengths.addWidget(lengths_and_summary)
        routing_and_lengths.setStretchFactor(0, 3)
        routing_and_lengths.setStretchFactor(1, 2)
        routing_and_lengths.setChildrenCollapsible(False)
        primary = QWidget()
        primary_layout = QVBoxLayout(primary)
        primary_layout.setContentsMargins(0, 0, 0, 0)
        primary_layout.addWidget(self.inspector, 1)
        primary_layout.addWidget(self.parts)
        # The lab: what routing did, one part's story, and equivariance — each a tab over the same state.
        self.lab = QTabWidget()
        self.lab.setDocumentMode(True)
        for widget, name, tip in ((routing_and_lengths, "Routing", "The coupling coefficients and the lengths"),
                                  (scrolling(primary), "Primary", "One primary capsule's story; parts switched off"),
                                  (self.probe, "Probe", "Transform the input; watch the pose and the length"),
                                  (self.sweep, "Sweep", "One transform over a range, in one batch"),
                                  (self.grid, "Figure 4", "Every pose dimension perturbed and named (the paper's "
                                                          "Figure 4)"),
                                  (self.browser, "Held-out", "All 1,000 held-out digits, a confusion matrix, "
                                                             "the CapsNet beside the CNN"),
                                  (self.robustness, "Robustness", "CapsNet against CNN under transforms")):
            self.lab.addTab(widget, name)
            self.lab.setTabToolTip(self.lab.count() - 1, tip)
        middle = QWidget()
        middle_layout = QVBoxLayout(middle)
        middle_layout.setContentsMargins(0, 0, 0, 0)
        middle_layout.addWidget(self.player)
        middle_layout.addWidget(self.lab, 1)
        self.columns = QSplitter(Qt.Orientation.Horizontal)
        for widget, stretch in ((scrolling(left), 1), (middle, 3), (scrolling(self.pose), 0)):
            self.columns.addWidget(widget)
            self.columns.setStretchFactor(self.columns.count() - 1, stretch)
        self.columns.setChildrenCollapsible(False)
        self.columns.setSizes([430, 770, 300])  # at the default 1500 px; resizing keeps the stretch 1 : 3 : 0
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.columns, 1)
        self.setCentralWidget(central)
        self.resize(1500, 920)

    def _action(self, menu, text: str, slot, shortcut=None, tip: str | None = None) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        if tip:
            action.setStatusTip(tip)
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file = bar.addMenu("&File")
        self._action(file, "&Open image…", self.open_image_dialog, QKeySequence.StandardKey.Open)
        self._action(file, "Held-out &sample", lambda: self.samples.load_random(), "Ctrl+R")
        self._action(file, "Open &weights…", self.open_weights_dialog)
        shipped = file.addMenu("Shipped &models")
        self._action(shipped, "&Digits — MNIST (the default)", lambda: self.worker.load("mnist5k"), "Ctrl+1",
                     "The CapsNet trained on 4,000 MNIST digits")
        self._action(shipped, "&Clothing — Fashion-MNIST", lambda: self.worker.load("fashion-mnist"), "Ctrl+2",
                     "The CapsNet trained on the 60,000 Fashion-MNIST training images")
        self._action(file, "&Train a model…", self.show_training, "Ctrl+T",
                     "Train a CapsNet in a separate process and watch it learn")
        file.addSeparator()
        self._action(file, "&Export window as PNG…", lambda: self.export_png(self), "Ctrl+E")
        panels = file.addMenu("Export &panel as PNG")
        for name, widget in (("Drawing", self.draw), ("Routing", self.routing), ("Lengths", self.lengths),
                             ("Pose", self.pose)):
            self._action(panels, name, lambda _=False, w=widget: self.export_png(w))
        self._action(file, "Export routing &animation (GIF)…", self.export_gif)
        file.addSeparator()
        self._action(file, "&Quit", self.close, QKeySequence.StandardKey.Quit)
        edit = bar.addMenu("&Edit")
        self._action(edit, "&Undo", self.draw.canvas.undo, QKeySequence.StandardKey.Undo)
        self._action(edit, "&Clear canvas", self.draw.canvas.clear, Qt.Key.Key_Escape)
        help_menu = bar.addMenu("&Help")
        self._action(help_menu, "&Keyboard shortcuts", self._show_shortcuts, QKeySequence.StandardKey.HelpContents)
        self._action(help_menu, "&About capsexplorer", self._show_about)

    def _build_status_bar(self) -> None:
        self.device_label = QLabel("loading model…")
        self.model_label = QLabel("")
        self.time_label = QLabel("")
        theme.fix_label_size(self.time_label, "Last trace: 999.9 ms")
        status = self.statusBar()
        for label in (self.device_label, self.model_label, self.time_label):
            status.addPermanentWidget(label)

    # --- requests -----------------------------------------------------------------------------
    def _stroke_moved(self) -> None:
        if self.samples.note.text():  # the drawing is the user's now
            self.samples.note.setText("")
            self.setWindowTitle("capsexplorer — your drawing")
        if not self._throttle.isActive():
            self._throttle.start()

    def request_trace(self, live: bool = False) -> None:
        """A new input (or iteration count): every answer to an older request is dropped from now on,
        a blank canvas's included. `live`: while a stroke is drawn."""
        self._throttle.stop()
        request = self.state.next_generation()
        if self.draw.canvas.is_empty():
            self._show_blank(request)
        elif self.model_info is not None:
            exact = self.draw.canvas.exact_input()  # a held-out digit as MNIST has it: no preprocessing
            image = exact if exact is not None else self.draw.canvas.image_array()
            self.worker.request_trace(image, self.state.iterations, request, self.state.enabled,
                                      preprocessed=exact is not None, live=live)

    # --- the lab: each view asks the worker only while it is shown -----------------------------
    def _lab_inputs_changed(self) -> None:
        if self.state.result is None:
            self.sweep.clear()
            self.grid.clear()
            return
        shown = self.lab.currentWidget()
        if shown is self.probe:
            self._request_probe()
        elif shown is self.sweep:
            self.sweep.request()
        elif shown is self.grid:
            self._request_grid()

    def _request_probe(self) -> None:
        result = self.state.result
        if result is not None and self.model_info is not None:
            self.worker.request_probe(result.image, self.state.probe, self.state.iterations, self.state.generation,
                                      self.state.enabled)

    def _request_sweep(self, transform: str, values) -> None:
        result = self.state.result
        if result is not None and self.model_info is not None:
            self.worker.request_sweep(result.image, transform, values, self.state.iterations, self.state.generation)

    def _request_grid(self) -> None:
        result = self.state.result
        if result is None or self.model_info is None or self.lab.currentWidget() is not self.grid:
            return
        digit = self.state.shown_pose_digit()
        self.worker.request_grid(result.trace.poses[0, digit], digit, self.grid.current_span(), 11,
                                 self.state.generation)

    def _take_probe(self) -> None:
        result = self.worker.take_probe()
        if result is not None and result.request == self.state.generation:
            self.banner.hide()
            self.probe.show_result(result)

    def _take_sweep(self) -> None:
        result = self.worker.take_sweep()
        if result is not None and result.request == self.state.generation:
            self.banner.hide()
            self.sweep.show_result(result.value, result.seconds)
            self.sweepShown.emit(result)

    def _take_grid(self) -> None:
        result = self.worker.take_grid()
        if result is not None and result.request == self.state.generation:
            self.banner.hide()
            self.grid.show_result(result.value, result.labels)
            self.gridShown.emit(result)

    def _take_predictions(self) -> None:
        result = self.worker.take_predictions()
        if result is not None and result[0] is None:
            self.browser.status.setText(result[1])
        elif result is not None:
            split, predictions, seconds, final = result
            self.browser.set_data(split, predictions, seconds, final)
            self.predictionsShown.emit(predictions)

    def _take_cnn(self) -> None:
        answer = self.worker.take_cnn()
        if answer is not None:
            self.state.set_cnn(*answer)

    def _take_sweep_cnn(self) -> None:
        answer = self.worker.take_sweep_cnn()
        if answer is not None and answer[0] == self.state.generation:
            self.sweep.show_cnn(answer[1])

    def _take_robustness(self) -> None:
        result = self.worker.take_robustness()
        if result is not None:
            self.robustness.show_result(result)
            self.robustnessShown.emit(result)

    def _open_from_browser(self, image, description: str) -> None:
        """Two clicks from a confusion-matrix cell to a digit's routing: the digit opens, routing shows."""
        self._show_sample(image, description)
        self.samples.note.setText(f"Loaded {description}.")
        self.lab.setCurrentIndex(0)

    def _export_sweep(self, kind: str) -> None:
        from .. import render

        sweep = self.sweep.sweep
        if sweep is None:
            return
        name = f"sweep-{sweep.transform}.{kind}"
        path = self._save_path("Export the sweep", name, "PNG image (*.png)" if kind == "png" else "GIF (*.gif)")
        if path:
            path = str(Path(path).with_suffix("." + kind))
            self._export(lambda: render.save_png(render.sweep_strip(sweep), path) if kind == "png"
                         else render.save_gif(render.sweep_frames(sweep), path))

    def _export_grid(self) -> None:
        from .. import render

        grid = self.grid.grid
        if grid is None:
            return
        path = self._save_path("Export Figure 4", f"figure4-digit{grid.digit}.png", "PNG image (*.png)")
        if path:
            self._export(lambda: render.save_png(render.grid_image(grid), str(Path(path).with_suffix(".png"))))

    def _pose_changed(self, digit: int, pose) -> None:
        if self.model_info is not None:
            self.worker.request_reconstruction(pose, digit, self.state.generation)

    # --- results ------------------------------------------------------------------------------
    def _model_loaded(self, info: ModelInfo) -> None:
        other_data = self.model_info is not None and self.model_info.dataset != info.dataset
        self.model_info = info
        self.banner.hide()
        self.device_label.setText(f"Device: {info.device}")
        accuracy = f"held-out accuracy {info.heldout_accuracy:.2%}" if info.heldout_accuracy is not None else \
            "held-out accuracy unknown"
        self.model_label.setText(f"Model: {Path(info.path).name} ({info.dataset}, {accuracy})")
        self.draw.classes = info.classes
        self.samples.set_model_data(info.dataset, info.classes)
        self.lengths.set_classes(info.classes)
        self.browser.set_classes(info.classes)
        self.worker.request_predictions()  # for the browser, in the background (cached per weights file)
        self.worker.request_robustness(cached_only=True)  # shown at once if measured before
        self.modelReady.emit(info)
        if self._initial_image:
            self.open_image(self._initial_image)
            self._initial_image = None
        elif self.draw.canvas.is_empty() or other_data:  # a sample of the new model's own data (undoable)
            self.samples.load_random(seed=self._sample_seed)
        else:
            self.request_trace()

    def _take_trace(self) -> None:
        result = self.worker.take_trace()
        if isinstance(result, Blank):
            self._show_blank(result.request)
        elif result is not None and self.state.accept(result):  # older generations are dropped
            self.banner.hide()
            self.time_label.setText(f"Last trace: {result.seconds * 1000:.1f} ms")
            self.traceShown.emit(result)

    def _show_blank(self, request: int) -> None:
        if not self.state.clear(request):
            return
        if self.draw.canvas.is_empty():  # cleared: nothing loaded any more
            self.samples.note.setText("")
            self.setWindowTitle(TITLE)
        self.draw.refresh()  # "no ink", or nothing for an empty canvas
        self.time_label.setText("")
        self.blankShown.emit()

    def _take_reconstruction(self) -> None:
        result = self.worker.take_reconstruction()
        if result is not None and result.request == self.state.generation:  # else it bent an older trace
            self.pose.set_reconstruction(result.digit, result.image)
            self.reconstructionShown.emit(result)

    def show_error(self, message: str) -> None:
        if self.model_info is None:
            self.device_label.setText("No model loaded — File ▸ Open weights…")
        self.banner.show_message(message)
        self.statusBar().showMessage(message, 8000)
        self.errorShown.emit(message)

    # --- files --------------------------------------------------------------------------------
    def _show_sample(self, image, description: str) -> None:
        """A dataset digit (uint8 28×28, light on dark): routed exactly as MNIST has it, as `evaluate` does."""
        self.draw.canvas.set_image(image, exact=np.asarray(image, np.float32) / 255.0)
        self.setWindowTitle(f"capsexplorer — {description}")

    def open_image(self, path: str) -> None:
        """Reads the file in the worker (a huge image is decoded at reduced size there, off the GUI
        thread); the canvas changes only when it was read — a bad file leaves the drawing alone."""
        self.worker.request_open(str(path))

    def _take_image(self) -> None:
        opened = self.worker.take_image()
        if opened is None:
            return
        self.draw.canvas.set_image(opened.image)
        self.samples.show_file(opened.path)
        self.setWindowTitle(f"capsexplorer — {Path(opened.path).name}")

    def _last_dir(self) -> str:
        return str(self.settings.value("last_dir", "")) if self.settings else ""

    def _remember_dir(self, path: str) -> None:
        if self.settings:
            self.settings.setValue("last_dir", str(Path(path).parent))

    def open_image_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open an image", self._last_dir(), IMAGE_FILTER)
        if path:
            self._remember_dir(path)
            self.open_image(path)

    def open_weights_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open CapsNet weights", self._last_dir(),
                                              "Weights (*.safetensors *.pt *.pth);;All files (*)")
        if path:
            self._remember_dir(path)
            self.worker.load(path)

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        urls = [u for u in event.mimeData().urls() if u.isLocalFile()]
        if urls:
            self.open_image(urls[0].toLocalFile())
            event.acceptProposedAction()

    def _save_path(self, title: str, name: str, filter_: str) -> str:
        start = str(Path(self._last_dir()) / name) if self._last_dir() else name
        path, _ = QFileDialog.getSaveFileName(self, title, start, filter_)
        if path:
            self._remember_dir(path)
        return path

    def export_png(self, widget: QWidget) -> None:
        path = self._save_path("Export PNG", "capsexplorer.png", "PNG image (*.png)")
        if path:
            self._export(lambda: save_png(widget, path))

    def export_gif(self) -> None:
        path = self._save_path("Export routing animation", "routing.gif", "GIF (*.gif)")
        if path:
            self._export(lambda: save_routing_gif(self, path))

    def _export(self, save) -> None:
        try:
            saved = save()
        except CapsExplorerError as exc:
            self.show_error(str(exc))
            return
        self.banner.hide()
        self.statusBar().showMessage(f"Saved {saved}", 5000)

    # --- help ---------------------------------------------------------------------------------
    def _show_shortcuts(self) -> None:
        QMessageBox.information(self, "Keyboard shortcuts", SHORTCUTS)

    def _show_about(self) -> None:
        QMessageBox.about(self, "About capsexplorer", about_text(__version__))

    # --- settings and closing -----------------------------------------------------------------
    def _restore_settings(self) -> None:
        s = self.settings
        if not s:
            return
        if s.value("geometry") is not None:
            self.restoreGeometry(s.value("geometry"))
        if s.value("columns") is not None:
            self.columns.restoreState(s.value("columns"))
        self.state.restore_settings(s)
        for panel in self.panels:
            panel.restore_settings(s)

    def _save_settings(self) -> None:
        s = self.settings
        if not s:
            return
        s.setValue("geometry", self.saveGeometry())
        s.setValue("columns", self.columns.saveState())
        self.state.save_settings(s)
        for panel in self.panels:
            panel.save_settings(s)
        s.sync()

    def show_training(self) -> TrainingDialog:
        if self.training is None:
            self.training = TrainingDialog(self)
            self.training.panel.openRequested.connect(self._open_trained)
        self.training.show()
        self.training.raise_()
        return self.training

    def _open_trained(self, path: str) -> None:
        self.worker.load(path)
        self.statusBar().showMessage(f"Opening {path}…", 5000)

    def _confirm_close(self) -> bool:
        """While a model trains, closing asks first; stopping keeps its checkpoint for a later Resume."""
        if self.training is None or not self.training.process.running():
            return True
        answer = QMessageBox.question(
            self, "A model is training",
            "A model is still training. Stop it and close? Its checkpoint is kept: "
            "Train a model ▸ Resume continues where it stopped.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No)
        if answer != QMessageBox.StandardButton.Yes:
            return False
        self.training.process.stop_and_wait()
        return True

    def closeEvent(self, event) -> None:
        if not self._confirm_close():
            event.ignore()
            return
        if self.training is not None:
            self.training.close()
        self._throttle.stop()
        self.player.stop()
        self._save_settings()
        self.worker.stop()
        super().closeEvent(event)
