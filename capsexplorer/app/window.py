"""The explorer window: composes the panels, wires them to the inference worker, and owns the
menus, the status bar, settings and exports. It computes nothing itself."""
from __future__ import annotations

import gc
from pathlib import Path

import numpy as np
from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QFileDialog, QFrame, QHBoxLayout, QLabel, QMainWindow, QMessageBox,
                               QSplitter, QToolButton, QVBoxLayout, QWidget)

from ..errors import CapsExplorerError
from ..preprocess import load_image, to_grayscale
from . import theme
from .draw_panel import DrawPanel
from .export import save_png, save_routing_gif
from .guide import GuidePanel
from .lengths import LengthsPanel
from .pose_panel import PosePanel
from .routing_view import RoutingPanel
from .samples import IMAGE_FILTER, SamplesPanel
from .worker import InferenceWorker, ModelInfo, ReconstructionResult, TraceResult

THROTTLE_MS = 40  # while a stroke is being drawn, at most one trace request per this interval


class ErrorBanner(QFrame):
    """A dismissable one-line message at the top of the window; never blocks the user."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setStyleSheet("ErrorBanner { background: #fbe3e1; border: 1px solid #d9534f; border-radius: 4px; }"
                           "QLabel { color: #7a1d19; }")
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QToolButton()
        close.setText("✕")
        close.setAutoRaise(True)
        close.setToolTip("Dismiss")
        close.clicked.connect(self.hide)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 4, 4)
        layout.addWidget(self.text, 1)
        layout.addWidget(close)
        self.hide()

    def show_message(self, message: str) -> None:
        self.text.setText(message)
        self.show()


class MainWindow(QMainWindow):
    traceShown = Signal(object)  # TraceResult, after every panel has drawn it
    reconstructionShown = Signal(object)  # ReconstructionResult
    modelReady = Signal(object)  # ModelInfo
    errorShown = Signal(str)

    def __init__(self, weights: str | None = None, device: str | None = None, image: str | None = None,
                 persist: bool = True, sample_seed: int | None = None):
        super().__init__()
        self.setWindowTitle("capsexplorer — Dynamic Routing Between Capsules")
        self.setAcceptDrops(True)
        self.persist = persist
        self.settings = QSettings() if persist else None
        self.model_info: ModelInfo | None = None
        self.last_result: TraceResult | None = None
        self._initial_image = image
        self._sample_seed = sample_seed
        self._latest_request = 0
        self._shown_request = 0
        self._frame = 0  # counts what was shown, so a deferred pose update can tell it is stale

        self.draw = DrawPanel()
        self.samples = SamplesPanel()
        self.routing = RoutingPanel()
        self.lengths = LengthsPanel()
        self.pose = PosePanel()
        self.banner = ErrorBanner()
        self._compose()
        self._build_menus()
        self._build_status_bar()

        self._throttle = QTimer(self)
        self._throttle.setSingleShot(True)
        self._throttle.setInterval(THROTTLE_MS)
        self._throttle.timeout.connect(self.request_trace)
        self.draw.strokeMoved.connect(self._stroke_moved)
        self.draw.changed.connect(self.request_trace)
        self.samples.sampleChosen.connect(self._show_sample)
        self.samples.openRequested.connect(self.open_image_dialog)
        self.samples.failed.connect(self.show_error)
        self.routing.iterationChanged.connect(self._iteration_changed)
        self.routing.iterationsRequested.connect(lambda _n: self.request_trace())
        self.routing.digitChosen.connect(self._spatial_digit_chosen)
        self.pose.digitChosen.connect(lambda _d: self.request_trace())
        self.pose.poseChanged.connect(self._pose_changed)

        self.worker = InferenceWorker(weights, device)
        self.worker.modelLoaded.connect(self._model_loaded)
        self.worker.traceReady.connect(self._show_trace)
        self.worker.reconstructionReady.connect(self._show_reconstruction)
        self.worker.blank.connect(self._show_blank)
        self.worker.failed.connect(self.show_error)
        self.worker.start()
        self._restore_settings()

    # --- layout -------------------------------------------------------------------------------
    def _compose(self) -> None:
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.draw)
        left_layout.addWidget(self.samples)
        left_layout.addWidget(GuidePanel())
        left_layout.addStretch(1)
        middle = QSplitter(Qt.Orientation.Vertical)
        middle.addWidget(self.routing)
        middle.addWidget(self.lengths)
        middle.setStretchFactor(0, 3)
        middle.setStretchFactor(1, 2)
        self.columns = QSplitter(Qt.Orientation.Horizontal)
        for widget, stretch in ((left, 0), (middle, 1), (self.pose, 0)):
            self.columns.addWidget(widget)
            self.columns.setStretchFactor(self.columns.count() - 1, stretch)
        self.columns.setChildrenCollapsible(False)
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.banner)
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
        self._action(edit, "&Undo stroke", self.draw.canvas.undo, QKeySequence.StandardKey.Undo)
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
    @property
    def iterations(self) -> int:
        return self.routing.iterations.value()

    def _stroke_moved(self) -> None:
        if self.samples.note.text():  # the drawing is the user's now
            self.samples.note.setText("")
            self.setWindowTitle("capsexplorer — your drawing")
        if not self._throttle.isActive():
            self._throttle.start()

    def request_trace(self) -> None:
        self._throttle.stop()
        if self.model_info is None:
            return
        if self.draw.canvas.is_empty():
            self._show_blank(self._latest_request)
            return
        image = self.draw.canvas.image_array()
        self._latest_request = self.worker.request_trace(image, self.iterations, self.pose.chosen)

    def _pose_changed(self, digit: int, pose: np.ndarray) -> None:
        if self.model_info is not None:
            self.worker.request_reconstruction(pose, digit)

    # --- results ------------------------------------------------------------------------------
    def _model_loaded(self, info: ModelInfo) -> None:
        self.model_info = info
        # torch, Qt and pyqtgraph leave ~250,000 long-lived objects: a full collection of them takes
        # ~95 ms here, a visible hitch mid-stroke. Freezing them keeps later collections small.
        gc.collect()
        gc.freeze()
        self.device_label.setText(f"Device: {info.device}")
        accuracy = f"held-out accuracy {info.heldout_accuracy:.2%}" if info.heldout_accuracy is not None else \
            "held-out accuracy unknown"
        self.model_label.setText(f"Model: {Path(info.path).name} ({info.dataset}, {accuracy})")
        self.modelReady.emit(info)
        if self._initial_image:
            self.open_image(self._initial_image)
            self._initial_image = None
        elif self.draw.canvas.is_empty():
            self.samples.load_random(seed=self._sample_seed)
        else:
            self.request_trace()

    def _show_trace(self, result: TraceResult) -> None:
        if result.request < self._shown_request:
            return  # an older answer overtaken by a newer one
        self._shown_request = result.request
        self._frame += 1
        tr = result.trace
        winner = int(tr.prediction[0])
        lengths = tr.final_lengths[0]
        classes = self.model_info.classes if self.model_info else None
        label = classes[winner] if classes and len(classes) == 10 and not classes[winner].isdigit() else None
        self.draw.show_input(result.image, winner, float(lengths[winner]), label)
        follow_last = self.routing.trace is None or self.routing.iteration == self.routing.trace.iterations - 1
        self.routing.set_trace(tr, None if follow_last else self.routing.iteration)
        self.routing.set_digit(result.digit)
        self.time_label.setText(f"Last trace: {result.seconds * 1000:.1f} ms")
        # The pose panel follows in the next turn of the event loop: two short paints instead of
        # one long one keep the GUI thread's stalls under a frame while drawing.
        frame = self._frame
        QTimer.singleShot(0, lambda: self._show_pose(result, frame))

    def _show_pose(self, result: TraceResult, frame: int) -> None:
        if frame != self._frame:
            return  # a newer trace, or a blank canvas, came first
        tr = result.trace
        self.pose.set_pose(result.digit, tr.poses[0, result.digit], result.image, result.reconstruction,
                           float(tr.final_lengths[0, result.digit]))
        self.last_result = result
        self.traceShown.emit(result)

    def _iteration_changed(self, iteration: int) -> None:
        tr = self.routing.trace
        if tr is not None:
            self.lengths.set_lengths(tr.lengths[iteration, 0], iteration + 1, tr.iterations)

    def _spatial_digit_chosen(self, digit: int) -> None:
        chosen = self.pose.chosen
        winner = int(self.routing.trace.prediction[0]) if self.routing.trace is not None else None
        if chosen != digit and not (chosen is None and digit == winner):
            index = self.pose.capsule.findData(digit)
            self.pose.capsule.setCurrentIndex(index)  # → a new trace for that capsule

    def _show_reconstruction(self, result: ReconstructionResult) -> None:
        if result.digit == self.pose.digit:
            self.pose.set_reconstruction(result.image)
            self.reconstructionShown.emit(result)

    def _show_blank(self, _request: int) -> None:
        self._frame += 1
        self.last_result = None
        if self.draw.canvas.is_empty():  # cleared: nothing loaded any more
            self.samples.note.setText("")
            self.setWindowTitle("capsexplorer — Dynamic Routing Between Capsules")
        self.draw.show_blank()
        self.routing.clear()
        self.lengths.clear()
        self.pose.clear()
        self.time_label.setText("")

    def show_error(self, message: str) -> None:
        if self.model_info is None:
            self.device_label.setText("No model loaded — File ▸ Open weights…")
        self.banner.show_message(message)
        self.statusBar().showMessage(message, 8000)
        self.errorShown.emit(message)

    # --- files --------------------------------------------------------------------------------
    def _show_sample(self, image: np.ndarray, description: str) -> None:
        self.draw.canvas.set_image(image)
        self.setWindowTitle(f"capsexplorer — {description}")

    def open_image(self, path: str) -> bool:
        try:
            image = load_image(path)
            gray = (to_grayscale(image) * 255).round().astype(np.uint8)
        except CapsExplorerError as exc:
            self.show_error(str(exc))
            return False
        self.draw.canvas.set_image(gray)
        self.samples.show_file(str(path))
        self.setWindowTitle(f"capsexplorer — {Path(path).name}")
        return True

    def open_image_dialog(self) -> None:
        start = self.settings.value("last_dir", "") if self.settings else ""
        path, _ = QFileDialog.getOpenFileName(self, "Open an image", start, IMAGE_FILTER)
        if path:
            if self.settings:
                self.settings.setValue("last_dir", str(Path(path).parent))
            self.open_image(path)

    def open_weights_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open CapsNet weights", "",
                                              "safetensors (*.safetensors);;All files (*)")
        if path:
            self.worker.load(path)

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        urls = [u for u in event.mimeData().urls() if u.isLocalFile()]
        if urls:
            self.open_image(urls[0].toLocalFile())
            event.acceptProposedAction()

    def export_png(self, widget: QWidget) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export PNG", "capsexplorer.png", "PNG image (*.png)")
        if path:
            try:
                saved = save_png(widget, path)
                self.statusBar().showMessage(f"Saved {saved}", 5000)
            except CapsExplorerError as exc:
                self.show_error(str(exc))

    def export_gif(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export routing animation", "routing.gif", "GIF (*.gif)")
        if path:
            try:
                saved = save_routing_gif(self.routing, path)
                self.statusBar().showMessage(f"Saved {saved}", 5000)
            except CapsExplorerError as exc:
                self.show_error(str(exc))

    # --- help ---------------------------------------------------------------------------------
    def _show_shortcuts(self) -> None:
        QMessageBox.information(self, "Keyboard shortcuts", (
            "Ctrl+Z  undo the last stroke\nEsc  clear the canvas\nCtrl+O  open an image\n"
            "Ctrl+R  load a held-out sample\nCtrl+E  export the window as PNG\n\n"
            "[ or Alt+Left  previous routing iteration\n] or Alt+Right  next iteration\n"
            "Alt+Home / Alt+End  first / last iteration\nP  play / pause the iterations"))

    def _show_about(self) -> None:
        QMessageBox.about(self, "About capsexplorer", (
            "capsexplorer shows a trained Capsule Network (Sabour, Frosst & Hinton 2017, "
            "“Dynamic Routing Between Capsules”) at work: draw a digit, step through routing, "
            "and bend a digit capsule's pose."))

    # --- settings and closing -----------------------------------------------------------------
    def _restore_settings(self) -> None:
        if not self.settings:
            return
        s = self.settings
        if s.value("geometry") is not None:
            self.restoreGeometry(s.value("geometry"))
        if s.value("columns") is not None:
            self.columns.restoreState(s.value("columns"))
        self.draw.pen.setValue(int(s.value("pen_width", self.draw.pen.value())))
        self.routing.iterations.blockSignals(True)
        self.routing.iterations.setValue(int(s.value("iterations", 3)))
        self.routing.iterations.blockSignals(False)
        self.routing.weighted.setChecked(s.value("weighted", False, type=bool))
        self.routing.change.setChecked(s.value("change", False, type=bool))
        self.pose.span.setCurrentIndex(int(s.value("pose_span", 0)))

    def _save_settings(self) -> None:
        if not self.settings:
            return
        s = self.settings
        s.setValue("geometry", self.saveGeometry())
        s.setValue("columns", self.columns.saveState())
        s.setValue("pen_width", self.draw.pen.value())
        s.setValue("iterations", self.iterations)
        s.setValue("weighted", self.routing.weighted.isChecked())
        s.setValue("change", self.routing.change.isChecked())
        s.setValue("pose_span", self.pose.span.currentIndex())
        s.sync()

    def closeEvent(self, event) -> None:
        self._throttle.stop()
        self.routing.stop()
        self._save_settings()
        self.worker.stop()
        super().closeEvent(event)
