"""The status bar's three permanent labels — the device, the model in use with its held-out accuracy, the last
trace's time — drawn from the explorer state; and, while a model trains, how far it is (its window may be closed)."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QLabel, QPushButton, QStatusBar

from capsexplorer.app.session.state import ExplorerState
from capsexplorer.app.widgets import theme


class StatusLine:
    def __init__(self, state: ExplorerState, bar: QStatusBar):
        self.state = state
        self.device_label = QLabel("loading model…")
        self.model_label = QLabel("")
        self.time_label = QLabel("")
        theme.fix_label_size(self.time_label, "Last trace: 999.9 ms")
        self.training = QPushButton("")
        self.training.setFlat(True)
        self.training.setFixedWidth(self.training.fontMetrics().horizontalAdvance("Training: epoch 999 of 999, 100%")
                                    + 16)  # its words change with every step: the bar around it never moves
        self.training.setToolTip("A model is training in a process of its own: click (or Ctrl+T) to watch it")
        self.training.hide()
        self._training_steps = False  # a run's steps are shown (not while it pauses or stops)
        for label in (self.training, self.device_label, self.model_label, self.time_label):
            bar.addPermanentWidget(label)
        state.modelChanged.connect(self._model)
        state.resultChanged.connect(self._trace)

    def _model(self) -> None:
        info = self.state.model
        self.device_label.setText(f"Device: {info.device}")
        accuracy = info.accuracy_text or "held-out accuracy unknown"
        router = f"{info.config.routing} routing"  # capsexplorer.net.routers: which rule makes the parents
        self.model_label.setText(f"Model: {Path(info.path).name} ({info.dataset}, {router}, {accuracy})")

    def _trace(self) -> None:
        result = self.state.result
        self.time_label.setText("" if result is None else f"Last trace: {result.seconds * 1000:.1f} ms")

    def no_model(self) -> None:
        """Loading failed and no model is in use."""
        if self.state.model is None:
            self.device_label.setText("No model loaded — File ▸ Open weights…")

    def follow_training(self, process, show) -> None:
        """Says in the status bar how far a training run is while it runs; a click calls `show` (its window)."""
        self.training.clicked.connect(show)
        process.stateChanged.connect(self._training_state)
        process.step.connect(self._training_step)

    def _training_state(self, state: str) -> None:
        self._training_steps = state == "running"  # a step that ends after Pause or Cancel leaves their words
        running = state in ("running", "pausing", "cancelling")
        if running and state != "running":
            self.training.setText(f"Training: {'pausing' if state == 'pausing' else 'stopping'}…")
        elif running and not self.training.isVisible():
            self.training.setText("Training: starting…")
        self.training.setVisible(running)

    def _training_step(self, record: dict) -> None:
        if not self._training_steps:
            return
        steps = max(int(record.get("steps", 1) or 1), 1)
        done = (record.get("epoch", 1) - 1 + record.get("step", 0) / steps) / max(int(record.get("epochs", 1) or 1), 1)
        self.training.setText(f"Training: epoch {record.get('epoch', '?')} of {record.get('epochs', '?')}, "
                              f"{min(max(done, 0.0), 1.0):.0%}")
