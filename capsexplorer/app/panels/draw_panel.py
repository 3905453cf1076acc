"""Drawing canvas with its pen, undo and clear; beside it, the 28×28 image the network sees."""
from __future__ import annotations

import math
import time

import numpy as np
from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QFont, QFontMetrics
from PySide6.QtWidgets import QGroupBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout
from superqt import QLabeledSlider

from capsexplorer.app.session.state import USERS_DRAWING, ExplorerState, InputImage
from capsexplorer.app.widgets import theme
from capsexplorer.app.widgets.canvas import DrawingCanvas
from capsexplorer.app.widgets.tiles import ImageTile

THROTTLE_MS = 40  # while a stroke is being drawn, the input is published at most once per this interval
UNANSWERED_MS = 300  # a live trace not answered by then (dropped: a model switch, an error) no longer holds the next


class LivePublisher(QObject):
    """While a stroke is drawn: the drawing published as a live trace at the first turn of the event loop after a
    move — all the moves that came together in one — with one trace in flight at a time, and at most one per
    THROTTLE_MS. (A fixed 40 ms throttle published a pen's last moves 40 ms late: a pen lifted soon after found
    that trace still on its way, and the stroke's end waited for it.)"""

    def __init__(self, publish, parent=None):
        super().__init__(parent)
        self._publish = publish
        self._pending = False
        self._asked_at: float | None = None  # when the trace in flight was published (None: none in flight)
        self._last = -1.0  # when the last live trace was published
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._fire)
        self._painted = QTimer(self)  # the turn after an answer: Qt has painted it by then
        self._painted.setSingleShot(True)
        self._painted.setInterval(0)
        self._painted.timeout.connect(self._next_may_go)

    def moved(self) -> None:
        self._pending = True
        self._arm()

    def answered(self) -> None:
        """A trace was shown (or the input went blank): the next may go once it is painted — routed while the
        window paints, the next trace and the painting slowed each other down and held the pen longer."""
        self._painted.start()

    def _next_may_go(self) -> None:
        self._asked_at = None
        self._arm()

    def cancel(self) -> None:
        """The stroke ended: its end is published whole, by the panel."""
        self._pending = False
        self._timer.stop()

    def _wait_ms(self) -> int:
        now = time.monotonic()
        wait = THROTTLE_MS / 1000 - (now - self._last)
        if self._asked_at is not None:
            wait = max(wait, UNANSWERED_MS / 1000 - (now - self._asked_at))
        return max(0, math.ceil(wait * 1000))

    def _arm(self) -> None:
        """(Re)started with the wait as it is now: an answer shortens it."""
        if self._pending:
            self._timer.start(self._wait_ms())

    def _fire(self) -> None:
        if not self._pending:
            return
        wait = self._wait_ms()
        if wait > 0:
            self._timer.start(wait)
            return
        self._pending = False
        self._last = self._asked_at = time.monotonic()
        self._publish()


class DrawPanel(QGroupBox):
    """The canvas, and beside it what the network made of it (from the state). Writes the canvas's
    content into the state as the input: at a stroke's end, on a load, undo or clear, and at most every
    40 ms while a stroke is drawn."""

    strokeMoved = Signal()
    changed = Signal()

    def __init__(self, state: ExplorerState, parent=None):
        super().__init__("Draw", parent)
        self.state = state
        self.canvas = DrawingCanvas()
        self.pen = QLabeledSlider(Qt.Orientation.Horizontal)
        self.pen.setRange(4, 40)
        self.pen.setValue(int(self.canvas.pen_width))
        self.pen.setToolTip("Pen width in canvas pixels")
        self.pen.valueChanged.connect(self._set_pen)
        self.undo_button = QPushButton("Undo")
        self.undo_button.setToolTip("Undo the last stroke (Ctrl+Z)")
        self.clear_button = QPushButton("Clear")
        self.clear_button.setToolTip("Clear the canvas (Esc)")
        self.undo_button.clicked.connect(self.canvas.undo)
        self.clear_button.clicked.connect(self.canvas.clear)
        state.modelChanged.connect(self._invite)
        self.canvas.empty_hint = "Loading the model…"  # until it is loaded (seconds; more on a busy machine)

        self.network_input = ImageTile("Network input (28×28)")
        self.network_input.setToolTip("What the CapsNet sees: the drawing fitted into 20×20, centred by\n"
                                      "mass in 28×28, stroke weight matched to MNIST, light on dark.")
        self.prediction = QLabel("–")
        font = QFont(self.prediction.font())
        font.setPointSizeF(font.pointSizeF() * 2.6)
        font.setBold(True)
        self.prediction.setFont(font)
        self._headline_font = QFont(font)
        self.prediction.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.confidence = QLabel("")
        self.confidence.setAlignment(Qt.AlignmentFlag.AlignCenter)
        width = self.network_input.sizeHint().width()
        theme.fix_label_size(self.prediction, width=width)
        theme.fix_label_size(self.confidence, width=width)
        self.cnn = QLabel("")
        self.cnn.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.cnn.setToolTip("The CNN baseline's answer for the same network input, and its probability")
        theme.fix_label_size(self.cnn, width=width)

        pen_row = QHBoxLayout()
        pen_row.addWidget(QLabel("Pen"))
        pen_row.addWidget(self.pen, 1)
        pen_row.addWidget(self.undo_button)
        pen_row.addWidget(self.clear_button)

        side = QVBoxLayout()
        side.addWidget(self.network_input)
        side.addSpacing(8)
        caption = QLabel("Prediction")
        caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        side.addWidget(caption)
        side.addWidget(self.prediction)
        side.addWidget(self.confidence)
        side.addWidget(self.cnn)
        side.addStretch(1)

        top = QHBoxLayout()
        top.addWidget(self.canvas, 1)
        top.addLayout(side)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(pen_row)

        self._live = LivePublisher(lambda: self.publish(live=True), self)
        self.canvas.strokeMoved.connect(self.strokeMoved)
        self.canvas.strokeMoved.connect(self._live.moved)
        state.resultChanged.connect(self._live.answered)
        state.settled.connect(self._live.answered)
        self.canvas.changed.connect(self.changed)
        self.canvas.changed.connect(self.publish)
        state.resultChanged.connect(self.refresh)
        state.cnnChanged.connect(self._show_cnn)

    def publish(self, live: bool = False) -> None:
        """The canvas as the network's input (None when empty). A stroke's end cancels a live update
        still waiting, so the last input is always the whole drawing."""
        if not live:
            self._live.cancel()
        if self.canvas.is_empty():
            self.state.set_input(None)
            return
        exact = self.canvas.exact_input()  # a dataset digit as its data set has it: no preprocessing
        label = self.canvas.label() or USERS_DRAWING
        self.state.set_input(InputImage(exact, preprocessed=True, label=label) if exact is not None else
                             InputImage(self.canvas.image_array(), live=live, label=label))

    def _invite(self, *_) -> None:
        """The empty sheet's words follow the model: a digit, or one of the model's own classes."""
        s = self.state
        if s.digits:
            hint, tip = "Draw a digit here", "Draw a digit."
        else:
            names = ", ".join(s.classes[:3]).lower()
            hint, tip = f"Draw one of its classes here\n({names}, …)", f"Draw one of the model's classes: {names}, …"
        self.canvas.empty_hint = hint
        self.canvas.setToolTip(f"{tip} Ctrl+Z undoes the last stroke; Esc clears.")
        self.canvas.update()

    def _set_pen(self, width: int) -> None:
        self.canvas.pen_width = float(width)

    def refresh(self) -> None:
        result = self.state.result
        if result is None:
            size = self.state.geometry.size
            self.network_input.set_image(np.zeros((size, size), np.float32))
            self.prediction.setText("–")
            self.confidence.setText("" if self.canvas.is_empty() else "no ink")
            self.cnn.setText("")
            return
        winner = result.winner
        length = float(result.trace.final_lengths[0, winner])
        name = self.state.classes[winner] if winner < len(self.state.classes) else str(winner)
        self.network_input.set_image(result.image)
        size = result.image.shape[-1]
        if self.network_input.title.text() != f"Network input ({size}×{size})":
            self.network_input.title.setText(f"Network input ({size}×{size})")
            self.network_input.setToolTip(
                "What the CapsNet sees: the drawing fitted into 20×20, centred by\nmass in 28×28, stroke weight "
                "matched to MNIST, light on dark" + ("." if size == 28 else
                                                    f";\nthen brought to this model's {size}×{size} input."))
        if self.state.two_digits:  # it reads two digits
            lengths = result.trace.final_lengths[0]
            second = int(np.argsort(-lengths, kind="stable")[1])
            self._headline(self.state.answer(lengths))
            self.confidence.setText(f"‖v‖ = {length:.3f}, {lengths[second]:.3f}")
        else:
            self._headline(name)
            self.confidence.setText(f"‖v‖ = {length:.3f}")
        self._show_cnn()

    def _headline(self, name: str) -> None:
        """The predicted class in large type — a garment's name as much as a digit — shrunk to fit."""
        if name == self.prediction.text():
            return
        font = QFont(self._headline_font)
        width = self.prediction.width() - 4
        while font.pointSizeF() > 8 and QFontMetrics(font).horizontalAdvance(name) > width:
            font.setPointSizeF(font.pointSizeF() * 0.9)
        self.prediction.setFont(font)
        self.prediction.setText(name)

    def _show_cnn(self) -> None:
        probabilities = self.state.cnn
        if probabilities is None:
            self.cnn.setText("")
            return
        guess = int(np.argmax(probabilities))
        self.cnn.setText(f"CNN: {self.state.classes[guess] if guess < len(self.state.classes) else guess} "
                         f"({probabilities[guess]:.1%})")

    def save_settings(self, settings) -> None:
        settings.setValue("draw/pen_width", self.pen.value())

    def restore_settings(self, settings) -> None:
        try:
            self.pen.setValue(int(settings.value("draw/pen_width", self.pen.value())))
        except (TypeError, ValueError):
            pass
