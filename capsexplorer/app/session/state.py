"""The explorer's one state: what is shown, and what the user chose. Panels draw from it and write
their intents to it (napari's layers and events): no panel reads another, and the window never
reads a widget to learn the state.

Only a new input or a new iteration count needs the network; everything else — the iteration
shown, the capsules chosen, the view options — re-draws from the trace already held.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QObject, QSettings, Signal

from capsexplorer.analysis.views import MODES, PAPER, Geometry
from capsexplorer.data import transforms
from capsexplorer.net.config import MAX_ITERATIONS
from capsexplorer.net.trace import RoutingTrace

WINNER = -1  # "follow the winning capsule"; never None in a signal (PySide6 < 6.12 mis-counts None)
USERS_DRAWING = "your drawing"  # an input's label once the user has drawn on the sheet
NO_PRIMARY = -2  # no primary capsule chosen (not WINNER: a capsule index and a class choice are apart)


@dataclass(frozen=True)
class TraceResult:
    """What the worker returns for one input: a trace of one image and the decoder's image of
    each of the ten digit capsules' poses."""

    request: int  # the state's generation it answers
    image: np.ndarray  # (H, H) what the network sees, at the model's own input size (28 in the paper)
    trace: RoutingTrace  # for a batch of one
    reconstructions: np.ndarray  # (J, H, H) decoder output for each class capsule's own pose
    seconds: float  # preprocessing + trace + decoder

    @property
    def winner(self) -> int:
        return int(self.trace.prediction[0])


@dataclass(frozen=True)
class InputImage:
    """What the network is asked to see: a drawing or a file (any size, either polarity), or
    (`preprocessed`) a dataset digit exactly as its data set has it."""

    image: np.ndarray
    preprocessed: bool = False
    live: bool = False  # while a stroke is being drawn
    label: str = ""  # where it came from ("MNIST test sample #12, class 3", a file's name; USERS_DRAWING)


class ExplorerState(QObject):
    """Fields are read directly; every change goes through a setter that emits its signal only
    when the value really changes."""

    resultChanged = Signal()  # a new trace, or none (blank canvas)
    settled = Signal()  # the input shown is final (a stroke's end, a file, a sample): panels deferred while live draw
    iterationChanged = Signal(int)  # 0-based iteration shown
    iterationsChanged = Signal(int)  # how many routing iterations the network runs
    overlayDigitChanged = Signal(int)  # digit laid over the input (WINNER or 0..9)
    poseDigitChanged = Signal(int)  # digit whose pose the sliders hold (WINNER or 0..9)
    primaryChanged = Signal(int)  # chosen primary capsule (NO_PRIMARY or 0..1151)
    viewChanged = Signal()  # the routing view's mode, weighted / change options
    partsChanged = Signal()  # which primary capsules are switched off
    probeChanged = Signal()  # the transform probe's settings
    cnnChanged = Signal()  # the CNN baseline's probabilities for the current input arrived (or went)
    inputChanged = Signal()  # a new input (or none: an empty canvas)
    modelChanged = Signal()  # a model was loaded: `model` describes it (dataset, class names, shape)
    labViewChanged = Signal()  # which lab tab is shown (only the shown one asks the worker)
    probeResultChanged = Signal()
    sweepChanged = Signal()  # the sweep (`sweep`) or the CNN's view of it (`sweep_cnn`)
    gridChanged = Signal()
    predictionsChanged = Signal()  # the held-out browser's data
    robustnessChanged = Signal()
    routersChanged = Signal()  # the input under every router (`routers`, a jobs.RoutersResult)
    modelWanted = Signal(str)  # a panel asks for a model by its shipped name (the Routers tab's click)
    labDataChanged = Signal()  # the model's pose statistics and equivariance read-outs (`pose_stats`, `equivariance`)
    progressChanged = Signal(str)  # a long job's progress (`progress[kind]`), or its end/cancel (None)
    sweepSettingsChanged = Signal()  # the sweep's transform and values (`sweep_settings`)
    gridSpanChanged = Signal()  # Figure 4's range (`grid_span`)
    poseBent = Signal()  # the user bent the pose sliders (`bent_pose`): the decoder is asked
    bentChanged = Signal()  # the decoder's drawing of the bent pose (`bent`), or none

    def __init__(self, parent=None):
        super().__init__(parent)
        self.result: TraceResult | None = None
        self.live = False  # the result shown is of a stroke still being drawn (the heavier panels wait for its end)
        self.cnn: np.ndarray | None = None  # (10,) the CNN's probabilities for the same input, when known
        self.generation = 0  # advanced by every request; older answers are dropped
        self.iteration = 0
        self.iterations = 3
        self.overlay_digit = WINNER
        self.pose_digit = WINNER
        self.overlay_pinned = False  # a chosen overlay digit kept for new inputs (else back to the winner)
        self.pose_pinned = False
        self._new_input = False
        self.primary = NO_PRIMARY
        self.mode = "deviation"  # see capsexplorer.analysis.views.MODES
        self.weighted = False
        self.change = False
        self.enabled = np.ones(PAPER.n_primary, bool)  # primary capsules switched on (the parts kept)
        self.probe = dict(transforms.IDENTITY)  # the probe's transform of the network input
        self.input: InputImage | None = None
        self.model = None  # capsexplorer.app.session.jobs.ModelInfo of the model in use
        self.model_generation = 0  # advanced by every model loaded: long jobs' answers for another are dropped
        self.lab_view = "routing"
        self.probe_result = None  # jobs.ProbeResult for the current input and probe settings
        self.sweep = None  # jobs.SweepResult holding a capsexplorer.analysis.sweep.Sweep
        self.sweep_cnn: np.ndarray | None = None  # (S, 10) the CNN's probabilities along the sweep
        self.grid = None  # jobs.GridResult holding a capsexplorer.analysis.posegrid.PoseGrid
        self.predictions = None  # jobs.PredictionsResult
        self.robustness: dict | None = None
        self.ablation: dict | None = None  # routing iteration count → held-out accuracy
        self.routers = None  # jobs.RoutersResult: the input shown under every shipped router
        self.progress: dict = {}  # long job kind → jobs.Progress while it runs
        self.pose_stats = None  # capsexplorer.analysis.pose_stats.PoseStats of the model in use, once known
        self.equivariance: dict | None = None  # capsexplorer.analysis.equivariance's result for these weights, if measured
        self.pose_stats_why = ""  # why there are no statistics (the training images are not here)
        self.sweep_settings: tuple[str, np.ndarray] | None = None  # the sweep's transform and values (S,)
        self.grid_span: float | str = "data"  # Figure 4's range: "data" (±2σ of the class) or ± a pose offset
        self.bent_pose: tuple[int, np.ndarray] | None = None  # (digit, pose (16,)) the sliders hold, once bent
        self.bent = None  # jobs.ReconstructionResult: the decoder's drawing of `bent_pose` for the trace shown

    # --- derived ------------------------------------------------------------------------------
    @property
    def trace(self) -> RoutingTrace | None:
        return self.result.trace if self.result is not None else None

    @property
    def winner(self) -> int | None:
        return self.result.winner if self.result is not None else None

    @property
    def geometry(self) -> Geometry:
        """The model's shape as panels draw it: input size, primary grid and types, classes, pose size."""
        return Geometry.of(self.model.config) if self.model is not None else PAPER

    @property
    def two_digits(self) -> bool:
        """The model reads two overlapping digits (MultiMNIST): its answer is its two longest capsules."""
        return self.model is not None and self.model.dataset == "multimnist"

    # --- words for the model shown: digits, or another data set's classes -----------------------
    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(self.model.classes) if self.model is not None else tuple(str(d) for d in range(10))

    @property
    def digits(self) -> bool:
        """The classes are the ten digits (else, e.g., garments)."""
        return all(name.isdecimal() for name in self.classes)

    @property
    def tick_names(self) -> list[str]:
        """Short class names for axes: the digits, or short names such as "T-shirt", "Boot" (data.TICK_NAMES)."""
        from capsexplorer.data.datasets import short_name

        return [short_name(c) for c in self.classes]

    def answer(self, lengths) -> str:
        """The network's answer for these capsule lengths: its longest class, or a two-digit model's two ("7 + 1")."""
        from capsexplorer.analysis.seeing import answer

        return answer(lengths, self.classes, self.two_digits)

    def class_name(self, j: int) -> str:
        return self.classes[j] if 0 <= j < len(self.classes) else str(j)

    @property
    def capsule_word(self) -> str:
        """The paper's "digit capsule" for the digits; "class capsule" for other data."""
        return "digit capsule" if self.digits else "class capsule"

    @property
    def item_word(self) -> str:
        """What one input is: a digit, or an image."""
        return "digit" if self.digits else "image"

    def shown_overlay_digit(self) -> int:
        """The digit the spatial view shows: the chosen one, or the winner."""
        return self._resolve(self.overlay_digit)

    def shown_pose_digit(self) -> int:
        return self._resolve(self.pose_digit)

    def _resolve(self, choice: int) -> int:
        if choice != WINNER:
            return choice
        return self.winner if self.winner is not None else 0

    # --- requests and results -----------------------------------------------------------------
    def next_generation(self) -> int:
        """A new request: every answer to an older one will be dropped."""
        self.generation += 1
        return self.generation

    def accept(self, result: TraceResult, live: bool = False) -> bool:
        """Shows `result` if it answers the newest request (`live`: of a stroke still being drawn). The iteration
        shown stays where the user put it, unless they were on the last one: then it follows to the new last."""
        if result.request != self.generation:
            return False
        self.live = bool(live)
        drawn = self.result is not None and result.trace is self.result.trace  # a stroke's end, its last live trace
        if not drawn:
            self.bent_pose, self.bent = None, None  # a bend and its drawing belong to the trace they bent
        n = result.trace.iterations
        follow = self.trace is None or self.iteration >= self.trace.iterations - 1
        self.result = result
        self.cnn = None  # comes a moment later, for this request
        self.iteration = n - 1 if follow else min(self.iteration, n - 1)
        returned = []  # a digit chosen for the last input returns to "the winner" unless pinned
        if self._new_input:
            self._new_input = False
            if not self.overlay_pinned and self.overlay_digit != WINNER:
                self.overlay_digit = WINNER
                returned.append(self.overlayDigitChanged)
            if not self.pose_pinned and self.pose_digit != WINNER:
                self.pose_digit = WINNER
                returned.append(self.poseDigitChanged)
        if not drawn or returned:  # (a stroke's end that reused its last live trace is on screen already)
            self.resultChanged.emit()  # panels draw the iteration shown from here, for the digits now chosen
        for signal in returned:  # then the choosers follow, with the new trace already held
            signal.emit(WINNER)
        if not self.live:
            self.settled.emit()
        return True

    def clear(self, request: int | None = None) -> bool:
        """Nothing to show (a blank canvas). With `request`, only if it is the newest."""
        if request is not None and request != self.generation:
            return False
        if self.result is None:
            self.settle()  # a stroke that never had an answer: the panels that waited draw the empty state
            return True
        self.live = False
        self.result, self.cnn = None, None
        self.bent_pose, self.bent = None, None
        self.resultChanged.emit()
        return True

    def set_cnn(self, request: int, probabilities: np.ndarray) -> None:
        """The CNN's answer for `request`, if that is still the input shown."""
        if request == self.generation and self.result is not None:
            self.cnn = np.asarray(probabilities, np.float32)
            self.cnnChanged.emit()

    def set_input(self, new: InputImage | None) -> None:
        """Every input is new (a stroke, a file, a sample): no comparison."""
        self.input = new
        self._new_input = True
        self.inputChanged.emit()

    def set_model(self, info) -> None:
        self.live = False  # a new model: no stroke is half-answered for it
        self.bent_pose, self.bent = None, None
        old_geometry = self.geometry
        previous, self.model = self.model, info
        self.model_generation += 1
        reshaped = self.geometry != old_geometry and self.result is not None
        if reshaped:  # the trace shown is another shape's: gone until the new model's trace of the input
            self.next_generation()
            self.result, self.cnn = None, None
        if previous is not None and tuple(previous.classes) != tuple(info.classes):
            self.set_overlay_digit(WINNER)  # another model's classes: a chosen class means nothing there
            self.set_pose_digit(WINNER)
        regrid = (self.geometry.types, self.geometry.grid) != (old_geometry.types, old_geometry.grid) \
            or len(self.enabled) != self.geometry.n_primary
        if regrid:  # another grid: its own capsules, all on, none chosen
            self.enabled = np.ones(self.geometry.n_primary, bool)
            self.primary = NO_PRIMARY
        self.probe_result = self.sweep = self.grid = self.predictions = self.robustness = self.ablation = None
        self.routers = None
        self.sweep_cnn = None
        self.progress = {}
        self.pose_stats, self.equivariance, self.pose_stats_why = None, None, ""
        self.modelChanged.emit()
        if reshaped:
            self.resultChanged.emit()
        if regrid:
            self.partsChanged.emit()
            self.primaryChanged.emit(NO_PRIMARY)
        for signal in (self.probeResultChanged, self.sweepChanged, self.gridChanged, self.predictionsChanged,
                       self.robustnessChanged, self.labDataChanged):
            signal.emit()

    def redraw(self) -> None:
        """The look changed (a theme): every panel draws again from the same data."""
        for signal in (self.resultChanged, self.viewChanged, self.cnnChanged,
                       self.probeResultChanged, self.sweepChanged, self.gridChanged, self.predictionsChanged,
                       self.robustnessChanged):
            signal.emit()

    def set_lab_data(self, data) -> None:
        """jobs.LabData for the model shown, or None (another model is loading)."""
        self.pose_stats = data.pose_stats if data is not None else None
        self.equivariance = data.equivariance if data is not None else None
        self.pose_stats_why = data.why if data is not None else ""
        self.labDataChanged.emit()

    def set_lab_view(self, view: str) -> None:
        if view != self.lab_view:
            self.lab_view = view
            self.labViewChanged.emit()

    def set_lab_result(self, field: str, value) -> None:
        """`field`: probe_result, sweep, sweep_cnn, grid, predictions, robustness or routers."""
        setattr(self, field, value)
        signal = {"probe_result": self.probeResultChanged, "sweep": self.sweepChanged, "sweep_cnn": self.sweepChanged,
                  "grid": self.gridChanged, "predictions": self.predictionsChanged, "ablation": self.predictionsChanged,
                  "robustness": self.robustnessChanged, "routers": self.routersChanged}[field]
        signal.emit()

    def want_model(self, name: str) -> None:
        """Asks for the shipped model `name` (a weights name, e.g. "mnist-attention") to be loaded."""
        self.modelWanted.emit(str(name))

    def set_progress(self, kind: str, progress) -> None:
        """`progress` None: the long job ended or was cancelled."""
        if progress is None:
            self.progress.pop(kind, None)
        else:
            self.progress[kind] = progress
        self.progressChanged.emit(kind)

    # --- choices ------------------------------------------------------------------------------
    def set_iteration(self, iteration: int) -> None:
        if self.trace is None:
            return
        iteration = int(np.clip(iteration, 0, self.trace.iterations - 1))
        if iteration != self.iteration:
            self.iteration = iteration
            self.iterationChanged.emit(iteration)

    def set_iterations(self, n: int) -> None:
        n = int(np.clip(n, 1, MAX_ITERATIONS))
        if n != self.iterations:
            self.iterations = n
            self.iterationsChanged.emit(n)

    def set_overlay_digit(self, digit: int) -> None:
        if digit != self.overlay_digit:
            self.overlay_digit = int(digit)
            self.overlayDigitChanged.emit(self.overlay_digit)

    def set_pose_digit(self, digit: int) -> None:
        if digit != self.pose_digit:
            self.pose_digit = int(digit)
            self.poseDigitChanged.emit(self.pose_digit)

    def pin(self, overlay: bool | None = None, pose: bool | None = None) -> None:
        """Keep the chosen digits for new inputs (True) or return them to the winner with each (False)."""
        if overlay is not None:
            self.overlay_pinned = bool(overlay)
        if pose is not None:
            self.pose_pinned = bool(pose)

    def set_sweep_settings(self, transform: str, values) -> None:
        """The Sweep tab's transform and its values (S,): the controller asks for it while the tab is shown. Always
        signals, changed or not: the Sweep button runs it again."""
        self.sweep_settings = (str(transform), np.array(values, np.float64))
        self.sweepSettingsChanged.emit()

    def set_grid_span(self, span) -> None:
        """"data" (±2σ of the class, from the model's training poses) or ± an offset such as the paper's 0.25."""
        span = span if span == "data" else float(span)
        if span != self.grid_span:
            self.grid_span = span
            self.gridSpanChanged.emit()

    def bend_pose(self, digit: int, pose) -> None:
        """The pose sliders of capsule `digit` moved: the decoder draws `pose` (16,) for the trace shown."""
        self.bent_pose = (int(digit), np.array(pose, np.float32))
        self.poseBent.emit()

    def set_bent(self, result) -> bool:
        """The decoder's answer for a bent pose of the trace shown (a bend of an older trace is dropped)."""
        if result is not None and (self.result is None or result.request != self.result.request):
            return False
        self.bent = result
        self.bentChanged.emit()
        return True

    def settle(self) -> None:
        """No stroke is being drawn any more (its end failed, or the canvas was cleared): panels that waited draw."""
        if self.live:
            self.live = False
            self.settled.emit()

    def set_primary(self, capsule: int) -> None:
        if capsule != self.primary:
            self.primary = int(capsule)
            self.primaryChanged.emit(self.primary)

    def set_view(self, weighted: bool | None = None, change: bool | None = None, mode: str | None = None) -> None:
        new = (self.weighted if weighted is None else bool(weighted), self.change if change is None else bool(change),
               self.mode if mode is None else str(mode))
        if new[2] not in MODES:
            raise ValueError(f"unknown routing view {new[2]!r}")
        if new != (self.weighted, self.change, self.mode):
            self.weighted, self.change, self.mode = new
            self.viewChanged.emit()

    def set_enabled(self, enabled: np.ndarray) -> None:
        """Which primary capsules take part in routing (a new input for the network)."""
        enabled = np.asarray(enabled, bool).reshape(self.geometry.n_primary)
        if not np.array_equal(enabled, self.enabled):
            self.enabled = enabled.copy()
            self.partsChanged.emit()

    def set_probe(self, name: str, value: float) -> None:
        value = transforms.check(name, value)
        if self.probe.get(name) != value:
            self.probe = dict(self.probe, **{name: value})
            self.probeChanged.emit()

    def reset_probe(self) -> None:
        if self.probe != transforms.IDENTITY:
            self.probe = dict(transforms.IDENTITY)
            self.probeChanged.emit()

    @property
    def probing(self) -> bool:
        return self.probe != transforms.IDENTITY

    # --- settings -----------------------------------------------------------------------------
    def save_settings(self, settings: QSettings) -> None:
        settings.setValue("mode", self.mode)
        settings.setValue("iterations", self.iterations)
        settings.setValue("weighted", self.weighted)
        settings.setValue("change", self.change)

    def restore_settings(self, settings: QSettings) -> None:
        try:
            self.set_iterations(int(settings.value("iterations", self.iterations)))
        except (TypeError, ValueError):
            pass  # a hand-edited settings file: keep the default
        mode = str(settings.value("mode", self.mode))
        self.set_view(weighted=settings.value("weighted", False, type=bool),
                      change=settings.value("change", False, type=bool), mode=mode if mode in MODES else "deviation")
