"""The explorer window: composes the panels around one ExplorerState and its Controller (which turns
the state into typed jobs for the inference worker and writes the answers back), and owns the menus,
the status bar, dialogs, settings and closing. It computes nothing and reads no widget to learn the state."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from PySide6.QtCore import QEventLoop, QSettings, Qt, Signal
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QApplication, QLabel, QMainWindow, QMessageBox

from capsexplorer import __version__
from capsexplorer.app import layout
from capsexplorer.app.file_actions import FileActions
from capsexplorer.app.guide import SHORTCUTS, about_text
from capsexplorer.app.panels.browser import BrowserPanel
from capsexplorer.app.panels.draw_panel import DrawPanel
from capsexplorer.app.panels.grid_panel import GridPanel
from capsexplorer.app.panels.inspector import PrimaryInspector
from capsexplorer.app.panels.lengths import LengthsPanel
from capsexplorer.app.panels.pair_panel import PairPanel
from capsexplorer.app.panels.parts import PartsPanel
from capsexplorer.app.panels.player import IterationPlayer
from capsexplorer.app.panels.pose_panel import PosePanel
from capsexplorer.app.panels.probe import ProbePanel
from capsexplorer.app.panels.robustness_panel import RobustnessPanel
from capsexplorer.app.panels.routing_view import RoutingPanel
from capsexplorer.app.panels.samples import SamplesPanel
from capsexplorer.app.panels.summary_panel import RoutingSummaryPanel
from capsexplorer.app.panels.sweep_panel import SweepPanel
from capsexplorer.app.panels.training_panel import TrainingDialog
from capsexplorer.app.panels.votes_panel import VotesPanel
from capsexplorer.app.session.controller import Controller
from capsexplorer.app.session.jobs import ModelInfo
from capsexplorer.app.session.state import ExplorerState
from capsexplorer.app.session.worker import InferenceWorker
from capsexplorer.app.widgets import theme
from capsexplorer.app.widgets.banner import ErrorBanner
from capsexplorer.app.widgets.guard import qt_safe

log = logging.getLogger("capsexplorer")
TITLE = "capsexplorer — Dynamic Routing Between Capsules"


DEFAULT_SIZE = (1500, 920)  # px: every column at ease


def first_size(available) -> tuple[int, int]:
    """The first window's size: the roomy default, or the screen's free area less a margin on a smaller screen
    (at 1280×800 the Pose column and the status bar were off-screen)."""
    if available is None or available.width() <= 0 or available.height() <= 0:
        return DEFAULT_SIZE
    return (min(DEFAULT_SIZE[0], int(available.width() * 0.96)), min(DEFAULT_SIZE[1], int(available.height() * 0.94)))


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
        self.theme = theme.apply_theme(str(self.settings.value("theme", "system"))) if persist else "system"
        self.training: TrainingDialog | None = None
        self._initial_image = image
        self._sample_seed = sample_seed
        self._dataset: str | None = None

        self.state = state = ExplorerState(self)
        self.draw, self.samples, self.player = DrawPanel(state), SamplesPanel(), IterationPlayer(state)
        self.routing, self.lengths, self.summary = RoutingPanel(state), LengthsPanel(state), RoutingSummaryPanel(state)
        self.inspector, self.parts, self.probe = PrimaryInspector(state), PartsPanel(state), ProbePanel(state)
        self.sweep, self.grid, self.browser, self.robustness = SweepPanel(), GridPanel(), BrowserPanel(), RobustnessPanel()
        self.pose, self.votes, self.pair = PosePanel(state), VotesPanel(state), PairPanel(state)
        for panel in (self.sweep, self.grid, self.browser, self.robustness):
            panel.follow(state)
        self.panels = (self.draw, self.routing, self.pose)  # those with settings of their own
        central, self.columns, self.lab = layout.compose(self)
        self.setCentralWidget(central)
        self.resize(*first_size(self.screen().availableGeometry().size() if self.screen() else None))
        self.banner = ErrorBanner(central)
        self.files = FileActions(self)
        self.worker = InferenceWorker(weights, device, model=model)
        self.controller = Controller(state, self.worker, self)
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
        """Panels' intents to the controller; what only the window shows (title, status, banner)."""
        state, controller = self.state, self.controller
        self.draw.strokeMoved.connect(self._drawing_is_the_users)
        self.samples.sampleChosen.connect(self._show_sample)
        self.pair.pairChosen.connect(self._show_sample)
        self.pair.pairChosen.connect(lambda _image, description: self.samples.note.setText(f"Loaded {description}."))
        self.samples.pairWanted.connect(self.pair.another_pair)
        self.pair.modelWanted.connect(self.controller.load)
        self.samples.openRequested.connect(self.files.open_image_dialog)
        self.samples.failed.connect(self.show_error)
        self.pose.poseChanged.connect(controller.request_reconstruction)
        self.lab.currentChanged.connect(lambda i: state.set_lab_view(layout.lab_view_at(i)))
        state.labViewChanged.connect(lambda: self.lab.setCurrentIndex(layout.lab_index_of(state.lab_view)))
        self.sweep.sweepRequested.connect(controller.request_sweep)
        self.sweep.exportRequested.connect(self.files.export_sweep)
        self.grid.gridRequested.connect(controller.set_grid_span)
        self.grid.tileClicked.connect(self._grid_tile_clicked)
        self.grid.exportRequested.connect(self.files.export_grid)
        self.browser.sampleChosen.connect(self._open_from_browser)
        self.robustness.measureRequested.connect(controller.measure_robustness)
        state.modelChanged.connect(self._model_loaded)
        for shown in (controller.traceShown, controller.probeShown, controller.sweepShown, controller.gridShown):
            shown.connect(self.banner.hide)
        controller.traceShown.connect(lambda r: self.time_label.setText(f"Last trace: {r.seconds * 1000:.1f} ms"))
        controller.blankShown.connect(self._blank_shown)
        controller.reconstructionShown.connect(lambda r: self.pose.set_reconstruction(r.digit, r.image))
        controller.imageOpened.connect(self._image_opened)
        controller.failed.connect(self.show_error)
        controller.grid_span = self.grid.current_span()
        self.sweep.request()  # the sweep's settings, for when its tab is first shown

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
        self._action(file, "&Open image…", self.files.open_image_dialog, QKeySequence.StandardKey.Open)
        self._action(file, "Held-out &sample", lambda: self.samples.load_random(), "Ctrl+R")
        self._action(file, "Open &weights…", self.files.open_weights_dialog)
        shipped = file.addMenu("Shipped &models")
        self.shipped_actions = {
            "mnist": self._action(shipped, "&Digits — MNIST (the default)", lambda: self.controller.load("mnist"),
                                  "Ctrl+1", "The CapsNet trained on MNIST's 60,000 training digits"),
            "mnist5k": self._action(shipped, "Digits — 4,000 of MNIST (&small)", lambda: self.controller.load("mnist5k"),
                                    "Ctrl+4", "The earlier CapsNet, trained on 4,000 MNIST digits: how much data matters"),
            "fashion-mnist": self._action(shipped, "&Clothing — Fashion-MNIST",
                                          lambda: self.controller.load("fashion-mnist"), "Ctrl+2",
                                          "The CapsNet trained on the 60,000 Fashion-MNIST training images"),
            "multimnist": self._action(shipped, "&Two digits — MultiMNIST",
                                       lambda: self.controller.load("multimnist"), "Ctrl+3",
                                       "The CapsNet trained on 80,000 pairs of overlapping digits (36×36): the Pairs "
                                       "tab")}
        for action in self.shipped_actions.values():
            action.setCheckable(True)
        self._action(file, "&Train a model…", self.show_training, "Ctrl+T",
                     "Train a CapsNet in a separate process and watch it learn")
        file.addSeparator()
        self._action(file, "&Export window as PNG…", lambda: self.files.export_png(self), "Ctrl+E")
        panels = file.addMenu("Export &panel as PNG")
        for name, widget in (("Drawing", self.draw), ("Routing", self.routing), ("Lengths", self.lengths),
                             ("Pose", self.pose)):
            self._action(panels, name, lambda _=False, w=widget: self.files.export_png(w))
        self._action(file, "Export routing &animation (GIF)…", self.files.export_gif)
        file.addSeparator()
        self._action(file, "&Quit", self.close, QKeySequence.StandardKey.Quit)
        edit = bar.addMenu("&Edit")
        self._action(edit, "&Undo", self.draw.canvas.undo, QKeySequence.StandardKey.Undo)
        self._action(edit, "&Clear canvas", self.draw.canvas.clear, Qt.Key.Key_Escape)
        view = bar.addMenu("&View")
        themes = view.addMenu("&Theme")
        group = QActionGroup(self)
        self.theme_actions = {}
        for name, text in theme.THEMES.items():
            action = self._action(themes, text, lambda _=False, n=name: self.set_theme(n),
                                  tip="Light, dark, or the look the system gives programs; the plots follow")
            action.setCheckable(True)
            group.addAction(action)
            self.theme_actions[name] = action
        self.theme_actions["system"].setChecked(True)
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

    def _grid_tile_clicked(self, k: int, offset: float) -> None:
        """A Figure 4 tile sets its slider — if the grid is of the capsule the sliders hold (not a stale one)."""
        grid = self.grid.grid
        if grid is not None and grid.digit == self.pose.digit:
            self.pose.set_dimension(k, float(grid.pose[k]) + offset)

    def _open_from_browser(self, image, description: str) -> None:
        """Two clicks from a confusion-matrix cell to a digit's routing: the digit opens, routing shows."""
        self._show_sample(image, description)
        self.samples.note.setText(f"Loaded {description}.")
        self.lab.setCurrentIndex(0)

    # --- results ------------------------------------------------------------------------------
    def _model_loaded(self) -> None:
        from capsexplorer.net.weights import SHIPPED_MODELS, shipped_weights_path

        info = self.state.model
        self.banner.hide()
        for name, action in self.shipped_actions.items():  # the model in use is checked; other weights: none
            try:
                action.setChecked(Path(info.path).resolve() == shipped_weights_path(SHIPPED_MODELS[name]).resolve())
            except (OSError, ValueError):
                action.setChecked(False)
        self.device_label.setText(f"Device: {info.device}")
        accuracy = info.accuracy_text or "held-out accuracy unknown"
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
        elif (self.draw.canvas.is_empty() or (other_data and self.draw.canvas.exact_input() is not None)) \
                and self.samples.load_random(seed=self._sample_seed):
            pass  # a sample of the new model's own data (undoable)
        else:
            self.controller.request_trace()  # the input shown, through the new model (none: nothing to trace)

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

    @qt_safe()
    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    @qt_safe()
    def dropEvent(self, event) -> None:
        urls = [u for u in event.mimeData().urls() if u.isLocalFile()]
        if urls:
            self.open_image(urls[0].toLocalFile())
            event.acceptProposedAction()

    def set_theme(self, name: str) -> None:
        """Light, dark or the system's look for the whole program, plots included, drawn again at once."""
        name = theme.apply_theme(name)
        self.theme_actions[name].setChecked(True)
        self.theme = name
        for root in (self, self.training):
            if root is not None:
                theme.restyle_plots(root)
        self.player.restyle()
        layout.snug_tabs(self.lab)
        self.state.redraw()

    @qt_safe()
    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        super().resizeEvent(event)
        layout.fit_width(self, event.size().width())

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
        self.theme_actions[self.theme].setChecked(True)  # applied before the panels were built
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
        s.setValue("theme", self.theme)
        s.setValue("columns", self.columns.saveState())
        self.state.save_settings(s)
        for panel in self.panels:
            panel.save_settings(s)
        if self.training is not None:
            self.training.panel.save_settings(s)
        s.sync()

    def show_training(self) -> TrainingDialog:
        if self.training is None:
            self.training = TrainingDialog()  # no parent: a window of its own, not kept above the explorer
            self.training.panel.openRequested.connect(self._open_trained)
            if self.settings:
                self.training.panel.restore_settings(self.settings)
            self.training.place_beside(self)
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
        process = self.training.process
        process.pause()  # the run ends its step and writes its checkpoint while the windows go at once
        for window in (self.training, self):
            window.hide()
        QApplication.processEvents(QEventLoop.ProcessEventsFlag.ExcludeUserInputEvents)
        process.stop_and_wait()
        return True

    @qt_safe()
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
