"""The one thread that owns the model. Requests are coalesced: the newest of each kind wins, so
fast drawing or dragging never queues work. Pose moves run only the decoder."""
from __future__ import annotations

import os
import sys
import threading
import time
import traceback
from dataclasses import dataclass

import numpy as np
import torch
from PySide6.QtCore import QThread, Signal

from ..errors import CapsExplorerError, NoInkError
from ..preprocess import preprocess_array
from ..trace import RoutingTrace


@dataclass(frozen=True)
class ModelInfo:
    path: str
    device: str  # "CPU" or the GPU's name
    heldout_accuracy: float | None
    dataset: str
    classes: tuple[str, ...]


@dataclass(frozen=True)
class TraceResult:
    request: int
    image: np.ndarray  # (28, 28) what the network sees
    trace: RoutingTrace  # for a batch of one
    digit: int  # the capsule the reconstruction shows
    reconstruction: np.ndarray  # (28, 28)
    seconds: float  # preprocessing + trace + decoder


@dataclass(frozen=True)
class ReconstructionResult:
    request: int
    digit: int
    pose: np.ndarray  # (16,)
    image: np.ndarray  # (28, 28)
    seconds: float


def share_cores_with_the_gui() -> None:
    """Leaves one core to the GUI thread. On a 2-core laptop a trace on 2 torch threads is faster
    alone (5.7 vs 8.3 ms) but fights the painting thread: stroke end → panels drawn measured
    p95 46 ms with 2 threads and 22 ms with 1. A shorter GIL switch interval lets the worker's
    Python glue run between the GUI thread's paint calls."""
    torch.set_num_threads(max(1, (os.cpu_count() or 2) - 1))
    sys.setswitchinterval(0.001)


class InferenceWorker(QThread):
    modelLoaded = Signal(object)  # ModelInfo
    traceReady = Signal(object)  # TraceResult
    reconstructionReady = Signal(object)  # ReconstructionResult
    blank = Signal(int)  # a traced image held no ink
    failed = Signal(str)  # one line for the user

    def __init__(self, weights: str | None = None, device: str | None = None, parent=None):
        super().__init__(parent)
        share_cores_with_the_gui()
        self._lock = threading.Condition()
        self._load = (weights, device)
        self._trace = None
        self._reconstruct = None
        self._stopping = False
        self._model = None
        self._ids = 0
        self.busy = False

    # --- called from the GUI thread ---------------------------------------------------------
    def load(self, weights: str | None, device: str | None = None) -> None:
        with self._lock:
            self._load = (weights, device)
            self._lock.notify()

    def request_trace(self, image: np.ndarray, iterations: int, digit: int | None = None) -> int:
        """Queues `image` (any size, either polarity) for preprocessing and routing; returns its id.
        `digit` picks the capsule to reconstruct (None: the winner)."""
        with self._lock:
            self._ids += 1
            self._trace = (self._ids, np.array(image, copy=True), iterations, digit)
            self._lock.notify()
            return self._ids

    def request_reconstruction(self, pose: np.ndarray, digit: int) -> int:
        with self._lock:
            self._ids += 1
            self._reconstruct = (self._ids, np.array(pose, dtype=np.float32, copy=True), int(digit))
            self._lock.notify()
            return self._ids

    def stop(self, timeout_ms: int = 10_000) -> None:
        with self._lock:
            self._stopping = True
            self._trace = self._reconstruct = self._load = None
            self._lock.notify()
        self.wait(timeout_ms)

    # --- the worker thread ------------------------------------------------------------------
    def run(self) -> None:
        while True:
            with self._lock:
                while not self._stopping and not (self._load or self._trace or self._reconstruct):
                    self._lock.wait()
                if self._stopping:
                    return
                job = None
                for name in ("_load", "_trace", "_reconstruct"):
                    if getattr(self, name) is not None:
                        job = (name, getattr(self, name))
                        setattr(self, name, None)
                        break
                self.busy = True
            try:
                self._do(*job)
            except CapsExplorerError as exc:
                self.failed.emit(str(exc))
            except Exception as exc:  # keep the worker alive whatever happens
                traceback.print_exc()
                self.failed.emit(f"internal error: {type(exc).__name__}: {exc}")
            finally:
                self.busy = False

    def _do(self, kind: str, job) -> None:
        if kind == "_load":
            self._do_load(*job)
        elif self._model is None:
            self.failed.emit("no model is loaded")
        else:
            with torch.inference_mode():  # grad mode is per thread: entered here, in the worker
                if kind == "_trace":
                    self._do_trace(*job)
                else:
                    self._do_reconstruct(*job)

    def _do_load(self, weights, device) -> None:
        from ..weights import load_model

        model = load_model(weights, device=device)  # raises WeightsError with one line
        with torch.inference_mode():  # warm-up: the first call pays for allocations and kernel choice
            model.trace(torch.zeros(1, 1, 28, 28, device=model.device), iterations=3)
        self._model = model
        meta = model.metadata
        name = torch.cuda.get_device_name(model.device) if model.device.type == "cuda" else "CPU"
        accuracy = meta.get("heldout_accuracy")
        classes = tuple(meta.get("classes", ",".join(map(str, range(10)))).split(","))
        self.modelLoaded.emit(ModelInfo(meta.get("path", ""), name,
                                        float(accuracy) if accuracy else None,
                                        meta.get("dataset", "unknown"), classes))

    def _do_trace(self, request: int, image: np.ndarray, iterations: int, digit: int | None) -> None:
        start = time.perf_counter()
        try:
            x = preprocess_array(image)  # (28, 28)
        except NoInkError:
            self.blank.emit(request)
            return
        tr = self._model.trace(x[None, None], iterations=iterations)
        shown = int(tr.prediction[0]) if digit is None else int(digit)
        if shown == int(tr.prediction[0]):
            recon = tr.reconstruction[0]
        else:
            recon = self._model.reconstruct(tr.poses[:, shown], [shown]).numpy()[0]
        self.traceReady.emit(TraceResult(request, x, tr, shown, recon, time.perf_counter() - start))

    def _do_reconstruct(self, request: int, pose: np.ndarray, digit: int) -> None:
        start = time.perf_counter()
        image = self._model.reconstruct(pose[None], [digit]).numpy()[0]
        self.reconstructionReady.emit(ReconstructionResult(request, digit, pose, image,
                                                           time.perf_counter() - start))
