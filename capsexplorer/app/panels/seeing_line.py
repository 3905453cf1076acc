"""The guide's first lines: the shown lab tab's "what you are seeing", computed by `capsexplorer.analysis.seeing` from
the numbers the tab draws (issue 22). It follows the state only."""
from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QSizePolicy

from capsexplorer.analysis import seeing
from capsexplorer.app.session.state import ExplorerState
from capsexplorer.app.session.tabs import tab
from capsexplorer.app.widgets.guard import qt_safe

LAST_ITERATION_VIEWS = ("probe", "sweep", "figure4", "pose")  # these route the input for all its iterations


def sentence(state: ExplorerState) -> str:
    """The shown lab tab's sentence for the state's input and results ('' where the tab says it itself); on a tab
    that routes for every iteration while the player shows an earlier one, it says so."""
    text = _sentence(state)
    trace = state.trace
    if text and trace is not None and state.lab_view in LAST_ITERATION_VIEWS and state.iteration < trace.iterations - 1:
        text += (f" (This tab routes for all {trace.iterations} iterations, whatever iteration the player "
                 f"shows.)")
    return text


def _sentence(state: ExplorerState) -> str:
    view, names, trace = state.lab_view, state.classes, state.trace
    if view == "pair":
        lengths = trace.final_lengths[0] if trace is not None and state.two_digits else None
        return seeing.pair(lengths, state.two_digits, state.item_word, names)
    if view == "heldout":
        shown = state.predictions.predictions if state.predictions is not None else None
        if shown is None:  # none to browse: why (the two-digit model's are in the Pairs tab)
            return state.predictions.why if state.predictions is not None else ""
        whole = state.model.heldout_accuracy if state.model is not None else None
        return seeing.heldout(shown.labels, shown.capsnet, shown.cnn, shown.iterations, state.item_word, whole)
    if view == "routers":
        routers = state.routers
        if routers is None or trace is None:
            return ""
        return seeing.routers(routers.views, state.iteration, names, trace.iterations) or routers.why
    if view == "robustness":
        return seeing.robustness(state.robustness, state.model is None or state.model.cnn_path is not None)
    if trace is None:
        return f"Draw a{'n' if state.item_word[0] in 'aeiou' else ''} {state.item_word} or load an image: " \
               "this line then says what the tab shows for it."
    if view == "routing":
        return seeing.routing(trace, state.iteration, names, state.model.config.routing if state.model else "dynamic")
    if view == "votes" and trace.u_hat is not None:
        return seeing.votes(trace, state.iteration, state.shown_overlay_digit(), names)
    if view == "pose":
        digit = state.shown_pose_digit()
        return seeing.pose(digit, float(trace.final_lengths[0, digit]), state.winner, trace.poses.shape[-1], names)
    if view == "primary":
        return seeing.primary(trace, state.iteration, state.primary, names, int((~state.enabled).sum()))  # NO_PRIMARY < 0
    if view == "probe" and state.probe_result is not None:
        result = state.probe_result
        return seeing.probe(result.settings, result.lengths, trace.final_lengths[0], names, state.two_digits)
    if view == "sweep" and state.sweep is not None:
        s = state.sweep.value
        return seeing.sweep(s.transform, s.values, s.prediction, s.digit, s.relative_length_change(), names,
                            s.lengths if state.two_digits else None)
    if view == "figure4" and state.grid is not None:
        grid, labels = state.grid.value, state.grid.labels or []
        read = [row["read_as"] for row in labels if "read_as" in row] or None
        offsets = grid.dimension_offsets()
        span = (f"{grid.offsets[0]:+.0f}σ … {grid.offsets[-1]:+.0f}σ of the class's spread" if grid.sigma is not None
                else f"{offsets.min():+.2f} … {offsets.max():+.2f}")
        return seeing.figure4(grid.digit, read, grid.grid.shape[0], span, names)
    return ""


class SeeingLine(QLabel):
    """'The Routing tab:' and its sentence, word-wrapped, selectable."""

    def __init__(self, state: ExplorerState, parent=None):
        super().__init__(parent)
        self.state = state
        self.setWordWrap(True)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Minimum)
        self.setToolTip("The shown tab in one sentence, computed from the numbers it draws")
        self._view = state.lab_view  # the tab whose sentences set the height kept
        for signal in (state.resultChanged, state.iterationChanged, state.labViewChanged, state.primaryChanged,
                       state.partsChanged, state.overlayDigitChanged, state.poseDigitChanged,
                       state.probeResultChanged, state.sweepChanged,
                       state.gridChanged, state.predictionsChanged, state.robustnessChanged, state.routersChanged,
                       state.modelChanged):
            signal.connect(self.refresh)
        self.refresh()

    def refresh(self, *_) -> None:
        text = sentence(self.state)
        title = tab(self.state.lab_view).title
        words = f"<p><b>The {title} tab:</b> {html.escape(text)}</p>" if text else ""
        if words == self.text() and self.isHidden() == (not words) and self.state.lab_view == self._view:
            return  # (fitting its height to the words costs a text layout: it follows every trace)
        self.setText(words)
        self.setVisible(bool(text))
        if self.state.lab_view != self._view:  # another tab's sentence: fitted to it afresh
            self._view = self.state.lab_view
            self.setMinimumHeight(0)
        self._keep_height()

    def _keep_height(self) -> None:
        """Grows to a longer sentence but never shrinks for a shorter one at the same width: the guide's words
        below stay where they are as the sentence changes with every trace (else all of them moved and were
        painted again each time)."""
        if self.isVisible() and self.width() > 0:
            needed = self.heightForWidth(self.width())
            if needed > self.minimumHeight():
                self.setMinimumHeight(needed)

    @qt_safe()
    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        super().resizeEvent(event)
        if event.size().width() != event.oldSize().width():  # another width: fitted to this sentence again
            self.setMinimumHeight(0)
            self._keep_height()
