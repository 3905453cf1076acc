"""Routers trained alike, compared (Qt-free, plain data out).

Every router of `capsexplorer.net.routers` ships as a digits model trained with one recipe — the same network,
data (MNIST's 60,000 training digits), epochs, seed and augmentation — named `mnist-<router>`; dynamic, uniform
and attention ship as two-digit models too (`multimnist-<router>`, each warm-started from its own digits model
and trained alike). `measure()` scores them all the same way; `shipped_table()` reads the figures shipped in
`resources/routers.json` (what `capsexplorer routers`, the README and the Routers tab show); `side_by_side()`
routes one input under each for the Routers tab.
"""
from __future__ import annotations

import copy
import os
import platform
import time
from dataclasses import dataclass

import numpy as np
import torch

from capsexplorer.analysis import routing_movement, segmentation
from capsexplorer.analysis.drawn import drawn_digits
from capsexplorer.analysis.robustness import correct_steps, transformed
from capsexplorer.data.datasets import Split
from capsexplorer.errors import CapsExplorerError
from capsexplorer.net.config import ROUTERS, digits_model_name, pairs_model_name
from capsexplorer.net.routers import ONE_PASS

RESULT_FILE = "routers.json"  # in resources/
RECIPE = ("capsexplorer train --dataset mnist --epochs 3 --batch-size 128 --lr 1e-3 --lr-decay 0.85 --amp "
          "--augment shifts --seed 0 --routing R --out capsnet-mnist-R.safetensors")
PAIRS_RECIPE = ("capsexplorer train --dataset multimnist --init capsnet-mnist-R.safetensors --epochs 1 --limit 12000 "
                "--batch-size 128 --lr 1e-3 --lr-decay 0.85 --amp --seed 0 --routing R "
                "--out capsnet-multimnist-R.safetensors")
ROBUSTNESS = {"rotate_40": (("rotate", -40.0), ("rotate", 40.0)),  # the figure: mean accuracy over these
              "shifts_6": (("shift-x", -6.0), ("shift-x", 6.0), ("shift-y", -6.0), ("shift-y", 6.0))}
COUNTS = {"test": 10_000, "drawn": 2_000, "robustness": 2_000, "movement": 2_000, "pairs": 2_000, "speed": 1_000,
          "train_steps": 6}  # test digits (the first N of MNIST's 10,000), pairs, timed images and steps
ITERATIONS = 3  # the routing iterations every measurement uses (one-pass routers make one)


digits_name, pairs_name = digits_model_name, pairs_model_name


def router_of(model) -> str:
    return getattr(model.config, "routing", "dynamic")


# ---- the table ---------------------------------------------------------------------------------------------


FIGURES = (  # (key, heading, format): how the table's figures are written, by the command line and the window
    ("parameters", "params", lambda v: f"{v / 1e6:.2f} M"),
    ("test_accuracy", "test", lambda v: f"{100 * v:.2f} %"),
    ("drawn", "drawn", lambda v: f"{100 * v:.1f} %"),
    ("rotate_40", "rot ±40°", lambda v: f"{100 * v:.1f} %"),
    ("shifts_6", "shift ±6", lambda v: f"{100 * v:.1f} %"),
    ("multimnist", "2 digits", lambda v: f"{100 * v:.1f} %"),
    ("segmentation", "own strokes", lambda v: f"{100 * v:.1f} %"),
    ("coupling_movement", "from even", lambda v: f"{v:.4f}"),
    ("images_per_s", "infer/s", lambda v: f"{v:,.0f}"),
    ("train_images_per_s", "train/s", lambda v: f"{v:,.0f}"),
)


def figure_text(row: dict | None, key: str) -> str:
    """One figure of a router's row as written, "—" where it is not measured (or not a number)."""
    value = (row or {}).get(key)
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value != value:
        return "—"
    return next(shown for k, _, shown in FIGURES if k == key)(value)


def shipped_table() -> dict | None:
    """The figures shipped in resources/routers.json, or None where they are not (or not readable: logged)."""
    import json
    import logging

    from capsexplorer.files import resource_path

    path = resource_path(RESULT_FILE)
    try:
        table = json.loads(path.read_text())
        if not isinstance(table, dict) or not all(isinstance(row, dict) and "name" in row
                                                  for row in table.get("routers", ())):
            raise ValueError("not a table of routers")
        return table
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:  # a damaged copy: the program goes on without the figures
        logging.getLogger("capsexplorer").warning("%s is not readable (%s): the routers' figures are not shown",
                                                  path, exc)
        return None


def row_for(table: dict | None, router: str) -> dict | None:
    return next((row for row in (table or {}).get("routers", ()) if row["name"] == router), None)


def _accuracy_steps(model, images: np.ndarray, labels: np.ndarray):
    """Generator: yields after each batch, returns the share of right answers."""
    correct = 0
    for correct in correct_steps(model, images, labels, ITERATIONS):  # noqa: B007 (to the last count)
        yield
    return correct / max(len(labels), 1)


def inference_speed(model, images: np.ndarray, batch: int = 250) -> float:
    """Images per second through the network and its routing (batches of `batch`, after one warm-up batch)."""
    from capsexplorer.net.inference import score_batches

    for _ in score_batches(model, images[:batch], ITERATIONS, batch):
        pass
    start = time.perf_counter()
    for _ in score_batches(model, images, ITERATIONS, batch):
        pass
    return len(images) / (time.perf_counter() - start)


def training_speed(model, images: np.ndarray, labels: np.ndarray, steps: int = 6, batch: int = 64) -> float:
    """Images per second of training steps (margin + reconstruction loss, backward, Adam; bf16 autocast where
    the recipe used it) on a copy of `model`, after one warm-up step; the model itself is not touched."""
    from capsexplorer.net.losses import margin_loss, reconstruction_loss

    net = copy.deepcopy(model).float().train()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    x = torch.from_numpy(images[:batch].astype(np.float32)).unsqueeze(1).to(net.device)  # (B, 1, H, W)
    y = torch.from_numpy(labels[:batch]).long().to(net.device)  # (B,)
    amp = net.device.type == "cuda" or _cpu_bf16()

    def step() -> None:
        with torch.autocast(net.device.type, dtype=torch.bfloat16, enabled=amp):
            lengths, _, recon = net(x, ITERATIONS, labels=y)
            loss = margin_loss(lengths.float(), y) + reconstruction_loss(recon.float(), x)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * batch / (time.perf_counter() - start)


def _cpu_bf16() -> bool:
    """The CPU computes bf16 natively (AVX-512 BF16 or AMX): where the recipe's --amp paid."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def measure_steps(routers=ROUTERS, counts: dict | None = None, device: str | None = "cpu"):
    """Generator: yields (done, total) stages and returns the table — per router: parameters, the official
    test's accuracy, drawn digits, rotations of ±40° and shifts of ±6 px, how far its couplings move from
    uniform, inference and training speed, and for the two-digit models both digits right and the share of
    each digit's own strokes its capsule receives (segmentation)."""
    from capsexplorer.data import multimnist
    from capsexplorer.data.datasets import heldout_samples, mnist5k, mnist_test
    from capsexplorer.net.weights import load_model

    counts = {**COUNTS, **(counts or {})}
    missing = [name for r in routers for name in (digits_name(r), pairs_name(r)) if name and not _shipped(name)]
    if missing:  # said before minutes of measuring, not after
        raise CapsExplorerError(f"not found in this copy: {', '.join(missing)} (the routers' models ship in "
                                "resources/)")
    started = time.perf_counter()
    test = mnist_test()
    keep = slice(0, counts["test"])
    images, labels = test.images[keep].astype(np.float32) / 255.0, test.labels[keep]  # (N, 28, 28)
    moved_split = Split(test.images[:counts["movement"]], test.labels[:counts["movement"]])
    drawn = drawn_digits(heldout_samples(), counts["drawn"])
    few = slice(0, counts["robustness"])
    shaken = {(t, v): transformed(images[few], t, v) for conditions in ROBUSTNESS.values() for t, v in conditions}
    pairs = multimnist.heldout_pairs(test, counts["pairs"])
    timing = mnist5k().train  # training digits for the timed steps (their gradients are thrown away)
    per_router = 5 + len(shaken)
    total = per_router * len(routers)
    done = 0
    yield done, total
    rows = []
    for router in routers:
        model = load_model(digits_name(router), device=device)
        row = {"name": router, "weights": digits_name(router), "pairs_weights": pairs_name(router),
               "parameters": sum(p.numel() for p in model.parameters()),
               "routing_parameters": sum(p.numel() for p in model.router.parameters()),
               "one_pass": router in ONE_PASS, "train_seconds": _train_seconds(digits_name(router))}
        row["test_accuracy"] = yield from _accuracy_steps(model, images, labels)
        done += 1
        yield done, total
        row["drawn"] = yield from _accuracy_steps(model, drawn.images, drawn.labels)
        done += 1
        yield done, total
        scores = {}
        for key in shaken:
            scores[key] = yield from _accuracy_steps(model, shaken[key], labels[few])
            done += 1
            yield done, total
        for name, conditions in ROBUSTNESS.items():
            row[name] = float(np.mean([scores[c] for c in conditions]))
        moved = yield from _inner(routing_movement.measure_steps(model, moved_split, ITERATIONS))
        row["coupling_movement"], row["coupling_movement_all"] = moved["moved_active"], moved["moved"]
        row["coupling_to_winner"] = moved["to_winner_active"]
        row["decisions_changed"] = moved["changed"] / moved["n"]
        done += 1
        yield done, total
        row["images_per_s"] = inference_speed(model, images[:counts["speed"]])
        row["train_images_per_s"] = training_speed(model, timing.images.astype(np.float32) / 255.0,
                                                   timing.labels, counts["train_steps"])
        done += 1
        yield done, total
        row["multimnist"] = row["segmentation"] = row["segmentation_uniform"] = None
        if pairs_name(router):
            two = load_model(pairs_name(router), device=device)
            row["multimnist"] = multimnist.evaluate_pairs(two, pairs, ITERATIONS).accuracy
            split = yield from _inner(segmentation.measure_steps(two, pairs.images, pairs.labels, pairs.parts,
                                                                 ITERATIONS))
            rounds = split["iterations"]
            row["segmentation"] = rounds[str(len(rounds))]["own_strokes"]
            row["segmentation_uniform"] = rounds["1"]["own_strokes"]
        done += 1
        yield done, total
        rows.append(row)
    return {"routers": rows, "recipe": RECIPE, "pairs_recipe": PAIRS_RECIPE, "iterations": ITERATIONS,
            "counts": counts, "machine": _machine(model.device), "seconds": round(time.perf_counter() - started, 1)}


def measure(routers=ROUTERS, counts: dict | None = None, device: str | None = "cpu", progress=None) -> dict:
    from capsexplorer.progress_events import run_steps

    return run_steps(measure_steps(routers, counts, device), progress)


def _inner(steps):
    """Drives an inner (done, total) generator, yielding nothing of its own count, and returns its result."""
    while True:
        try:
            next(steps)
        except StopIteration as finished:
            return finished.value
        yield


def _shipped(name: str) -> bool:
    from capsexplorer.net.weights import resolve_weights

    return resolve_weights(name).is_file()


def _train_seconds(name: str) -> float | None:
    from capsexplorer.net.weights import read_metadata, resolve_weights

    try:
        return float(read_metadata(resolve_weights(name)).get("train_seconds"))
    except (TypeError, ValueError, OSError):
        return None


def _machine(device: torch.device) -> str:
    """The device the figures were measured on, in words."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{_cpu_name()}, {os.cpu_count()} cores, torch {torch.__version__}"


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            return next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


# ---- one input, every router -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RouterView:
    """One input under one router: what the Routers tab draws."""

    name: str  # the router
    weights: str  # the shipped model's name
    coupling: np.ndarray  # (R, J) each iteration's mean coupling c_ij of the active primary capsules to class j
    lengths: np.ndarray  # (R, J) ‖v_j‖ after each iteration
    prediction: int  # the longest class capsule after the last iteration
    second: int  # the second longest (a pair's other digit)
    split: np.ndarray | None = None  # (R, H, H) a pair's share of routed mass going to `prediction` per iteration
    seconds: float = 0.0

    @property
    def iterations(self) -> int:
        return int(self.coupling.shape[0])

    def even(self, r: int) -> float:
        """An even split of the active capsules' coupling at pass `r`: 1/J for every router whose couplings sum to
        1 over the classes; self-attention's learned priors b_ij shift its sum, and so its even split."""
        return float(self.coupling[r].sum() / self.coupling.shape[1])

    def answer_at(self, r: int) -> tuple[int, ...]:
        """The answer after pass `r` (0-based): the longest capsule, or a pair's two longest (sorted)."""
        order = np.argsort(-self.lengths[r], kind="stable")
        return tuple(sorted(int(k) for k in order[:2])) if self.split is not None else (int(order[0]),)


def shown_pass(view: RouterView, iteration: int, player_passes: int) -> int:
    """The pass of `view` to show when the player shows `iteration` of its `player_passes`: the same pass where
    the router has it, its last where it has fewer — and each router's last while the open model makes one pass
    (a one-pass model's player cannot step)."""
    return view.iterations - 1 if player_passes <= 1 else min(iteration, view.iterations - 1)


def view_of(model, trace, name: str, weights: str, pair: bool = False) -> RouterView:
    """A RouterView of a one-image trace kept with û (the active capsules are those with the longest predictions,
    as in the Routing tab)."""
    from capsexplorer.analysis.views import Geometry, routing_summary

    coupling = routing_summary(trace)["active_coupling"]  # (R, J)
    first, second = segmentation.two_capsules(trace)
    split = None
    if pair:
        splits = segmentation.every_split(trace, Geometry.of(model.config), first, second)
        split = np.stack([s.share for s in splits])  # (R, H, H)
    return RouterView(name, weights, coupling, trace.lengths[:, 0], first, second, split, trace.seconds)


def side_by_side(models: dict, image: np.ndarray, iterations: int = ITERATIONS, pair: bool = False) -> list[RouterView]:
    """`image` (H, H) in [0, 1], the network's own input, routed under each of `models` ({weights name: CapsNet}):
    one RouterView each, in the models' order."""
    from capsexplorer.net.inference import evaluating

    views = []
    for weights, model in models.items():
        with evaluating(model):
            trace = model.trace(image[None], iterations=iterations, keep_u_hat=True)
        views.append(view_of(model, trace, router_of(model), weights, pair))
    return views


def priors_note(views) -> str:
    """A sentence for the routers whose couplings do not sum to 1 over the classes (learned priors), with the sum at
    their last pass; "" where every router's do."""
    off = [(v, float(v.coupling[-1].sum())) for v in views if abs(float(v.coupling[-1].sum()) - 1.0) > 0.01]
    return " ".join(f"{v.name.capitalize()}'s learned priors b_ij make its active couplings sum to {total:.2f}, not 1, "
                    f"so its even split is {total / v.coupling.shape[1]:.3f}, not 1/J." for v, total in off)


def shared_scale(views: list[RouterView]) -> tuple[float, float]:
    """One colour scale for every router's couplings: (lowest, highest) over all of them, 1/J inside."""
    if not views:
        return 0.0, 1.0
    values = np.concatenate([v.coupling.ravel() for v in views])
    uniform = 1.0 / views[0].coupling.shape[1]
    low, high = min(float(values.min()), uniform), max(float(values.max()), uniform)
    return (low, high) if high > low else (low, low + 1e-6)
