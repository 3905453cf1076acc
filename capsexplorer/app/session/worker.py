"""The one thread that owns the model. Jobs (capsexplorer.app.session.jobs) are coalesced — the newest of each
kind wins, so fast drawing or dragging never queues work — and so are answers: however long the GUI
thread is busy, at most one answer of each kind waits for it (`ready(kind)`, then `take(kind)`).

Long jobs are generators that yield between batches: between any two batches the interactive jobs
waiting are served (a stroke is answered while a measurement runs), and a model load or a close
cancels the long job there. An error in one job is reported and ends only that job."""
from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import torch
from PySide6.QtCore import QThread, Signal

from capsexplorer.analysis.posegrid import pose_grid
from capsexplorer.analysis.sweep import run_sweep
from capsexplorer.app.session.jobs import (
    INTERACTIVE,
    LONG,
    ORDER,
    AblationJob,
    AblationResult,
    Blank,
    CnnJob,
    CnnResult,
    GridJob,
    GridResult,
    Job,
    LabData,
    LoadModel,
    ModelInfo,
    OpenedImage,
    OpenImage,
    PoseStatsJob,
    PredictionsJob,
    PredictionsResult,
    ProbeJob,
    ProbeResult,
    Progress,
    ReconstructionResult,
    ReconstructJob,
    RobustnessJob,
    RobustnessResult,
    RoutersJob,
    RoutersResult,
    SweepCnnJob,
    SweepCnnResult,
    SweepJob,
    SweepResult,
    TraceJob,
    sweep_key,
)
from capsexplorer.app.session.state import TraceResult
from capsexplorer.app.widgets.guard import qt_safe
from capsexplorer.data import transforms
from capsexplorer.data.preprocess import load_image, preprocess_array, style_for, to_grayscale
from capsexplorer.errors import CapsExplorerError, ImageError, NoInkError

log = logging.getLogger("capsexplorer")
CHILD_DECODE_PIXELS = 4_000_000  # a larger image file is decoded in a child process: the GUI never waits on it
LONG_BATCH = 10  # images per batch of a long job: a waiting stroke is served within one batch (tens of ms)


def internal_error(exc: BaseException) -> str:
    """A bug of ours in one line, saying where its traceback is kept."""
    from capsexplorer.logfile import log_path

    return f"internal error: {type(exc).__name__}: {exc} (the traceback is in {log_path()})"


class JobCancelled(Exception):  # noqa: N818 (a signal to stop, not an error)
    """A long job stopped at a yield: a model load or a close came."""


class InferenceWorker(QThread):
    """`submit(job)` from the GUI thread; `ready(answer_type)` says an answer of that type waits, `take(answer_type)`
    collects it. Jobs go to their handler by type (`_handlers`), answers come back by type."""

    modelLoaded = Signal(object)  # ModelInfo
    ready = Signal(object)  # an answer's type: take(it)
    progress = Signal(object)  # Progress of a long job, from its first batch
    cancelled = Signal(str)  # a long job's kind: stopped by a model load or a close
    failed = Signal(str)  # one line for the user

    def __init__(self, weights: str | None = None, device: str | None = None, parent=None, model=None):
        """`model`: an already loaded CapsNet to use instead of loading `weights` (tests share one)."""
        super().__init__(parent)
        self._lock = threading.Condition()
        self._jobs: dict[str, Job] = {"load": LoadModel(weights, device, model)}
        self._results: dict[type, object] = {}  # the newest answer of each type
        self._handlers = {LoadModel: self._load, OpenImage: self._open, TraceJob: self._trace, CnnJob: self._cnn,
                          ReconstructJob: self._reconstruct, ProbeJob: self._probe, SweepJob: self._sweep,
                          SweepCnnJob: self._sweep_cnn, GridJob: self._grid, PredictionsJob: self._predictions,
                          AblationJob: self._ablation, PoseStatsJob: self._pose_stats,
                          RobustnessJob: self._robustness, RoutersJob: self._routers}
        self._stopping = False
        self._child: subprocess.Popen | None = None
        self._model = None
        self._baseline = None
        self._router_models: dict = {}  # shipped name → CapsNet: the Routers tab's models, loaded once
        self._stats_at_hand = False  # the model's pose statistics are kept (shipped or cached): no computing
        self.busy = False

    # --- called from the GUI thread ---------------------------------------------------------
    def submit(self, job: Job) -> None:
        with self._lock:
            self._jobs[job.kind] = job
            if job.kind == "trace":  # a new input: a bend of the old pose waiting to be decoded is moot
                self._jobs.pop("reconstruct", None)
            self._lock.notify()

    def load(self, weights: str | None, device: str | None = None) -> None:
        self.submit(LoadModel(weights, device))

    def take(self, answer_type: type):
        with self._lock:
            return self._results.pop(answer_type, None)

    def idle(self) -> bool:
        with self._lock:
            return not self._jobs and not self.busy

    def stop(self) -> None:
        """Drops what is queued, cancels a long job at its next batch, and ends the thread. Waits for it
        (a QThread destroyed while running aborts the process): at most one batch or one quick job."""
        with self._lock:
            self._stopping = True
            self._jobs.clear()
            child = self._child
            self._lock.notify()
        if child is not None:
            child.kill()
        self.wait()

    def _publish(self, answer) -> None:
        """Keeps only the newest answer of a type; signals only when none was waiting."""
        with self._lock:
            waiting = type(answer) in self._results
            self._results[type(answer)] = answer
        if not waiting:
            self.ready.emit(type(answer))

    # --- the worker thread ------------------------------------------------------------------
    @qt_safe()
    def run(self) -> None:
        while True:
            with self._lock:
                while not self._stopping and not self._jobs:
                    self._lock.wait()
                if self._stopping:
                    return
                kind = self._next_kind()
                job = self._jobs.pop(kind)
                self.busy = True
            try:
                if kind in LONG:
                    self._run_long(job)
                else:
                    self._run_one(job)
            finally:
                self.busy = False

    def _next_kind(self) -> str:
        """In `ORDER`, except that a long job the user asked for (Measure) goes before the ones queued for them."""
        waiting = [k for k in ORDER if k in self._jobs]
        asked = [k for k in waiting if k in LONG and self._jobs[k].asked]
        first = waiting[0]
        if self._stats_at_hand and first in LONG and "pose_stats" in waiting:
            return "pose_stats"  # read at once: the Pose column never waits behind predictions that are computed
        return asked[0] if asked and first in LONG else first

    def _run_one(self, job: Job) -> None:
        """One job; whatever it raises is reported, and the worker (and a long job around it) lives on."""
        try:
            if isinstance(job, (LoadModel, OpenImage)):
                self._handlers[type(job)](job)
            elif self._model is None:
                self.failed.emit("no model is loaded — File ▸ Open weights…")
            else:
                with torch.inference_mode():  # grad mode is per thread: entered here, in the worker
                    self._handlers[type(job)](job)
        except CapsExplorerError as exc:
            self.failed.emit(str(exc))
        except BaseException as exc:  # noqa: BLE001 — whatever happens, the worker lives on
            log.error("internal error in the worker: %s: %s", type(exc).__name__, exc, exc_info=True)
            self.failed.emit(internal_error(exc))

    def _run_long(self, job: Job) -> None:
        if self._model is None:
            return
        start = time.perf_counter()
        steps = self._handlers[type(job)](job)
        try:
            with torch.inference_mode():
                for done, total in steps:
                    if done == 1:
                        log.debug("%s: batch 1 of %d", job.kind, total)
                    self.progress.emit(Progress(job.kind, done, total, time.perf_counter() - start))
                    self._between_batches(job.kind)
        except JobCancelled:
            steps.close()
            log.debug("%s cancelled", job.kind)
            self.cancelled.emit(job.kind)
        except CapsExplorerError as exc:
            self.failed.emit(str(exc))
        except BaseException as exc:  # noqa: BLE001
            log.error("internal error in the worker: %s: %s", type(exc).__name__, exc, exc_info=True)
            self.failed.emit(internal_error(exc))

    def _between_batches(self, kind: str) -> None:
        """Serves the interactive jobs waiting now; raises JobCancelled when a close, a model load or a
        newer job of the same kind waits."""
        while True:
            with self._lock:
                if self._stopping or "load" in self._jobs or kind in self._jobs:
                    raise JobCancelled
                waiting = next((k for k in INTERACTIVE if k in self._jobs), None)
                if waiting is None:
                    return
                job = self._jobs.pop(waiting)
            self._run_one(job)

    # --- jobs -------------------------------------------------------------------------------
    def _load(self, job: LoadModel) -> None:
        """Either the new model is loaded, runs to finite outputs, and is described completely, or the
        old one stays."""
        from capsexplorer.net.weights import accuracy_text, class_names, heldout_accuracy, load_model

        name = job.weights or "(shipped)"
        log.debug("loading the model %s", "given" if job.model is not None else name)
        model = job.model if job.model is not None else load_model(job.weights, device=job.device)
        config = model.config
        with torch.inference_mode():  # warm-up (the first call pays for allocations) and a test forward
            size = config.image_size
            probe = torch.rand(2, 1, size, size, generator=torch.Generator().manual_seed(0)).to(model.device)
            tr = model.trace(probe, iterations=3)
            decoded = model.reconstruct(tr.poses[0], np.arange(config.n_classes))
        if not (np.isfinite(tr.final_lengths).all() and np.isfinite(tr.poses).all()
                and torch.isfinite(decoded).all()):
            raise CapsExplorerError(f"{model.metadata.get('path', name)}: the network's output is not finite "
                                    "(NaN or infinity): the weights are unusable; the current model stays")
        meta = model.metadata
        device = torch.cuda.get_device_name(model.device) if model.device.type == "cuda" else "CPU"
        baseline = self._load_baseline(model)
        info = ModelInfo(meta.get("path", ""), device, heldout_accuracy(meta), str(meta.get("dataset", "unknown")),
                         class_names(model), baseline.metadata.get("path") if baseline is not None else None,
                         config, accuracy_text(meta))
        self._model, self._baseline = model, baseline
        from capsexplorer.analysis import pose_stats

        self._stats_at_hand = pose_stats.cached(model) is not None  # shipped, or kept from an earlier run
        self.modelLoaded.emit(info)
        log.debug("loaded %s on %s", Path(info.path).name, device)

    @staticmethod
    def _load_baseline(model):
        """The shipped CNN, when it is there and fits this model's data set; else none (said in the log)."""
        from capsexplorer.net.weights import load_baseline, shipped_baseline_path

        path = shipped_baseline_path(model.metadata.get("dataset", "mnist5k"))
        if path is None or not path.is_file() or model.config.image_size != 28:
            return None
        try:
            return load_baseline(path, device=model.device)
        except CapsExplorerError as exc:
            log.warning("the CNN baseline is not used: %s", exc)
            return None

    def _open(self, job) -> None:
        gray = self._decode_elsewhere(job.path) if _pixels(job.path) > CHILD_DECODE_PIXELS else \
            (to_grayscale(load_image(job.path)) * 255).round().astype(np.uint8)
        self._publish(OpenedImage(job.path, gray))

    def _decode_elsewhere(self, path: str) -> np.ndarray:
        """Decodes a large image file in a child process: a decoder holds the interpreter's lock for
        hundreds of milliseconds, which would stall the GUI thread; a child holds only its own."""
        import io

        child = subprocess.Popen([sys.executable, "-c", _DECODE], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE)
        with self._lock:
            if self._stopping:
                child.kill()
            self._child = child
        try:
            out, err = child.communicate(str(path).encode("utf-8", "surrogateescape"))
        finally:
            with self._lock:
                self._child = None
        if child.returncode != 0:
            message = err.decode("utf-8", "replace").strip().splitlines()
            raise ImageError(message[-1] if message and child.returncode == 2 else f"{path}: cannot read image "
                             f"(the decoder stopped with code {child.returncode})")
        return np.load(io.BytesIO(out))

    def _stale_mask(self, mask) -> bool:
        """A parts mask of the model before a switch (another number of primary capsules): the job is dropped,
        the new model's own request follows."""
        stale = mask is not None and np.size(mask) != self._model.config.n_primary
        if stale:
            log.debug("dropped a request with a parts mask of another model's shape (%d capsules)", np.size(mask))
        return stale

    def _stale_image(self, image) -> bool:
        """An input of the model before a switch (another input size, e.g. 36×36 → 28×28): dropped likewise."""
        size = self._model.config.image_size
        stale = np.shape(image)[-2:] != (size, size)
        if stale:
            log.debug("dropped a request with an input of another model's size %s", np.shape(image))
        return stale

    def _trace(self, job) -> None:
        if self._stale_mask(job.mask):
            return
        start = time.perf_counter()
        try:
            x = np.asarray(job.image, np.float32) if job.preprocessed else \
                preprocess_array(job.image, style_for(self._model.metadata.get("dataset")))  # (28, 28)
        except NoInkError:
            self._publish(Blank(job.request))
            return
        tr = self._model.trace(x[None, None], iterations=job.iterations, keep_u_hat=True, primary_mask=job.mask)
        if not np.isfinite(tr.final_lengths).all():
            raise CapsExplorerError(f"{self._model.metadata.get('path', 'the model')}: the network's output "
                                    "is not finite (NaN or infinity): the weights are unusable")
        recon = self._model.reconstruct(tr.poses[0], np.arange(tr.poses.shape[1])).numpy()  # (J, H, H)
        result = TraceResult(job.request, tr.images[0], tr, recon, time.perf_counter() - start)
        self._publish(result)  # the CNN's answer is asked once the capsules' is drawn (the controller's CnnJob)

    def _follow_up(self, job: Job) -> None:
        """Queues the CNN's half of an answer; one for a newer request replaces an older one still waiting (the
        older answer would be dropped as stale, and the newer one never asked)."""
        with self._lock:
            self._jobs[job.kind] = job

    def _cnn(self, job) -> None:
        if self._baseline is not None and not self._stale_image(job.image):  # asked of the model before a switch
            self._publish(CnnResult(job.request, self._baseline.predict(job.image[None, None])[0]))

    def _sweep_cnn(self, job) -> None:
        if self._baseline is not None:
            self._publish(SweepCnnResult(job.request, self._baseline.predict(job.images), job.sweep))

    def _probe(self, job) -> None:
        if self._stale_mask(job.mask) or self._stale_image(job.image):
            return
        start = time.perf_counter()
        image = transforms.apply_all(job.image, job.settings)
        tr = self._model.trace(image[None, None], iterations=job.iterations, primary_mask=job.mask)
        recon = self._model.reconstruct(tr.poses[0], np.arange(tr.poses.shape[1])).numpy()  # (J, H, H)
        cnn = self._baseline.predict(image[None, None])[0] if self._baseline is not None else None  # ~1 ms
        self._publish(ProbeResult(job.request, job.settings, image, tr.final_lengths[0], tr.poses[0],
                                           int(tr.prediction[0]), recon, time.perf_counter() - start, cnn))

    def _sweep(self, job) -> None:
        if self._stale_image(job.image):
            return
        start = time.perf_counter()
        sweep = run_sweep(self._model, job.image, job.transform, job.values, job.iterations)
        self._publish(SweepResult(job.request, sweep, None, time.perf_counter() - start))
        if self._baseline is not None:  # the CNN's view of the same sweep follows, as after a trace
            self._follow_up(SweepCnnJob(job.request, sweep.images, sweep_key(sweep.transform, sweep.values)))

    def _fits(self, digit: int, pose) -> bool:
        """A pose request of the model in use (not one asked of the model before a switch, still queued)."""
        config = self._model.config
        fits = 0 <= digit < config.n_classes and np.shape(pose) == (config.digit_dim,)
        if not fits:
            log.debug("dropped a pose request of another model's shape (capsule %d, pose %s)", digit, np.shape(pose))
        return fits

    def _grid(self, job) -> None:
        if not self._fits(job.digit, job.pose):
            return
        start = time.perf_counter()
        from capsexplorer.analysis.posegrid import read_as

        grid = pose_grid(self._model, job.pose, job.digit, job.span, job.steps, sigma=job.sigma)
        labels = grid.labels()
        for row, read in zip(labels, read_as(self._model, grid)):
            row["read_as"] = read.tolist()  # the class the network reads in each tile
        self._publish(GridResult(job.request, grid, labels, time.perf_counter() - start))

    def _reconstruct(self, job) -> None:
        if not self._fits(job.digit, job.pose):
            return
        start = time.perf_counter()
        image = self._model.reconstruct(job.pose[None], [job.digit]).numpy()[0]
        self._publish(ReconstructionResult(job.request, job.digit, job.pose, image,
                                                          time.perf_counter() - start))

    def _routers(self, job) -> None:
        from capsexplorer.analysis import router_comparison as rc
        from capsexplorer.net.config import ROUTERS

        start = time.perf_counter()
        dataset = self._model.metadata.get("dataset", "")
        if not job.pair and dataset not in ("mnist", "mnist5k"):
            self._publish(RoutersResult(job.request, why="the routers were trained on digits: open a digits model "
                                                         "(File ▸ Shipped models) to compare them on a digit"))
            return
        names = [rc.pairs_name(r) if job.pair else rc.digits_name(r) for r in ROUTERS]
        models, missing = {}, []
        for name in filter(None, names):
            with self._lock:
                if "load" in self._jobs or self._stopping:
                    return  # another model is asked for: its answer is moot, and the load does not wait behind ours
            try:
                model = self._router_model(name)
            except CapsExplorerError as exc:  # a damaged file: the other routers still answer
                missing.append(f"{name} ({exc})")
                continue
            if model is None:
                missing.append(f"{name} (not in this copy)")
            elif model.config.image_size == job.image.shape[-1]:
                models[name] = model
        why = f"Not shown: {'; '.join(missing)}." if missing else ""
        views = rc.side_by_side(models, job.image, job.iterations, job.pair)
        self._publish(RoutersResult(job.request, tuple(views), why, time.perf_counter() - start))

    def _router_model(self, name: str):
        """The shipped model `name`, loaded once on the device of the model in use; None where it is not shipped."""
        from capsexplorer.net.weights import load_model, resolve_weights

        if name not in self._router_models:
            if not resolve_weights(name).is_file():
                return None
            self._router_models[name] = load_model(name, device=self._model.device)
        return self._router_models[name]

    # --- long jobs: generators of (done, total) ----------------------------------------------
    def _predictions(self, job):
        from capsexplorer.analysis.predictions import predict_steps
        from capsexplorer.data.datasets import model_samples
        from capsexplorer.progress_events import batches

        start = time.perf_counter()
        dataset = self._model.metadata.get("dataset", "mnist5k")
        try:  # images of the model's own data it never trained on, shipped with the package: no download
            found = model_samples(dataset)
        except CapsExplorerError:
            found = None
        if found is None and dataset == "multimnist":  # its held-out pairs are the Pairs tab's
            from capsexplorer.analysis.captions import pair_accuracy_text
            from capsexplorer.analysis.predictions import segmentation_measured

            measured = segmentation_measured(self._model.metadata.get("path"))
            said = pair_accuracy_text(measured) if measured else ""
            self._publish(PredictionsResult(model=job.model, why="The two-digit model reads pairs, not one digit of a "
                                                               "class: its 10,000 held-out pairs (made from MNIST's "
                                                               f"test digits) are in the Pairs tab.{said}"))
            return
        if found is None:  # said in the browser itself, not as an error over the window
            self._publish(PredictionsResult(model=job.model, why=f"No held-out browser for this model: no test "
                                                               f"images of its data ({dataset}) come with "
                                                               "capsexplorer."))
            return
        split = found[0]
        classes = self._model.config.n_classes
        if split.labels.max(initial=0) >= classes:  # metadata that names another model's data
            self._publish(PredictionsResult(model=job.model, why=f"No held-out browser for this model: its test "
                                                               f"images ({dataset}) have classes its {classes} "
                                                               "class capsules do not."))
            return
        steps = predict_steps(self._model, self._baseline, split, self._key(), batch=LONG_BATCH,
                              iterations=job.iterations)

        def capsnet_first(partial) -> None:  # the browser opens on the CapsNet's predictions; the CNN's follow
            self._publish(PredictionsResult(split, partial, time.perf_counter() - start, False, model=job.model))
        final = yield from batches(steps, partial=capsnet_first)
        self._publish(PredictionsResult(split, final, time.perf_counter() - start, model=job.model))

    def _ablation(self, job):
        from capsexplorer.analysis.predictions import predict_steps
        from capsexplorer.data.datasets import model_samples
        from capsexplorer.progress_events import batches

        try:
            found = model_samples(self._model.metadata.get("dataset", "mnist5k"))
        except CapsExplorerError:
            found = None
        if found is None:
            return
        split, accuracy = found[0], {}
        for count in job.COUNTS:
            steps = predict_steps(self._model, self._baseline, split, self._key(), batch=LONG_BATCH, iterations=count)
            predictions = yield from batches(steps)
            accuracy[count] = float(np.mean(predictions.prediction == predictions.labels))
        self._publish(AblationResult(accuracy, job.model))

    def _pose_stats(self, job):
        from capsexplorer.analysis import pose_stats
        from capsexplorer.analysis.predictions import equivariance_file, read_json
        from capsexplorer.errors import DataError

        equivariance = read_json(equivariance_file(self._model, self._baseline))
        stats, why = pose_stats.cached(self._model), ""
        if stats is None:
            try:
                split, source = pose_stats.training_images(self._model)
            except DataError as exc:
                split, why = None, str(exc)
            if split is not None:
                stats = yield from pose_stats.stats_steps(self._model, split, source, batch=LONG_BATCH * 5,
                                                              per_class=pose_stats.PER_CLASS)
                pose_stats.store(self._model, stats)
        self._publish(LabData(stats, equivariance, why, job.model))

    def _robustness(self, job):
        from capsexplorer.analysis import robustness
        from capsexplorer.analysis.predictions import cached_file, read_json, robustness_file, store_json
        from capsexplorer.files import resource_path

        if self._baseline is None:
            if not job.cached_only:
                self.failed.emit("the robustness comparison needs the CNN baseline of this model's data, "
                                 "and none is loaded")
            return
        name = robustness_file(self._model, self._baseline)
        result = read_json(name)  # measured before here or by `capsexplorer robustness`, or shipped
        if result is not None:
            shipped = cached_file(name).parent == resource_path(name).parent
            result = dict(result, source="shipped" if shipped else "kept")
        elif not job.cached_only:
            models = {"capsnet": self._model, "cnn": self._baseline}
            result = yield from robustness.measure_steps(models, robustness.test_digits(), batch=LONG_BATCH)
            if name:
                store_json(name, result)
            result = dict(result, source="measured")
        if result is not None:
            self._publish(RobustnessResult(result, job.model))

    def _key(self) -> str | None:
        from capsexplorer.analysis.predictions import weights_key

        try:
            return weights_key(self._model.metadata.get("path"),
                               self._baseline.metadata.get("path") if self._baseline is not None else None)
        except (OSError, TypeError):
            return None


_DECODE = """
import sys
import numpy as np
from capsexplorer.errors import CapsExplorerError
from capsexplorer.data.preprocess import load_image, to_grayscale
path = sys.stdin.buffer.read().decode("utf-8", "surrogateescape")
try:
    gray = (to_grayscale(load_image(path)) * 255).round().astype(np.uint8)
except CapsExplorerError as exc:
    print(exc, file=sys.stderr)
    sys.exit(2)
np.save(sys.stdout.buffer, gray)
"""


def _pixels(path: str) -> int:
    """Width × height from the file's header (0 when it cannot be read: the normal path says why)."""
    import warnings

    from PIL import Image

    from capsexplorer.data.preprocess import _formats
    from capsexplorer.files import regular_file

    try:
        regular_file(path, ImageError)  # never a FIFO or a device: opening one would wait for ever
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a decompression-bomb warning: the child reduces it at once
            with Image.open(path, formats=_formats()) as image:
                return image.width * image.height
    except Exception:  # noqa: BLE001 — any failure is reported by load_image itself
        return 0
