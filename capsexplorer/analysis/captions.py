"""The words of the window's captions, decided by the numbers they sit beside (Qt-free, so each threshold is
tested with numbers that make its sentence true and numbers that make it false).

A sentence says "holds", "falls", "barely moves" or names a finding only when the numbers do: a length holds
within ±`HOLDS`; an agreement names a parent only when it leads the next by more than `AGREEMENT_NOISE`.
"""
from __future__ import annotations

import numpy as np

HOLDS = 0.05  # a relative length change within ±5 %: the length "holds"
AGREEMENT_NOISE = 1e-3  # a_ij leads closer than this: no parent stands out (a float's noise next to ‖û‖ ≈ 0.01–1)

# A signed effect reads as a magnitude in its own direction: −1.21 "px right" is 1.21 px left.
OPPOSITE_UNITS = {"px right": "px left", "px down": "px up", "degrees counter-clockwise": "degrees clockwise",
                  "px right per px up": "px left per px up"}


def length_holds(before: float, after: float) -> bool:
    """A length that changed by at most ±`HOLDS` of itself holds."""
    return abs(after / max(before, 1e-9) - 1) <= HOLDS


def length_change(before: float, after: float) -> str:
    """'holds (+1.2 %: 0.912 → 0.923)', 'falls 14.4 % (0.900 → 0.770)' or 'rises …'."""
    change = after / max(before, 1e-9) - 1
    figures = f"{before:.3f} → {after:.3f}"
    if length_holds(before, after):
        return f"holds ({change:+.1%}: {figures})"
    return f"{'falls' if change < 0 else 'rises'} {abs(change):.1%} ({figures})"


def length_range(lowest: float, highest: float) -> str:
    """Signed extremes of relative length changes over a sweep: 'held within ±5 % (−1 % … +3 %)', or how far
    it fell and rose."""
    if not (np.isfinite(lowest) and np.isfinite(highest)):
        return "is undefined (the capsule has no length to compare)"
    if max(abs(lowest), abs(highest)) <= HOLDS:
        return f"held within ±{HOLDS:.0%} ({lowest:+.0%} … {highest:+.0%})"
    parts = []
    if lowest < -HOLDS:
        parts.append(f"fell by up to {-lowest:.0%}")
    if highest > HOLDS:
        parts.append(f"rose by up to {highest:.0%}")
    return " and ".join(parts)


def signed_effect(value: float, unit: str, digits: int = 2) -> str:
    """'+1.21 px right' → '1.21 px right'; '−1.21 px right' → '1.21 px left' (a magnitude and its direction)."""
    if value < 0 and unit in OPPOSITE_UNITS:
        return f"{-value:.{digits}f} {OPPOSITE_UNITS[unit]}"
    if unit in OPPOSITE_UNITS:
        return f"{value:.{digits}f} {unit}"
    return f"{value:+.{digits}f} {unit}".rstrip()


def leading_parent(agreement: np.ndarray, names) -> str:
    """Where the next iteration moves a primary capsule's couplings: b_ij grows by a_ij, so they move most
    for the class of the largest |a_ij| — towards it when a_ij > 0, away when < 0. A parent is named as the one
    it agrees with most only when it leads the next by more than noise and by a tenth of the largest |a|."""
    agreement = np.asarray(agreement, float)
    order = np.argsort(agreement)[::-1]
    top, second = int(order[0]), int(order[1]) if len(order) > 1 else int(order[0])
    lead = float(agreement[top] - agreement[second]) if len(order) > 1 else float("inf")
    strongest = int(np.argmax(np.abs(agreement)))
    scale = float(np.abs(agreement).max())
    if scale <= AGREEMENT_NOISE:
        return (f"no parent stands out (largest a = {agreement[top]:+.3f}, class {names[top]}; next "
                f"{agreement[second]:+.3f}, class {names[second]}): its couplings barely move")
    falls = ""
    if agreement[strongest] < 0:  # the biggest move is away from a class
        falls = (f"its coupling to class {names[strongest]} falls most (a = {agreement[strongest]:+.3f}, it "
                 "disagrees); ")
    if lead > max(AGREEMENT_NOISE, 0.1 * scale) and agreement[top] > 0:
        return (f"{falls}its coupling will move towards class {names[top]}, the parent it agrees with most "
                f"(a = {agreement[top]:+.3f}, {lead:.3f} ahead of class {names[second]})")
    return (f"{falls}no parent it agrees with stands out (largest a = {agreement[top]:+.3f}, class {names[top]}; "
            f"next {agreement[second]:+.3f}, class {names[second]})")


def pose_turn(angle_deg: float, active: bool) -> str:
    """The angle between two 16-D pose vectors — their direction, not an angle in the image."""
    if not active:
        return "it is now inactive (‖v‖ under m⁻ = 0.1): its pose direction means little"
    return f"its 16-D pose vector turned {angle_deg:.1f}° (its direction in pose space, not an angle in the image)"


def pair_accuracy_text(measured: dict) -> str:
    """Both digits right over the held-out pairs at each routing iteration count measured (1: uniform)."""
    accuracy = measured.get("both_right_by_iterations") or {}
    if not accuracy:
        return ""
    counts = sorted(accuracy, key=int)
    said = ", ".join(f"{accuracy[r]:.2%} with {r} iteration{'s' if r != '1' else ''}"
                     + (" (uniform couplings)" if r == "1" else "") for r in counts)
    return f" Both digits right over {measured.get('accuracy_pairs', 10_000):,} held-out pairs: {said}."
