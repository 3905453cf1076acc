"""The vote view's geometry (no Qt): agreement along v_j, the main spread across it, areas from c_ij."""
import numpy as np
import pytest

from capsexplorer.analysis.votes import vote_view


def _votes(seed=0, n=200, d=16, j_count=3):
    rng = np.random.default_rng(seed)
    u_hat = rng.normal(size=(n, j_count, d))
    coupling = np.full((3, n, j_count), 1 / j_count)
    poses = rng.normal(size=(3, j_count, d))
    return u_hat, coupling, poses


def test_the_first_axis_is_the_agreement_with_the_final_v():
    u_hat, coupling, poses = _votes()
    view = vote_view(u_hat, coupling, poses, 1)
    v_hat = poses[-1, 1] / np.linalg.norm(poses[-1, 1])
    np.testing.assert_allclose(view.x, u_hat[:, 1] @ v_hat, rtol=1e-5, atol=1e-5)
    assert view.v[-1, 0] == np.float32(np.linalg.norm(poses[-1, 1])) and abs(view.v[-1, 1]) < 1e-5  # v_j on its axis


def test_the_second_axis_is_the_main_spread_across_v():
    """Votes spread along one known direction across v_j: the second axis finds it and shows all of it."""
    rng = np.random.default_rng(1)
    v = np.zeros(16)
    v[0] = 0.9
    across = np.zeros(16)
    across[3] = 1.0
    u_hat = np.zeros((300, 2, 16))
    u_hat[:, 0] = rng.normal(size=(300, 1)) * across + rng.normal(size=(300, 1)) * v
    view = vote_view(u_hat, np.full((2, 300, 2), 0.5), np.stack([np.stack([v, v])] * 2), 0)
    np.testing.assert_allclose(np.abs(view.y), np.abs(u_hat[:, 0, 3]), atol=1e-5)
    assert view.spread_share > 0.999


def test_the_weighted_mean_and_the_largest_change_follow_the_couplings():
    u_hat, coupling, poses = _votes()
    coupling[-1, 7, 2] = 0.9  # capsule 7 comes to agree with class 2
    coupling[-1, 7, :2] = 0.05
    view = vote_view(u_hat, coupling, poses, 2)
    i, change = view.largest_change()
    assert i == 7 and change == np.float32(0.9) - np.float32(1 / 3)
    c = coupling[-1, :, 2]
    mean = (c[:, None] * u_hat[:, 2]).sum(0) / c.sum()
    np.testing.assert_allclose(view.weighted_mean[-1, 0], mean @ (poses[-1, 2] / np.linalg.norm(poses[-1, 2])),
                               rtol=1e-4)


def test_a_zero_v_or_identical_votes_draw_without_dividing_by_zero():
    u_hat, coupling, poses = _votes()
    poses[-1, 0] = 0
    u_hat[:, 0] = 1.0
    view = vote_view(u_hat, coupling, poses, 0)
    assert np.isfinite(view.x).all() and np.isfinite(view.y).all() and view.spread_share == 0.0


def test_the_votes_axes_stay_put_while_the_iterations_step(qtbot, model, digit_image):
    """Issue 22 §5: the Votes tab rescaled its axes between iterations, so points jumped."""
    from test_app import open_window

    window = open_window(qtbot, model)
    window.state.set_lab_view("votes")
    qtbot.waitUntil(lambda: window.votes.view is not None, timeout=60_000)
    qtbot.wait(500)  # the lab's trace of the sample (with û) has come
    vb = window.votes.plot.getPlotItem().vb
    ranges = []
    for r in range(window.state.trace.iterations):
        window.state.set_iteration(r)
        qtbot.wait(50)
        ranges.append(vb.viewRange())
    assert all(found == ranges[0] for found in ranges), ranges
    window.close()


def test_the_votes_colour_scale_is_drawn_with_its_numbers(qtbot, model):
    """A student's run: the points' colours (‖u_i‖) had no colour bar — only the caption said the range."""
    from test_app import open_window

    window = open_window(qtbot, model)
    window.state.set_lab_view("votes")
    qtbot.waitUntil(lambda: window.votes.view is not None, timeout=60_000)
    qtbot.wait(200)
    bar, lengths = window.votes.length_bar, window.state.trace.primary_lengths[0]
    assert bar.isVisible()
    assert bar.levels() == pytest.approx((float(lengths.min()), float(lengths.max())), abs=1e-6)
    ticks = [text for _, text in bar.axis._tickLevels[0]]
    assert ticks[0] == f"{lengths.min():.2f}" and ticks[-1] == f"{lengths.max():.2f}"
    window.votes.colouring.setCurrentIndex(window.votes.colouring.findData("type"))
    qtbot.wait(50)
    assert not bar.isVisible()  # colour by type: hues, no scale
    window.close()
