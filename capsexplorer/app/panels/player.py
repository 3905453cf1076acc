"""The iteration player: previous / play / next, a scrubber (first and last at its ends, or
Alt+Home / Alt+End), the number of routing iterations, and their shortcuts. It drives the state's iteration,
which the routing and the lengths panels both
draw."""
from __future__ import annotations

from PySide6.QtCore import QEvent, Qt, QTimer
from PySide6.QtGui import QKeySequence, QShortcut, QValidator
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSlider, QSpinBox, QStyle, QToolButton, QWidget
from superqt.utils import signals_blocked

from capsexplorer.app.session.state import ExplorerState
from capsexplorer.app.widgets import theme
from capsexplorer.app.widgets.guard import qt_safe
from capsexplorer.net.config import MAX_ITERATIONS
from capsexplorer.net.routers import ONE_PASS

PLAY_MS = 800  # one iteration per this many milliseconds while playing
SHORTCUT_KEYS = ("[", "]", "P")


class IterationsBox(QSpinBox):
    """A spin box that lets the window's shortcuts through while it has focus — `[`, `]`, `P`, and
    Ctrl+Z and Esc, which a plain QSpinBox would take for undoing or abandoning its typing — since
    its value applies at once anyway."""

    @qt_safe(default=False)
    def event(self, event) -> bool:
        if event.type() == QEvent.Type.ShortcutOverride and (
                event.text() in ("[", "]", "p", "P") or event.key() == Qt.Key.Key_Escape
                or event.matches(QKeySequence.StandardKey.Undo)):
            event.ignore()
            return False
        return super().event(event)

    @qt_safe(fallback=lambda self, value: str(value))
    def textFromValue(self, value: int) -> str:  # noqa: N802 (Qt naming)
        return f"{value} iteration{'s' if value != 1 else ''}"

    @qt_safe(fallback=lambda self, text: self.value())
    def valueFromText(self, text: str) -> int:  # noqa: N802
        digits = "".join(ch for ch in text if ch.isdigit())
        return int(digits) if digits else self.value()

    @qt_safe(fallback=lambda self, text, pos: (QValidator.State.Intermediate, text, pos))
    def validate(self, text: str, pos: int):
        from PySide6.QtGui import QValidator

        digits = "".join(ch for ch in text if ch.isdigit())
        if not digits:
            return QValidator.State.Intermediate, text, pos
        return (QValidator.State.Acceptable if 1 <= int(digits) <= self.maximum() else QValidator.State.Invalid,
                text, pos)


class IterationPlayer(QWidget):
    def __init__(self, state: ExplorerState, parent=None):
        super().__init__(parent)
        self.state = state
        sp = QStyle.StandardPixmap
        self.previous_button = self._button(sp.SP_MediaSeekBackward, "Previous iteration ([ or Alt+Left)",
                                            self.previous)
        self.play_button = self._button(sp.SP_MediaPlay, "Play / pause the iterations (P)", self.toggle_play)
        self.next_button = self._button(sp.SP_MediaSeekForward, "Next iteration (] or Alt+Right)", self.next)
        self.scrubber = QSlider(Qt.Orientation.Horizontal)
        self.scrubber.setRange(1, state.iterations)
        self.scrubber.setPageStep(1)
        self.scrubber.setTickPosition(QSlider.TickPosition.TicksBelow)
        self.scrubber.setToolTip("Routing iteration shown")
        self.scrubber.setMinimumWidth(60)
        self.scrubber.valueChanged.connect(lambda v: state.set_iteration(v - 1))
        self.scrubber.sliderPressed.connect(self.stop)  # grabbing the scrubber pauses play,
        self.scrubber.actionTriggered.connect(self.stop)  # and so does a click on its track or a key
        self.position = QLabel("iteration – of")
        self.position.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        theme.fix_label_size(self.position, "iteration 10 of")
        self.iterations = IterationsBox()  # "iteration 2 of [3]": the count is the box itself
        self.iterations.setRange(1, MAX_ITERATIONS)
        self.iterations.setValue(state.iterations)
        self.iterations.setToolTip("How many routing iterations the network runs (the paper uses 3);\n"
                                   "changing it routes the input again")
        self.iterations.valueChanged.connect(state.set_iterations)

        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        for w in (self.previous_button, self.play_button, self.next_button):
            layout.addWidget(w)
        layout.addSpacing(4)
        layout.addWidget(self.scrubber, 1)
        layout.addWidget(self.position)
        layout.addWidget(self.iterations)

        self.timer = QTimer(self)
        self.timer.setInterval(PLAY_MS)
        self.timer.timeout.connect(self._tick)
        for keys, slot in (("[", self.previous), ("]", self.next), ("Alt+Left", self.previous),
                           ("Alt+Right", self.next), ("Alt+Home", self.first), ("Alt+End", self.last),
                           ("P", self.toggle_play)):
            shortcut = QShortcut(QKeySequence(keys), self)
            shortcut.setContext(Qt.ShortcutContext.WindowShortcut)  # wherever the focus is in the window
            shortcut.activated.connect(slot)

        state.resultChanged.connect(self._show)
        state.iterationChanged.connect(self._show)
        state.iterationsChanged.connect(self._show_count)
        self._show()

    def restyle(self) -> None:
        """The buttons' icons drawn again in the palette of the theme now in use."""
        for button, icon in getattr(self, "_icons", []):
            button.setIcon(self.style().standardIcon(icon))
        self._show()

    def _button(self, icon, tip: str, slot) -> QToolButton:
        button = QToolButton()
        button.setIcon(self.style().standardIcon(icon))
        self.__dict__.setdefault("_icons", []).append((button, icon))
        button.setToolTip(tip)
        button.clicked.connect(slot)
        return button

    # --- from the state ---------------------------------------------------------------------------
    def _show(self, *_) -> None:
        trace = self.state.trace
        enabled = trace is not None
        for w in (self.previous_button, self.play_button, self.next_button, self.scrubber):
            w.setEnabled(enabled)
        if trace is None:
            self.stop()
            self.position.setText("iteration – of")
            return
        with signals_blocked(self.scrubber):
            self.scrubber.setRange(1, trace.iterations)
            self.scrubber.setValue(self.state.iteration + 1)
        # uniform or self-attention: the count changes nothing (a dynamic router's single iteration, the trace of a
        # raised count still to come, is not one pass)
        model = self.state.model
        one_pass = trace.iterations == 1 < self.state.iterations and (model is None or model.config.routing in ONE_PASS)
        self.position.setText("one pass, not" if one_pass else f"iteration {self.state.iteration + 1} of")
        self.position.setToolTip("This model's router makes one pass, whatever the iteration count" if one_pass
                                 else "")
        self._show_count(self.state.iterations)

    def _show_count(self, n: int) -> None:
        if self.iterations.value() != n:
            with signals_blocked(self.iterations):
                self.iterations.setValue(n)

    # --- intents ----------------------------------------------------------------------------------
    def first(self) -> None:
        self.state.set_iteration(0)

    def last(self) -> None:
        if self.state.trace is not None:
            self.state.set_iteration(self.state.trace.iterations - 1)

    def previous(self) -> None:
        self.state.set_iteration(self.state.iteration - 1)

    def next(self) -> None:  # noqa: A003
        self.state.set_iteration(self.state.iteration + 1)

    @property
    def playing(self) -> bool:
        return self.timer.isActive()

    def toggle_play(self) -> None:
        if self.playing:
            self.stop()
        elif self.state.trace is not None:
            if self.state.iteration == self.state.trace.iterations - 1:
                self.first()
            self.timer.start()
            self.play_button.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_MediaPause))

    def stop(self) -> None:
        self.timer.stop()
        self.play_button.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_MediaPlay))

    def _tick(self) -> None:
        trace = self.state.trace
        if trace is None:
            self.stop()
        elif self.state.iteration >= trace.iterations - 1:
            self.first()
        else:
            self.next()
