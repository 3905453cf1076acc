"""Between the explorer state and the inference worker: turns changes of the state (a new input, a new
iteration count, parts switched off, the probe, the lab view shown) into typed jobs tagged with the
state's generation, and writes the worker's answers back into the state after one id check. Panels
draw from the state; nothing here touches a widget."""
from __future__ import annotations

import dataclasses
import logging

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from capsexplorer.app.session import jobs
from capsexplorer.app.session.state import ExplorerState, TraceResult
from capsexplorer.app.session.worker import InferenceWorker

log = logging.getLogger("capsexplorer")


AFTER_PAINT_MS = 60  # a stroke's end: the CNN and the lab's views wait until the panels are painted (~20-40 ms)


class Controller(QObject):
    traceShown = Signal(object)  # TraceResult, once the state holds it (drawn, but for the panels waiting for a
    # stroke's end while it is live)
    blankShown = Signal()  # nothing to show: the canvas is empty, or the image held no ink
    reconstructionShown = Signal(object)  # ReconstructionResult of a bent pose
    imageOpened = Signal(object)  # OpenedImage: a file read in the worker
    modelReady = Signal(object)  # ModelInfo
    probeShown = Signal(object)
    sweepShown = Signal(object)  # SweepResult
    gridShown = Signal(object)  # GridResult
    predictionsShown = Signal(object)  # SetPredictions
    robustnessShown = Signal(object)  # the robustness result dict
    failed = Signal(str)

    def __init__(self, state: ExplorerState, worker: InferenceWorker, parent=None):
        super().__init__(parent)
        self.state, self.worker = state, worker
        self._live = False  # the newest request is a trace of a stroke still being drawn
        self._asked: jobs.TraceJob | None = None  # the last trace asked for, until it fails
        self._asked_model = -1  # the model generation it was asked of
        self._adopted = False  # a stroke's end waits for the live trace `_asked`
        self._answered = -1  # the last request whose trace (or blank) the state took
        self._early_sweep_cnn = None  # the CNN's view of a sweep taken before the sweep itself
        self._takers = {TraceResult: self._took_trace, jobs.Blank: self._took_blank,
                        jobs.ReconstructionResult: self._took_reconstruct, jobs.OpenedImage: self._took_open,
                        jobs.CnnResult: self._took_cnn, jobs.ProbeResult: self._took_probe,
                        jobs.SweepResult: self._took_sweep, jobs.SweepCnnResult: self._took_sweep_cnn,
                        jobs.GridResult: self._took_grid, jobs.PredictionsResult: self._took_predictions,
                        jobs.AblationResult: self._took_ablation, jobs.RobustnessResult: self._took_robustness,
                        jobs.LabData: self._took_pose_stats,
                        jobs.RoutersResult: self._took_routers}  # every answer's type → what takes it
        state.inputChanged.connect(self.request_trace)
        state.iterationsChanged.connect(lambda _n: self.request_trace())
        state.iterationsChanged.connect(self._predictions_for_count)
        state.partsChanged.connect(self.request_trace)
        state.probeChanged.connect(self.request_probe)
        state.poseDigitChanged.connect(lambda _d: self.request_grid())
        state.labViewChanged.connect(self.request_lab_view)
        state.sweepSettingsChanged.connect(self.request_sweep)
        state.gridSpanChanged.connect(self.request_grid)
        state.poseBent.connect(self.request_reconstruction)
        state.modelWanted.connect(self.load)
        worker.ready.connect(self._answer)
        worker.modelLoaded.connect(self._model_loaded)
        worker.progress.connect(lambda p: state.set_progress(p.kind, p))
        worker.cancelled.connect(lambda kind: state.set_progress(kind, None))
        worker.failed.connect(self._failed)

    # --- requests -----------------------------------------------------------------------------
    def request_trace(self) -> None:
        """A new input (or iteration count, or parts): every answer to an older request is dropped from
        now on, a blank canvas's included — but for a stroke's end whose drawing its last live trace already
        routed (see `_ends_stroke`)."""
        given = self.state.input
        if self._ends_stroke(given):
            self._end_stroke()
            return
        request = self.state.next_generation()
        self._live = given is not None and given.live
        if given is None:
            self._blank(request)
        elif self.state.model is not None:
            mask = None if self.state.enabled.all() else self.state.enabled.copy()
            self._asked = jobs.TraceJob(request, np.array(given.image, copy=True), self.state.iterations, mask,
                                        given.preprocessed, given.live)
            self._asked_model, self._adopted = self.state.model_generation, False
            self.worker.submit(self._asked)

    def _ends_stroke(self, given) -> bool:
        """Whether `given` is a stroke's end whose pixels the newest request, a live trace, already routes (the pen
        stopped before it lifted): that trace is the answer — nothing is routed again, nothing drawn twice."""
        asked = self._asked
        if given is None or given.live or given.preprocessed or asked is None or not asked.live:
            return False
        same_request = asked.request == self.state.generation and self._asked_model == self.state.model_generation
        return same_request and asked.image.shape == given.image.shape and np.array_equal(asked.image, given.image)

    def _end_stroke(self) -> None:
        """The live trace asked last becomes the stroke's end: taken as such when it comes, or now if it came — in
        the release's own handling, so the panels that waited are drawn in the same paint as that trace, if it
        is still to be painted."""
        self._live = False
        self._asked = dataclasses.replace(self._asked, live=False)
        request = self.state.generation
        self._adopted = self._answered != request
        if not self._adopted:
            shown = self.state.result
            if shown is not None and shown.request == request:
                self._took_trace(shown)  # the panels that waited draw; the CNN's answer and the lab's view follow
            else:
                self._blank(request)  # the drawing held no ink

    def request_lab_view(self) -> None:
        """The lab tab shown asks for its view of the current input; tabs not shown ask nothing."""
        if self.state.result is None or self.state.model is None:
            return
        ask = {"probe": self.request_probe, "sweep": self.request_sweep, "figure4": self.request_grid,
               "routers": self.request_routers}.get(self.state.lab_view)  # the tabs whose view is a job
        if ask is not None:
            ask()

    def request_routers(self) -> None:
        """The input shown under every shipped router, while the Routers tab is shown."""
        result = self.state.result
        if result is not None and self.state.model is not None and self.state.lab_view == "routers":
            self.worker.submit(jobs.RoutersJob(self.state.generation, result.image, self.state.iterations,
                                               self.state.two_digits))

    def request_probe(self) -> None:
        result = self.state.result
        if result is not None and self.state.model is not None:
            mask = None if self.state.enabled.all() else self.state.enabled.copy()
            self.worker.submit(jobs.ProbeJob(self.state.generation, result.image, dict(self.state.probe),
                                             self.state.iterations, mask))

    def request_sweep(self) -> None:
        """The sweep the state's settings describe, of the input shown, while the Sweep tab is shown."""
        result, settings = self.state.result, self.state.sweep_settings
        if result is not None and self.state.model is not None and settings is not None \
                and self.state.lab_view == "sweep":
            self.worker.submit(jobs.SweepJob(self.state.generation, result.image, settings[0], settings[1].copy(),
                                             self.state.iterations))

    def request_grid(self) -> None:
        result = self.state.result
        if result is None or self.state.model is None or self.state.lab_view != "figure4":
            return
        from capsexplorer.analysis import pose_stats

        digit = self.state.shown_pose_digit()
        span, sigma = self.state.grid_span, None
        if span == "data":
            stats = self.state.pose_stats
            span, sigma = (pose_stats.SIGMAS, pose_stats.spread(stats, digit)) if stats is not None else \
                (pose_stats.PAPER_SPAN, None)  # until the statistics come (or where they cannot)
        self.worker.submit(jobs.GridJob(self.state.generation, result.trace.poses[0, digit].copy(), digit,
                                        span, 11, sigma))

    def request_reconstruction(self) -> None:
        """Decodes the bent pose of the trace shown, tagged with that trace's request (a bend of an older trace, or
        one made while a newer trace was on its way, is dropped)."""
        shown = self.state.result
        if self.state.model is not None and self.state.bent_pose is not None and shown is not None:
            digit, pose = self.state.bent_pose
            self.worker.submit(jobs.ReconstructJob(shown.request, pose.copy(), digit))

    def open_image(self, path: str) -> None:
        """Reads the file in the worker (a huge image is decoded in a child process); the input changes
        only when it was read — a bad file leaves the drawing alone."""
        self.worker.submit(jobs.OpenImage(str(path)))

    def load(self, weights: str | None) -> None:
        self.worker.load(weights)

    def measure_robustness(self) -> None:
        self.worker.submit(jobs.RobustnessJob(model=self.state.model_generation))

    # --- answers ------------------------------------------------------------------------------
    def _answer(self, answer_type: type) -> None:
        answer = self.worker.take(answer_type)
        if answer is not None:
            self._takers[type(answer)](answer)

    def _current_model(self, answer) -> bool:
        """A long job's answer is for the model in use (a model load cancels them, but one can be on its way)."""
        return answer.model == self.state.model_generation

    def _took_blank(self, result) -> None:
        if result.request == self.state.generation:
            self._answered, self._adopted = result.request, False
        self._blank(result.request)

    def _took_trace(self, result) -> None:
        if self.state.accept(result, live=self._live):  # older generations are dropped
            self._answered, self._adopted = result.request, False
            self.traceShown.emit(result)
            if not self._live:  # the CNN's answer and the lab's views follow a stroke's end, not each live trace,
                # once the panels are painted: the worker never competes with the painting for the GIL (`self` as the
                # timer's context: a window closed meanwhile drops it)
                QTimer.singleShot(AFTER_PAINT_MS, self, lambda: self._after_drawn(result))

    def _after_drawn(self, result) -> None:
        if result.request == self.state.generation:
            self.worker.submit(jobs.CnnJob(result.request, result.image))
            self.request_lab_view()

    def _blank(self, request: int) -> None:
        if self.state.clear(request):
            for field in ("probe_result", "sweep", "grid", "routers"):
                self.state.set_lab_result(field, None)
            self.blankShown.emit()

    def _took_reconstruct(self, result) -> None:
        if self.state.set_bent(result):  # else it bent an older trace
            self.reconstructionShown.emit(result)

    def _took_open(self, opened) -> None:
        self.imageOpened.emit(opened)

    def _took_cnn(self, answer) -> None:
        self.state.set_cnn(answer.request, answer.probabilities)

    def _took_probe(self, result) -> None:
        if result.request == self.state.generation:
            self.state.set_lab_result("probe_result", result)
            self.probeShown.emit(result)

    def _took_sweep(self, result) -> None:
        if result.request == self.state.generation:
            early = self._early_sweep_cnn  # the CNN's half can be taken first when both wait
            self._early_sweep_cnn = None
            mine = early is not None and (early.request, early.sweep) == self._sweep_of(result)
            self.state.sweep_cnn = early.probabilities if mine else None
            self.state.set_lab_result("sweep", result)
            self.sweepShown.emit(result)

    def _took_sweep_cnn(self, answer) -> None:
        if answer.request != self.state.generation:
            return
        shown = self.state.sweep
        if shown is not None and self._sweep_of(shown) == (answer.request, answer.sweep):
            self.state.set_lab_result("sweep_cnn", answer.probabilities)
        else:  # its sweep is still to be taken
            self._early_sweep_cnn = answer

    @staticmethod
    def _sweep_of(result) -> tuple:
        return result.request, jobs.sweep_key(result.value.transform, result.value.values)

    def _took_grid(self, result) -> None:
        if result.request == self.state.generation:
            self.state.set_lab_result("grid", result)
            self.gridShown.emit(result)

    def _took_routers(self, result) -> None:
        if result.request == self.state.generation:
            self.state.set_lab_result("routers", result)

    def _took_predictions(self, result) -> None:
        if not self._current_model(result):
            return
        if result.predictions is not None and result.predictions.iterations != self.state.iterations:
            return  # computed for an iteration count no longer shown
        self.state.set_progress("predictions", None) if result.final else None
        self.state.set_lab_result("predictions", result)
        if result.predictions is not None:
            self.predictionsShown.emit(result.predictions)

    def _took_ablation(self, result) -> None:
        if self._current_model(result):
            self.state.set_progress("ablation", None)
            self.state.set_lab_result("ablation", result.accuracy)

    def _took_robustness(self, result) -> None:
        if self._current_model(result):
            self.state.set_progress("robustness", None)
            self.state.set_lab_result("robustness", result.figures)
            self.robustnessShown.emit(result.figures)

    def _took_pose_stats(self, data) -> None:
        if not self._current_model(data):
            return
        self.state.set_progress("pose_stats", None)
        self.state.set_lab_data(data)
        if self.state.grid_span == "data":
            self.request_grid()  # Figure 4 on the data's scale, now that it is known

    def _model_loaded(self, info) -> None:
        self.state.set_model(info)
        model = self.state.model_generation  # every long job's answer names the model it was asked for
        self.worker.submit(jobs.PoseStatsJob(model=model))  # the poses' scale (shipped for the shipped models)
        self.worker.submit(jobs.PredictionsJob(self.state.iterations, model))  # the browser's (kept per weights)
        self.worker.submit(jobs.AblationJob(model=model))  # does routing matter here? (shipped for shipped models)
        self.worker.submit(jobs.RobustnessJob(cached_only=True, model=model))  # at once if measured or shipped
        self.modelReady.emit(info)

    def _predictions_for_count(self, iterations: int) -> None:
        """The held-out browser follows the iteration count (computed once per weights and count)."""
        if self.state.model is not None:
            self.worker.submit(jobs.PredictionsJob(iterations, self.state.model_generation))

    def _failed(self, message: str) -> None:
        adopted = self._adopted  # a stroke's end waited for a live trace: which job failed is not said, so ask again
        self._asked, self._adopted = None, False  # (a trace that failed is asked again at the next stroke's end)
        if adopted:
            self.request_trace()  # the drawing as it ended, on its own: its answer, or its own failure, follows
        self.state.settle()  # a stroke's end that failed: the panels that waited for it draw what is shown
        self.failed.emit(message)
