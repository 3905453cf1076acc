"""Issue 22 §1: each caption's verdict follows its numbers — tested with numbers that make it true and false."""
from __future__ import annotations

import numpy as np
import pytest

from capsexplorer.analysis import captions


@pytest.mark.parametrize("before, after, verdict", [
    (0.900, 0.912, "holds (+1.3%: 0.900 → 0.912)"), (0.900, 0.860, "holds (-4.4%: 0.900 → 0.860)"),
    (0.900, 0.770, "falls 14.4% (0.900 → 0.770)"), (0.500, 0.600, "rises 20.0% (0.500 → 0.600)"),
])
def test_a_length_holds_only_within_five_percent(before, after, verdict):
    assert captions.length_change(before, after) == verdict


def test_a_sweep_s_length_range_is_signed():
    assert captions.length_range(-0.02, 0.03) == "held within ±5% (-2% … +3%)"
    assert captions.length_range(-0.99, 0.01) == "fell by up to 99%"
    assert captions.length_range(-0.01, 0.40) == "rose by up to 40%"
    assert captions.length_range(-0.30, 0.20) == "fell by up to 30% and rose by up to 20%"
    assert "undefined" in captions.length_range(float("nan"), 0.1)


def test_a_signed_effect_reads_as_a_magnitude_in_its_direction():
    assert captions.signed_effect(-1.21, "px right") == "1.21 px left"
    assert captions.signed_effect(1.21, "px right") == "1.21 px right"
    assert captions.signed_effect(-62.0, "degrees counter-clockwise", 0) == "62 degrees clockwise"
    assert captions.signed_effect(0.39, "relative ink") == "+0.39 relative ink"


def test_a_parent_is_named_only_when_it_leads_by_more_than_noise():
    names = [str(k) for k in range(10)]
    flat = np.zeros(10)
    flat[7] = 0.0004
    said = captions.leading_parent(flat, names)
    assert said.startswith("no parent stands out") and "class 7" in said and "barely move" in said
    clear = np.zeros(10)
    clear[7], clear[1] = 0.25, 0.05
    said = captions.leading_parent(clear, names)
    assert said.startswith("its coupling will move towards class 7") and "0.200 ahead of class 1" in said


def test_the_pose_turn_says_what_kind_of_angle_it_is():
    assert "not an angle in the image" in captions.pose_turn(5.4, True)
    assert "inactive" in captions.pose_turn(5.4, False)


def test_a_capsule_that_disagrees_most_is_said_to_move_away():
    """The fresh-eyes student's capsule 879: a = +0.005 for 9 was named the parent while −0.041 for 4 was the
    real move (away from 4)."""
    names = [str(k) for k in range(10)]
    a = np.array([0.0, -0.0, -0.0, -0.004, -0.041, 0.001, 0.0, -0.001, 0.0, 0.005])
    said = captions.leading_parent(a, names)
    assert said.startswith("its coupling to class 4 falls most (a = -0.041") and "no parent it agrees with" in said
