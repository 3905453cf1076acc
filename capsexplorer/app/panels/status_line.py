"""The status bar's three permanent labels — the device, the model in use with its held-out accuracy, the last
trace's time — drawn from the explorer state."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QLabel, QStatusBar

from capsexplorer.app.session.state import ExplorerState
from capsexplorer.app.widgets import theme


class StatusLine:
    def __init__(self, state: ExplorerState, bar: QStatusBar):
        self.state = state
        self.device_label = QLabel("loading model…")
        self.model_label = QLabel("")
        self.time_label = QLabel("")
        theme.fix_label_size(self.time_label, "Last trace: 999.9 ms")
        for label in (self.device_label, self.model_label, self.time_label):
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
