"""The explorer window: composes the panels around one ExplorerState and its Controller (which turns
the state into typed jobs for the inference worker and writes the answers back), and owns the menus,
the status bar, dialogs, settings and closing. It computes nothing and reads no widget to learn the state."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from PySide6.QtCore import QSettings, Signal
from PySide6.QtWidgets import QMainWindow, QMessageBox

from capsexplorer import __version__
from capsexplorer.app import layout, window_settings
from capsexplorer.app.file_actions import FileActions
from capsexplorer.app.guide import SHORTCUTS, about_text
from capsexplorer.app.menus import build_menus, check_shipped
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
from capsexplorer.app.panels.routers_panel import RoutersPanel
from capsexplorer.app.panels.routing_view import RoutingPanel
from capsexplorer.app.panels.samples import SamplesPanel
from capsexplorer.app.panels.status_line import StatusLine
from capsexplorer.app.panels.summary_panel import RoutingSummaryPanel
from capsexplorer.app.panels.sweep_panel import SweepPanel
from capsexplorer.app.panels.training_panel import TrainingDialog
from capsexplorer.app.panels.votes_panel import VotesPanel
from capsexplorer.app.session.controller import Controller
from capsexplorer.app.session.state import ExplorerState
from capsexplorer.app.session.worker import InferenceWorker
from capsexplorer.app.widgets import theme
from capsexplorer.app.widgets.banner import ErrorBanner
from capsexplorer.app.widgets.guard import qt_safe

log = logging.getLogger("capsexplorer")
TITLE = "capsexplorer — Dynamic Routing Between Capsules"


class MainWindow(QMainWindow):
    """The panels around one state; the controller's signals (`traceShown`, `modelReady`, …) are on
    `window.controller`."""

    errorShown = Signal(str)

    def __init__(self, weights: str | None = None, device: str | None = None, image: str | None = None,
                 persist: bool = True, sample_seed: int | None = None, model=None):
        """`model`: an already loaded CapsNet instead of `weights` (tests share one)."""
        super().__init__()
        self.setWindowTitle(TITLE)
        self.setAcceptDrops(True)
        self.settings = QSettings() if persist else None
        self.theme = theme.apply_theme(str(self.settings.value("theme", "system")) if persist else "system")
        self.training: TrainingDialog | None = None
        self._quitting = False  # told to quit (SIGTERM, Ctrl+C): closing asks nothing
        self._initial_image = image
        self._sample_seed = sample_seed
        self._dataset: str | None = None

        self.state = state = ExplorerState(self)
        self.draw, self.samples, self.player = DrawPanel(state), SamplesPanel(state), IterationPlayer(state)
        self.routing, self.lengths, self.summary = RoutingPanel(state), LengthsPanel(state), RoutingSummaryPanel(state)
        self.inspector, self.parts, self.probe = PrimaryInspector(state), PartsPanel(state), ProbePanel(state)
        self.sweep, self.grid = SweepPanel(state), GridPanel(state)
        self.browser, self.robustness, self.routers = BrowserPanel(state), RobustnessPanel(state), RoutersPanel(state)
        self.pose, self.votes, self.pair = PosePanel(state), VotesPanel(state), PairPanel(state)
        self.panels = (self.draw, self.routing, self.pose)  # those with settings of their own
        central, self.columns, self.lab = layout.compose(self)
        self.setCentralWidget(central)
        self.resize(*layout.first_size(self.screen().availableGeometry().size() if self.screen() else None))
        self.banner = ErrorBanner(central)
        self.files = FileActions(self)
        self.worker = InferenceWorker(weights, device, model=model)
        self.controller = Controller(state, self.worker, self)
        self.shipped_actions, self.theme_actions = build_menus(self)
        self.status_line = StatusLine(state, self.statusBar())
        self._wire()
        window_settings.restore(self)
        self.worker.start()

    def _wire(self) -> None:
        """What panels ask of the window, the files or the controller; what only the window shows."""
        state, controller = self.state, self.controller
        self.samples.sampleChosen.connect(self._show_sample)
        self.pair.pairChosen.connect(self._show_sample)
        self.samples.pairWanted.connect(self.pair.another_pair)
        self.samples.openRequested.connect(self.files.open_image_dialog)
        self.samples.failed.connect(self.show_error)
        self.lab.currentChanged.connect(lambda i: state.set_lab_view(layout.lab_view_at(i)))
        state.labViewChanged.connect(lambda: self.lab.setCurrentIndex(layout.lab_index_of(state.lab_view)))
        self.sweep.exportRequested.connect(self.files.export_sweep)
        self.grid.tileClicked.connect(self._grid_tile_clicked)
        self.grid.exportRequested.connect(self.files.export_grid)
        self.browser.sampleChosen.connect(self._open_from_browser)
        self.robustness.measureRequested.connect(controller.measure_robustness)
        state.modelChanged.connect(self._model_loaded)
        state.inputChanged.connect(self._title)
        for shown in (controller.traceShown, controller.probeShown, controller.sweepShown, controller.gridShown):
            shown.connect(self.banner.hide)
        controller.blankShown.connect(self._blank_shown)
        controller.imageOpened.connect(self._image_opened)
        controller.failed.connect(self.show_error)

    def _grid_tile_clicked(self, k: int, offset: float) -> None:
        """A Figure 4 tile sets its slider — if the grid is of the capsule the sliders hold (not a stale one)."""
        grid = self.state.grid.value if self.state.grid is not None else None
        if grid is not None and grid.digit == self.state.shown_pose_digit():
            self.pose.set_dimension(k, float(grid.pose[k]) + offset)

    def _open_from_browser(self, image, description: str) -> None:
        """Two clicks from a confusion-matrix cell to a digit's routing: the digit opens, routing shows."""
        self._show_sample(image, description)
        self.lab.setCurrentIndex(0)

    # --- results ------------------------------------------------------------------------------
    def _model_loaded(self) -> None:
        self.banner.hide()
        check_shipped(self.shipped_actions, self.state.model.path)
        info = self.state.model
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
        self.draw.refresh()  # "no ink", or nothing for an empty canvas

    def _title(self) -> None:
        """The title says what the input is: where it came from, or the user's drawing."""
        given = self.state.input
        title = f"capsexplorer — {given.label}" if given is not None and given.label else TITLE
        if title != self.windowTitle():
            self.setWindowTitle(title)

    def show_error(self, message: str) -> None:
        self.status_line.no_model()
        self.banner.show_message(message)
        self.statusBar().showMessage(message, 8000)
        self.errorShown.emit(message)

    # --- files --------------------------------------------------------------------------------
    def _show_sample(self, image, description: str) -> None:
        """A dataset digit (uint8 28×28, light on dark): routed exactly as MNIST has it, as `evaluate` does."""
        self.draw.canvas.set_image(image, exact=np.asarray(image, np.float32) / 255.0, label=description)

    def open_image(self, path: str) -> None:
        """Read in the worker (a huge image in a child process); a bad file leaves the drawing alone."""
        self.controller.open_image(path)

    def _image_opened(self, opened) -> None:
        self.draw.canvas.set_image(opened.image, label=Path(opened.path).name)

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
    def show_shortcuts(self) -> None:
        QMessageBox.information(self, "Keyboard shortcuts", SHORTCUTS)

    def show_about(self) -> None:
        QMessageBox.about(self, "About capsexplorer", about_text(__version__))

    # --- training and closing ----------------------------------------------------------------
    def show_training(self) -> TrainingDialog:
        if self.training is None:
            self.training = TrainingDialog()  # no parent: a window of its own, not kept above the explorer
            self.training.panel.openRequested.connect(self._open_trained)
            self.status_line.follow_training(self.training.process, self.show_training)
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
        """While a model trains, closing asks first (not when told to quit); stopping keeps its checkpoint for a
        later Resume."""
        return self.training is None or self.training.stop_for_closing(self, ask=not self._quitting)

    def quit_now(self) -> None:
        """Closes without asking (SIGTERM, or Ctrl+C in the terminal), once: a training run stops, its checkpoint kept."""
        if not self._quitting:
            self._quitting = True
            self.close()

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
            window_settings.save(self)
        except Exception:  # noqa: BLE001
            log.exception("while closing the window")
        finally:
            if event.isAccepted():
                self.worker.stop()
        super().closeEvent(event)
