"""The one thread that owns the model. Requests are coalesced — the newest of each kind wins, so
fast drawing or dragging never queues work — and so are results: however long the GUI thread is
busy, at most one answer of each kind waits for it. Pose moves run only the decoder."""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PySide6.QtCore import QThread, Signal

from .. import transforms
from ..errors import CapsExplorerError, NoInkError
from ..preprocess import load_image, preprocess_array, style_for, to_grayscale
from .state import TraceResult

log = logging.getLogger("capsexplorer")
JOB_ORDER = ("load", "open", "trace", "reconstruct", "cnn", "probe", "grid", "sweep", "sweep_cnn", "predictions",
             "robustness")
INTERACTIVE = ("trace", "reconstruct", "cnn", "probe", "grid", "sweep", "sweep_cnn")  # served within long jobs  # the first waiting runs next


@dataclass(frozen=True)
class ModelInfo:
    path: str
    device: str  # "CPU" or the GPU's name
    heldout_accuracy: float | None
    dataset: str
    classes: tuple[str, ...]
    cnn_path: str | None = None  # the CNN baseline loaded beside it, if any


@dataclass(frozen=True)
class Blank:
    """The traced image held no ink."""

    request: int


@dataclass(frozen=True)
class ReconstructionResult:
    request: int
    digit: int
    pose: np.ndarray  # (16,)
    image: np.ndarray  # (28, 28)
    seconds: float


@dataclass(frozen=True)
class ProbeResult:
    """The network input under the probe's transforms, routed."""

    request: int
    settings: dict  # transform name → value
    image: np.ndarray  # (28, 28) the transformed input
    lengths: np.ndarray  # (10,)
    poses: np.ndarray  # (10, 16)
    prediction: int
    reconstructions: np.ndarray  # (10, 28, 28) each capsule's own pose decoded
    seconds: float


@dataclass(frozen=True)
class LabResult:
    """A sweep or a pose grid, with the request it answers and how long it took."""

    request: int
    value: object  # capsexplorer.sweep.Sweep or capsexplorer.posegrid.PoseGrid
    labels: object  # the grid's dimension names, or the CNN's probabilities (S, 10) along a sweep
    seconds: float


@dataclass(frozen=True)
class OpenedImage:
    path: str
    image: np.ndarray  # (H, W) uint8 greyscale, at most MAX_SIDE a side


class InferenceWorker(QThread):
    """Ask with `request_*` from the GUI thread; `traceReady`, `reconstructionReady` and
    `imageOpened` say an answer waits, and `take_*` collects the newest one."""

    modelLoaded = Signal(object)  # ModelInfo
    traceReady = Signal()  # take_trace(): a TraceResult or a Blank
    reconstructionReady = Signal()  # take_reconstruction()
    imageOpened = Signal()  # take_image()
    probeReady = Signal()  # take_probe()
    cnnReady = Signal()  # take_cnn(): (request, probabilities (10,))
    sweepCnnReady = Signal()  # take_sweep_cnn(): (request, probabilities (S, 10))
    predictionsReady = Signal()  # take_predictions(): (Split, SetPredictions, seconds, final) or (None, why)
    predictionsProgress = Signal(int, int)  # done, total
    robustnessReady = Signal()  # take_robustness(): the result dict
    robustnessProgress = Signal(int, int)
    sweepReady = Signal()  # take_sweep()
    gridReady = Signal()  # take_grid()
    failed = Signal(str)  # one line for the user

    def __init__(self, weights: str | None = None, device: str | None = None, parent=None, model=None):
        """`model`: an already loaded CapsNet to use instead of loading `weights` (tests share one)."""
        super().__init__(parent)
        self._lock = threading.Condition()
        self._jobs: dict[str, tuple] = {}
        self._jobs["load"] = ("model", model) if model is not None else ("path", weights, device)
        self._results: dict[str, object] = {}
        self._stopping = False
        self._model = None
        self._baseline = None
        self.busy = False

    # --- called from the GUI thread ---------------------------------------------------------
    def load(self, weights: str | None, device: str | None = None) -> None:
        self._put("load", ("path", weights, device))

    def request_trace(self, image: np.ndarray, iterations: int, request: int, enabled: np.ndarray | None = None,
                      preprocessed: bool = False, live: bool = False) -> None:
        """Queues `image` (any size, either polarity) for preprocessing and routing as `request`;
        `enabled` (1152,) bool switches primary capsules off; `preprocessed`: `image` is already the
        28×28 network input (a dataset digit), routed as it is; `live`: a trace while a stroke is being
        drawn — the CNN's follow-up waits for the stroke's end, so it never delays the next live trace."""
        mask = None if enabled is None or np.all(enabled) else np.array(enabled, bool)
        self._put("trace", (request, np.array(image, copy=True), int(iterations), mask, bool(preprocessed), live))

    def request_probe(self, network_input: np.ndarray, settings: dict, iterations: int, request: int,
                      enabled: np.ndarray | None = None) -> None:
        """The 28×28 network input (already preprocessed) under `settings`, routed."""
        mask = None if enabled is None or np.all(enabled) else np.array(enabled, bool)
        self._put("probe", (request, np.array(network_input, np.float32), dict(settings), int(iterations), mask))

    def request_sweep(self, network_input: np.ndarray, transform: str, values, iterations: int, request: int) -> None:
        self._put("sweep", (request, np.array(network_input, np.float32), transform,
                            np.array(values, np.float64), int(iterations)))

    def request_grid(self, pose: np.ndarray, digit: int, span: float, steps: int, request: int) -> None:
        self._put("grid", (request, np.array(pose, np.float32), int(digit), float(span), int(steps)))

    def request_predictions(self) -> None:
        """Both models' predictions for the whole held-out set (cached per weights file)."""
        self._put("predictions", ())

    def request_robustness(self, cached_only: bool = False) -> None:
        """Both models under every transform (minutes; cached per weights). `cached_only`: answer only
        if a cached result is there."""
        self._put("robustness", (cached_only,))

    def take_robustness(self):
        return self._take("robustness")

    def take_predictions(self):
        return self._take("predictions")

    def take_sweep_cnn(self):
        return self._take("sweep_cnn")

    def take_cnn(self):
        return self._take("cnn")

    def take_probe(self) -> ProbeResult | None:
        return self._take("probe")

    def take_sweep(self) -> LabResult | None:
        return self._take("sweep")

    def take_grid(self) -> LabResult | None:
        return self._take("grid")

    def request_reconstruction(self, pose: np.ndarray, digit: int, request: int = 0) -> None:
        """Decodes a bent pose; `request` is the generation of the trace it bends (an answer for an
        older trace is dropped by the window)."""
        self._put("reconstruct", (int(request), np.array(pose, dtype=np.float32, copy=True), int(digit)))

    def request_open(self, path: str) -> None:
        """Reads an image file (decoded at reduced size when large) off the GUI thread."""
        self._put("open", (str(path),))

    def take_trace(self):
        return self._take("trace")

    def take_reconstruction(self) -> ReconstructionResult | None:
        return self._take("reconstruct")

    def take_image(self) -> OpenedImage | None:
        return self._take("open")

    def stop(self) -> None:
        """Drops what is queued, lets the job in progress finish, and ends the thread. Waits for it:
        a QThread destroyed while running aborts the whole process."""
        with self._lock:
            self._stopping = True
            self._jobs.clear()
            self._lock.notify()
        self.wait()

    def _put(self, kind: str, job: tuple) -> None:
        with self._lock:
            self._jobs[kind] = job
            if kind == "trace":  # a new input: a bend of the old pose waiting to be decoded is moot
                self._jobs.pop("reconstruct", None)
            self._lock.notify()

    def _take(self, kind: str):
        with self._lock:
            return self._results.pop(kind, None)

    def _publish(self, kind: str, result, signal) -> None:
        """Keeps only the newest result of a kind; signals only when none was waiting."""
        with self._lock:
            waiting = kind in self._results
            self._results[kind] = result
        if not waiting:
            signal.emit()

    # --- the worker thread ------------------------------------------------------------------
    def run(self) -> None:
        while True:
            with self._lock:
                while not self._stopping and not self._jobs:
                    self._lock.wait()
                if self._stopping:
                    return
                kind = next(k for k in JOB_ORDER if k in self._jobs)
                job = self._jobs.pop(kind)
                self.busy = True
            try:
                self._do(kind, job)
            except CapsExplorerError as exc:
                self.failed.emit(str(exc))
            except BaseException as exc:  # noqa: BLE001 — whatever happens, the worker lives on
                log.error("internal error in the worker: %s: %s", type(exc).__name__, exc, exc_info=True)
                self.failed.emit(f"internal error: {type(exc).__name__}: {exc}")
            finally:
                self.busy = False

    def _do(self, kind: str, job: tuple) -> None:
        if kind == "load":
            self._do_load(job)
        elif kind == "open":
            self._do_open(*job)
        elif self._model is None:
            self.failed.emit("no model is loaded — File ▸ Open weights…")
        else:
            with torch.inference_mode():  # grad mode is per thread: entered here, in the worker
                {"trace": self._do_trace, "reconstruct": self._do_reconstruct, "probe": self._do_probe,
                 "sweep": self._do_sweep, "grid": self._do_grid, "predictions": self._do_predictions, "cnn": self._do_cnn,
                 "sweep_cnn": self._do_sweep_cnn,
                 "robustness": self._do_robustness}[kind](*job)

    def _do_load(self, job: tuple) -> None:
        """Either the new model is loaded, warmed up and described completely, or the old one stays."""
        from ..weights import class_names, heldout_accuracy, load_model

        log.debug("loading the model%s", "" if job[0] == "model" else f" {job[1] or '(shipped)'}")
        if job[0] == "model":
            model = job[1]
        else:
            model = load_model(job[1], device=job[2])  # raises WeightsError with one line
        if model.config.n_classes != 10:  # the panels draw ten capsules
            raise CapsExplorerError(f"{job[1] if job[0] != 'model' else 'this model'}: it has "
                                    f"{model.config.n_classes} classes; the explorer shows models of 10 classes "
                                    "(evaluate and classify it on the command line)")
        with torch.inference_mode():  # warm-up: the first call pays for allocations and kernel choice
            model.trace(torch.zeros(1, 1, 28, 28, device=model.device), iterations=3)
        meta = model.metadata
        path = meta.get("path", "")
        classes = class_names(model)
        name = torch.cuda.get_device_name(model.device) if model.device.type == "cuda" else "CPU"
        baseline = self._load_baseline(model)
        info = ModelInfo(path, name, heldout_accuracy(meta), str(meta.get("dataset", "unknown")), classes,
                         baseline.metadata.get("path") if baseline is not None else None)
        self._model, self._baseline = model, baseline
        self.modelLoaded.emit(info)
        log.debug("loaded %s on %s", Path(path).name, name)

    def _do_robustness(self, cached_only: bool) -> None:
        import json

        from .. import robustness
        from ..data import heldout_samples
        from ..predictions import cache_dir, weights_key

        if self._baseline is None:
            if not cached_only:
                self.failed.emit("the robustness comparison needs the CNN baseline, and none is loaded")
            return
        try:
            key = weights_key(self._model.metadata.get("path"), self._baseline.metadata.get("path"))
            path = cache_dir() / f"robustness-{key}.json"
            result = json.loads(path.read_text()) if path.is_file() else None
        except (OSError, TypeError, ValueError):
            path, result = None, None
        if result is None and not cached_only:
            total = sum(len(v) for v in robustness.VALUES.values())
            done = []

            def progress(_transform, _value) -> None:
                done.append(1)
                self.robustnessProgress.emit(len(done), total)
                self._serve_waiting()

            models = {"capsnet": self._model, "cnn": self._baseline}
            result = robustness.measure(models, heldout_samples(), progress=progress)
            if path is not None:
                try:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_text(json.dumps(result))
                except OSError:
                    pass
        if result is not None:
            self._publish("robustness", result, self.robustnessReady)

    def _serve_waiting(self) -> None:
        """Runs the interactive jobs (traces, decoder calls, the lab's views) waiting now, from inside a
        long one (the held-out predictions, the robustness measurement)."""
        for kind in INTERACTIVE:
            with self._lock:
                job = self._jobs.pop(kind, None)
            if job is not None:
                self._do(kind, job)

    @staticmethod
    def _load_baseline(model):
        """The shipped CNN, when it is there and fits this model's data set; else none (said in the log)."""
        from ..weights import SHIPPED_CNN, load_baseline, shipped_weights_path

        path = shipped_weights_path(SHIPPED_CNN)
        if not path.is_file() or model.metadata.get("dataset", "mnist5k") != "mnist5k":
            return None
        try:
            return load_baseline(path, device=model.device)
        except CapsExplorerError as exc:
            log.warning("the CNN baseline is not used: %s", exc)
            return None

    def _do_predictions(self) -> None:
        from ..data import model_samples
        from ..predictions import SetPredictions, predict_set, weights_key

        start = time.perf_counter()
        dataset = self._model.metadata.get("dataset", "mnist5k")
        try:  # images of the model's own data it never trained on, shipped with the package: no download
            found = model_samples(dataset)
        except CapsExplorerError:
            found = None
        if found is None:  # said in the browser itself, not as an error over the window
            self._publish("predictions", (None, f"No held-out browser for this model: no test images of its "
                                                f"data ({dataset}) come with capsexplorer."), self.predictionsReady)
            return
        split = found[0]
        paths = [self._model.metadata.get("path")]
        paths.append(self._baseline.metadata.get("path") if self._baseline is not None else None)
        try:
            key = weights_key(*paths)
        except (OSError, TypeError):
            key = None
        def progress(done: int, total: int) -> None:
            self.predictionsProgress.emit(done, total)
            self._serve_waiting()  # a trace asked for meanwhile goes first: drawing never waits seconds

        def partial(first: SetPredictions) -> None:  # the browser opens on the CapsNet's; the CNN's follow
            self._publish("predictions", (split, first, time.perf_counter() - start, False), self.predictionsReady)
            self._serve_waiting()

        predictions = predict_set(self._model, self._baseline, split, key, progress=progress, partial=partial)
        self._publish("predictions", (split, predictions, time.perf_counter() - start, True), self.predictionsReady)

    def _do_open(self, path: str) -> None:
        gray = (to_grayscale(load_image(path)) * 255).round().astype(np.uint8)
        self._publish("open", OpenedImage(path, gray), self.imageOpened)

    def _do_trace(self, request: int, image: np.ndarray, iterations: int, mask, preprocessed: bool = False,
                  live: bool = False) -> None:
        start = time.perf_counter()
        try:
            x = np.asarray(image, np.float32) if preprocessed else \
                preprocess_array(image, style_for(self._model.metadata.get("dataset")))  # (28, 28)
        except NoInkError:
            self._publish("trace", Blank(request), self.traceReady)
            return
        tr = self._model.trace(x[None, None], iterations=iterations, keep_u_hat=True, primary_mask=mask)
        if not np.isfinite(tr.final_lengths).all():
            raise CapsExplorerError(f"{self._model.metadata.get('path', 'the model')}: the network's output "
                                    "is not finite (NaN or infinity): the weights are unusable")
        recon = self._model.reconstruct(tr.poses[0], np.arange(10)).numpy()  # (10, 28, 28)
        self._publish("trace", TraceResult(request, x, tr, recon, time.perf_counter() - start), self.traceReady)
        if self._baseline is not None and not live:  # the CNN's answer follows: the capsules never wait for it
            with self._lock:
                self._jobs["cnn"] = (request, x)

    def _do_sweep_cnn(self, request: int, images: np.ndarray) -> None:
        if self._baseline is not None:
            self._publish("sweep_cnn", (request, self._baseline.predict(images)), self.sweepCnnReady)

    def _do_cnn(self, request: int, x: np.ndarray) -> None:
        if self._baseline is not None:
            self._publish("cnn", (request, self._baseline.predict(x[None, None])[0]), self.cnnReady)

    def _do_probe(self, request: int, x: np.ndarray, settings: dict, iterations: int, mask) -> None:
        start = time.perf_counter()
        image = transforms.apply_all(x, settings)
        tr = self._model.trace(image[None, None], iterations=iterations, primary_mask=mask)
        recon = self._model.reconstruct(tr.poses[0], np.arange(10)).numpy()  # (10, 28, 28)
        self._publish("probe", ProbeResult(request, settings, image, tr.final_lengths[0], tr.poses[0],
                                           int(tr.prediction[0]), recon, time.perf_counter() - start),
                      self.probeReady)

    def _do_sweep(self, request: int, x: np.ndarray, transform: str, values: np.ndarray, iterations: int) -> None:
        start = time.perf_counter()
        sweep = self._model.sweep(x, transform, values, iterations)
        self._publish("sweep", LabResult(request, sweep, None, time.perf_counter() - start), self.sweepReady)
        if self._baseline is not None:  # the CNN's view of the same sweep follows, as after a trace
            with self._lock:
                self._jobs["sweep_cnn"] = (request, sweep.images)

    def _do_grid(self, request: int, pose: np.ndarray, digit: int, span: float, steps: int) -> None:
        start = time.perf_counter()
        grid = self._model.pose_grid(pose, digit, span, steps)
        labels = grid.labels()
        self._publish("grid", LabResult(request, grid, labels, time.perf_counter() - start), self.gridReady)

    def _do_reconstruct(self, request: int, pose: np.ndarray, digit: int) -> None:
        start = time.perf_counter()
        image = self._model.reconstruct(pose[None], [digit]).numpy()[0]
        self._publish("reconstruct", ReconstructionResult(request, digit, pose, image, time.perf_counter() - start),
                      self.reconstructionReady)
