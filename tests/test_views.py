"""What the routing panels draw, computed without Qt."""
import numpy as np
import pytest

from capsexplorer.analysis import views


@pytest.fixture(scope="module")
def trace(model, heldout):
    return model.trace(heldout.images[:1].astype(np.float32) / 255.0, iterations=3)


def test_mosaic_puts_capsule_i_where_capsule_at_says():
    matrix = np.arange(1152 * 10, dtype=np.float32).reshape(1152, 10)
    mosaic = views.mosaic(matrix)
    assert mosaic.shape == (32, 360) and mosaic.flags["C_CONTIGUOUS"]
    rng = np.random.default_rng(0)
    for row, col in zip(rng.integers(0, 32, 200), rng.integers(0, 360, 200)):
        i, digit, grid_row, grid_col = views.capsule_at(row, col)
        assert mosaic[row, col] == matrix[i, digit]
        assert i == row * 36 + grid_row * 6 + grid_col and digit == col // 36
    # Every capsule–digit pair appears exactly once.
    assert sorted(mosaic.ravel().tolist()) == sorted(matrix.ravel().tolist())


def test_coupling_view_weighting_and_change(trace):
    c = trace.coupling[:, 0]
    np.testing.assert_array_equal(views.mode_matrix(trace, "coupling", 1), c[1])
    np.testing.assert_array_equal(views.mode_matrix(trace, "coupling", 0, change=True), np.zeros_like(c[0]))
    np.testing.assert_allclose(views.mode_matrix(trace, "coupling", 2, change=True), c[2] - c[1])
    np.testing.assert_allclose(views.mode_matrix(trace, "coupling", 2, weighted=True),
                               c[2] * trace.primary_lengths[0][:, None])


def test_spatial_is_the_mean_over_types_of_the_same_quantity(trace):
    matrix = views.mode_matrix(trace, "coupling", 2)
    grid = views.spatial(matrix, 4)
    assert grid.shape == (6, 6)
    assert grid[2, 3] == pytest.approx(np.mean([matrix[t * 36 + 2 * 6 + 3, 4] for t in range(32)]), rel=1e-6)
    assert grid.min() >= matrix[:, 4].min() and grid.max() <= matrix[:, 4].max()


def test_levels_are_shared_by_all_iterations_and_keep_uniform_mid_scale(trace, model, heldout):
    low, high = views.mode_levels(trace, "coupling")
    assert low == 0 and high >= 0.2  # 1/J = 0.1 sits mid-scale or below
    one = model.trace(heldout.images[:1].astype(np.float32) / 255.0, iterations=1)
    assert views.mode_levels(one, "coupling") == (0.0, 0.2)  # all 0.1: not painted as the top of the scale
    assert views.mode_levels(one, "deviation") == (-0.01, 0.01)  # all zero: a small scale, not ±1
    low, high = views.mode_levels(trace, "coupling", change=True)
    assert low == -high and high > 0
    full = model.trace(heldout.images[:1].astype(np.float32) / 255.0, iterations=3, keep_u_hat=True)
    for mode in views.MODES:  # the scale holds every value of every iteration: no cell saturates
        for weighted, change in ((False, False), (True, False), (False, True)):
            low, high = views.mode_levels(full, mode, weighted=weighted, change=change)
            values = np.stack([views.mode_matrix(full, mode, r, 0, weighted, change) for r in range(full.iterations)])
            assert low <= np.nanmin(values) and np.nanmax(values) <= high
            assert np.nanmax(np.abs(values)) >= 0.6 * high or high <= 0.2  # and wastes at most ~40 % of it


@pytest.mark.parametrize("value, expected", [(0.0013, 0.002), (0.1, 0.1), (0.11, 0.2), (0.3, 0.5), (0.51, 1.0),
                                             (7, 10), (0, 1.0), (float("nan"), 1.0)])
def test_nice_ceiling(value, expected):
    assert views.nice_ceiling(value) == pytest.approx(expected)


@pytest.mark.parametrize("value, expected", [(0.134, 0.15), (0.2345, 0.3), (0.0013, 0.0015), (0.41, 0.5), (7, 8),
                                             (0.1, 0.1), (0, 1.0)])
def test_scale_ceiling(value, expected):
    assert views.scale_ceiling(value) == pytest.approx(expected)


def test_largest_changes_rank_capsules_by_their_gain(trace):
    rows = views.largest_changes(trace, trace.iterations - 1, count=5)
    c = trace.coupling[:, 0]
    gain = (c[-1] - c[0]).max(axis=1)
    assert [i for i, *_ in rows] == list(np.argsort(gain)[::-1][:5])
    i, j, first, then = rows[0]
    assert then - first == pytest.approx(gain[i]) and j == int((c[-1] - c[0])[i].argmax())
    enabled = np.ones(len(gain), bool)
    enabled[i] = False
    assert views.largest_changes(trace, trace.iterations - 1, count=5, enabled=enabled)[0][0] != i
    assert views.largest_changes(trace, 0) == []  # the first iteration against itself: nothing moved
    fell = views.largest_changes(trace, trace.iterations - 1, count=5, fell=True)
    drop = (c[0] - c[-1]).max(axis=1)
    assert [i for i, *_ in fell] == list(np.argsort(drop)[::-1][:5]) and all(t < f for _, _, f, t in fell)


def test_the_guides_routing_sentence_follows_its_numbers():
    """"barely move", "move" or "move far", and whether routing decided any digit differently — from the figures."""
    from capsexplorer.app.guide import routing_note

    stats = {"n": 10000, "uniform": 0.1, "iterations": 3, "moved": 0.0014, "moved_active": 0.0043,
             "to_winner": 0.103, "to_winner_active": 0.116, "changed": 0}
    text = routing_note(stats)
    assert "couplings barely move" in text and "decides no digit differently" in text and "0.0014" in text
    text = routing_note(dict(stats, moved_active=0.05, changed=12))
    assert "couplings move:" in text and "12 of them (0.12%) differently" in text
    assert "couplings move far" in routing_note(dict(stats, moved_active=0.3))


def test_routing_movement_is_measured_against_uniform_couplings(model):
    from capsexplorer.analysis import routing_movement
    from capsexplorer.data.datasets import heldout_samples

    split = heldout_samples()
    few = type(split)(split.images[:6], split.labels[:6])
    stats = routing_movement.measure(model, few)
    assert stats["n"] == 6 and stats["uniform"] == 0.1 and len(stats["entropy"]) == 3
    assert 0 <= stats["moved"] <= stats["moved_active"] + 1 and 0 <= stats["changed"] <= 6
    assert stats["entropy"][0] == pytest.approx(np.log(10), abs=1e-4)  # the first iteration is uniform


def test_the_overlay_has_its_own_scale_spanning_its_values(model, digit_image):
    """Issue 22 §5: on the matrix's 0…0.2 scale the type-averaged couplings (all ≈ 0.1) read as one grey."""
    from capsexplorer.analysis import views

    tr = model.trace(digit_image[None], iterations=3)
    stack = views.mode_stack(tr, "coupling")  # (R, 1152, 10)
    digit = int(tr.prediction[0])
    low, high = views.spatial_levels(stack, digit, diverging=False)
    grids = np.stack([views.spatial(m, digit) for m in stack])
    assert low <= grids.min() and grids.max() <= high  # never saturates
    assert (grids.max() - grids.min()) / (high - low) > 0.9  # and the values use the scale
    matrix_low, matrix_high = views.mode_levels(tr, "coupling")
    assert (high - low) < 0.5 * (matrix_high - matrix_low)
    change = views.mode_stack(tr, "coupling", change=True)
    low, high = views.spatial_levels(change, digit, diverging=True)
    assert low == -high and np.nanmax(np.abs([views.spatial(m, digit) for m in change])) == pytest.approx(high)
