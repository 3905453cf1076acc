"""Each lab tab's one sentence "what you are seeing", computed from the numbers the tab shows (Qt-free: each
verdict is tested with numbers that make it true and numbers that make it false).

Routing is judged by how far the couplings of the primary capsules that speak (the top tenth by ‖û‖,
`views.active_primaries`) stand from uniform 1/J: under `UNIFORM_BAND` (two percentage points) they "still
split their vote almost evenly" — Procedure 1 (Sabour et al. 2017) did little for this input.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from capsexplorer.analysis import views
from capsexplorer.analysis.captions import length_change, length_range
from capsexplorer.analysis.router_comparison import shown_pass
from capsexplorer.net.config import ROUTER_WORDS as WORDS
from capsexplorer.data.transforms import UNITS
from capsexplorer.net.trace import RoutingTrace

UNIFORM_BAND = 0.02  # a mean coupling to the leader within 2 points of 1/J: routing "barely moved" it
BARELY = 0.005  # a mean |Δc_ij| below this changes a vote's drawn area by under 5 %
RESIZED = 0.25  # a vote's point whose area changed by more than a quarter has visibly changed size


def answer(lengths: np.ndarray, names: Sequence[str], two: bool = False) -> str:
    """The longest class's name, or for a model that reads two digits its two longest: "7 + 1"."""
    order = np.argsort(-np.asarray(lengths), kind="stable")
    return f"{names[order[0]]} + {names[order[1]]}" if two else str(names[order[0]])


def _leaders(lengths: np.ndarray, names: Sequence[str]) -> tuple[int, int, str]:
    order = np.argsort(lengths)[::-1]
    first, second = int(order[0]), int(order[1])
    return first, second, (f"{names[first]} is longest (‖v‖ = {lengths[first]:.2f}; next {names[second]}, "
                           f"{lengths[second]:.2f})")


def routing(trace: RoutingTrace, iteration: int, names: Sequence[str], router: str = "dynamic") -> str:
    """Iteration `iteration` (0-based) of the trace's first input: who leads, and how far the model's router has
    moved the speaking primary capsules' couplings to the leader from uniform."""
    iterations, classes = trace.coupling.shape[0], trace.coupling.shape[-1]
    r = min(max(iteration, 0), iterations - 1)
    leader, _, leads = _leaders(trace.lengths[r, 0], names)
    where = f"Iteration {r + 1} of {iterations}: {leads}"
    if router == "uniform":
        return (f"{where}; this model has no routing step: every primary capsule splits its vote evenly "
                f"(c = 1/{classes}) in its one pass.")
    if r == 0 and router != "self-attention":
        return (f"{where}; every primary capsule still splits its vote evenly (c = 1/{classes}), "
                f"{WORDS.get(router, router)} acts from iteration 2.")
    summary = views.routing_summary(trace)
    share, uniform = float(summary["active_coupling"][r, leader]), 1.0 / classes
    step = abs(share - uniform)
    who = "self-attention's one pass" if router == "self-attention" else WORDS.get(router, router)
    verdict = (f"{who} barely moved them" if step < UNIFORM_BAND else
               f"{who} moved them a little" if step < 5 * UNIFORM_BAND else f"{who} moved them far")
    return (f"{where}; the {int(summary['active'].sum())} primary capsules that speak most send {share:.1%} of their "
            f"vote to {names[leader]} (uniform {uniform:.1%}) — {verdict}.")


def votes(trace: RoutingTrace, iteration: int, j: int, names: Sequence[str]) -> str:
    """The votes for class `j`: how much their couplings — the points' areas, ∝ c_ij — moved from iteration 1,
    on average and point by point (a point whose area changed by more than `RESIZED` is said to)."""
    iterations = trace.coupling.shape[0]
    r = min(max(iteration, 0), iterations - 1)
    c = trace.coupling[:, 0, :, j]  # (R, I)
    moved = float(np.abs(c[r] - c[0]).mean())
    where = f"The {c.shape[1]} primary capsules' votes for {names[j]} around v (★), their areas ∝ coupling"
    if r == 0:
        return f"{where}: at iteration 1 every coupling is uniform, so every point has the base size."
    ratio = c[r] / np.maximum(c[0], 1e-12)  # (I,) each point's area now over its area at iteration 1
    resized = np.abs(ratio - 1) > RESIZED
    most = int(np.argmax(np.abs(ratio - 1)))
    if not resized.any():
        points = f"every point keeps its size within {RESIZED:.0%} of its area"
    else:
        rest = "; the others keep their size" if resized.mean() < 0.5 else ""
        points = (f"{int(resized.sum())} of {c.shape[1]} points changed area by more than {RESIZED:.0%} (most: "
                  f"capsule {most}, ×{ratio[most]:.1f}){rest}")
    return f"{where}: from iteration 1 to {r + 1} the couplings moved {moved:.4f} on average; {points}."


def primary(trace: RoutingTrace, iteration: int, i: int, names: Sequence[str], switched_off: int) -> str:
    """Primary capsule `i` (or none chosen, `i` < 0): where its vote goes at `iteration`."""
    off = f" ({switched_off} switched off)" if switched_off else ""
    if i < 0:
        return (f"No primary capsule chosen: click a cell of the coupling matrix or of the input to follow one of "
                f"the {trace.coupling.shape[2]}{off}.")
    r = min(max(iteration, 0), trace.coupling.shape[0] - 1)
    c = trace.coupling[r, 0, i]  # (J,)
    top, uniform = int(np.argmax(c)), 1.0 / c.size
    where = f"Primary capsule {i} (‖u‖ = {trace.primary_lengths[0, i]:.2f}) at iteration {r + 1}"
    if c.max() - c.min() < 5e-4:  # uniform, as every coupling is at iteration 1
        return f"{where}: its vote is split evenly — every coupling 1/{c.size} = {uniform:.3f}{off}."
    if c[top] - uniform < UNIFORM_BAND:  # no class stands out: naming the first index would mislead
        return (f"{where}: its vote is still split almost evenly — its couplings {c.min():.3f} … {c.max():.3f}, "
                f"within {UNIFORM_BAND * 100:.0f} points of uniform 1/{c.size}{off}.")
    return (f"{where}: its largest coupling goes to {names[top]}, c = {c[top]:.3f} ({c[top] / uniform:.1f}× "
            f"uniform, 1/{c.size} = {uniform:.3f}){off}.")


def describe_settings(settings: dict) -> str:
    """'rotate +30°, scale ×1.2' — only the transforms away from identity; 'untransformed' if none."""
    from capsexplorer.data.transforms import IDENTITY

    moved = [(name, value) for name, value in settings.items() if value != IDENTITY.get(name)]
    if not moved:
        return "untransformed"

    return ", ".join(f"{name} {amount(name, value)}" for name, value in moved)


def amount(transform: str, value: float) -> str:
    """'+30°', '×1.2', '+2 px': a transform's value with its unit."""
    if transform == "scale":
        return f"×{value:g}"
    unit = UNITS.get(transform, "")
    return f"{value:+g}{' ' if unit[:1].isalpha() else ''}{unit}"


def probe(settings: dict, lengths: np.ndarray, before: np.ndarray, names: Sequence[str], two: bool = False) -> str:
    """The transformed input's answer beside the untransformed one's, and what became of the latter's length
    (`two`: the model reads two digits; its answer is its two longest capsules)."""
    was, now, first = answer(before, names, two), answer(lengths, names, two), int(np.argmax(before))
    said = f"still read as {now}" if set(now.split(" + ")) == set(was.split(" + ")) else f"read as {now}, no longer {was}"
    return (f"Transformed ({describe_settings(settings)}), the input is {said}; the length of {names[first]} "
            f"{length_change(float(before[first]), float(lengths[first]))}.")


def sweep(transform: str, values: np.ndarray, prediction: np.ndarray, digit: int, change: np.ndarray,
          names: Sequence[str], lengths: np.ndarray | None = None) -> str:
    """Where along the sweep the answer leaves the untransformed input's winner, and its length's range. With
    `lengths` (S, J), the model reads two digits: the followed digit is in the answer while it is one of the
    two longest capsules."""
    span = f"{transform} from {amount(transform, values[0])} to {amount(transform, values[-1])}"
    if lengths is not None:
        answers = [answer(row, names, two=True) for row in lengths]
        kept = np.array([names[digit] in a.split(" + ") for a in answers])
    else:
        answers, kept = [names[int(p)] for p in prediction], prediction == digit
    other = np.flatnonzero(~kept)
    stays = f"{names[digit]} stays in the answer" if lengths is not None else f"the answer stays {names[digit]}"
    if other.size == 0:
        said = f"{stays} all the way"
    else:
        distance = np.abs(values[other])
        nearest = other[np.isclose(distance, distance.min())]  # the changes nearest the untransformed input (a tie: both)
        steps = " and ".join(f"{amount(transform, values[k])} ({answers[k]})" for k in nearest)
        said = (f"{stays} at {values.size - other.size} of {values.size} steps; the step{'s' if len(nearest) > 1 else ''} "
                f"nearest the input that read{'' if len(nearest) > 1 else 's'} otherwise: {steps}")
    low, high = (float(np.nanmin(change)), float(np.nanmax(change))) if np.isfinite(change).any() else (np.nan, np.nan)
    return f"Over {span}, {said}; the length of {names[digit]} {length_range(low, high)}."


def figure4(digit: int, read_as: list[list[int]] | None, dimensions: int, span: str, names: Sequence[str]) -> str:
    """How many of the decoded tiles the network still reads as the class perturbed."""
    where = f"Each row moves one of {names[digit]}'s {dimensions} pose values over {span}, the decoder draws each step"
    if not read_as:
        return f"{where}."
    tiles = np.asarray(read_as)
    same = int((tiles == digit).sum())
    rows = int((tiles != digit).any(axis=1).sum())
    verdict = ("every tile is still read as " + names[digit] if same == tiles.size else
               f"{tiles.size - same} of {tiles.size} tiles (in {rows} row{'s' if rows > 1 else ''}) are read as another class")
    return f"{where}; {verdict}."


def heldout(labels: np.ndarray, capsnet: np.ndarray, cnn: np.ndarray | None, iterations: int, item: str,
            whole: float | None = None) -> str:
    """The held-out set's accuracy for both models, as the confusion matrix beside it counts it; `whole`, the
    model file's own figure (the status bar's), where it is of another set than the one shown."""
    right = capsnet.argmax(1) == labels
    text = (f"These {labels.size:,} held-out {item}s: the CapsNet ({iterations} iterations) reads {right.mean():.2%} "
            f"right, {int((~right).sum())} wrong")
    if cnn is not None:
        cnn_right = cnn.argmax(1) == labels
        text += f"; the CNN {cnn_right.mean():.2%}, {int((~cnn_right).sum())} wrong"
    if whole is not None and abs(whole - right.mean()) >= 5e-5:
        text += (f" (the status bar's {whole:.2%} is the model file's own figure, measured on its whole test set, "
                 f"of which these are a part)")
    return text + "."


def robustness(result: dict | None, baseline: bool = True) -> str:
    """The affine mix and each model's worst single condition, or that nothing is measured yet (or can be:
    without a CNN baseline of the model's data there is nothing to compare)."""
    if not baseline:
        return "Nothing to compare: no CNN baseline of this model's data ships, and the comparison needs one."
    if not result:
        return "Not measured yet: Measure reads 1,000 MNIST test digits under each transform with both models."
    named = {"capsnet": "CapsNet", "cnn": "CNN"}
    mix = result.get("affine-mix", {})
    worst = {name: min((a, t, v) for t, row in result[name].items() for v, a in row.items())
             for name in mix if name in result}
    mixed = ", ".join(f"{named.get(n, n)} {a:.1%}" for n, a in mix.items())
    worst_one = ", ".join(f"{named.get(n, n)} {w[0]:.1%} at {w[1]} {amount(w[1], float(w[2]))}"
                          for n, w in worst.items())
    return (f"Accuracy under each transform on 1,000 test digits. The affine mix: {mixed}; the worst single "
            f"transform: {worst_one}.")



def routers(views, iteration: int, names: Sequence[str], player_passes: int = 3) -> str:
    """The Routers tab (router_comparison.RouterView each): whether the routers agree at the pass the player shows,
    and how far each moved its active capsules' coupling to its answer from uniform (1/J)."""
    if not views:
        return ""
    shown = [shown_pass(v, iteration, player_passes) for v in views]
    answers = [v.answer_at(r) for v, r in zip(views, shown)]
    word = lambda v: WORDS.get(v.name, v.name)  # noqa: E731
    said = [" and ".join(names[k] for k in a) for a in answers]
    verb = "read" if views[0].split is not None else "answer"
    agree = (f"All {len(views)} routers {verb} {said[0]}" if len(set(answers)) == 1 else
             "The routers disagree: " + ", ".join(f"{word(v)} {a}" for v, a in zip(views, said)))
    uniform = 1.0 / views[0].coupling.shape[1]

    def moved(v, r, a) -> str:
        c = float(v.coupling[r, a[-1] if len(a) == 1 else v.prediction])
        even = v.even(r)
        return f"{word(v)} {c:.3f}" + ("" if abs(even - uniform) < 1e-3 else f" (its even split {even:.3f})")

    target = "the longest capsule" if views[0].split is not None else "that answer"
    return (f"{agree}. The active primary capsules' mean coupling to {target}, against an even split of "
            f"{uniform:.3f}: " + ", ".join(moved(v, r, a) for v, r, a in zip(views, shown, answers)) + ".")


def pair(lengths: np.ndarray | None, two_digits: bool, item: str, names: Sequence[str]) -> str:
    """The Pairs tab: the two longest capsules of a two-digit model's input, or why the tab waits."""
    if not two_digits:
        return (f"The model in use reads one {item} at a time: this tab shows how a two-digit model's routing "
                "splits two overlapping digits' strokes.")
    if lengths is None:
        return "Two overlapping digits: pick a held-out pair or draw two."
    first, second = (int(k) for k in np.argsort(lengths)[::-1][:2])
    return (f"Read as {names[first]} (‖v‖ = {lengths[first]:.2f}) and {names[second]} ({lengths[second]:.2f}), the "
            "two longest capsules; each stroke is painted by the capsule routing gives it to, beside uniform "
            "couplings.")


def pose(digit: int, length: float, winner: int, dimensions: int, names: Sequence[str]) -> str:
    """The Pose sliders: whose pose they start from; the caption under them gives the length they make."""
    which = "the winner" if digit == winner else f"not the winner, {names[winner]}"
    return (f"The sliders start at the {dimensions} pose values the network gave {names[digit]} after the last "
            f"iteration (‖v‖ = {length:.2f}, {which}); drag one and the decoder redraws it from the bent pose.")
