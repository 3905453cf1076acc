"""The lab's tabs, once (Qt-free): the layout, the screenshots, `snapshot --tab` and the guide's one sentence
read this table. A tab's `key` is its one name through every layer — `ExplorerState.lab_view`, the command
line, the pictures' file names.

`job` is the worker job the tab asks for when it is shown (None: it draws from the trace, or asks on a
button), `field` the state field that holds its answer and `changed` the state signal that says it changed.
"""
from __future__ import annotations

from dataclasses import dataclass

from capsexplorer.app.session import jobs


@dataclass(frozen=True)
class Tab:
    key: str
    title: str
    tip: str
    job: type | None = None
    field: str | None = None
    changed: str = "resultChanged"


LAB_TABS = (
    Tab("routing", "Routing", "The coupling coefficients and the lengths"),
    Tab("votes", "Votes", "Every primary capsule's vote around v_j: routing by agreement as a picture"),
    Tab("pair", "Pairs", "Two overlapping digits: which strokes routing gives to which digit, beside uniform "
                         "couplings (the paper's §6 and Figure 5)"),
    Tab("primary", "Primary", "One primary capsule's story; parts switched off"),
    Tab("probe", "Probe", "Transform the input; watch the pose and the length", jobs.ProbeJob, "probe_result",
        "probeResultChanged"),
    Tab("sweep", "Sweep", "One transform over a range, in one batch", jobs.SweepJob, "sweep", "sweepChanged"),
    Tab("figure4", "Figure 4", "Every pose dimension perturbed and named (the paper's Figure 4)", jobs.GridJob,
        "grid", "gridChanged"),
    Tab("heldout", "Held-out", "Every held-out image, a confusion matrix, the CapsNet beside the CNN",
        jobs.PredictionsJob, "predictions", "predictionsChanged"),
    Tab("routers", "Routers", "The input under every router, trained alike: dynamic, uniform, attention, "
                              "self-attention — couplings, lengths, answers side by side", jobs.RoutersJob, "routers",
        "routersChanged"),
    Tab("robustness", "Robustness", "CapsNet against CNN under transforms", jobs.RobustnessJob, "robustness",
        "robustnessChanged"),
)
POSE_TAB = Tab("pose", "Pose", "Bend a class capsule: its pose sliders and the decoder's reconstruction")
ALL_TABS = LAB_TABS + (POSE_TAB,)
KEYS = tuple(tab.key for tab in ALL_TABS)  # `snapshot --tab`, the screenshots


def tab(key: str) -> Tab:
    return next(t for t in ALL_TABS if t.key == key)
