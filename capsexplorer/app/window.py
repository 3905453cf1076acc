"""The explorer window: composes the panels around one ExplorerState and its Controller (which turns
the state into typed jobs for the inference worker and writes the answers back), and owns the menus,
the status bar, dialogs, settings and exports. It computes nothing and reads no widget to learn the state."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QFileDialog, QLabel, QMainWindow, QMessageBox, QScrollArea, QSplitter,
                               QTabWidget, QVBoxLayout, QWidget)

from .. import __version__
from ..errors import CapsExplorerError
from . import theme
from .banner import ErrorBanner
from .browser import BrowserPanel
from .controller import Controller
from .draw_panel import DrawPanel
from .export import save_png, save_routing_gif
from .grid_panel import GridPanel
from .guide import SHORTCUTS, GuidePanel, about_text
from .inspector import PrimaryInspector
from .jobs import ModelInfo
from .lengths import LengthsPanel
from .parts import PartsPanel
from .player import IterationPlayer
from .pose_panel import PosePanel
from .probe import ProbePanel
from .robustness_panel import RobustnessPanel
from .routing_view import RoutingPanel
from .samples import IMAGE_FILTER, SamplesPanel
from .state import ExplorerState
from .summary_panel import RoutingSummaryPanel
from .sweep_panel import SweepPanel
from .training_panel import TrainingDialog
from .worker import InferenceWorker

log = logging.getLogger("capsexplorer")
TITLE = "capsexplorer — Dynamic Routing Between Capsules"
LAB_VIEWS = ("routing", "primary", "probe", "sweep", "figure4", "heldout", "robustness")  # the lab's tabs, in order


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
    """`traceShown`, `blankShown`, `modelReady`, … are the controller's signals, named here for callers."""

    errorShown = Signal(str)

    def __init__(self, weights: str | None = None, device: str | None = None, image: str | None = None,
                 persist: bool = True, sample_seed: int | None = None, model=None):
        """`model`: an already loaded CapsNet instead of `weights` (tests share one)."""
        super().__init__()
        self.setWindowTitle(TITLE)
        self.setAcceptDrops(True)
        self.settings = QSettings() if persist else None
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
        self.worker = InferenceWorker(weights, device, model=model)
        self.controller = Controller(self.state, self.worker, self)
        for name in ("traceShown", "blankShown", "reconstructionShown", "modelReady", "sweepShown", "gridShown",
                     "probeShown", "predictionsShown", "robustnessShown"):
            setattr(self, name, getattr(self.controller, name))
        self._build_menus()
        self._build_status_bar()
        self._wire()
        self._restore_settings()
        self.worker.start()

    @property
    def model_info(self) -> ModelInfo | None:
        return self.state.model

    def _wire(self) -> None:
        """Panels' intents to the controller; the state's lab results to the panels that draw them."""
        state, controller = self.state, self.controller
        self.draw.strokeMoved.connect(self._drawing_is_the_users)
        self.samples.sampleChosen.connect(self._show_sample)
        self.samples.openRequested.connect(self.open_image_dialog)
        self.samples.failed.connect(self.show_error)
        self.pose.poseChanged.connect(controller.request_reconstruction)
        self.lab.currentChanged.connect(lambda i: state.set_lab_view(LAB_VIEWS[i]))
        self.sweep.sweepRequested.connect(controller.request_sweep)
        self.sweep.exportRequested.connect(self._export_sweep)
        self.grid.gridRequested.connect(controller.set_grid_span)
        self.grid.tileClicked.connect(lambda k, offset: self.pose.set_dimension(k, self.pose.origin[k] + offset))
        self.grid.exportRequested.connect(self._export_grid)
        self.browser.sampleChosen.connect(self._open_from_browser)
        self.robustness.measureRequested.connect(controller.measure_robustness)
        state.probeResultChanged.connect(self._draw_probe)
        state.sweepChanged.connect(self._draw_sweep)
        state.gridChanged.connect(self._draw_grid)
        state.predictionsChanged.connect(self._draw_predictions)
        state.robustnessChanged.connect(self._draw_robustness)
        state.progressChanged.connect(self._draw_progress)
        state.modelChanged.connect(self._model_loaded)
        controller.traceShown.connect(self._trace_shown)
        controller.blankShown.connect(self._blank_shown)
        controller.reconstructionShown.connect(lambda r: self.pose.set_reconstruction(r.digit, r.image))
        controller.imageOpened.connect(self._image_opened)
        controller.failed.connect(self.show_error)
        self.controller.grid_span = self.grid.current_span()
        self.sweep.request()  # the sweep's settings, for when its tab is first shown

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
        self._action(shipped, "&Digits — MNIST (the default)", lambda: self.controller.load("mnist5k"), "Ctrl+1",
                     "The CapsNet trained on 4,000 MNIST digits")
        self._action(shipped, "&Clothing — Fashion-MNIST", lambda: self.controller.load("fashion-mnist"), "Ctrl+2",
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

    # --- what the state holds, drawn ----------------------------------------------------------
    def _draw_probe(self) -> None:
        if self.state.probe_result is not None:
            self.banner.hide()
            self.probe.show_result(self.state.probe_result)

    def _draw_sweep(self) -> None:
        result = self.state.sweep
        if result is None:
            self.sweep.clear()
        elif self.sweep.sweep is not result.value:
            self.banner.hide()
            self.sweep.show_result(result.value, result.seconds)
        if result is not None and self.state.sweep_cnn is not None:
            self.sweep.show_cnn(self.state.sweep_cnn)

    def _draw_grid(self) -> None:
        result = self.state.grid
        if result is None:
            self.grid.clear()
        else:
            self.banner.hide()
            self.grid.show_result(result.value, result.labels)

    def _draw_predictions(self) -> None:
        result = self.state.predictions
        if result is None:
            return
        if result.predictions is None:
            self.browser.status.setText(result.why)
        else:
            self.browser.set_data(result.split, result.predictions, result.seconds, result.final)

    def _draw_robustness(self) -> None:
        if self.state.robustness is not None:
            self.robustness.show_result(self.state.robustness)
        else:
            self.robustness.clear()

    def _draw_progress(self, kind: str) -> None:
        progress = self.state.progress.get(kind)
        if kind == "predictions" and progress is not None:
            self.browser.show_progress(progress)
        elif kind == "robustness":
            self.robustness.show_progress(progress)

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

    # --- results ------------------------------------------------------------------------------
    def _model_loaded(self) -> None:
        info = self.state.model
        self.banner.hide()
        self.device_label.setText(f"Device: {info.device}")
        accuracy = f"held-out accuracy {info.heldout_accuracy:.2%}" if info.heldout_accuracy is not None else \
            "held-out accuracy unknown"
        self.model_label.setText(f"Model: {Path(info.path).name} ({info.dataset}, {accuracy})")
        self.draw.classes = info.classes
        self.samples.set_model_data(info.dataset, info.classes)
        self.lengths.set_classes(info.classes)
        self.browser.set_classes(info.classes)
        other_data = self._dataset is not None and self._dataset != info.dataset
        self._dataset = info.dataset
        if self._initial_image:
            self.open_image(self._initial_image)
            self._initial_image = None
        elif self.draw.canvas.is_empty() or other_data:  # a sample of the new model's own data (undoable)
            self.samples.load_random(seed=self._sample_seed)
        else:
            self.controller.request_trace()

    _dataset: str | None = None

    def _trace_shown(self, result) -> None:
        self.banner.hide()
        self.time_label.setText(f"Last trace: {result.seconds * 1000:.1f} ms")

    def _blank_shown(self) -> None:
        if self.draw.canvas.is_empty():  # cleared: nothing loaded any more
            self.samples.note.setText("")
            self.setWindowTitle(TITLE)
        self.draw.refresh()  # "no ink", or nothing for an empty canvas
        self.time_label.setText("")

    def _drawing_is_the_users(self) -> None:
        if self.samples.note.text():
            self.samples.note.setText("")
            self.setWindowTitle("capsexplorer — your drawing")

    def show_error(self, message: str) -> None:
        if self.state.model is None:
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
        """Read in the worker (a huge image in a child process); a bad file leaves the drawing alone."""
        self.controller.open_image(path)

    def _image_opened(self, opened) -> None:
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
            self.controller.load(path)

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
        self.controller.load(path)
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
        """Closes within a batch of whatever the worker does: a long job is cancelled, not waited for.
        Whatever fails here is logged and the window still closes (an exception that leaves a Qt
        virtual crashes PySide6)."""
        try:
            if not self._confirm_close():
                event.ignore()
                return
            if self.training is not None:
                self.training.close()
            self.player.stop()
            self._save_settings()
        except Exception:  # noqa: BLE001
            log.exception("while closing the window")
        finally:
            if event.isAccepted():
                self.worker.stop()
        super().closeEvent(event)
