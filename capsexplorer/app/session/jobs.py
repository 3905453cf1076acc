"""The work the explorer asks of its one inference worker, as typed jobs, and what comes back.

Each job has a `kind`: a new job replaces a waiting one of the same kind (the newest input wins), and
kinds run in the order of `ORDER`. Jobs that answer an input carry `request`, the explorer state's
generation they were computed for: an answer to an older one is dropped after one id check. Long jobs
(`LONG`) run as generators that yield between batches; the worker serves the interactive kinds
(`INTERACTIVE`) between any two batches and cancels a long job when a model load or a close comes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from capsexplorer.net.config import CapsNetConfig

ORDER = ("load", "open", "trace", "reconstruct", "cnn", "probe", "grid", "sweep", "sweep_cnn", "routers", "predictions",
         "pose_stats", "ablation", "robustness")  # the browser's answer (often at once) before the poses' statistics
# (unless those are at hand: see InferenceWorker._next_kind)
INTERACTIVE = ("open", "trace", "reconstruct", "cnn", "probe", "grid", "sweep", "sweep_cnn", "routers")
LONG = ("pose_stats", "predictions", "ablation", "robustness")


@dataclass(frozen=True)
class Job:
    kind: ClassVar[str] = ""

    @property
    def asked(self) -> bool:
        """A long job the user asked for by a button: it goes before the long jobs the window queued itself."""
        return False


@dataclass(frozen=True)
class LoadModel(Job):
    """A weights file (a path or a shipped model's name; None: the default), or an already loaded CapsNet."""

    kind: ClassVar[str] = "load"
    weights: str | None = None
    device: str | None = None
    model: object = None


@dataclass(frozen=True)
class OpenImage(Job):
    kind: ClassVar[str] = "open"
    path: str = ""


@dataclass(frozen=True)
class TraceJob(Job):
    """An input (any size, either polarity; or, `preprocessed`, the network's own input) routed."""

    kind: ClassVar[str] = "trace"
    request: int = 0
    image: np.ndarray = field(default_factory=lambda: np.zeros((28, 28), np.float32))
    iterations: int = 3
    mask: np.ndarray | None = None  # (n_primary,) bool: primary capsules switched on; None: all
    preprocessed: bool = False
    live: bool = False  # while a stroke is drawn: the CNN's follow-up waits for the stroke's end


@dataclass(frozen=True)
class ReconstructJob(Job):
    kind: ClassVar[str] = "reconstruct"
    request: int = 0
    pose: np.ndarray = field(default_factory=lambda: np.zeros(16, np.float32))
    digit: int = 0


@dataclass(frozen=True)
class CnnJob(Job):
    kind: ClassVar[str] = "cnn"
    request: int = 0
    image: np.ndarray = field(default_factory=lambda: np.zeros((28, 28), np.float32))


@dataclass(frozen=True)
class ProbeJob(Job):
    kind: ClassVar[str] = "probe"
    request: int = 0
    image: np.ndarray = field(default_factory=lambda: np.zeros((28, 28), np.float32))
    settings: dict = field(default_factory=dict)
    iterations: int = 3
    mask: np.ndarray | None = None


@dataclass(frozen=True)
class SweepJob(Job):
    kind: ClassVar[str] = "sweep"
    request: int = 0
    image: np.ndarray = field(default_factory=lambda: np.zeros((28, 28), np.float32))
    transform: str = "rotate"
    values: np.ndarray = field(default_factory=lambda: np.zeros(0))
    iterations: int = 3


@dataclass(frozen=True)
class SweepCnnJob(Job):
    kind: ClassVar[str] = "sweep_cnn"
    request: int = 0
    images: np.ndarray = field(default_factory=lambda: np.zeros((0, 28, 28), np.float32))
    sweep: tuple = ()  # the sweep it follows: sweep_key(transform, values)


def sweep_key(transform: str, values) -> tuple:
    """Which sweep an answer belongs to: two sweeps of one input differ in their transform or values."""
    return (transform, tuple(float(v) for v in np.asarray(values).ravel()))


@dataclass(frozen=True)
class GridJob(Job):
    kind: ClassVar[str] = "grid"
    request: int = 0
    pose: np.ndarray = field(default_factory=lambda: np.zeros(16, np.float32))
    digit: int = 0
    span: float = 0.25
    steps: int = 11
    sigma: np.ndarray | None = None  # (16,) the class's standard deviations: offsets in σ (the data's scale)


@dataclass(frozen=True)
class RoutersJob(Job):
    """The network input shown, routed under the shipped model of every router (the Routers tab)."""

    kind: ClassVar[str] = "routers"
    request: int = 0
    image: np.ndarray = field(default_factory=lambda: np.zeros((28, 28), np.float32))  # the network's own input
    iterations: int = 3
    pair: bool = False  # a two-digit input: the two-digit models, and each one's segmentation


@dataclass(frozen=True)
class RoutersResult:
    """One RouterView (capsexplorer.analysis.router_comparison) per shipped router model, or `why` there are none."""

    request: int
    views: tuple = ()
    why: str = ""
    seconds: float = 0.0


@dataclass(frozen=True)
class PredictionsJob(Job):
    """Both models' predictions for the model's held-out set (cached per weights file)."""

    kind: ClassVar[str] = "predictions"
    iterations: int = 3  # the CapsNet's routing iterations: the count the explorer runs
    model: int = 0  # the state's model generation it was asked for (as every long job)


@dataclass(frozen=True)
class AblationJob(Job):
    """Does routing matter here? The held-out accuracy with each routing iteration count of `COUNTS`
    (each count's predictions cached per weights, shipped for the shipped models)."""

    kind: ClassVar[str] = "ablation"
    COUNTS: ClassVar[tuple[int, ...]] = (1, 2, 3, 5, 10)
    model: int = 0


@dataclass(frozen=True)
class PoseStatsJob(Job):
    """The model's per-class pose statistics over its training images (kept per weights, shipped for the
    shipped models; else about half a minute for 4,000 digits), with the equivariance read-outs measured
    for these weights, if any (kept or shipped: `capsexplorer equivariance` measures them)."""

    kind: ClassVar[str] = "pose_stats"
    model: int = 0


@dataclass(frozen=True)
class LabData:
    pose_stats: object  # capsexplorer.analysis.pose_stats.PoseStats, or None where the training images are not here
    equivariance: dict | None  # capsexplorer.analysis.equivariance's result for these weights, or None
    why: str = ""  # why the statistics are missing
    model: int = 0  # the model generation it answers (every long job's answer carries it)


@dataclass(frozen=True)
class AblationResult:
    """The held-out accuracy at each routing iteration count of AblationJob.COUNTS."""

    accuracy: dict  # count → accuracy
    model: int = 0


@dataclass(frozen=True)
class RobustnessResult:
    """capsexplorer.analysis.robustness's figures with their `source` (shipped, kept or measured)."""

    figures: dict
    model: int = 0


@dataclass(frozen=True)
class RobustnessJob(Job):
    """Both models under every transform (minutes; cached per weights). `cached_only`: answer only from
    a cached or shipped result."""

    kind: ClassVar[str] = "robustness"
    cached_only: bool = False
    model: int = 0

    @property
    def asked(self) -> bool:
        return not self.cached_only  # Measure pressed


# --- answers -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelInfo:
    path: str
    device: str  # "CPU" or the GPU's name
    heldout_accuracy: float | None
    dataset: str
    classes: tuple[str, ...]
    cnn_path: str | None = None  # the CNN baseline loaded beside it, if any
    config: CapsNetConfig = CapsNetConfig()  # its shape: input size, grid, classes, pose dimensions
    accuracy_text: str = ""  # what its file says of its accuracy, in words (weights.accuracy_text)


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
    cnn: np.ndarray | None = None  # (10,) the CNN baseline's probabilities for the same transformed input


@dataclass(frozen=True)
class LabResult:
    """A sweep or a pose grid, with the request it answers and how long it took."""

    request: int
    value: object  # capsexplorer.analysis.sweep.Sweep or capsexplorer.analysis.posegrid.PoseGrid
    labels: object  # the grid's dimension names, or None
    seconds: float


@dataclass(frozen=True)
class CnnResult:
    """The CNN baseline's probabilities (10,) for a trace's input."""

    request: int
    probabilities: np.ndarray


@dataclass(frozen=True)
class SweepCnnResult(CnnResult):
    """The CNN's probabilities (S, 10) along a sweep, and which sweep (sweep_key)."""

    sweep: tuple = ()


@dataclass(frozen=True)
class SweepResult(LabResult):
    """A capsexplorer.analysis.sweep.Sweep of the input."""


@dataclass(frozen=True)
class GridResult(LabResult):
    """A capsexplorer.analysis.posegrid.PoseGrid of the chosen capsule's pose, with its rows' names."""


@dataclass(frozen=True)
class OpenedImage:
    path: str
    image: np.ndarray  # (H, W) uint8 greyscale, at most MAX_SIDE a side


@dataclass(frozen=True)
class PredictionsResult:
    """The held-out browser's data: `predictions` None with `why` when the model's data has no test set
    shipped; `final` False while the CNN's half is still to come."""

    split: object = None  # capsexplorer.data.datasets.Split
    predictions: object = None  # capsexplorer.analysis.predictions.SetPredictions
    seconds: float = 0.0
    final: bool = True
    why: str = ""
    model: int = 0


@dataclass(frozen=True)
class Progress:
    """A long job's progress: `done` of `total` batches, `seconds` since it started."""

    kind: str
    done: int
    total: int
    seconds: float

    @property
    def seconds_left(self) -> float | None:
        if self.done <= 0 or self.done >= self.total:
            return None
        return self.seconds / self.done * (self.total - self.done)
