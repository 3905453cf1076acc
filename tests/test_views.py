"""What the routing panels draw, computed without Qt."""
import numpy as np
import pytest

from capsexplorer import views


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
    weighted = views.mode_matrix(trace, "coupling", 2, weighted=True)
    low, high = views.mode_levels(trace, "coupling", weighted=True)
    assert high >= np.percentile(weighted, 99.5)


@pytest.mark.parametrize("value, expected", [(0.0013, 0.002), (0.1, 0.1), (0.11, 0.2), (0.3, 0.5), (0.51, 1.0),
                                             (7, 10), (0, 1.0), (float("nan"), 1.0)])
def test_nice_ceiling(value, expected):
    assert views.nice_ceiling(value) == pytest.approx(expected)
