"""The error banner: one line over the top of the window, never pushing the layout, gone when the
next operation succeeds or when dismissed."""
from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton, QWidget

from capsexplorer.app.widgets.guard import qt_safe


class ErrorBanner(QFrame):
    """A child of `host` laid over its top edge; follows the host's width."""

    def __init__(self, host: QWidget):
        super().__init__(host)
        self.setObjectName("ErrorBanner")
        self.setAutoFillBackground(True)
        self.setStyleSheet("#ErrorBanner { background: #fbe3e1; border: 1px solid #d9534f; border-radius: 4px; }"
                           "#ErrorBanner QLabel { color: #7a1d19; }")
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
        host.installEventFilter(self)

    def show_message(self, message: str) -> None:
        self.text.setText(message)
        self._place()
        self.show()
        self.raise_()

    @qt_safe(default=False)
    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt naming)
        if event.type() == QEvent.Type.Resize and self.isVisible():
            self._place()
        return False

    def _place(self) -> None:
        host = self.parentWidget()
        width = max(200, host.width() - 12)
        self.setFixedWidth(width)
        self.adjustSize()
        self.move(6, 6)
