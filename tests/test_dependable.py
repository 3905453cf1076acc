"""The explorer in use: shipped results at once, a long job that never freezes the lab, closing and
switching models during one, and weights that load but cannot run."""
import time

import numpy as np
import pytest
from PySide6.QtCore import QEvent, Qt
from test_app import TIMEOUT, circle, draw_stroke, isolated_settings, open_window, send_mouse  # noqa: F401 (fixture)
from test_state import SlowLongJob, save_overflowing_weights

from capsexplorer.analysis import predictions, robustness
from capsexplorer.app.session import jobs
from capsexplorer.net.weights import SHIPPED_CNN, shipped_weights_path


class SlowMeasurement(SlowLongJob):
    """Stands in for the robustness measurement: many short batches."""

    def __init__(self, batches=100_000, seconds=0.02):
        super().__init__(batches, seconds)


def never(*args, **kwargs):
    raise AssertionError("computed, though the result for the shipped weights ships with the package")


def test_the_shipped_results_match_the_shipped_weights():
    key = predictions.weights_key(shipped_weights_path(), shipped_weights_path(SHIPPED_CNN))
    assert predictions.cached_file(f"robustness-{key}.json") is not None
    assert predictions.cached_file(f"heldout-{key}.npz") is not None


def test_held_out_and_robustness_are_complete_when_the_window_opens(qtbot, model, monkeypatch):
    monkeypatch.setattr(predictions, "score_steps", never)
    monkeypatch.setattr(robustness, "correct_steps", never)
    window = open_window(qtbot, model)
    try:
        qtbot.waitUntil(lambda: window.state.predictions is not None and window.state.predictions.final
                        and window.state.robustness is not None, timeout=TIMEOUT)
        assert window.browser.predictions.capsnet.shape == (10000, 10)  # MNIST's official test digits
        assert window.robustness.result["capsnet"]["rotate"]["0"] == pytest.approx(0.99, abs=0.005)
        assert "Shipped with capsexplorer" in window.robustness.status.text()
        assert not window.robustness.button.isEnabled()  # measured for these weights: nothing to do
    finally:
        window.close()


def test_a_stroke_is_classified_while_a_measurement_runs(qtbot, model, monkeypatch):
    window = open_window(qtbot, model)
    slow = SlowMeasurement()
    monkeypatch.setitem(window.worker._handlers, jobs.RobustnessJob, slow)
    try:
        window.lab.setCurrentWidget(window.robustness)
        window.controller.measure_robustness()  # as the Measure button of weights not measured before
        qtbot.waitUntil(lambda: "robustness" in window.state.progress, timeout=TIMEOUT)
        assert "Measuring…" in window.robustness.status.text() and not window.robustness.button.isEnabled()
        window.draw.canvas.clear()
        start = time.perf_counter()
        with qtbot.waitSignal(window.controller.traceShown, timeout=TIMEOUT):
            draw_stroke(window.draw.canvas, circle())
        assert time.perf_counter() - start < 3 and slow.ran < slow.batches
        assert window.state.winner == 0
    finally:
        start = time.perf_counter()
        window.close()
        assert time.perf_counter() - start < 2  # the measurement is cancelled, not waited for
    assert window.worker.isFinished()


def test_a_model_switch_during_a_measurement_completes_at_once(qtbot, model, monkeypatch):
    window = open_window(qtbot, model)
    slow = SlowMeasurement()
    monkeypatch.setitem(window.worker._handlers, jobs.RobustnessJob, slow)
    try:
        window.controller.measure_robustness()  # as the Measure button of weights not measured before
        qtbot.waitUntil(lambda: "robustness" in window.state.progress, timeout=TIMEOUT)
        start = time.perf_counter()
        with qtbot.waitSignal(window.controller.modelReady, timeout=TIMEOUT):
            window.controller.load(str(shipped_weights_path()))
        assert time.perf_counter() - start < 5
        qtbot.waitUntil(lambda: "robustness" not in window.state.progress, timeout=TIMEOUT)
        assert "Measuring" not in window.robustness.status.text()  # cancelled, and said so
    finally:
        window.close()


def test_weights_that_cannot_run_leave_the_window_on_its_model(qtbot, model, tmp_path):
    path = save_overflowing_weights(tmp_path / "huge.safetensors")
    window = open_window(qtbot, model)
    try:
        label = window.status_line.model_label.text()
        with qtbot.waitSignal(window.errorShown, timeout=TIMEOUT) as error:
            window.controller.load(str(path))
        assert "not finite" in error.args[0]
        assert window.worker._model is model and window.status_line.model_label.text() == label
        with qtbot.waitSignal(window.controller.traceShown, timeout=TIMEOUT):
            window.controller.request_trace()
    finally:
        window.close()


def test_dropping_a_huge_image_never_stalls_the_gui_thread(qtbot, model, tmp_path):
    """A 36-megapixel PNG is decoded in a child process: the GUI thread's longest gap stays short."""
    from PIL import Image
    from PySide6.QtCore import QTimer

    big = np.full((6000, 6000), 255, np.uint8)
    big[1000:5000, 2800:3200] = 0
    Image.fromarray(big).save(tmp_path / "big.png", compress_level=1)
    window = open_window(qtbot, model)
    ticks = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start(5)
    try:
        with qtbot.waitSignal(window.controller.traceShown, timeout=60_000):
            window.open_image(str(tmp_path / "big.png"))
        timer.stop()
        gaps = np.diff(ticks)
        assert window.state.winner == 1
        assert gaps.max() < 0.25, f"longest GUI gap {gaps.max() * 1000:.0f} ms"
    finally:
        timer.stop()
        window.close()


def test_lab_views_follow_a_stroke_at_its_end_not_every_live_trace(qtbot, model, monkeypatch):
    window = open_window(qtbot, model)
    try:
        window.lab.setCurrentWidget(window.sweep)
        qtbot.waitUntil(lambda: window.state.sweep is not None, timeout=TIMEOUT)
        qtbot.waitUntil(window.worker.idle, timeout=TIMEOUT)
        submitted = []
        original = window.worker.submit
        monkeypatch.setattr(window.worker, "submit", lambda job: (submitted.append(job), original(job)))
        canvas = window.draw.canvas
        canvas.clear()
        qtbot.wait(50)
        points = circle()
        held, kind = Qt.MouseButton.LeftButton, QEvent.Type
        scale = min(canvas.width(), canvas.height()) / 280
        ox, oy = (canvas.width() - 280 * scale) / 2, (canvas.height() - 280 * scale) / 2
        send_mouse(canvas, kind.MouseButtonPress, (ox + points[0][0] * scale, oy + points[0][1] * scale), held)
        for x, y in points[1:]:
            send_mouse(canvas, kind.MouseMove, (ox + x * scale, oy + y * scale), held)
            qtbot.wait(15)  # a person's pace: live traces are published while drawing
        live = [j for j in submitted if j.kind == "trace" and j.live]
        assert live and not [j for j in submitted if j.kind == "sweep"]
        with qtbot.waitSignal(window.controller.sweepShown, timeout=TIMEOUT):
            send_mouse(canvas, kind.MouseButtonRelease, (ox + x * scale, oy + y * scale), Qt.MouseButton.NoButton)
        assert len([j for j in submitted if j.kind == "sweep"]) == 1
    finally:
        window.close()


def test_robustness_points_read_out_and_no_empty_plots(qtbot, model):
    window = open_window(qtbot, model)
    try:
        panel = window.robustness
        qtbot.waitUntil(lambda: panel.result is not None, timeout=TIMEOUT)
        assert all(not plot.isHidden() for plot in panel.plots.values())
        text = panel.value_text("rotate", 28)
        assert text == (f"rotate +30°: CapsNet {panel.result['capsnet']['rotate']['30']:.1%}, "
                        f"CNN {panel.result['cnn']['rotate']['30']:.1%}")
        panel.clear()
        assert all(plot.isHidden() for plot in panel.plots.values())  # no placeholder axes before a result
    finally:
        window.close()


@pytest.mark.slow
def test_the_held_out_browser_follows_the_iteration_count(qtbot, model, monkeypatch):
    """At 1 routing iteration the browser shows 1-iteration predictions (computed once, then cached), and
    the CNN's scores, which no routing changes, are not computed again."""
    window = open_window(qtbot, model)
    try:
        qtbot.waitUntil(lambda: window.state.predictions is not None and window.state.predictions.final,
                        timeout=TIMEOUT)
        cnn_before = window.browser.predictions.cnn.copy()
        with qtbot.waitSignal(window.controller.predictionsShown, timeout=60_000,
                              check_params_cb=lambda p: p.iterations == 1 and p.cnn is not None):
            window.player.iterations.setValue(1)
        p = window.browser.predictions
        images = window.browser.split.images.astype(np.float32) / 255
        expected = robustness.accuracy(model, images, window.browser.split.labels, iterations=1)
        assert np.mean(p.prediction == p.labels) == pytest.approx(expected)
        np.testing.assert_array_equal(p.cnn, cnn_before)
        assert "with 1 routing iteration" in window.browser.status.text()
        monkeypatch.setattr(predictions, "score_steps", never)  # back at 3, then at 1 again: both cached
        window.player.iterations.setValue(3)
        qtbot.waitUntil(lambda: window.browser.predictions.iterations == 3, timeout=TIMEOUT)
        window.player.iterations.setValue(1)
        qtbot.waitUntil(lambda: window.browser.predictions.iterations == 1, timeout=TIMEOUT)
    finally:
        window.player.iterations.setValue(3)
        window.close()


def test_the_routing_ablation_is_shown_for_the_shipped_model_at_once(qtbot, model, monkeypatch):
    """Does routing matter? Held-out accuracy at 1, 2, 3, 5 and 10 iterations, shipped: nothing computed."""
    monkeypatch.setattr(predictions, "score_steps", never)
    window = open_window(qtbot, model)
    try:
        qtbot.waitUntil(lambda: window.state.ablation is not None, timeout=TIMEOUT)
        accuracy = window.state.ablation
        assert sorted(accuracy) == [1, 2, 3, 5, 10]
        assert 0.99 <= accuracy[3] <= 1  # the shipped digits model: 99.63 % at 3 iterations
        assert all(0.9 < a <= 1 for a in accuracy.values())
        assert f"1: {accuracy[1]:.1%}" in window.browser.ablation.text()
    finally:
        window.close()
