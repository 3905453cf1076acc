"""The explorer window driven through its real widgets (pytest-qt, offscreen)."""
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QEvent, QMimeData, QPoint, QPointF, QSettings, Qt, QUrl
from PySide6.QtGui import QDropEvent, QImage, QMouseEvent
from PySide6.QtWidgets import QApplication

from capsexplorer.analysis import views
from capsexplorer.app.export import save_png, save_routing_gif
from capsexplorer.app.layout import LAB_VIEWS
from capsexplorer.app.panels.routing_view import HOVER_HINT
from capsexplorer.app.session.state import WINNER
from capsexplorer.app.window import MainWindow
from capsexplorer.data.datasets import heldout_samples

TIMEOUT = 30_000


@pytest.fixture(scope="module", autouse=True)
def isolated_settings(tmp_path_factory, qapp):
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope,
                      str(tmp_path_factory.mktemp("settings")))
    qapp.setOrganizationName("capsexplorer-tests")
    qapp.setApplicationName("capsexplorer-tests")


def open_window(qtbot, model=None, **kwargs) -> MainWindow:
    """A window on the session's model (loaded once), showing held-out sample 0."""
    kwargs.setdefault("persist", False)
    w = MainWindow(device="cpu", sample_seed=0, model=model, **kwargs)
    qtbot.addWidget(w)
    w.resize(1400, 900)
    w.show()
    qtbot.waitUntil(lambda: w.state.result is not None, timeout=TIMEOUT)
    return w


def open_watched(qtbot, model) -> tuple[MainWindow, list[str]]:
    """A window on `model`, shown at 1400×900 without waiting for anything, and the list its error messages go
    to (each one a failure for the tests that use it)."""
    w = MainWindow(device="cpu", sample_seed=0, model=model, persist=False)
    qtbot.addWidget(w)
    errors: list[str] = []
    w.errorShown.connect(errors.append)
    w.resize(1400, 900)
    w.show()
    return w, errors


@pytest.fixture
def window(qtbot, model):
    w = open_window(qtbot, model)
    yield w
    w.close()


def send_mouse(widget, kind, point, buttons):
    button = Qt.MouseButton.LeftButton
    pos = QPointF(*point)
    event = QMouseEvent(kind, pos, widget.mapToGlobal(pos), button, buttons, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, event)


def on_sheet(canvas, points) -> list[tuple[float, float]]:
    """`points` in sheet units (0–280) as the canvas widget's own coordinates."""
    scale = min(canvas.width(), canvas.height()) / 280
    ox = (canvas.width() - 280 * scale) / 2
    oy = (canvas.height() - 280 * scale) / 2
    return [(ox + x * scale, oy + y * scale) for x, y in points]


def draw_stroke(canvas, points):
    """Presses, drags through `points` (sheet units, 0–280) and releases, as a mouse would."""
    widget_points = on_sheet(canvas, points)
    held = Qt.MouseButton.LeftButton
    send_mouse(canvas, QEvent.Type.MouseButtonPress, widget_points[0], held)
    for p in widget_points[1:]:
        send_mouse(canvas, QEvent.Type.MouseMove, p, held)
    send_mouse(canvas, QEvent.Type.MouseButtonRelease, widget_points[-1], Qt.MouseButton.NoButton)


def circle(cx=140, cy=140, rx=55, ry=85, n=60):
    t = np.linspace(0, 2 * np.pi, n)
    return list(zip(cx + rx * np.sin(t), cy - ry * np.cos(t)))


def wait_trace(qtbot, window, action):
    with qtbot.waitSignal(window.controller.traceShown, timeout=TIMEOUT) as blocker:
        action()
    return blocker.args[0]


def prediction(window) -> int:
    return window.state.winner


def test_opens_with_a_sample_classified_and_status(window):
    assert window.state.trace is not None and window.state.trace.iterations == 3
    assert window.draw.prediction.text() == str(prediction(window))
    assert window.status_line.device_label.text() == "Device: CPU"
    from capsexplorer.net.weights import load_model

    accuracy = float(load_model(device="cpu").metadata["heldout_accuracy"])
    said = window.status_line.model_label.text()
    assert f"held-out accuracy {accuracy:.2%} (10,000 MNIST test digits, 3 iterations)" in said
    assert "(mnist, dynamic routing, " in said  # issue 24: the router in use is named
    assert window.status_line.time_label.text().startswith("Last trace:")


def test_mouse_strokes_change_the_prediction(qtbot, window):
    canvas = window.draw.canvas
    window.draw.canvas.clear()
    qtbot.waitUntil(lambda: window.state.result is None, timeout=TIMEOUT)
    result = wait_trace(qtbot, window, lambda: draw_stroke(canvas, [(140, 40 + 4 * k) for k in range(51)]))
    assert int(result.trace.prediction[0]) == 1
    assert canvas.stroke_count == 1
    canvas.clear()  # blank: the views empty at once, then draw a zero
    assert window.state.trace is None
    result = wait_trace(qtbot, window, lambda: draw_stroke(canvas, circle()))
    assert int(result.trace.prediction[0]) == 0
    assert window.draw.prediction.text() == "0"


def test_undo_removes_the_last_stroke(qtbot, window):
    canvas = window.draw.canvas
    canvas.clear()
    wait_trace(qtbot, window, lambda: draw_stroke(canvas, [(140, 40 + 4 * k) for k in range(51)]))
    wait_trace(qtbot, window, lambda: draw_stroke(canvas, circle(rx=30, ry=30)))
    result = wait_trace(qtbot, window, canvas.undo)
    assert canvas.stroke_count == 1 and int(result.trace.prediction[0]) == 1


def test_the_input_says_where_it_came_from_and_the_note_and_title_follow_it(qtbot, window):
    """Issue 23 §3: the window read the samples' note to decide whether the drawing was the user's and wrote the
    note and title itself; an undo of a stroke over a sample left them saying "your drawing"."""
    canvas = window.draw.canvas
    wait_trace(qtbot, window, window.samples.random_button.click)
    loaded = window.state.input.label
    assert loaded.startswith("MNIST test sample #") and window.samples.note.text() == f"Loaded {loaded}."
    assert window.windowTitle() == f"capsexplorer — {loaded}"
    wait_trace(qtbot, window, lambda: draw_stroke(canvas, [(140, 40 + 4 * k) for k in range(51)]))
    assert window.state.input.label == "your drawing" and window.samples.note.text() == ""
    assert window.windowTitle() == "capsexplorer — your drawing"
    wait_trace(qtbot, window, canvas.undo)  # the sample again, as it was loaded
    assert window.state.input.label == loaded and window.samples.note.text() == f"Loaded {loaded}."
    assert window.windowTitle() == f"capsexplorer — {loaded}"
    canvas.clear()
    qtbot.waitUntil(lambda: window.state.input is None, timeout=TIMEOUT)
    assert window.samples.note.text() == "" and "—" in window.windowTitle() and loaded not in window.windowTitle()


@pytest.mark.parametrize("digit", [2, 7])
def test_loading_a_sample_of_class_k_predicts_k(qtbot, window, digit):
    window.samples.digit.setCurrentIndex(window.samples.digit.findData(digit))
    result = wait_trace(qtbot, window, window.samples.random_button.click)
    assert int(result.trace.prediction[0]) == digit
    assert f"class {digit}." in window.samples.note.text()


def test_stepping_iterations_shows_the_traces_coupling(qtbot, window):
    window.state.set_view(mode="coupling")  # c_ij itself (the default shows c_ij − 1/J)
    tr, player = window.state.trace, window.player
    player.first()
    assert window.state.iteration == 0
    np.testing.assert_allclose(window.routing.matrix.image, views.mosaic(tr.coupling[0, 0]), atol=1e-6)
    np.testing.assert_allclose(window.routing.matrix.image, 0.1, atol=1e-6)  # uniform start
    player.next_button.click()
    np.testing.assert_allclose(window.routing.matrix.image, views.mosaic(tr.coupling[1, 0]), atol=1e-6)
    np.testing.assert_allclose(window.lengths.values, tr.lengths[1, 0], atol=1e-6)
    assert window.lengths.caption.textItem.toPlainText().startswith("iteration 2 of 3")
    qtbot.keyClick(window, Qt.Key.Key_BracketRight)
    assert window.state.iteration == 2 and player.scrubber.value() == 3
    player.scrubber.setValue(1)
    assert window.state.iteration == 0


def test_play_steps_through_iterations(qtbot, window):
    window.player.first()
    window.player.toggle_play()
    qtbot.waitUntil(lambda: window.state.iteration == 2, timeout=5000)
    window.player.toggle_play()
    assert not window.player.playing


def test_changing_the_iteration_count_reroutes(qtbot, window):
    result = wait_trace(qtbot, window, lambda: window.player.iterations.setValue(6))
    assert result.trace.iterations == 6 and result.trace.coupling.shape[0] == 6
    assert window.player.scrubber.maximum() == 6 and window.state.iteration == 5


def test_weighting_and_change_views(window):
    window.state.set_view(mode="coupling")  # c_ij itself (the default shows c_ij − 1/J)
    tr, routing = window.state.trace, window.routing
    window.state.set_iteration(1)
    routing.weighted.setChecked(True)
    expected = tr.coupling[1, 0] * tr.primary_lengths[0][:, None]
    np.testing.assert_allclose(routing.matrix.image, views.mosaic(expected), rtol=1e-5, atol=1e-7)
    routing.weighted.setChecked(False)
    routing.change.setChecked(True)
    np.testing.assert_allclose(routing.matrix.image, views.mosaic(tr.coupling[1, 0] - tr.coupling[0, 0]), atol=1e-6)
    low, high = routing.colorbar.levels()
    assert low == pytest.approx(-high)


def test_overlay_and_pose_choose_their_capsules_independently_without_rerouting(qtbot, window, model):
    """Choosing a capsule re-draws from the trace held: no new trace, and the two choices are apart."""
    window.state.set_view(mode="coupling")  # c_ij itself (the default shows c_ij − 1/J)
    result = window.state.result
    traced = []
    window.controller.traceShown.connect(traced.append)
    window.routing.digit_choice.setCurrentIndex(window.routing.digit_choice.findData(5))
    np.testing.assert_allclose(window.routing.overlay.image, views.spatial(result.trace.coupling[-1, 0], 5), atol=1e-6)
    assert window.pose.digit == result.winner  # the pose panel still follows the winner
    window.pose.capsule.setCurrentIndex(window.pose.capsule.findData(2))
    assert window.pose.digit == 2 and window.state.shown_overlay_digit() == 5
    np.testing.assert_allclose(window.pose.origin, result.trace.poses[0, 2], atol=1e-6)
    expected = model.reconstruct(result.trace.poses[0, 2][None], [2]).numpy()[0]
    np.testing.assert_allclose(window.pose.reconstruction_tile.data, expected, atol=1e-5)
    qtbot.wait(100)
    assert traced == [] and window.state.result is result


def test_an_inactive_capsule_is_said_to_be_so_with_its_length(window):
    result = window.state.result
    lengths = result.trace.final_lengths[0]
    inactive = int(lengths.argmin())
    assert lengths[inactive] < 0.1
    window.state.set_pose_digit(inactive)
    assert "inactive" in window.pose.caption.text() and f"{lengths[inactive]:.3f}" in window.pose.caption.text()
    window.state.set_pose_digit(-1)
    assert "inactive" not in window.pose.caption.text() and "the winner" in window.pose.caption.text()


def test_moving_a_pose_slider_redraws_the_reconstruction(qtbot, window, model):
    before = window.pose.reconstruction_tile.data.copy()
    slider = window.pose.sliders[3]
    with qtbot.waitSignal(window.controller.reconstructionShown, timeout=TIMEOUT) as blocker:
        slider.setValue(slider.value() + 0.2)
    result = blocker.args[0]
    after = window.pose.reconstruction_tile.data
    assert not np.allclose(before, after, atol=1e-3)
    expected = model.reconstruct(window.pose.pose()[None], [window.pose.digit]).numpy()[0]
    np.testing.assert_allclose(after, expected, atol=1e-4)
    assert result.digit == window.pose.digit
    # from a student's run: the caption's ‖v‖ stayed the network's after a drag — it now gives the bent one's too
    bent = f"As the sliders hold it now (1 of 16 values moved): ‖v‖ = {np.linalg.norm(window.pose.pose()):.3f}."
    assert bent in window.pose.caption.text()
    with qtbot.waitSignal(window.controller.reconstructionShown, timeout=TIMEOUT):
        window.pose.reset_button.click()
    np.testing.assert_allclose(window.pose.reconstruction_tile.data, before, atol=1e-4)
    assert "As the sliders hold it now" not in window.pose.caption.text()


def test_a_worker_error_is_shown_and_the_app_keeps_working(qtbot, window, monkeypatch):
    model = window.worker._model

    def broken(*args, **kwargs):
        raise RuntimeError("simulated failure")

    monkeypatch.setattr(model, "trace", broken)
    with qtbot.waitSignal(window.errorShown, timeout=TIMEOUT) as blocker:
        window.controller.request_trace()
    assert "simulated failure" in blocker.args[0]
    assert window.banner.isVisible() and "simulated failure" in window.banner.text.text()
    monkeypatch.undo()
    result = wait_trace(qtbot, window, window.controller.request_trace)
    assert result.trace.iterations == 3


def test_bad_image_file_shows_one_message_and_keeps_the_drawing(qtbot, window, tmp_path):
    canvas = window.draw.canvas
    wait_trace(qtbot, window, lambda: draw_stroke(canvas, [(140, 40 + 4 * k) for k in range(51)]))
    strokes = canvas.stroke_count
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    with qtbot.waitSignal(window.errorShown, timeout=TIMEOUT):
        window.open_image(str(bad))
    assert str(bad) in window.banner.text.text() and "not an image" in window.banner.text.text()
    assert canvas.stroke_count == strokes


def test_dropping_an_image_file_opens_it(qtbot, window, tmp_path):
    held = heldout_samples(4)
    path = tmp_path / "four.png"
    Image.fromarray(255 - held.images[0]).save(path)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                       Qt.KeyboardModifier.NoModifier)
    result = wait_trace(qtbot, window, lambda: window.dropEvent(event))
    assert int(result.trace.prediction[0]) == 4


def test_blank_canvas_clears_the_views(qtbot, window):
    window.draw.canvas.clear()
    qtbot.waitUntil(lambda: window.state.trace is None, timeout=TIMEOUT)
    assert window.draw.prediction.text() == "–" and not window.pose.isEnabled()
    assert not window.routing.matrix.isVisible() and not window.player.play_button.isEnabled()
    assert not any(line.isVisible() for line in window.summary.iteration_line)  # no iteration marked on empty plots
    assert window.routing.colorbar.opacity() == 0 and window.routing.spatial_bar.opacity() == 0  # no old scales


def test_closing_while_the_worker_is_busy_is_clean(qtbot, model, monkeypatch):
    w = open_window(qtbot, model)
    original = model.trace

    def slow(*args, **kwargs):
        import time

        time.sleep(1.5)
        return original(*args, **kwargs)

    monkeypatch.setattr(model, "trace", slow)
    w.controller.request_trace()
    qtbot.waitUntil(lambda: w.worker.busy, timeout=5000)
    w.close()  # waits for the job however long it is: a running QThread destroyed aborts Python
    assert w.worker.isFinished()


def test_exports_png_and_gif(window, tmp_path):
    png = save_png(window.routing, tmp_path / "routing.png")
    assert Image.open(png).size[0] > 300
    window.state.set_iteration(1)
    gif = save_routing_gif(window, tmp_path / "routing.gif")
    with Image.open(gif) as image:
        assert image.n_frames == 3
    assert window.state.iteration == 1


def test_settings_are_remembered_per_panel(qtbot, model):
    w = open_window(qtbot, model, persist=True)
    w.draw.pen.setValue(27)
    w.routing.weighted.setChecked(True)
    w.pose.span.setCurrentIndex(2)
    w.routing.digit_choice.setCurrentIndex(w.routing.digit_choice.findData(4))
    w.routing.keep_digit.setChecked(True)  # kept for new inputs, and so across a restart
    w.close()
    again = open_window(qtbot, model, persist=True)
    assert again.draw.pen.value() == 27 and again.routing.weighted.isChecked() and again.state.weighted
    assert again.pose.span.currentIndex() == 2 and again.state.overlay_digit == 4
    assert again.routing.digit_choice.currentData() == 4
    again.routing.weighted.setChecked(False)
    again.pose.span.setCurrentIndex(0)
    again.routing.digit_choice.setCurrentIndex(0)
    again.routing.keep_digit.setChecked(False)
    again.close()


def test_snapshot_writes_a_png_of_the_window(tmp_path, heldout):
    path = tmp_path / "digit.png"
    Image.fromarray(255 - heldout.images[np.flatnonzero(heldout.labels == 5)[0]]).save(path)
    out = tmp_path / "snapshot.png"
    proc = subprocess.run([sys.executable, "-m", "capsexplorer.cli", "snapshot", str(path), "--out", str(out),
                           "--iteration", "2", "--digit", "5"], capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    image = np.asarray(Image.open(out).convert("L"))
    assert image.shape[1] >= 1000 and image.shape[0] >= 600
    assert image.std() > 20  # not blank


def wait_for_line(proc, text: str, seconds: float = 120) -> None:
    """Reads the process's stderr until a line holds `text` (polling, not a fixed sleep)."""
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if text in line:
            return
        if not line and proc.poll() is not None:
            break
    raise AssertionError(f"{text!r} never came; exit status {proc.poll()}")


def test_the_program_starts_and_closes_cleanly_on_sigterm(tmp_path):
    """`capsexplorer` with no arguments, in a subprocess as a user starts it."""
    import os
    import signal

    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path), HOME=str(tmp_path))
    proc = subprocess.Popen([sys.executable, "-m", "capsexplorer.cli", "--debug"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    wait_for_line(proc, "loaded capsnet-mnist.safetensors")  # the window is open and its model loaded
    assert proc.poll() is None, proc.communicate()[1]
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert list(tmp_path.rglob("capsexplorer.conf")), "settings were saved on close"


def test_without_a_display_the_window_says_so_in_one_line():
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    proc = subprocess.run([sys.executable, "-m", "capsexplorer.cli"], env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and "no display" in proc.stderr


def test_a_wide_image_keeps_its_aspect_ratio_on_the_canvas(qtbot, window):
    """A 3:1 image with a digit in its middle: the digit is not stretched to fill the square sheet."""
    held = heldout_samples(1)
    wide = np.full((100, 300), 230, np.uint8)  # light grey paper
    digit = np.asarray(Image.fromarray(255 - held.images[0]).resize((84, 84)))
    wide[8:92, 108:192] = np.minimum(wide[8:92, 108:192], digit)
    result = wait_trace(qtbot, window, lambda: window.draw.canvas.set_image(wide))
    sheet = window.draw.canvas.image_array()
    assert sheet[5].min() > 200 and sheet[-5].min() > 200  # paper colour above and below the image
    assert int(result.trace.prediction[0]) == 1


def slowed(monkeypatch, model, seconds):
    original = model.trace

    def slow(*args, **kwargs):
        import time

        time.sleep(seconds)
        return original(*args, **kwargs)

    monkeypatch.setattr(model, "trace", slow)


def test_clearing_during_a_trace_never_paints_the_old_trace(qtbot, window, model, monkeypatch):
    """The stale-trace race: a slow trace in flight, then Clear; its answer arrives and is dropped."""
    canvas = window.draw.canvas
    canvas.clear()
    slowed(monkeypatch, model, 0.6)
    draw_stroke(canvas, [(140, 40 + 4 * k) for k in range(51)])
    qtbot.waitUntil(lambda: window.worker.busy, timeout=5000)
    canvas.clear()
    assert window.state.result is None
    qtbot.waitUntil(lambda: not window.worker.busy, timeout=TIMEOUT)
    qtbot.wait(100)
    assert window.state.result is None and canvas.is_empty()
    assert window.draw.prediction.text() == "–" and not window.routing.matrix.isVisible()
    # Undo brings the stroke back, and with it a trace.
    result = wait_trace(qtbot, window, canvas.undo)
    assert canvas.stroke_count == 1 and result.winner == 1


def test_clear_can_be_undone_and_so_can_a_load(qtbot, window):
    canvas = window.draw.canvas
    sample = window.state.result
    wait_trace(qtbot, window, lambda: draw_stroke(canvas, circle(rx=20, ry=20)))
    assert canvas.stroke_count == 1
    canvas.clear()
    assert canvas.is_empty()
    wait_trace(qtbot, window, canvas.undo)  # the sample and the stroke are back
    assert canvas.stroke_count == 1 and not canvas.is_empty()
    result = wait_trace(qtbot, window, canvas.undo)  # the stroke goes: the sample alone
    assert canvas.stroke_count == 0 and result.winner == sample.winner
    with qtbot.waitSignal(window.controller.blankShown, timeout=TIMEOUT):
        canvas.undo()  # the sample goes: the sheet is as it was before it was loaded
    assert canvas.is_empty()


def test_iteration_keys_work_while_the_iteration_box_has_focus(qtbot, window):
    window.activateWindow()
    box = window.player.iterations
    box.setFocus()
    qtbot.waitUntil(box.hasFocus, timeout=5000)
    window.state.set_iteration(2)
    qtbot.keyClick(box, Qt.Key.Key_BracketLeft)
    assert window.state.iteration == 1 and box.value() == 3 and box.text() == "3 iterations"
    qtbot.keyClick(box, Qt.Key.Key_BracketRight)
    assert window.state.iteration == 2


def test_grabbing_the_scrubber_pauses_play(qtbot, window):
    window.player.toggle_play()
    assert window.player.playing
    scrubber = window.player.scrubber
    qtbot.mousePress(scrubber, Qt.MouseButton.LeftButton, pos=scrubber.rect().center())
    assert not window.player.playing
    qtbot.mouseRelease(scrubber, Qt.MouseButton.LeftButton, pos=scrubber.rect().center())


def test_one_quantity_one_colour_scale(qtbot, window):
    """With one routing iteration every c_ij is the uniform 0.1: mid-scale in both views, not 'strong'."""
    window.state.set_view(mode="coupling")  # c_ij itself (the default shows c_ij − 1/J)
    wait_trace(qtbot, window, lambda: window.state.set_iterations(1))
    low, high = window.routing.colorbar.levels()
    assert (low, high) == (0.0, 0.2)
    assert window.routing.overlay.levels is not None
    np.testing.assert_allclose(window.routing.overlay.image, 0.1, atol=1e-6)
    # the overlay on its own scale (issue 22 §5), around its values: all 0.1 here, so mid-scale there too
    overlay_low, overlay_high = window.routing.overlay.getLevels()
    assert overlay_low < 0.1 < overlay_high and (overlay_low + overlay_high) / 2 == pytest.approx(0.1, abs=1e-6)
    assert tuple(window.routing.spatial_bar.levels()) == pytest.approx((overlay_low, overlay_high))
    assert f"{overlay_low:+.4f} … {overlay_high:+.4f}" in window.routing.spatial_caption.text()


def test_colour_bar_titles_are_typeset(window):
    assert window.routing.colorbar.axis.labelText == "c<sub>ij</sub> − 1/J"  # the default view
    window.state.set_view(mode="coupling")
    assert window.routing.colorbar.axis.labelText == "c<sub>ij</sub>"
    window.state.set_view(weighted=True, change=True)
    assert window.routing.colorbar.axis.labelText == "Δc<sub>ij</sub>·‖u<sub>i</sub>‖"
    window.state.set_view(mode="logits", weighted=False, change=False)
    assert window.routing.colorbar.axis.labelText == "b<sub>ij</sub>"


class FakeHover:
    def __init__(self, x, y, exit=False):
        self._pos, self._exit = QPointF(x, y), exit

    def pos(self):
        return self._pos

    def isExit(self):
        return self._exit


def test_the_hover_read_out_follows_the_iteration_and_options_under_a_still_mouse(window):
    window.state.set_view(mode="coupling")  # c_ij itself (the default shows c_ij − 1/J)
    routing, state = window.routing, window.state
    tr = state.trace
    routing._hover(FakeHover(8 * 36 + 14.5, 12.5))  # digit 8's block, type 12, position 14
    i = 12 * 36 + 14
    assert f"c_ij = {tr.coupling[2, 0, i, 8]:.4f}" in routing.hover.text()
    state.set_iteration(0)
    assert "c_ij = 0.1000" in routing.hover.text() and "iteration 1" in routing.hover.text()
    state.set_view(weighted=True)
    assert f"shown (coupling c_ij, × ‖u_i‖) {0.1 * tr.primary_lengths[0, i]:+.4f}" in routing.hover.text()
    state.set_view(weighted=False, change=True)
    state.set_iteration(2)
    change = tr.coupling[2, 0, i, 8] - tr.coupling[1, 0, i, 8]
    assert f"shown (change of coupling c_ij since iteration 2) {change:+.4f}" in routing.hover.text()
    state.set_view(change=False)
    routing._hover(FakeHover(0, 0, exit=True))
    assert routing.hover.text() == HOVER_HINT.format(grid=6)


def test_the_banner_overlays_and_goes_when_the_next_operation_succeeds(qtbot, window):
    before = window.columns.geometry()
    window.show_error("a test message")
    assert window.banner.isVisible() and window.columns.geometry() == before  # nothing pushed down
    wait_trace(qtbot, window, window.controller.request_trace)
    assert not window.banner.isVisible()


def test_export_dialogs_start_in_the_last_directory(qtbot, model, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    w = open_window(qtbot, model, persist=True)
    starts = []
    answers = iter([str(tmp_path / "first.png"), str(tmp_path / "second.gif")])
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        lambda parent, title, start, filter_: (starts.append(start), (next(answers), ""))[1])
    w.files.export_png(w.routing)
    w.files.export_gif()
    assert (tmp_path / "first.png").is_file() and (tmp_path / "second.gif").is_file()
    assert starts[1] == str(tmp_path / "routing.gif")
    w.settings.remove("last_dir")
    w.close()


def test_about_shows_the_version(window, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    from capsexplorer import __version__

    shown = []
    monkeypatch.setattr(QMessageBox, "about", lambda parent, title, text: shown.append(text))
    window.show_about()
    assert __version__ in shown[0]


def test_weights_switch_at_run_time_and_a_failed_load_keeps_the_old_model(qtbot, window, model, tmp_path,
                                                                          monkeypatch):
    from safetensors.torch import save_file

    from capsexplorer.net.weights import read_state, shipped_weights_path

    tensors, meta = read_state(shipped_weights_path())
    other = tmp_path / "other.safetensors"
    save_file(tensors, str(other), metadata=dict(meta, heldout_accuracy="n/a"))
    with qtbot.waitSignal(window.controller.modelReady, timeout=TIMEOUT) as loaded:
        window.worker.load(str(other))
    assert loaded.args[0].heldout_accuracy is None
    said = window.status_line.model_label.text()
    assert "other.safetensors" in said and "accuracy unknown" in said
    assert window.worker._model is not model
    current = window.worker._model

    import capsexplorer.net.weights as weights

    def fails(metadata):
        raise RuntimeError("half-way failure")

    monkeypatch.setattr(weights, "heldout_accuracy", fails)  # fails after the file was read
    with qtbot.waitSignal(window.errorShown, timeout=TIMEOUT, check_params_cb=lambda m: "half-way" in m):
        window.worker.load(str(shipped_weights_path()))
    assert window.worker._model is current and "other.safetensors" in window.status_line.model_label.text()
    monkeypatch.undo()
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(b"\x00" * 64)
    with qtbot.waitSignal(window.errorShown, timeout=TIMEOUT, check_params_cb=lambda m: "corrupt" in m) as error:
        window.worker.load(str(corrupt))
    assert str(corrupt) in error.args[0] and str(corrupt) in window.banner.text.text()
    assert window.worker._model is current
    result = wait_trace(qtbot, window, window.controller.request_trace)  # still working, on the old model
    assert result.trace.iterations == 3


def test_an_exception_in_a_slot_reaches_the_banner_and_the_log(qtbot, window, caplog):
    import logging
    import sys

    from PySide6.QtCore import QTimer

    from capsexplorer.app.main import install_excepthook

    def buggy_slot():
        raise ValueError("a bug in a slot")

    saved = sys.excepthook
    install_excepthook(window)
    try:
        with caplog.at_level(logging.ERROR, logger="capsexplorer"):
            QTimer.singleShot(0, buggy_slot)  # raised by Qt's event loop, as a real slot's bug would be
            qtbot.waitUntil(lambda: "a bug in a slot" in window.banner.text.text(), timeout=5000)
    finally:
        sys.excepthook = saved
    assert "ValueError: a bug in a slot" in window.banner.text.text()
    assert any("a bug in a slot" in r.getMessage() and r.exc_info for r in caplog.records)


def test_building_a_window_changes_nothing_process_wide(qtbot, model):
    import gc

    import pyqtgraph as pg
    import torch

    threads, frozen = torch.get_num_threads(), gc.get_freeze_count()
    config = dict(pg.CONFIG_OPTIONS)
    hook = sys.excepthook
    w = open_window(qtbot, model)
    assert torch.get_num_threads() == threads and gc.get_freeze_count() == frozen
    assert dict(pg.CONFIG_OPTIONS) == config and sys.excepthook is hook
    w.close()


@pytest.mark.parametrize("size", [(1024, 700), (1280, 800)])
def test_the_window_fits_a_laptop_screen(qtbot, window, size):
    hint = window.minimumSizeHint()
    assert hint.width() <= size[0] and hint.height() <= size[1], hint
    window.resize(*size)
    qtbot.waitUntil(lambda: (window.width(), window.height()) == size, timeout=5000)
    canvas = window.draw.canvas
    pen_row_top = window.draw.pen.mapTo(window, window.draw.pen.rect().topLeft()).y()
    canvas_bottom = canvas.mapTo(window, canvas.rect().bottomLeft()).y()
    assert canvas_bottom < pen_row_top  # the pen row never covers the canvas
    compact = size[0] < 1280
    assert (window.lab.indexOf(window.pose_area) >= 0) == compact  # narrow: the pose is the lab's last tab
    mode = window.routing.mode
    assert mode.fontMetrics().horizontalAdvance(mode.currentText()) + 24 <= mode.width()  # its name whole
    window.resize(1500, 920)
    qtbot.waitUntil(lambda: window.columns.indexOf(window.pose_area) == 2, timeout=5000)  # a column again
    assert window.lab.indexOf(window.pose_area) < 0 and window.pose_area.isVisible()


def tooltip_at(plot, x: float, y: float) -> str:
    """What a user resting the mouse at data point (x, y) of a pyqtgraph plot is shown as its tooltip."""
    from PySide6.QtCore import QPointF as PointF
    from PySide6.QtGui import QHelpEvent
    from PySide6.QtWidgets import QToolTip

    scene = plot.getPlotItem().vb.mapViewToScene(PointF(x, y))
    pos = plot.mapFromScene(scene)
    QToolTip.hideText()
    QApplication.sendEvent(plot.viewport(), QHelpEvent(QEvent.Type.ToolTip, pos, plot.viewport().mapToGlobal(pos)))
    return QToolTip.text()


def test_resting_the_mouse_on_a_plot_shows_its_numbers(qtbot, window):
    """The tooltip a user gets (not a static hint) carries the values under the mouse."""
    window.show()
    qtbot.wait(50)
    assert tooltip_at(window.summary.lengths_plot, 2.0, 0.5).startswith("After iteration 2, ‖v_j‖")
    d = window.state.winner
    assert tooltip_at(window.lengths.plot, d, 0.3).startswith(f"{d}: ‖v‖ = ")
    window.lab.setCurrentWidget(window.votes)
    qtbot.wait(50)
    k = int(np.argmax(window.votes.view.x))
    assert tooltip_at(window.votes.plot, window.votes.view.x[k], window.votes.view.y[k]).startswith(
        f"Primary capsule {k} (type")


def test_every_class_s_value_per_iteration_is_read_out_in_what_routing_did(window):
    tr = window.state.trace
    text = window.summary.read_out("lengths", 2.2)  # hovering iteration 2
    lines = text.splitlines()
    assert lines[0].startswith("After iteration 2") and len(lines) == 11
    shown = [float(line.split(": ")[1]) for line in lines[1:]]
    assert shown == sorted(shown, reverse=True)  # largest first
    assert shown[0] == pytest.approx(tr.lengths[1, 0].max(), abs=1e-3)
    assert window.summary.read_out("active_coupling", 1).startswith("After iteration 1, mean c_ij")
    assert window.summary.read_out("lengths", 9) == ""  # no such iteration


def test_the_pose_tab_of_a_narrow_window_is_a_lab_view(qtbot, window):
    window.resize(1024, 700)
    qtbot.waitUntil(lambda: window.lab.indexOf(window.pose_area) >= 0, timeout=5000)
    window.lab.setCurrentWidget(window.pose_area)
    assert window.state.lab_view == "pose"
    window.resize(1500, 920)  # wide again while the pose tab is shown: the routing tab takes its place
    qtbot.waitUntil(lambda: window.lab.indexOf(window.pose_area) < 0, timeout=5000)
    assert window.state.lab_view == "routing" and window.pose_area.isVisible()


def test_the_theme_switch_recolours_the_plots(qtbot, window):
    from capsexplorer.app.widgets import theme

    try:
        window.theme_actions["dark"].trigger()
        qtbot.wait(20)
        assert theme.is_dark() and window.theme_actions["dark"].isChecked()
        assert window.lengths.plot.backgroundBrush().color().lightness() < 128
        axis = window.lengths.plot.getPlotItem().getAxis("left")
        assert axis.textPen().color().lightness() > 128  # light text on the dark plot
        window.theme_actions["light"].trigger()
        qtbot.wait(20)
        assert not theme.is_dark() and window.lengths.plot.backgroundBrush().color().lightness() > 128
        assert window.lengths.labels[0].color.lightness() < 128  # the bar values follow
    finally:
        window.set_theme("system")


def run_snapshot(tmp_path, *args, timeout=120):
    proc = subprocess.run([sys.executable, "-m", "capsexplorer.cli", "snapshot", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)
    return proc.returncode, proc.stdout, proc.stderr


def test_snapshot_keeps_stderr_clean(tmp_path):
    code, out, err = run_snapshot(tmp_path, "--out", tmp_path / "s.png")
    assert code == 0 and err == "" and "snapshot written" in out


@pytest.mark.parametrize("size", ["1024", "axb", "10x10", "1024x700x3"])
def test_snapshot_sizes_are_checked_in_one_line(tmp_path, size):
    code, out, err = run_snapshot(tmp_path, "--out", tmp_path / "s.png", "--size", size)
    assert code == 2 and "--size" in err and "Traceback" not in err and not (tmp_path / "s.png").exists()


@pytest.mark.parametrize("case", ["unwritable", "blank", "not-an-image"])
def test_snapshot_failures_are_one_line_in_seconds(tmp_path, case):
    import time

    Image.new("L", (64, 64), 255).save(tmp_path / "blank.png")
    (tmp_path / "notes.png").write_text("hello")
    args = {"unwritable": ["--out", "/nonexistent-root-dir/sub/x.png" if False else tmp_path / "file" / "x.png"],
            "blank": [tmp_path / "blank.png", "--out", tmp_path / "x.png"],
            "not-an-image": [tmp_path / "notes.png", "--out", tmp_path / "x.png"]}[case]
    (tmp_path / "file").write_text("a file, not a folder")
    start = time.monotonic()
    code, out, err = run_snapshot(tmp_path, *args, timeout=60)
    assert code == 1 and err.count("\n") == 1 and "Traceback" not in err and "QThread" not in err, err
    assert time.monotonic() - start < 20
    assert {"unwritable": "x.png", "blank": "no ink", "not-an-image": "not an image"}[case] in err


@pytest.mark.slow
def test_snapshot_stops_on_ctrl_c(tmp_path, model, monkeypatch):
    """Ctrl+C while the snapshot waits for the model: exit 130 at once, the worker stopped."""
    import os
    import signal
    import time

    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    proc = subprocess.Popen([sys.executable, "-c",
                             "import sys, time, capsexplorer.net.model as m\n"
                             "slow = m.CapsNet.trace\n"
                             "m.CapsNet.trace = lambda *a, **k: (print('in the trace', file=sys.stderr, flush=True),\n"
                             "                                   time.sleep(10), slow(*a, **k))[2]\n"
                             "from capsexplorer.cli import main\n"
                             f"sys.exit(main(['--debug', 'snapshot', '--out', {str(tmp_path / 'x.png')!r}]))\n"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_line(proc, "in the trace")  # the (slowed) warm-up trace has begun
    start = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted" in err and "QThread" not in err, err
    assert time.monotonic() - start < 30  # the warm-up trace in flight (10 s) is let finish, nothing more


def test_undo_and_clear_reach_the_canvas_from_the_iterations_box(qtbot, window):
    canvas = window.draw.canvas
    box = window.player.iterations
    window.activateWindow()
    box.setFocus()
    qtbot.waitUntil(box.hasFocus, timeout=5000)
    qtbot.keyClick(box, Qt.Key.Key_Escape)
    assert canvas.is_empty() and box.value() == 3
    with qtbot.waitSignal(window.controller.traceShown, timeout=TIMEOUT):
        qtbot.keyClick(box, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert not canvas.is_empty() and box.value() == 3
    box.setValue(1)
    assert box.text() == "1 iteration"


def test_the_pose_sliders_span_the_class_s_training_poses_with_their_histograms(qtbot, window):
    pose = window.pose
    qtbot.waitUntil(lambda: window.state.pose_stats is not None, timeout=TIMEOUT)
    stats, d = window.state.pose_stats, pose.digit
    assert pose.span.currentData() == "data"  # the default: the data's own scale
    for k in (0, 7, 15):
        slider = pose.sliders[k]
        low = min(stats.mean[d, k] - 2 * stats.std[d, k], pose.origin[k] - stats.std[d, k])
        high = max(stats.mean[d, k] + 2 * stats.std[d, k], pose.origin[k] + stats.std[d, k])
        assert (slider.minimum(), slider.maximum()) == pytest.approx((low, high), abs=1e-6)
        counts, edges, _, _, marked = slider.slider.backdrop  # the histogram behind, the input's value marked
        np.testing.assert_array_equal(counts, stats.histogram[d, k])
        assert marked == pytest.approx(pose.origin[k]) and len(edges) == len(counts) + 1
        z = (pose.origin[k] - stats.mean[d, k]) / stats.std[d, k]
        assert f"z = {z:+.1f}" in hover_tooltip(slider.slider)  # the handle's groove, hovered: asks its row
    pose.span.setCurrentIndex(pose.span.findData(0.25))  # the paper's range, about the pose
    assert pose.sliders[3].maximum() == pytest.approx(pose.origin[3] + 0.25)
    assert pose.span.currentText().startswith("±0.25") and "paper" in pose.span.currentText()
    pose.span.setCurrentIndex(0)


def test_a_new_slider_range_keeps_the_bend_and_redraws_it(qtbot, window, model):
    pose = window.pose
    with qtbot.waitSignal(window.controller.reconstructionShown, timeout=TIMEOUT):
        pose.sliders[0].setValue(pose.origin[0] + 0.2)
    bent = pose.pose()
    with qtbot.waitSignal(window.controller.reconstructionShown, timeout=TIMEOUT):
        pose.span.setCurrentIndex(pose.span.findData(0.5))  # ±0.5 about the pose
    np.testing.assert_allclose(pose.pose(), bent, atol=1e-3)
    expected = model.reconstruct(bent[None], [pose.digit]).numpy()[0]
    np.testing.assert_allclose(pose.reconstruction_tile.data, expected, atol=1e-3)
    pose.span.setCurrentIndex(0)


def test_clicking_a_matrix_cell_opens_that_capsule_in_the_primary_tab(qtbot, window):
    """As the caption says: the Primary tab shows the capsule clicked; the overlay's digit is not changed."""
    routing = window.routing
    event = FakeHover(3 * 36 + 7.5, 20.5)
    event.accept = lambda: None
    routing._click(event)
    assert window.state.primary == 20 * 36 + 7 and window.state.overlay_digit == WINNER
    assert window.lab.currentWidget() is window.lab.widget(LAB_VIEWS.index("primary")) and window.state.lab_view == "primary"
    window.lab.setCurrentIndex(0)
    qtbot.waitUntil(routing.primary_box.isVisible, timeout=5000)
    x, y = window.state.winner * 36 + 7, 20  # marked in the overlay's block: rings around the cell, which
    for ring in routing.primary_box.childItems():  # stays visible inside (issue 22 §5: it was painted over)
        r = ring.rect()
        assert r.left() < x and r.right() > x + 1 and r.top() < y and r.bottom() > y + 1
        assert ring.pen().color().name() in ("#000000", "#ffffff")  # in no colour map's colours


def test_a_chosen_digit_returns_to_the_winner_on_a_new_input_unless_kept(qtbot, window):
    window.routing.digit_choice.setCurrentIndex(window.routing.digit_choice.findData(4))
    window.pose.capsule.setCurrentIndex(window.pose.capsule.findData(6))
    assert window.state.overlay_digit == 4 and window.state.pose_digit == 6
    with qtbot.waitSignal(window.controller.traceShown, timeout=TIMEOUT):
        window.samples.load_random(digit=7)
    assert window.state.overlay_digit == WINNER and window.state.pose_digit == WINNER
    assert window.routing.digit_choice.currentData() == WINNER and window.pose.digit == 7
    window.routing.digit_choice.setCurrentIndex(window.routing.digit_choice.findData(4))
    window.routing.keep_digit.setChecked(True)
    with qtbot.waitSignal(window.controller.traceShown, timeout=TIMEOUT):
        window.samples.load_random(digit=2)
    assert window.state.overlay_digit == 4 and window.state.shown_overlay_digit() == 4
    with qtbot.waitSignal(window.controller.traceShown, timeout=TIMEOUT):
        window.player.iterations.setValue(2)  # the same input again: nothing returns to the winner
    assert window.state.overlay_digit == 4


def test_the_hover_read_out_resets_when_the_mouse_leaves_an_empty_view(qtbot, window):
    routing = window.routing
    routing._hover(FakeHover(5 * 36 + 2.5, 3.5))
    window.draw.canvas.clear()
    routing._hover(FakeHover(0, 0, exit=True))
    assert "Primary capsule" not in routing.hover.text()


def test_a_bend_of_an_older_trace_never_paints_over_a_new_one(qtbot, window, model, monkeypatch):
    """A slider moved just before a new input: its reconstruction, if it comes back late, is dropped."""
    from capsexplorer.app.session.jobs import ReconstructionResult

    old_generation = window.state.generation
    wait_trace(qtbot, window, window.controller.request_trace)
    shown = window.pose.reconstruction_tile.data.copy()
    window.worker._publish(ReconstructionResult(old_generation, window.pose.digit, np.zeros(16),
                                                               np.ones((28, 28), np.float32), 0.0))
    # taken (and dropped) — waited for, not guessed with a fixed pause (issue 23: it passed when broken under load)
    qtbot.waitUntil(lambda: ReconstructionResult not in window.worker._results, timeout=TIMEOUT)
    qtbot.wait(10)
    np.testing.assert_array_equal(window.pose.reconstruction_tile.data, shown)
    window.worker._publish(ReconstructionResult(window.state.generation, window.pose.digit, np.zeros(16),
                                                np.full((28, 28), 0.5, np.float32), 0.0))
    qtbot.waitUntil(lambda: np.allclose(window.pose.reconstruction_tile.data, 0.5), timeout=TIMEOUT)  # the path works


def test_sample_numbers_name_the_same_digit_whatever_the_filter(qtbot, window, heldout):
    window.samples.digit.setCurrentIndex(window.samples.digit.findData(6))
    wait_trace(qtbot, window, window.samples.random_button.click)
    number = int(window.samples.note.text().split("#")[1].split(",")[0])
    assert heldout.labels[number] == 6


def test_routing_view_modes_show_what_they_say(window):
    from capsexplorer.app.panels.routing_view import MODE_NAMES

    tr, routing, state = window.state.trace, window.routing, window.state
    assert state.mode == "deviation" and tr.u_hat is not None
    np.testing.assert_allclose(routing.matrix.image, views.mosaic(tr.coupling[-1, 0] - 0.1), atol=1e-6)
    low, high = routing.colorbar.levels()
    deviation = np.abs(tr.coupling[-1, 0] - 0.1).max()
    assert low == -high and high < 0.9 and high >= deviation - 1e-6  # auto-scaled to the deviations, not ±0.9
    for mode in MODE_NAMES:
        routing.mode.setCurrentIndex(routing.mode.findData(mode))
        assert state.mode == mode
        np.testing.assert_allclose(routing.matrix.image, views.mosaic(views.mode_matrix(tr, mode, 2)), atol=1e-5)
    state.set_iteration(0)
    routing.mode.setCurrentIndex(routing.mode.findData("agreement"))  # what iteration 1 adds to b
    np.testing.assert_allclose(routing.matrix.image, views.mosaic(tr.logits[1, 0] - tr.logits[0, 0]), atol=1e-5)
    state.set_view(mode="deviation")


def test_routing_summary_draws_lengths_and_active_couplings(window):
    tr = window.state.trace
    summary = views.routing_summary(tr)
    x, y = window.summary.class_line("lengths", tr.prediction[0])
    np.testing.assert_allclose(y, tr.lengths[:, 0, tr.prediction[0]], atol=1e-6)
    np.testing.assert_array_equal(x, np.arange(1, tr.iterations + 1))
    x, y = window.summary.lines["lengths"]["winner"].getData()  # the winner's own line over the grey ones
    np.testing.assert_allclose(y, tr.lengths[:, 0, tr.prediction[0]], atol=1e-6)
    for digit in range(10):
        x, y = window.summary.class_line("active_coupling", digit)
        np.testing.assert_allclose(y, summary["active_coupling"][:, digit], atol=1e-6)
    with pytest.raises(IndexError):
        window.summary.class_line("lengths", 10)
    assert "entropy" in window.summary.caption.text() and "2.3026" in window.summary.caption.text()


def test_the_inspector_writes_procedure_1_for_a_clicked_capsule(window):
    window.lab.setCurrentWidget(window.lab.widget(1))
    event = FakeHover(8 * 36 + 14.5, 12.5)
    event.accept = lambda: None
    window.routing._click(event)
    i = 12 * 36 + 14
    inspector = window.inspector
    assert inspector.type_box.value() == 12 and inspector.row_box.value() == 2 and inspector.col_box.value() == 2
    assert inspector.field.isVisible() and inspector.field.rect().x() == 4 and inspector.field.rect().y() == 4
    tr = window.state.trace
    np.testing.assert_allclose(inspector.prediction_bars.opts["height"], np.linalg.norm(tr.u_hat[0, i], axis=-1),
                               rtol=1e-5)
    text = inspector.procedure.text()
    assert "Iteration 3 of 3" in text and f"{tr.coupling[2, 0, i, 8]:+.3f}" in text
    assert "at the start of iteration 3" in text and "as iteration 2 left it" in text  # which b is which
    window.state.set_iteration(1)
    assert "the b iteration 3 starts from" in inspector.procedure.text()
    window.state.set_iteration(0)
    assert "all zero: routing starts uniform" in inspector.procedure.text()
    inspector.type_box.setValue(5)
    assert window.state.primary == 5 * 36 + 14
    cell = FakeHover(3.5, 1.5)  # the 6×6 map's row 1, col 3, in the overlay's own pixels
    cell.accept = lambda: None
    window.routing._click_position(cell)
    assert window.state.primary == 5 * 36 + 1 * 6 + 3 and inspector.row_box.value() == 1


def test_switching_parts_off_reroutes_without_them(qtbot, window, model):
    parts = window.parts
    show_tab(qtbot, window, "primary")  # as a user would: the parts and the inspector are on the Primary tab
    with qtbot.waitSignal(window.controller.traceShown, timeout=TIMEOUT) as shown:
        parts.type_buttons[0].setChecked(False)
    assert not window.state.enabled[:36].any() and window.state.enabled[36:].all()
    tr = shown.args[0].trace
    np.testing.assert_allclose(tr.u_hat[0, :36], 0)  # the parts switched off predict nothing
    assert np.isnan(window.routing.matrix.image[0]).all() and np.isfinite(window.routing.matrix.image[1]).all()
    window.state.set_primary(5)
    assert "Switched off" in window.inspector.details.text()
    assert "is switched off" in window.inspector.procedure.text()  # no "longest prediction ‖û‖ = 0.000"
    assert "longest prediction" not in window.inspector.details.text()
    assert "1116 of 1152" in parts.count.text()
    assert "1 of 32 switched off (red)" in parts.types_label.text()  # the legend says what the colours mean
    with qtbot.waitSignal(window.controller.traceShown, timeout=TIMEOUT):
        parts.brush._paint_value = False
        parts.brush._paint([14])  # brush position 14 off, in every type
    assert not window.state.enabled[36 + 14] and window.state.enabled[36 + 15]
    with qtbot.waitSignal(window.controller.traceShown, timeout=TIMEOUT):
        parts.all_on.click()
    assert window.state.enabled.all()


def test_the_probe_transforms_the_network_input_and_shows_the_ghost(qtbot, window, model):
    from capsexplorer.data import transforms

    window.lab.setCurrentWidget(window.probe)
    probe = window.probe
    with qtbot.waitSignal(window.controller.probeShown, timeout=TIMEOUT):
        probe.sliders["rotate"].setValue(30)  # 30 steps of 1°
    qtbot.waitUntil(lambda: probe.result is not None and probe.result.settings.get("rotate") == 30, timeout=TIMEOUT)
    expected = transforms.apply(window.state.result.image, "rotate", 30)
    np.testing.assert_allclose(probe.input_tile.data, expected, atol=1e-6)
    alone = model.trace(expected[None], iterations=3)
    np.testing.assert_allclose(probe.length_bars.opts["height"], alone.final_lengths[0], atol=1e-4)
    np.testing.assert_allclose(probe.ghost_lengths.opts["height"], window.state.trace.final_lengths[0], atol=1e-6)
    assert "turned" in probe.caption.text() and "+30°" in probe.values["rotate"].text()
    assert "what the rest of the window shows" in probe.caption.text()  # which capsule is which, said
    cnn = window.worker._baseline.predict(expected[None, None])[0]  # issue 22 §9: the CNN's answer beside it
    assert f"The CNN baseline says {int(cnn.argmax())} ({cnn.max():.0%})" in probe.caption.text()
    d = window.state.shown_pose_digit()
    before, after = window.state.trace.final_lengths[0, d], probe.result.lengths[d]
    holds = abs(after / before - 1) <= 0.05  # issue 22 §1: "while the length holds" also when it fell 14 %
    assert ("here the length holds" in probe.caption.text()) == holds
    assert ("here the length does not hold" in probe.caption.text()) == (not holds)
    qtbot.waitUntil(lambda: window.state.equivariance is not None, timeout=TIMEOUT)  # shipped for these weights
    from capsexplorer.analysis.equivariance import read_out

    d = window.state.shown_pose_digit()
    seen = read_out(window.state.equivariance, "rotate", probe.result.poses[d] - window.state.trace.poses[0, d], d)
    assert f"rotate +30°: read from the pose {seen:+.3g}°" in probe.caption.text()  # is this equivariance? said
    r2 = window.state.equivariance["transforms"]["rotate"]["capsnet"]["readout_r2_per_class"]
    assert f"read-out R² {r2:.2f} over 150 held-out digits, one per class" in probe.caption.text()
    d = window.state.shown_pose_digit()
    assert probe.bar_text("pose", 3) == (f"Capsule {d}, pose dimension 4: {probe.result.poses[d, 3]:+.3f} transformed, "
                                         f"{window.state.trace.poses[0, d, 3]:+.3f} untransformed.")
    assert probe.bar_text("lengths", d).startswith(f"Class {d}: ‖v‖ = {probe.result.lengths[d]:.3f} transformed")
    probe.reset_button.click()
    assert window.state.probe == transforms.IDENTITY and probe.sliders["rotate"].value() == 0


def test_the_sweep_tab_runs_one_batched_sweep_and_exports(qtbot, window, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    with qtbot.waitSignal(window.controller.sweepShown, timeout=TIMEOUT) as shown:
        window.lab.setCurrentWidget(window.sweep)  # shown: it sweeps at once (rotate, −180…180°)
    sweep = shown.args[0].value
    assert sweep.transform == "rotate" and len(sweep.values) == 21 and sweep.digit == window.state.winner
    x, y = window.sweep.length_lines[sweep.digit].getData()
    np.testing.assert_allclose(y, sweep.lengths[:, sweep.digit])
    named = {text.toPlainText(): text.pos() for text in window.sweep.line_names if text.isVisible()}
    rising = [d for d in range(10) if d != sweep.digit and sweep.lengths[:, d].max() >= window.sweep.RISES]
    assert rising and sorted(named) == sorted(window.state.class_name(d) for d in rising)  # grey lines named, not hovered
    for d in rising:
        peak = int(np.argmax(sweep.lengths[:, d]))
        assert (named[window.state.class_name(d)].x(), named[window.state.class_name(d)].y()) == \
            pytest.approx((sweep.values[peak], sweep.lengths[peak, d]), abs=1e-5)
    columns = window.sweep.strip_columns  # 21 frames in the rows that show them largest
    assert window.sweep.strip.image.shape == (-(-21 // columns) * 60, columns * 30)
    np.testing.assert_array_equal(window.sweep.strip.image[:28, :28], sweep.images[0])  # the first input, top left,
    assert window.sweep.strip_plot.getPlotItem().vb.state["yInverted"]  # drawn upright: row 0 at the top
    assert "Grey points" in window.sweep.caption.text() and "while still active" in window.sweep.caption.text()
    qtbot.waitUntil(lambda: window.sweep.cnn_line.getData()[1] is not None
                    and len(window.sweep.cnn_line.getData()[1]) == 21, timeout=TIMEOUT)
    x, y = window.sweep.cnn_line.getData()  # the CNN judges the same sweep, a moment later
    assert np.all((0 <= y) & (y <= 1))
    panel = window.sweep
    runs = sweep.prediction_runs()  # where the prediction changes, and to what, said in words
    assert all(f"{d} (" in panel.caption.text() for d, _, _ in runs) and panel.caption.text().startswith("Read as: ")
    assert [words for _, words in panel.legend_entries] == [f"━ capsule {sweep.digit}", "─ others",
                                                             f"┅ CNN p({sweep.digit})"]
    assert "CNN p(" in panel.lengths_plot.getPlotItem().titleLabel.text  # in the title: nothing covers the curves
    s = 15  # +90°: every class's length at a value, read as numbers
    text = panel.read_out(float(sweep.values[s]) + 1)
    top = int(np.argmax(sweep.lengths[s]))
    assert text.startswith(f"At rotate +{sweep.values[s]:g}°: {top} {sweep.lengths[s, top]:.3f}") and "CNN says" in text
    np.testing.assert_allclose(panel.pose_image.image, np.nan_to_num(sweep.unit_pose_change()).T, atol=1e-6)
    low, high = panel.pose_bar.levels()
    assert np.abs(panel.pose_image.image).max() <= high and low == -high  # the heatmap's scale holds it all
    panel.steps.setValue(181)
    assert panel.steps.value() == 181  # as the command line allows, up to 1000
    with qtbot.waitSignal(window.controller.sweepShown, timeout=TIMEOUT):
        panel.run_button.click()
    assert panel.strip.image.size == -(-21 // panel.strip_columns) * 60 * panel.strip_columns * 30  # 21 of 181
    panel.steps.setValue(21)
    with qtbot.waitSignal(window.controller.sweepShown, timeout=TIMEOUT):
        panel.run_button.click()
    answers = iter([str(tmp_path / "s.png"), str(tmp_path / "s.gif")])
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a: (next(answers), ""))
    window.sweep.png_button.click()
    window.sweep.gif_button.click()
    assert (tmp_path / "s.png").is_file()
    with Image.open(tmp_path / "s.gif") as gif:
        assert gif.n_frames == 21
    window.sweep.transform.setCurrentIndex(window.sweep.transform.findData("shift-x"))
    with qtbot.waitSignal(window.controller.sweepShown, timeout=TIMEOUT) as shown:
        window.sweep.run_button.click()
    assert shown.args[0].value.transform == "shift-x"


def test_the_figure_4_tab_names_rows_and_a_click_sets_the_slider(qtbot, window, model):
    qtbot.waitUntil(lambda: window.state.pose_stats is not None, timeout=TIMEOUT)  # shipped for these weights
    with qtbot.waitSignal(window.controller.gridShown, timeout=TIMEOUT) as shown:
        window.lab.setCurrentWidget(window.grid)
    grid = shown.args[0].value
    assert grid.grid.shape == (16, 11, 28, 28) and grid.digit == window.pose.digit
    stats = window.state.pose_stats  # on the data's scale: each row ±2σ of the class's training poses
    np.testing.assert_allclose(grid.dimension_offsets()[:, -1], 2 * stats.std[grid.digit], rtol=1e-5)
    assert "standard deviations" in window.grid.caption.text() and window.grid.view.column_name(10) == "+2.0σ"
    labels = shown.args[0].labels  # issue 22 §2: "every row stays a digit" only when the network says so
    read = model.trace(np.clip(grid.grid.reshape(-1, 28, 28), 0, 1), iterations=3).prediction.reshape(16, 11)
    assert [row["read_as"] for row in labels] == read.tolist()
    kept = bool((read == grid.digit).all())
    assert ("each row stays that digit" in window.grid.caption.text()) == kept
    assert ("the network reads another class than" in window.grid.caption.text()) == (not kept)
    names = window.grid.row_names
    assert [int(name.split()[0]) for name in names] == list(range(1, 17)) and all(len(n.split()) > 1 for n in names)
    view = window.grid.view
    label_width, tile, left, top = view.geometry_now()
    assert tile >= 18 and label_width >= max(view.fontMetrics().horizontalAdvance(n) for n in names)  # names whole
    tip = view.tooltip_at(QPoint(5, top + 4 * (tile + 2) + tile // 2))  # the name of dimension 5, hovered
    assert tip.startswith(f"Dimension 5: {grid.labels()[4]['label']}") and "centroid_x" in tip
    with qtbot.waitSignal(window.controller.reconstructionShown, timeout=TIMEOUT):
        qtbot.mouseClick(view, Qt.MouseButton.LeftButton,
                         pos=QPoint(left + 9 * (tile + 2) + tile // 2, top + 4 * (tile + 2) + tile // 2))
    assert window.pose.pose()[4] == pytest.approx(window.pose.origin[4] + grid.dimension_offsets()[4, 9], abs=1e-3)
    np.testing.assert_allclose(window.pose.reconstruction_tile.data, grid.grid[4, 9], atol=2e-3)
    assert view.chosen == (4, 9)  # the clicked tile is framed: which value the slider now holds
    with qtbot.waitSignal(window.controller.gridShown, timeout=TIMEOUT) as shown:
        window.grid.span.setCurrentIndex(1)  # the paper's ±0.25, named
    assert shown.args[0].value.offsets[-1] == pytest.approx(0.25) and shown.args[0].value.sigma is None
    assert window.grid.span.currentText() == "±0.25 (paper)"


def test_lab_tabs_with_nothing_to_show_stay_quiet(qtbot, window):
    """A blank canvas: switching through every tab asks the worker for nothing and raises nothing."""
    window.draw.canvas.clear()
    qtbot.waitUntil(lambda: window.state.result is None, timeout=TIMEOUT)
    for index in range(window.lab.count()):
        window.lab.setCurrentIndex(index)
    window.sweep.run_button.click()
    window.state.set_probe("rotate", 45)
    qtbot.wait(100)
    assert window.sweep.sweep is None and window.grid.grid is None and not window.banner.isVisible()
    window.state.reset_probe()


def test_a_lab_job_that_fails_reaches_the_banner_and_the_lab_goes_on(qtbot, window, model, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("simulated sweep failure")

    from capsexplorer.app.session import worker

    monkeypatch.setattr(worker, "run_sweep", broken)
    with qtbot.waitSignal(window.errorShown, timeout=TIMEOUT) as error:
        window.lab.setCurrentWidget(window.sweep)
    assert "simulated sweep failure" in error.args[0]
    monkeypatch.undo()
    with qtbot.waitSignal(window.controller.sweepShown, timeout=TIMEOUT):
        window.sweep.run_button.click()
    assert not window.banner.isVisible()  # a success clears it


def test_the_probe_and_parts_work_together(qtbot, window, model):
    """The probe routes the transformed input without the parts switched off (issue 23: this test passed when the
    probe ignored them)."""
    from capsexplorer.data import transforms

    show_tab(qtbot, window, "primary")
    with qtbot.waitSignal(window.controller.traceShown, timeout=TIMEOUT):
        window.parts.type_buttons[3].setChecked(False)
    show_tab(qtbot, window, "probe")
    with qtbot.waitSignal(window.controller.probeShown, timeout=TIMEOUT):
        window.state.set_probe("scale", 1.2)
    qtbot.waitUntil(lambda: window.probe.result is not None and window.probe.result.settings["scale"] == 1.2,
                    timeout=TIMEOUT)
    image = transforms.apply_all(window.state.result.image, window.probe.result.settings)[None, None]
    without = model.trace(image, iterations=3, primary_mask=window.state.enabled).final_lengths[0]
    every = model.trace(image, iterations=3).final_lengths[0]
    np.testing.assert_allclose(window.probe.result.lengths, without, atol=1e-5)
    assert np.abs(without - every).max() > 1e-4  # the parts switched off change the answer's lengths
    window.parts.reset()
    window.state.reset_probe()


def test_the_held_out_browser_filters_and_opens_a_digit_in_two_clicks(qtbot, window):
    browser = window.browser
    qtbot.waitUntil(lambda: browser.predictions is not None and browser.predictions.cnn is not None, timeout=60_000)
    p = browser.predictions
    assert len(p.labels) == 10000 and browser.model.rowCount() == 10000  # MNIST's official test digits
    assert p.cnn is not None, "the shipped CNN baseline is loaded beside the CapsNet"
    assert int(window.browser.confusion.item(3, 3).text()) == p.confusion()[3, 3]
    wrong = np.flatnonzero(p.prediction != p.labels)
    assert len(wrong) > 0
    true, predicted = int(p.labels[wrong[0]]), int(p.prediction[wrong[0]])
    window.lab.setCurrentWidget(browser)
    browser.confusion.cellClicked.emit(true, predicted)  # click 1: a cell of the confusion matrix
    shown = browser.shown()
    assert all(p.labels[k] == true and p.prediction[k] == predicted for k in shown) and wrong[0] in shown
    with qtbot.waitSignal(window.controller.traceShown, timeout=TIMEOUT) as traced:
        browser.view.clicked.emit(browser.model.index(list(shown).index(wrong[0])))  # click 2: the digit
    assert traced.args[0].winner == predicted and window.lab.currentIndex() == 0  # its routing, shown
    assert f"#{wrong[0]}," in window.samples.note.text()
    browser.wrong.setChecked(True)  # a filter by hand replaces the cell
    assert browser.cell is None and len(browser.shown()) == len(wrong)
    browser.wrong.setChecked(False)
    browser.low_margin.setChecked(True)
    assert np.all(p.margin[browser.shown()] < browser.margin.value())
    browser.low_margin.setChecked(False)
    browser.sort.setCurrentIndex(browser.sort.findData("length"))
    order = browser.shown()
    assert np.all(np.diff(p.winner_length[order]) >= 0)
    browser.sort.setCurrentIndex(0)
    browser.disagree.setChecked(True)
    assert np.all(p.cnn_prediction[browser.shown()] != p.prediction[browser.shown()])
    k = int(browser.shown()[0])  # the CNN's answer on the thumbnail itself, where it differs
    text = browser.model.data(browser.model.index(list(browser.shown()).index(k)))
    assert f"CNN {int(p.cnn_prediction[k])}" in text and text.startswith(f"{p.labels[k]}→{p.prediction[k]}")
    browser.disagree.setChecked(False)
    browser.both_wrong.setChecked(True)
    both = np.flatnonzero((p.prediction != p.labels) & (p.cnn_prediction != p.labels))
    assert list(browser.shown()) == list(both)
    browser.both_wrong.setChecked(False)


def test_the_cnn_judges_the_same_input(qtbot, window):
    """Its answer follows the capsules' (never delaying them), for the same network input."""
    from capsexplorer.net.weights import load_baseline

    qtbot.waitUntil(lambda: window.state.cnn is not None, timeout=TIMEOUT)
    cnn = window.state.cnn
    assert cnn.shape == (10,) and abs(cnn.sum() - 1) < 1e-4
    expected = load_baseline(device="cpu").predict(window.state.result.image[None])[0]
    np.testing.assert_allclose(cnn, expected, atol=1e-5)
    assert window.draw.cnn.text().startswith("CNN: ")
    np.testing.assert_allclose(window.lengths.cnn_bars.opts["height"], cnn, atol=1e-6)
    window.draw.canvas.clear()
    assert window.state.cnn is None and window.draw.cnn.text() == ""


def test_a_measured_robustness_comparison_is_shown_from_the_cache(qtbot, model, heldout, tmp_path, monkeypatch):
    """Measured once (minutes), kept per pair of weights files: the next window shows it at once."""
    import json

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # this test's own cache

    from capsexplorer.analysis import predictions, robustness

    shipped = predictions.cached_file  # as for weights of the user's own: nothing shipped for them
    monkeypatch.setattr(predictions, "cached_file", lambda name: (predictions.cache_dir() / name)
                        if (predictions.cache_dir() / name).is_file() else
                        None if name.startswith("robustness") else shipped(name))
    from capsexplorer.analysis.predictions import cache_dir, weights_key
    from capsexplorer.data.datasets import Split
    from capsexplorer.net.baseline import BaselineCNN
    from capsexplorer.net.weights import SHIPPED_CNN, shipped_weights_path

    small = Split(heldout.images[::500], heldout.labels[::500])
    result = robustness.measure({"capsnet": model, "cnn": BaselineCNN().eval()}, small)
    key = weights_key(shipped_weights_path(), shipped_weights_path(SHIPPED_CNN))
    cache_dir().mkdir(parents=True, exist_ok=True)
    (cache_dir() / f"robustness-{key}.json").write_text(json.dumps(result))
    w = MainWindow(device="cpu", sample_seed=0, persist=False, model=model)
    qtbot.addWidget(w)
    with qtbot.waitSignal(w.controller.robustnessShown, timeout=TIMEOUT):
        w.show()
    x, y = w.robustness.lines["rotate", "capsnet"].getData()
    assert list(x) == list(robustness.VALUES["rotate"]) and 30 in x and list(y) == list(result["capsnet"]["rotate"].values())
    assert "Affine mix" in w.robustness.summary.text() and "CapsNet" in w.robustness.summary.text()
    import re

    assert re.search(r"Worst single condition: CapsNet [\d.]+% \((rotate|scale|shift-x|shift-y|shear|thickness) [+-]",
                     w.robustness.summary.text())
    w.close()


def test_a_held_out_sample_is_routed_exactly_as_mnist_has_it_until_drawn_on(qtbot, window, heldout):
    k = int(window.samples.note.text().split("#")[1].split(",")[0])
    np.testing.assert_allclose(window.state.result.image, heldout.images[k] / 255.0, atol=1e-6)
    canvas = window.draw.canvas
    result = wait_trace(qtbot, window, lambda: draw_stroke(canvas, [(20, 20), (30, 30)]))
    assert not np.allclose(result.image, heldout.images[k] / 255.0)  # drawn on: preprocessed like any drawing
    result = wait_trace(qtbot, window, canvas.undo)
    np.testing.assert_allclose(result.image, heldout.images[k] / 255.0, atol=1e-6)


def test_a_model_of_another_data_set_says_so_in_the_browser_not_as_an_error(qtbot, window, tmp_path):
    from safetensors.torch import save_file

    from capsexplorer.net.weights import read_state, shipped_weights_path

    tensors, meta = read_state(shipped_weights_path())
    other = tmp_path / "other-data.safetensors"
    save_file(tensors, str(other), metadata=dict(meta, dataset="kmnist", heldout_accuracy="0.9"))
    errors = []
    window.errorShown.connect(errors.append)
    with qtbot.waitSignal(window.controller.modelReady, timeout=TIMEOUT):
        window.worker.load(str(other))
    qtbot.waitUntil(lambda: "No held-out browser" in window.browser.status.text(), timeout=TIMEOUT)
    assert errors == []


def test_a_clothing_model_brings_its_classes_samples_and_browser(qtbot, window, tmp_path):
    """Weights that say Fashion-MNIST (here the digits' tensors under that name): garment names in the
    lengths, samples and browser; samples from the shipped Fashion-MNIST test images; a notice that the
    model was trained on clothing; and the digits model back restores it all."""
    from safetensors.torch import save_file

    from capsexplorer.data.datasets import FASHION_CLASSES, model_samples
    from capsexplorer.net.weights import read_state, shipped_weights_path

    tensors, meta = read_state(shipped_weights_path())
    clothing = tmp_path / "clothing.safetensors"
    save_file(tensors, str(clothing), metadata=dict(meta, dataset="fashion-mnist", classes=",".join(FASHION_CLASSES)))
    errors = []
    window.errorShown.connect(errors.append)
    with qtbot.waitSignal(window.controller.modelReady, timeout=TIMEOUT) as loaded:
        window.worker.load(str(clothing))
    assert loaded.args[0].classes == FASHION_CLASSES
    assert not any(a.isChecked() for a in window.shipped_actions.values())  # not a shipped model: no check mark
    assert "No CNN baseline" in window.robustness.status.text() and window.robustness.button.isHidden()
    assert window.robustness.key.isHidden()  # no "orange CapsNet, blue CNN" over plots with no curves
    assert window.samples.notice.isVisible() and "clothing" in window.samples.notice.text()
    assert window.samples.digit.itemText(2) == "Trouser"
    assert window.lengths.tick_names[:2] == ["T-shirt", "Trouser"]  # issue 22 §7: not "Drss", "Sndl", "Snkr"
    assert "T-shirt = T-shirt/top" in window.lengths.hover.fallback
    assert window.inspector.class_axis.names[:2] == ["T-shirt", "Trouser"] and window.probe.class_axis.names[9] == "Boot"
    assert window.routing.class_axis.names[0] == "T-shirt"
    assert "Draw one of its classes here" in window.draw.canvas.empty_hint and "t-shirt/top" in \
        window.draw.canvas.empty_hint.lower()
    for width in (1900, 1024):  # names, or abbreviations that read as such, under the bars at every width
        window.resize(width, 900)
        qtbot.wait(100)
        qtbot.waitUntil(lambda: window.lengths.plot.getPlotItem().getAxis("bottom")._tickLevels[0][0][1]
                        in ("T-shirt", "Tee"), timeout=TIMEOUT)
        shown = [name.strip() for _, name in window.lengths.plot.getPlotItem().getAxis("bottom")._tickLevels[0]]
        assert "Sneaker" in shown or "Sneak." in shown  # (every other one a line lower where they need the room)
    qtbot.waitUntil(lambda: "Fashion-MNIST test sample" in window.windowTitle(), timeout=TIMEOUT)  # its own data
    assert len(model_samples("fashion-mnist")[0]) == 1000
    qtbot.waitUntil(lambda: window.browser.confusion.horizontalHeaderItem(9).text() == "Boot", timeout=TIMEOUT)
    view = window.browser.view  # every thumbnail's caption whole
    assert view.gridSize().width() >= view.fontMetrics().horizontalAdvance("Pullover→Pullover 0.99")
    window.samples.load_random(digit=1)
    assert "class Trouser" in window.windowTitle()
    qtbot.waitUntil(lambda: window.state.result is not None and window.draw.prediction.text() != "–",
                    timeout=TIMEOUT)
    assert errors == []
    with qtbot.waitSignal(window.controller.modelReady, timeout=TIMEOUT):
        window.worker.load("mnist5k")  # by name
    assert not window.samples.notice.isVisible() and window.samples.digit.itemText(2) == "digit 1"
    assert window.shipped_actions["mnist5k"].isChecked() and not window.shipped_actions["fashion-mnist"].isChecked()
    assert window.browser.confusion.horizontalHeaderItem(9).text() == "9"
    window.draw.canvas.clear()
    with qtbot.waitSignal(window.controller.traceShown, timeout=TIMEOUT):
        draw_stroke(window.draw.canvas, circle())
    with qtbot.waitSignal(window.controller.modelReady, timeout=TIMEOUT):
        window.worker.load(str(clothing))
    qtbot.waitUntil(lambda: window.draw.prediction.text() in FASHION_CLASSES, timeout=TIMEOUT)  # names the garment
    assert window.draw.canvas.stroke_count == 1  # the user's drawing is kept; only a sample is replaced
    assert window.browser.title() == "The held-out images" and "class capsule" in window.pose.title()
    assert "How much routing moves here</b> is not yet measured for this model" in window.guide.text.text()
    assert "benchmarks/" not in window.guide.text.text()  # a student is never sent to a developer's script


def test_a_model_of_three_classes_replaces_the_digits_model_cleanly(qtbot, window, tmp_path):
    """Switching from ten 16-D capsules to three 8-D ones while a capsule is bent: no stale request of the
    old shape reaches the new model, and the input is traced again in the new shape."""
    import torch

    from capsexplorer.net.config import CapsNetConfig
    from capsexplorer.net.model import CapsNet
    from capsexplorer.net.weights import save_weights

    three = tmp_path / "three.safetensors"
    torch.manual_seed(0)
    save_weights(CapsNet(CapsNetConfig(n_classes=3, digit_dim=8)), three, {"dataset": "folder", "classes": "a,b,c"})
    errors: list[str] = []
    window.errorShown.connect(errors.append)
    window.state.set_pose_digit(9)
    window.pose.sliders[3].setValue(window.pose.sliders[3].maximum())  # a reconstruction of capsule 9 asked
    window.worker.load(str(three))
    qtbot.waitUntil(lambda: window.state.model.classes == ("a", "b", "c") and window.state.result is not None
                    and window.state.result.trace.poses.shape[1:] == (3, 8), timeout=TIMEOUT)
    window.pose.sliders[0].setValue(window.pose.sliders[0].maximum())
    qtbot.wait(300)
    assert not errors, errors
    assert len(window.pose.sliders) == 8 and window.lengths.bars.opts["x"].shape == (3,)


@pytest.mark.slow
def test_snapshot_of_a_measurement_stops_on_ctrl_c(tmp_path):
    """Ctrl+C while `snapshot --tab robustness` measures: exit 130 within seconds, no PNG written."""
    import os
    import signal
    import time

    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    proc = subprocess.Popen([sys.executable, "-c",
                             "import sys, capsexplorer.analysis.predictions as p\n"
                             "shipped = p.cached_file  # robustness neither measured before nor shipped; the rest as shipped\n"
                             "p.cached_file = lambda name: None if name.startswith('robustness') else shipped(name)\n"
                             "from capsexplorer.cli import main\n"
                             f"sys.exit(main(['--debug', 'snapshot', '--tab', 'robustness', '--out', "
                             f"{str(tmp_path / 'r.png')!r}]))\n"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_line(proc, "robustness: batch 1 of")
    start = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted" in err, err
    assert time.monotonic() - start < 10 and not (tmp_path / "r.png").exists()


def test_window_exports_on_a_full_disk_keep_the_existing_file(window, tmp_path, monkeypatch):
    """Export PNG / GIF over an existing file on a full disk: one line, the old file byte for byte."""
    import pytest
    from test_faults import _FullDisk

    from capsexplorer import files
    from capsexplorer.errors import CapsExplorerError

    old_png, old_gif = tmp_path / "old.png", tmp_path / "old.gif"
    save_png(window.routing, old_png)
    save_routing_gif(window, old_gif)
    before = old_png.read_bytes(), old_gif.read_bytes()
    real_open = open
    monkeypatch.setattr(files, "open", lambda *a, **k: _FullDisk(real_open(*a, **k), 100), raising=False)
    with pytest.raises(CapsExplorerError, match="No space left on device"):
        save_png(window.routing, old_png)
    with pytest.raises(CapsExplorerError, match="No space left on device"):
        save_routing_gif(window, old_gif)
    assert (old_png.read_bytes(), old_gif.read_bytes()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.gif", "old.png"]  # no temporary left


def test_the_routing_tab_ranks_the_capsules_whose_coupling_grew_most(qtbot, window):
    from capsexplorer.analysis import views

    routing, tr = window.routing, window.state.trace
    window.state.set_iteration(tr.iterations - 1)
    rows = views.largest_changes(tr, tr.iterations - 1, count=6)
    fell = views.largest_changes(tr, tr.iterations - 1, count=3, fell=True)
    assert routing.changes.count() == 2 + len(rows) + len(fell) == 11  # two headings: grew most, fell most
    assert routing.changes.item(0).text() == "grew most" and routing.changes.item(7).text() == "fell most"
    first = routing.changes.item(1)
    i, j, before, after = rows[0]
    t, position = divmod(i, 36)
    assert first.text() == (f"#{i} → {j}: {after - before:+.3f} ({before:.3f} → {after:.3f}), "
                            f"type {t} at ({position // 6}, {position % 6})")
    assert routing.changes.item(8).text().startswith(f"#{fell[0][0]} → {fell[0][1]}: {fell[0][3] - fell[0][2]:+.3f}")
    assert fell[0][3] < fell[0][2]
    routing._open_change(first)
    assert window.state.primary == i and window.lab.currentIndex() == LAB_VIEWS.index("primary")
    window.lab.setCurrentIndex(0)
    window.state.set_iteration(0)
    assert routing.changes.count() == 0 and "later iteration" in routing.changes_title.text()
    low, high = routing._levels
    note = routing.scale_note.text()
    assert f"{low:g} … {high:g}" in note and "this input's values" in note


@pytest.mark.parametrize("size", [(1024, 700), (1920, 1080)])
def test_every_length_can_be_read_as_a_number_at_any_size(qtbot, window, size):
    window.resize(*size)
    qtbot.waitUntil(lambda: (window.width(), window.height()) == size, timeout=5000)
    qtbot.wait(50)
    lengths = window.lengths
    values = window.state.trace.lengths[window.state.iteration, 0]
    shown = [t.toPlainText() for t in lengths.labels]
    assert shown == [f"{v:.2f}" for v in values]  # a value above every bar
    assert [label for _, label in lengths.plot.getPlotItem().getAxis("bottom")._tickLevels[0]] == \
        [str(d) for d in range(10)]  # each digit named under its bar
    for d in (0, window.state.winner, 9):  # and the hover read-out, to three places
        assert lengths.read_out(d + 0.2).startswith(f"{d}: ‖v‖ = {values[d]:.3f}")


def test_the_votes_tab_draws_every_vote_sized_by_its_coupling_and_opens_one(qtbot, window):
    from capsexplorer.app.panels.votes_panel import point_sizes

    votes = window.votes
    window.lab.setCurrentWidget(votes)
    tr = window.state.trace
    winner = window.state.winner
    assert votes.view is not None and votes.view.j == winner and len(votes.points.points()) == 1152
    for r in range(tr.iterations):  # stepping the player resizes the points: area ∝ c_ij of that iteration
        window.state.set_iteration(r)
        qtbot.wait(1)
        sizes = np.array([p.size() for p in votes.points.points()])
        np.testing.assert_allclose(sizes, point_sizes(tr.coupling[r, 0, :, winner]), rtol=1e-5)
        assert f"iteration {r + 1} of {tr.iterations}" in votes.caption.text()
    v = tr.iteration_poses[-1, 0, winner]
    assert votes.v_mark.points()[0].pos().x() == pytest.approx(np.linalg.norm(v), rel=1e-4)
    import re

    from capsexplorer.app.panels.votes_panel import BARELY

    moved = float(re.search(r"votes shown moved by ([\d.]+) on average", votes.caption.text()).group(1))
    assert ("barely change size" in votes.caption.text()) == (moved < BARELY)  # said only when the numbers say it
    k = int(np.argmax(votes.view.x))  # the most agreeing vote: hover names it, a click opens it
    point = votes.points.points()[k]
    assert votes.read_out(int(point.data())).startswith(f"Primary capsule {int(point.data())} (type")
    votes._clicked(votes.points, [point])
    assert window.state.primary == int(point.data()) and window.state.lab_view == "primary"
    assert window.lab.currentIndex() == LAB_VIEWS.index("primary")
    show_tab(qtbot, window, "votes")  # back to the votes (a hidden tab draws nothing until shown)
    window.state.set_overlay_digit((winner + 1) % 10)  # another capsule's votes
    assert votes.view.j == (winner + 1) % 10
    window.state.set_overlay_digit(WINNER)
    enabled = np.ones(1152, bool)
    enabled[:36] = False  # type 0 switched off: its 36 votes disappear
    with qtbot.waitSignal(window.controller.traceShown, timeout=TIMEOUT):
        window.state.set_enabled(enabled)
    qtbot.waitUntil(lambda: len(votes.points.points()) == 1152 - 36, timeout=TIMEOUT)
    assert all(int(p.data()) >= 36 for p in votes.points.points())


def hover_tooltip(widget) -> str:
    """The tooltip a hover over `widget` shows (Qt's help event, passed up to whoever names it)."""
    from PySide6.QtGui import QHelpEvent

    at = QPoint(widget.width() // 2, widget.height() // 2)
    QApplication.sendEvent(widget, QHelpEvent(QEvent.Type.ToolTip, at, widget.mapToGlobal(at)))
    holder = widget
    while holder is not None and not holder.toolTip():
        holder = holder.parentWidget()
    return holder.toolTip() if holder is not None else ""


def test_the_input_decoded_as_every_class_and_a_click_holds_that_capsule(qtbot, window):
    from PySide6.QtCore import QPoint as Point

    strip = window.pose.every_class
    result = window.state.result
    assert len(strip.images) == 10 and strip.winner == result.winner
    np.testing.assert_array_equal(strip._pixels[3], (np.clip(result.reconstructions[3], 0, 1) * 255).round().astype(np.uint8))
    other = (result.winner + 1) % 10
    assert strip.tooltip(other).startswith(f"{other}: its own pose decoded")
    assert "the winner" in strip.tooltip(result.winner)
    centre = strip.tile_rect(other).center()
    assert strip.capsule_at(Point(centre.x(), centre.y())) == other
    qtbot.mouseClick(strip, Qt.MouseButton.LeftButton, pos=centre)
    assert window.state.shown_pose_digit() == other and window.pose.digit == other and strip.chosen == other


def test_a_figure_4_click_beyond_a_slider_widens_that_slider_not_the_range(qtbot, window):
    pose = window.pose
    qtbot.waitUntil(lambda: window.state.pose_stats is not None, timeout=TIMEOUT)
    slider = pose.sliders[2]
    beyond = slider.maximum() + 0.1
    pose.set_dimension(2, beyond)
    assert pose.span.currentData() == "data" and slider.value() == pytest.approx(beyond)
    assert slider.maximum() == pytest.approx(beyond) and pose.sliders[3].maximum() < pose.origin[3] + 0.25


def test_the_wheel_scrolls_the_pose_panel_and_leaves_the_sliders_alone(qtbot, window):
    from PySide6.QtCore import QPoint as Point
    from PySide6.QtGui import QWheelEvent

    slider = window.pose.sliders[1]
    before = slider.value()
    centre = slider.slider.rect().center()
    event = QWheelEvent(centre, slider.slider.mapToGlobal(centre), Point(0, 0), Point(0, -120),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(slider.slider, event)
    assert slider.value() == before


def test_another_model_starts_from_its_winner(qtbot, window):
    window.state.set_overlay_digit(3)
    window.state.pin(overlay=True)
    with qtbot.waitSignal(window.controller.modelReady, timeout=TIMEOUT):
        window.worker.load("fashion-mnist")
    try:
        assert window.state.overlay_digit == WINNER and window.routing.digit_choice.currentData() == WINNER
    finally:
        with qtbot.waitSignal(window.controller.modelReady, timeout=TIMEOUT):
            window.worker.load("mnist5k")


def test_a_click_on_a_stale_figure_4_moves_no_slider(qtbot, window):
    with qtbot.waitSignal(window.controller.gridShown, timeout=TIMEOUT):
        window.lab.setCurrentWidget(window.grid)
    other = (window.pose.digit + 1) % 10
    window.state.set_pose_digit(other)  # the sliders hold another capsule than the grid on screen (its grid coming)
    assert window.state.grid.value.digit != other and window.pose.digit == other
    before = window.pose.pose().copy()
    window.grid.tileClicked.emit(4, 0.05)
    np.testing.assert_array_equal(window.pose.pose(), before)
    qtbot.wait(50)
    window.state.set_pose_digit(WINNER)


def test_the_pose_caption_stops_saying_for_now_once_the_statistics_come(qtbot, window):
    qtbot.waitUntil(lambda: window.state.pose_stats is not None, timeout=TIMEOUT)
    assert "for now" not in window.pose.caption.text()


def test_measure_says_what_it_waits_for_from_the_first_moment(qtbot, window, monkeypatch):
    """Issue 22 §3: "Measuring…" without progress for minutes while other long jobs ran first."""
    from capsexplorer.app.session.jobs import Progress

    panel = window.robustness
    for _ in range(2):  # no real job's progress or answer comes between the steps below: the worker idle, and the
        qtbot.waitUntil(window.worker.idle, timeout=TIMEOUT)  # answers it posted before it went idle taken (a
        qtbot.wait(20)  # shipped robustness result taken after Measure showed "Shipped with…" in a full run)
    monkeypatch.setattr(panel, "measureRequested", type("Quiet", (), {"emit": lambda self: None})())
    panel._measure()  # pressed; the worker is still busy with the pose statistics
    window.state.set_progress("pose_stats", Progress("pose_stats", 3, 40, 1.5))
    qtbot.wait(10)
    assert panel.status.text().startswith("Waiting for the pose statistics to finish (8% done)")
    window.state.set_progress("robustness", Progress("robustness", 1, 880, 0.5))
    qtbot.wait(10)
    assert panel.status.text().startswith("Measuring… 1 of 880 batches")


def test_a_quick_drag_over_the_parts_brush_switches_every_cell_it_crosses(qtbot):
    """Issue 22 §9: mouse moves of a quick drag come cells apart; the brush left a checkerboard."""
    from capsexplorer.analysis.views import PAPER
    from capsexplorer.app.panels.parts import PositionBrush

    brush = PositionBrush()
    qtbot.addWidget(brush)
    brush.set_geometry(PAPER)
    brush.show()
    cell = brush.CELL
    row = 2
    y = row * cell + cell / 2
    send_mouse(brush, QEvent.Type.MouseButtonPress, (cell / 2, y), Qt.MouseButton.LeftButton)
    send_mouse(brush, QEvent.Type.MouseMove, (5.5 * cell, y), Qt.MouseButton.LeftButton)  # one move, 5 cells on
    send_mouse(brush, QEvent.Type.MouseButtonRelease, (5.5 * cell, y), Qt.MouseButton.NoButton)
    grid = brush.on.reshape(PAPER.grid, PAPER.grid)
    assert not grid[row].any() and grid[[r for r in range(PAPER.grid) if r != row]].all()


def test_the_first_window_fits_a_small_screen():
    """Issue 22 §11: at 1280×800 the window opened at 1500×920, its Pose column and status bar off-screen."""
    from PySide6.QtCore import QSize

    from capsexplorer.app.layout import DEFAULT_SIZE, first_size

    assert first_size(QSize(1280, 800)) == (1228, 752)
    assert first_size(QSize(2560, 1440)) == DEFAULT_SIZE and first_size(None) == DEFAULT_SIZE


def test_each_tab_says_what_it_shows_in_the_guide_from_the_numbers_it_draws(qtbot, window):
    """Issue 22: one sentence per tab, true for the input shown — it follows the iteration, the tab, the probe."""
    from capsexplorer.analysis import seeing

    line, state = window.guide.seeing, window.state
    lengths = state.trace.lengths[-1, 0]
    assert line.isVisible() and "The Routing tab:" in line.text()
    assert f"‖v‖ = {lengths.max():.2f}" in line.text() and "Iteration 3 of 3" in line.text()
    state.set_iteration(0)
    qtbot.waitUntil(lambda: "Iteration 1 of 3" in line.text(), timeout=TIMEOUT)
    assert "splits its vote evenly" in line.text()
    state.set_iteration(2)
    window.lab.setCurrentWidget(window.votes)
    qtbot.waitUntil(lambda: "The Votes tab:" in line.text(), timeout=TIMEOUT)
    assert html_text(line) == "The Votes tab: " + seeing.votes(state.trace, 2, state.shown_overlay_digit(), state.classes)
    window.lab.setCurrentWidget(window.probe)
    with qtbot.waitSignal(state.probeResultChanged, timeout=TIMEOUT):
        state.set_probe("rotate", 45)
    qtbot.waitUntil(lambda: "rotate +45°" in line.text(), timeout=TIMEOUT)
    result = state.probe_result
    assert html_text(line) == "The Probe tab: " + seeing.probe(result.settings, result.lengths,
                                                               state.trace.final_lengths[0], state.classes)
    state.reset_probe()
    window.lab.setCurrentWidget(window.robustness)
    qtbot.waitUntil(lambda: "The Robustness tab:" in line.text(), timeout=TIMEOUT)
    window.draw.canvas.clear()
    qtbot.waitUntil(lambda: state.result is None, timeout=TIMEOUT)
    window.lab.setCurrentIndex(0)
    qtbot.waitUntil(lambda: "Draw a digit or load an image" in line.text(), timeout=TIMEOUT)


def html_text(label) -> str:
    """A rich-text label's words, as a user reads them."""
    from PySide6.QtGui import QTextDocument

    document = QTextDocument()
    document.setHtml(label.text())
    return document.toPlainText().strip()


def test_at_1024_px_the_ranked_changes_wrap_and_every_class_name_is_kept(qtbot, window):
    """Issue 22 §4/§7: the 'Coupling changed most' lines were cut at the right edge, and pyqtgraph dropped a
    class name reaching past the matrix axis's end (the clothing model's 'T-shirt')."""
    from PySide6.QtGui import QFontMetrics

    from capsexplorer.app.widgets import theme

    window.resize(1024, 700)
    window.lab.setCurrentIndex(0)
    changes = window.routing.changes
    qtbot.waitUntil(lambda: changes.count() > 2 and changes.viewport().width() < 260, timeout=TIMEOUT)
    qtbot.wait(50)
    for k in range(changes.count()):
        assert changes.visualItemRect(changes.item(k)).width() <= changes.viewport().width()
    # the list itself is seen, not only its title: a student found it squeezed to a 6-px sliver at 1024×700
    from PySide6.QtCore import QRect

    shown_in = changes.parentWidget().parentWidget()  # the notes' scroll area viewport
    seen = QRect(changes.mapTo(shown_in, changes.rect().topLeft()), changes.size()).intersected(shown_in.rect())
    assert seen.height() >= 2 * changes.fontMetrics().height()  # the heading and a capsule's row
    bar, plot = window.routing.spatial_bar, window.routing.spatial_plot  # its end values, centred on its ends, whole
    half = plot.fontMetrics().height() / 2
    assert bar.sceneBoundingRect().top() >= half and bar.sceneBoundingRect().bottom() <= plot.viewport().height() - half
    axis = window.routing.matrix_plot.getPlotItem().getAxis("bottom")
    names = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    fitted, font = theme.fitting_names(names, 24, window.font())
    widest = max(QFontMetrics(font).horizontalAdvance(n.strip()) for n in fitted)
    assert theme.NAME_OVERHANG >= widest / 2  # the first name, centred on the first column, stays drawn
    assert axis.style["hideOverlappingLabels"] == theme.NAME_OVERHANG


def test_the_sweep_keeps_the_cnn_curve_when_its_answer_is_taken_first(qtbot, window):
    """Issue 22 §9: under load both halves of a sweep can wait at once and the CNN's be taken first; the sweep's
    arrival then wiped the CNN curve until Sweep was pressed again."""
    from capsexplorer.app.session import jobs

    window.lab.setCurrentWidget(window.sweep)
    qtbot.waitUntil(lambda: window.state.sweep is not None and window.state.sweep_cnn is not None, timeout=TIMEOUT)
    qtbot.wait(100)
    controller, state = window.controller, window.state
    sweep, cnn = state.sweep, state.sweep_cnn
    key = jobs.sweep_key(sweep.value.transform, sweep.value.values)
    controller._took_sweep_cnn(jobs.SweepCnnResult(sweep.request, cnn * 0.5, key))  # for the sweep shown: applied
    np.testing.assert_allclose(state.sweep_cnn, cnn * 0.5)
    state.set_lab_result("sweep", None)
    controller._took_sweep_cnn(jobs.SweepCnnResult(sweep.request, cnn, key))  # before its sweep
    controller._took_sweep(sweep)
    assert state.sweep is sweep and state.sweep_cnn is not None
    np.testing.assert_allclose(state.sweep_cnn, cnn)
    other = jobs.sweep_key("shear", sweep.value.values)
    controller._took_sweep_cnn(jobs.SweepCnnResult(sweep.request, cnn * 0.5, other))  # another sweep's: held back
    np.testing.assert_allclose(state.sweep_cnn, cnn)
    controller._took_sweep(sweep)  # a sweep never takes another sweep's CNN curve
    assert state.sweep_cnn is None


def test_one_tab_registry_names_every_tab_through_every_layer(window):
    """Issue 23: the tab list was written three times; now the window, `snapshot --tab` and the screenshots read
    one table, and each row's state field and signal exist."""
    import argparse

    from capsexplorer.app import screenshots
    from capsexplorer.app.session import tabs
    from capsexplorer.cli.parser import build_parser

    assert [window.lab.tabText(k) for k in range(len(tabs.LAB_TABS))] == [t.title for t in tabs.LAB_TABS]
    assert [window.lab.tabToolTip(k) for k in range(len(tabs.LAB_TABS))] == [t.tip for t in tabs.LAB_TABS]
    for k, tab in enumerate(tabs.LAB_TABS):
        window.lab.setCurrentIndex(k)
        assert window.state.lab_view == tab.key
        if tab.field is not None:
            assert hasattr(window.state, tab.field) and hasattr(type(window.state), tab.changed)
    window.lab.setCurrentIndex(0)
    snapshot = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices["snapshot"]
    assert tuple(next(a for a in snapshot._actions if "--tab" in a.option_strings).choices) == tabs.KEYS
    assert screenshots.TABS == tabs.KEYS and tabs.KEYS[-1] == "pose"


def show_tab(qtbot, window, key: str) -> None:
    """The lab tab `key` shown, as a click on it would, and the event loop turned."""
    from capsexplorer.app.layout import lab_index_of

    window.lab.setCurrentIndex(lab_index_of(key))
    qtbot.waitUntil(lambda: window.state.lab_view == key, timeout=TIMEOUT)
    qtbot.wait(20)


def test_a_hidden_tab_computes_nothing_until_it_is_shown(qtbot, window, monkeypatch):
    """Issue 23: Votes, Primary and the parts recomputed on every trace while hidden (bench_gui's stroke cost)."""
    calls = {"votes": 0, "inspector": 0}
    for name, method in (("votes", "_new_result"), ("inspector", "_show")):
        panel = getattr(window, name)
        original = getattr(panel, method)

        def counted(*args, name=name, original=original):
            calls[name] += 1
            return original(*args)
        monkeypatch.setattr(panel.redraw, "draw", counted)
    show_tab(qtbot, window, "routing")
    for _ in range(2):
        wait_trace(qtbot, window, window.samples.random_button.click)
    window.state.set_iteration(0)
    qtbot.wait(50)
    assert calls == {"votes": 0, "inspector": 0}
    show_tab(qtbot, window, "votes")
    assert calls["votes"] == 1 and window.votes.view is not None  # drawn once, for the trace now held
    np.testing.assert_allclose(window.votes.view.coupling, window.state.trace.coupling[:, 0, :, window.votes.view.j])
    show_tab(qtbot, window, "primary")
    assert calls["inspector"] == 1


def test_a_tab_that_routes_every_iteration_says_so_while_the_player_shows_an_earlier_one(qtbot, window):
    """From a third check: at iteration 1 the Probe's lengths are the last iteration's, and nothing said so."""
    line, state = window.guide.seeing, window.state
    show_tab(qtbot, window, "probe")
    qtbot.waitUntil(lambda: state.probe_result is not None and "The Probe tab:" in line.text(), timeout=TIMEOUT)
    assert "whatever iteration the player shows" not in line.text()
    state.set_iteration(0)
    qtbot.waitUntil(lambda: "routes for all 3 iterations, whatever iteration the player shows" in line.text(),
                    timeout=TIMEOUT)
    state.set_iteration(2)
    show_tab(qtbot, window, "routing")


def test_every_held_out_caption_has_the_room_of_the_longest(qtbot):
    """From a student's run: with uniform item sizes every caption got the first one's room ("Boot→Boot 0.93"),
    so "Pullover→Pullover 0.95" lost its score."""
    from types import SimpleNamespace

    from PySide6.QtCore import QModelIndex

    from capsexplorer.app.panels.browser import BrowserPanel
    from capsexplorer.app.session.state import ExplorerState
    from capsexplorer.data.datasets import FASHION_CLASSES

    panel = BrowserPanel(ExplorerState())
    qtbot.addWidget(panel)
    panel.set_classes(tuple(FASHION_CLASSES))
    size, metrics = panel.model.item_size, panel.view.fontMetrics()
    longest = max(metrics.horizontalAdvance(f"{a}→{b} 0.99") for a in panel.model.names for b in panel.model.names)
    assert size is not None and size.width() >= longest
    panel.model.predictions, panel.model.order = SimpleNamespace(), np.arange(3)
    index = panel.model.index(0, 0, QModelIndex())
    assert panel.model.data(index, Qt.ItemDataRole.SizeHintRole) == size


def test_snapshot_sweeps_the_range_it_is_given(qtbot, window):
    """`snapshot --sweep rotate:-30:30` sweeps -30..30 (issue 23: the settings were read from the panel only when its
    button was pressed, so the snapshot swept the panel's default -180..180)."""
    from types import SimpleNamespace

    from capsexplorer.app.main import _show_lab

    qtbot.waitUntil(lambda: window.state.result is not None, timeout=TIMEOUT)
    _show_lab(window, SimpleNamespace(sweep="rotate:-30:30", tab="sweep"), [])
    sweep = window.state.sweep.value
    assert (sweep.transform, float(sweep.values[0]), float(sweep.values[-1])) == ("rotate", -30.0, 30.0)
    assert window.state.sweep_settings[0] == "rotate" and window.state.sweep_settings[1][-1] == 30.0
    show_tab(qtbot, window, "routing")


def test_the_state_holds_the_lab_settings_and_the_bent_pose(qtbot, window):
    """Issue 23 §3: Figure 4's range, the sweep's settings and the decoder's drawing of a bent pose live in the state;
    the panels write intents there and draw from there."""
    qtbot.waitUntil(lambda: window.state.result is not None, timeout=TIMEOUT)
    window.grid.span.setCurrentIndex(window.grid.span.findData(0.25))
    assert window.state.grid_span == 0.25
    window.grid.span.setCurrentIndex(0)
    assert window.state.grid_span == "data"
    pose = window.pose
    with qtbot.waitSignal(window.state.bentChanged, timeout=TIMEOUT):
        pose.set_dimension(3, float(pose.sliders[3].value()) + 0.1)
    digit, bent = window.state.bent_pose
    assert digit == pose.digit and bent[3] == pytest.approx(pose.sliders[3].value())
    assert window.state.bent.digit == digit
    np.testing.assert_array_equal(pose.reconstruction_tile.data, window.state.bent.image)


def test_while_a_stroke_is_drawn_the_heavier_panels_wait_for_its_end(qtbot, window, model, heldout):
    """Issue 23 §7: a live trace redraws the light panels only; the pose sliders and "what routing did" catch up at
    the stroke's end — also when the end reuses the last live trace and nothing else is drawn again."""
    import dataclasses

    from capsexplorer.app.session.state import TraceResult
    from capsexplorer.app.widgets.when_shown import waiting

    qtbot.waitUntil(lambda: window.state.result is not None, timeout=TIMEOUT)
    state, pose = window.state, window.pose
    tr = model.trace(heldout.images[1:2].astype(np.float32) / 255.0, keep_u_hat=True)
    live = TraceResult(state.next_generation(), tr.images[0], tr, np.zeros((10, 28, 28), np.float32), 0.01)
    before = pose.origin.copy()
    state.accept(live, live=True)
    assert state.live and lengths_of(window) == pytest.approx(tr.final_lengths[0], abs=1e-6)  # the light ones
    np.testing.assert_array_equal(pose.origin, before)  # the pose waits
    assert waiting(pose) and waiting(window.summary)  # and says so, faded
    assert not waiting(window.lengths)
    end = dataclasses.replace(live, request=state.next_generation())  # the stroke's end: the same trace
    state.accept(end)
    assert not state.live and not waiting(pose) and not waiting(window.summary)
    digit = state.shown_pose_digit()
    np.testing.assert_allclose(pose.origin, tr.poses[0, digit], atol=1e-6)


def test_after_clear_the_pose_is_usable_again_from_the_first_live_trace_under_its_veil(qtbot, window, model, heldout):
    """Enabling the pose panel re-styles and repaints all its children (a tenth of a stroke's end): after Clear it
    is enabled with a stroke's first live trace, faded under its veil, and the stroke's end only draws the new
    pose. Each slider's value is written beside it as the number it holds."""
    import dataclasses

    from capsexplorer.app.session.state import TraceResult
    from capsexplorer.app.widgets.when_shown import waiting

    qtbot.waitUntil(lambda: window.state.result is not None, timeout=TIMEOUT)
    state, pose = window.state, window.pose
    with qtbot.waitSignal(window.controller.blankShown, timeout=TIMEOUT):
        window.draw.canvas.clear()
    assert not pose.isEnabled()
    tr = model.trace(heldout.images[3:4].astype(np.float32) / 255.0, keep_u_hat=True)
    live = TraceResult(state.next_generation(), tr.images[0], tr, np.zeros((10, 28, 28), np.float32), 0.01)
    state.accept(live, live=True)
    assert pose.isEnabled() and waiting(pose)
    state.accept(dataclasses.replace(live, request=state.next_generation()))
    assert pose.isEnabled() and not waiting(pose)
    for slider, value in zip(pose.sliders, tr.poses[0, state.shown_pose_digit()]):
        assert slider.text() == f"{slider.value():+.3f}"
        assert slider.value() == pytest.approx(float(value), abs=1e-6) or not slider.minimum() < value < slider.maximum()


def test_a_veil_laid_while_its_tab_is_hidden_goes_at_the_stroke_end_and_covers_the_panel_when_shown(
        qtbot, window, model, heldout):
    """A student drew while the narrow window's Pose tab was hidden, then opened it: the pose was faded for good
    (the veil was only taken off a panel on screen), and over a third of it only (laid at its old size)."""
    import dataclasses

    from capsexplorer.app.session.state import TraceResult
    from capsexplorer.app.widgets.when_shown import Veil, waiting

    qtbot.waitUntil(lambda: window.state.result is not None, timeout=TIMEOUT)
    window.resize(1024, 700)
    qtbot.waitUntil(lambda: window.lab.indexOf(window.pose_area) >= 0, timeout=5000)
    qtbot.wait(50)
    state, pose = window.state, window.pose
    assert not pose.isVisible()  # the Routing tab is shown; the pose waits in its own tab
    tr = model.trace(heldout.images[2:3].astype(np.float32) / 255.0, keep_u_hat=True)
    live = TraceResult(state.next_generation(), tr.images[0], tr, np.zeros((10, 28, 28), np.float32), 0.01)
    state.accept(live, live=True)
    assert waiting(pose)
    window.lab.setCurrentWidget(window.pose_area)  # opened mid-stroke: faded over the whole panel
    qtbot.waitUntil(pose.isVisible, timeout=5000)
    qtbot.wait(50)
    veil = pose.findChild(Veil)
    assert veil.isVisible() and veil.dimmed and veil.geometry() == pose.rect()
    window.lab.setCurrentIndex(0)  # hidden again before the stroke's end
    qtbot.waitUntil(lambda: not pose.isVisible(), timeout=5000)
    state.accept(dataclasses.replace(live, request=state.next_generation()))
    assert not waiting(pose)
    window.lab.setCurrentWidget(window.pose_area)
    qtbot.waitUntil(pose.isVisible, timeout=5000)
    assert not veil.dimmed


def test_a_new_trace_moves_no_widget_outside_the_texts_that_changed(qtbot, window):
    """Issue 23 §7: a new sentence in the guide, a new hover line or caption re-laid out their column — the drawing
    and the guide's long text were moved or resized, and the lab's tabs painted whole, with every stroke."""
    from PySide6.QtCore import QObject

    class Watch(QObject):
        def __init__(self, widgets):
            super().__init__()
            self.moved = []
            for widget in widgets:
                widget.installEventFilter(self)

        def eventFilter(self, watched, event):  # noqa: N802 (Qt naming)
            if event.type() in (QEvent.Type.Move, QEvent.Type.Resize):
                self.moved.append(type(watched).__name__)
            elif event.type() == QEvent.Type.Paint and watched is self.tabs:
                self.tabs_painted += 1  # the lab's tab widget repainted whole when anything inside re-laid out
            return False

    qtbot.waitUntil(lambda: window.state.result is not None, timeout=TIMEOUT)
    qtbot.wait(100)
    watched = [window.draw.canvas, window.draw, window.samples, window.guide, window.guide.text, window.lab.tabBar(),
               window.lengths, window.summary, window.routing, window.pose]
    watch = Watch(watched)
    watch.tabs, watch.tabs_painted = window.lab.tabBar(), 0
    sentences = set()
    for digit in (1, 8, 0, 4):  # a blank sheet, then inputs: sentences and captions of other lengths
        window.draw.clear_button.click()
        qtbot.waitUntil(lambda: window.state.result is None, timeout=TIMEOUT)
        qtbot.wait(80)
        sentences.add(window.guide.seeing.text())
        with qtbot.waitSignal(window.controller.traceShown, timeout=TIMEOUT):
            window.samples.load_random(digit=digit)
        qtbot.wait(80)
        sentences.add(window.guide.seeing.text())
    assert len(sentences) == 5
    assert watch.moved == [] and watch.tabs_painted == 0


def lengths_of(window) -> np.ndarray:
    return np.asarray(window.lengths.bars.opts["height"], np.float64)


def test_an_upright_value_never_touches_the_lengths_caption(qtbot, window):
    """From a student's run at 1024×700: the winner's upright value, above its bar, overlapped the caption's
    "dashed: the margins" line. A long bar now holds its value inside."""
    from capsexplorer.app.panels.lengths import UPRIGHT_BELOW_WIDTH

    qtbot.waitUntil(lambda: window.state.result is not None, timeout=TIMEOUT)
    window.resize(1024, 700)
    lengths = window.lengths
    qtbot.waitUntil(lambda: 0 < lengths.plot.width() < UPRIGHT_BELOW_WIDTH, timeout=5000)
    window.state.redraw()
    qtbot.wait(50)
    winner = int(np.argmax(lengths.values))
    assert lengths.values[winner] > 0.9
    caption = lengths.caption.sceneBoundingRect()
    for d, text in enumerate(lengths.labels):
        assert not text.sceneBoundingRect().intersects(caption), (d, text.toPlainText())
    assert lengths._inside[winner] and lengths.labels[winner].pos().y() < lengths.values[winner]


def test_the_lengths_labels_set_only_on_change_still_follow_clear_and_theme(qtbot, window):
    """The value labels and the caption are set only where they change (each set re-lays a text item out): after
    Clear they come back for the same input, and an upright value inside its bar stays dark across a theme change
    (a change of style recolours every label)."""
    from capsexplorer.app.panels.lengths import UPRIGHT_BELOW_WIDTH

    qtbot.waitUntil(lambda: window.state.result is not None, timeout=TIMEOUT)
    lengths, canvas = window.lengths, window.draw.canvas
    caption, shown = lengths.caption.toPlainText(), [t.toPlainText() for t in lengths.labels]
    assert caption.startswith("iteration 3 of 3") and all(shown)
    with qtbot.waitSignal(window.controller.blankShown, timeout=TIMEOUT):
        canvas.clear()
    qtbot.wait(20)
    assert lengths.caption.toPlainText() == "" and not any(t.toPlainText() for t in lengths.labels)
    wait_trace(qtbot, window, canvas.undo)  # the same input again
    qtbot.wait(20)
    assert lengths.caption.toPlainText() == caption and [t.toPlainText() for t in lengths.labels] == shown
    window.resize(1024, 700)
    qtbot.waitUntil(lambda: 0 < lengths.plot.width() < UPRIGHT_BELOW_WIDTH, timeout=5000)
    window.state.redraw()
    qtbot.wait(20)
    winner = int(np.argmax(lengths.values))
    assert lengths._inside[winner]
    for name in ("dark", "light"):
        window.set_theme(name)
        qtbot.wait(20)
        assert lengths.labels[winner].color.getRgb()[:3] == (25, 25, 25), name  # dark on the orange bar
        outside = next(d for d in range(len(lengths.values)) if not lengths._inside[d])
        assert lengths.labels[outside].color == theme_foreground(), name


def theme_foreground():
    from capsexplorer.app.widgets import theme

    return theme.foreground()


def test_panel_frames_are_drawn_plainly_with_fusions_look(qtbot, window):
    """Fusion stretches a translucent picture over a whole QGroupBox each time anything inside it repaints (about
    1.5 ms a panel at a stroke's end); the program's style draws that frame plainly, and it looks the same: border and
    tint within a few levels of Fusion's own, light and dark."""
    from PySide6.QtCore import QPoint
    from PySide6.QtGui import QImage, QPalette, QRegion
    from PySide6.QtWidgets import QApplication, QGroupBox, QStyleFactory, QWidget

    from capsexplorer.app.widgets import theme

    assert isinstance(QApplication.style(), theme.PlainPanelFrames)
    for name in ("dark", "light"):
        window.set_theme(name)
        qtbot.wait(20)
        assert isinstance(QApplication.style(), theme.PlainPanelFrames), name
        fusion = QStyleFactory.create("Fusion")
        drawn = []
        for style in (None, fusion, None, fusion):
            box = QGroupBox("Pose")
            box.setFlat(len(drawn) >= 2)  # a flat box: Fusion's own line
            if style is not None:
                box.setStyle(style)
            box.resize(100, 80)
            image = QImage(100, 80, QImage.Format.Format_ARGB32)
            image.fill(QApplication.palette().color(QPalette.ColorRole.Window))
            box.render(image, QPoint(), QRegion(box.rect()), QWidget.RenderFlag.DrawWindowBackground)
            drawn.append(image)
        ours, theirs, ours_flat, theirs_flat = drawn
        for x, y in ((50, 17), (1, 50), (99, 50), (50, 79), (50, 50), (0, 50), (50, 16)):  # border, tint, outside
            a, b = ours.pixelColor(x, y).getRgb()[:3], theirs.pixelColor(x, y).getRgb()[:3]
            assert max(abs(p - q) for p, q in zip(a, b)) <= 5, (name, x, y, a, b)
        assert ours_flat == theirs_flat, name


def test_a_pose_slider_is_drawn_where_the_style_puts_its_handle(qtbot, window):
    """The pose sliders paint a histogram and a mark behind the style's groove and handle: the handle is drawn where
    the style (and so the mouse) has it, the groove left of it in the highlight colour."""
    from PySide6.QtCore import QPoint
    from PySide6.QtGui import QImage, QPalette, QRegion
    from PySide6.QtWidgets import QApplication, QStyle, QStyleOptionSlider, QWidget

    qtbot.waitUntil(lambda: window.state.result is not None, timeout=TIMEOUT)
    slider = window.pose.sliders[0].slider
    slider.backdrop = None  # the groove and the handle alone
    for step in (150, 500, 850):
        slider.setValue(step)
        option = QStyleOptionSlider()
        slider.initStyleOption(option)
        handle = slider.style().subControlRect(QStyle.ComplexControl.CC_Slider, option,
                                               QStyle.SubControl.SC_SliderHandle, slider)
        image = QImage(slider.size(), QImage.Format.Format_ARGB32)
        image.fill(QApplication.palette().color(QPalette.ColorRole.Window))
        slider.render(image, QPoint(), QRegion(slider.rect()), QWidget.RenderFlag.DrawWindowBackground)
        y = handle.center().y()
        inside, left = image.pixelColor(handle.center().x(), y), image.pixelColor(handle.left() - 4, y)
        highlight = QApplication.palette().color(QPalette.ColorRole.Highlight)
        assert inside.lightness() > 200, (step, inside.getRgb())  # the handle's face
        assert max(abs(a - b) for a, b in zip(left.getRgb()[:3], highlight.getRgb()[:3])) < 50, (step, left.getRgb())
        right = image.pixelColor(handle.right() + 4, y)
        assert abs(right.lightness() - highlight.lightness()) > 40, (step, right.getRgb())  # the groove, not filled


def test_the_changed_most_list_ignores_its_headings_forgets_a_clicked_row_and_empties_after_clear(qtbot, window):
    """From a student's run: clicking the "grew most" heading raised a TypeError (Qt reports clicks on items it does
    not enable); after Clear the list kept the cleared digit's capsules over an empty matrix; a row clicked for one
    input stayed highlighted for the next."""
    qtbot.waitUntil(lambda: window.state.result is not None, timeout=TIMEOUT)
    routing, state = window.routing, window.state
    state.set_iteration(2)
    qtbot.wait(20)
    heading = routing.changes.item(0)
    assert heading.text() == "grew most"
    before = state.primary
    routing.changes.itemClicked.emit(heading)  # as a click on it does
    qtbot.wait(20)
    assert state.primary == before and window.lab.currentIndex() == 0
    routing.changes.setCurrentRow(1)
    assert routing.changes.selectedItems()
    with qtbot.waitSignal(window.controller.traceShown, timeout=TIMEOUT):
        window.samples.load_random(seed=5)
    qtbot.wait(20)
    assert routing.changes.count() == 11 and not routing.changes.selectedItems()
    with qtbot.waitSignal(window.controller.blankShown, timeout=TIMEOUT):
        window.draw.canvas.clear()
    qtbot.wait(20)
    assert routing.changes.count() == 0 and routing.changes_title.text() == ""


def test_a_theme_change_keeps_a_bent_pose_and_an_arrow_key_moves_a_slider_visibly(qtbot, window):
    """From a student's run: switching light ↔ dark put every bent slider back to the computed pose (the panels draw
    again from the state, which still held the bend); forty presses of an arrow key moved a pose slider by 0.009."""
    qtbot.waitUntil(lambda: window.state.result is not None, timeout=TIMEOUT)
    pose = window.pose
    slider = pose.sliders[4]
    with qtbot.waitSignal(window.controller.reconstructionShown, timeout=TIMEOUT):
        pose.set_dimension(4, slider.value() + 0.05)
    bent, drawn = pose.pose(), pose.reconstruction_tile.data.copy()
    for name in ("dark", "light"):
        window.set_theme(name)
        qtbot.wait(20)
        np.testing.assert_allclose(pose.pose(), bent, atol=1e-6)
        np.testing.assert_array_equal(pose.reconstruction_tile.data, drawn)
        assert "As the sliders hold it now (1 of 16 values moved)" in pose.caption.text()
    span = slider.maximum() - slider.minimum()
    before = slider.value()
    slider.slider.setFocus()
    qtbot.keyClick(slider.slider, Qt.Key.Key_Left)
    assert before - slider.value() == pytest.approx(span / 100, rel=0.05)


def test_a_new_inputs_summary_caption_is_shown_from_its_start(qtbot, window):
    """From a student's run: the "what routing did" caption kept the last input's scroll position, its margin sentence
    out of view."""
    qtbot.waitUntil(lambda: window.state.result is not None, timeout=TIMEOUT)
    window.resize(1024, 700)
    qtbot.wait(50)
    bar = window.summary.caption_area.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 0, timeout=5000)
    bar.setValue(bar.maximum())
    with qtbot.waitSignal(window.controller.traceShown, timeout=TIMEOUT):
        window.samples.load_random(seed=6)
    qtbot.wait(20)
    assert bar.value() == 0


@pytest.mark.parametrize("size", [(1024, 700), (1920, 1080)])
def test_the_winners_frame_in_decoded_as_every_class_is_drawn_whole(qtbot, window, size):
    """From a student's run: the orange frame round the winner's decoded tile lost its top and right edges where the
    tiles reached the strip's edges."""
    qtbot.waitUntil(lambda: window.state.result is not None, timeout=TIMEOUT)
    window.resize(*size)
    qtbot.wait(50)
    if window.lab.indexOf(window.pose_area) >= 0:  # a small window: the pose is a lab tab
        window.lab.setCurrentWidget(window.pose_area)
    strip = window.pose.every_class
    qtbot.waitUntil(strip.isVisible, timeout=5000)
    qtbot.wait(50)
    for j in range(len(strip.images)):
        assert strip.rect().contains(strip.tile_rect(j).adjusted(-2, -2, 2, 2)), (j, strip.size())  # a 2-px pen


def test_a_value_above_its_bar_clears_the_cnns_bar_beside_it(qtbot, window):
    """From a student's run: the winner's value sat over the top of the CNN's 100 % bar, which then looked shorter."""
    qtbot.waitUntil(lambda: window.state.cnn is not None, timeout=TIMEOUT)
    lengths, cnn = window.lengths, window.state.cnn
    for d, text in enumerate(lengths.labels):
        if not lengths._inside[d]:
            assert text.pos().y() >= max(lengths.values[d], cnn[d]) + 0.005


def test_a_one_pass_router_says_so_in_the_player_and_the_summary(qtbot, digit_image):
    """A student's find: under the uniform router the player read "iteration 1 of [3 iterations]" while the lengths
    plot said 1 of 1 — the router makes one pass, whatever the count; and "what routing did" drew nothing but its
    iteration line (a line of one point is not drawn): each class is a point there."""
    import torch

    from capsexplorer.app.panels.player import IterationPlayer
    from capsexplorer.app.panels.summary_panel import RoutingSummaryPanel
    from capsexplorer.app.session.state import ExplorerState, TraceResult
    from capsexplorer.app.widgets import theme
    from capsexplorer.net.config import CapsNetConfig
    from capsexplorer.net.model import CapsNet

    torch.manual_seed(0)
    model = CapsNet(CapsNetConfig(routing="uniform")).eval()
    state = ExplorerState()
    player, summary = IterationPlayer(state), RoutingSummaryPanel(state)
    qtbot.addWidget(player)
    qtbot.addWidget(summary)
    summary.show()
    tr = model.trace(np.asarray(digit_image, np.float32)[None, None] / 255.0, iterations=3)
    assert tr.iterations == 1 and state.iterations == 3
    state.accept(TraceResult(state.next_generation(), tr.images[0], tr, np.zeros((10, 28, 28), np.float32), tr.seconds))
    qtbot.wait(1)
    assert player.position.text() == "one pass, not" and player.iterations.value() == 3
    assert "one pass" in player.position.toolTip()
    points = summary.lines["lengths"]["points"]
    assert points.isVisible() and len(points.data) == 10
    np.testing.assert_allclose(sorted(points.data["y"]), sorted(tr.final_lengths[0]), atol=1e-6)
    last = points.data[-1]  # drawn last, over any point at its place: the winner, in the winner's colour
    assert last["data"] == tr.prediction[0] and last["brush"].color() == theme.winner_colour()
    assert last["y"] == pytest.approx(tr.final_lengths[0, tr.prediction[0]])
    assert f"Winner {tr.prediction[0]} (orange point)" in summary.caption.text()


def test_a_pen_move_repaints_only_the_stroke_s_end_and_the_screen_matches_a_whole_repaint(qtbot):
    """While drawing, each pen move repainted the whole sheet and the Draw panel behind it (its frame and tint):
    about 1.8 ms a move, 90 moves a second. Now a small square around the stroke's end, and what is on the screen
    is what a full repaint draws."""
    from PySide6.QtCore import QObject
    from PySide6.QtWidgets import QVBoxLayout, QWidget

    from capsexplorer.app.widgets.canvas import DrawingCanvas

    class Paints(QObject):
        def __init__(self, widget):
            super().__init__(widget)
            self.regions = []
            widget.installEventFilter(self)

        def eventFilter(self, watched, event):  # noqa: N802 (Qt naming)
            if event.type() == QEvent.Type.Paint:
                self.regions.append(event.region().boundingRect())
            return False

    panel = QWidget()
    qtbot.addWidget(panel)
    canvas = DrawingCanvas()
    QVBoxLayout(panel).addWidget(canvas)
    panel.resize(400, 400)
    panel.show()
    qtbot.waitExposed(panel)
    behind, sheet = Paints(panel), Paints(canvas)
    scale = min(canvas.width(), canvas.height()) / 280
    origin = QPointF((canvas.width() - 280 * scale) / 2, (canvas.height() - 280 * scale) / 2)
    points = [origin + QPointF(140 + 70 * np.sin(t), 140 - 90 * np.cos(t)) * scale for t in np.linspace(0, 5, 30)]
    send_mouse(canvas, QEvent.Type.MouseButtonPress, (points[0].x(), points[0].y()), Qt.MouseButton.LeftButton)
    qtbot.wait(20)
    behind.regions.clear()
    sheet.regions.clear()
    for p in points[1:]:
        send_mouse(canvas, QEvent.Type.MouseMove, (p.x(), p.y()), Qt.MouseButton.LeftButton)
        qtbot.wait(5)
    qtbot.wait(20)
    assert sheet.regions and behind.regions == []
    area = canvas.width() * canvas.height()
    assert max(r.width() * r.height() for r in sheet.regions) < area / 10, sheet.regions
    shown = QApplication.primaryScreen().grabWindow(panel.winId()).toImage()
    at = canvas.mapTo(panel, canvas.rect().topLeft())
    on_screen = shown.copy(at.x(), at.y(), canvas.width(), canvas.height()).convertToFormat(QImage.Format.Format_RGB32)
    whole = canvas.grab().toImage().convertToFormat(QImage.Format.Format_RGB32)
    assert on_screen.size() == whole.size() and on_screen == whole
    send_mouse(canvas, QEvent.Type.MouseButtonRelease, (points[-1].x(), points[-1].y()), Qt.MouseButton.NoButton)



def watch_live_traces(qtbot, window, monkeypatch, answer: bool):
    """The window idle, its canvas cleared; every live trace job then submitted is listed, and routed only if
    `answer` (the others go to the worker as usual). Returns (canvas, the list, the worker's own submit)."""
    qtbot.waitUntil(window.worker.idle, timeout=TIMEOUT)
    canvas = window.draw.canvas
    canvas.clear()
    qtbot.wait(50)
    live = []
    real = window.worker.submit

    def submit(job):
        if getattr(job, "live", False):
            live.append(job)
            if not answer:
                return
        real(job)

    monkeypatch.setattr(window.worker, "submit", submit)
    return canvas, live, real


def test_pen_moves_are_published_whole_at_the_next_turn_with_one_live_trace_in_flight(qtbot, window, monkeypatch):
    """Issue 23 §7: a fixed 40 ms throttle published the pen's last moves 40 ms late, so a pen lifted soon after
    found that live trace still on its way, and the stroke's end waited for it. Now the moves that came together
    go at the next turn of the event loop, as one live trace; the next waits until that one is answered (or, never
    answered, for 300 ms)."""
    import time

    canvas, live, real = watch_live_traces(qtbot, window, monkeypatch, answer=False)
    points = on_sheet(canvas, circle(n=30))
    held = Qt.MouseButton.LeftButton
    send_mouse(canvas, QEvent.Type.MouseButtonPress, points[0], held)
    for p in points[1:20]:
        send_mouse(canvas, QEvent.Type.MouseMove, p, held)
    QApplication.processEvents()  # the next turn
    assert len(live) == 1 and np.array_equal(live[0].image, canvas.image_array())  # the whole burst, at once
    start = time.monotonic()
    for p in points[20:]:
        send_mouse(canvas, QEvent.Type.MouseMove, p, held)
        qtbot.wait(5)
    qtbot.waitUntil(lambda: len(live) == 2 or time.monotonic() - start > 0.2, timeout=5000)
    assert len(live) == 1 or time.monotonic() - start >= 0.3  # one in flight: the next waits for its answer
    qtbot.waitUntil(lambda: len(live) == 2, timeout=5000)  # an answer that never comes holds it 300 ms at most
    assert np.array_equal(live[1].image, canvas.image_array())
    real(live[1])  # answered at last: the stroke's end, the same pixels, takes it
    with qtbot.waitSignal(window.controller.traceShown, timeout=TIMEOUT):
        send_mouse(canvas, QEvent.Type.MouseButtonRelease, points[-1], Qt.MouseButton.NoButton)


def test_an_answered_live_trace_lets_the_next_moves_go(qtbot, window, monkeypatch):
    """A student's drawing showed 4 updates a second, not 15: a move made while a live trace was on its way armed the
    wait for an answer that never comes, and the answer, when it came, did not shorten it."""
    from capsexplorer.app.panels import draw_panel

    monkeypatch.setattr(draw_panel, "UNANSWERED_MS", 600_000)  # only an answer lets the next go
    canvas, live, _ = watch_live_traces(qtbot, window, monkeypatch, answer=True)
    points = on_sheet(canvas, circle(n=40))
    held = Qt.MouseButton.LeftButton
    send_mouse(canvas, QEvent.Type.MouseButtonPress, points[0], held)
    for p in points[1:]:  # a move every 30 ms, each while a trace may be on its way
        send_mouse(canvas, QEvent.Type.MouseMove, p, held)
        qtbot.wait(30)
    qtbot.waitUntil(lambda: len(live) >= 3, timeout=TIMEOUT)  # each answer let the next go
    with qtbot.waitSignal(window.controller.traceShown, timeout=TIMEOUT):
        send_mouse(canvas, QEvent.Type.MouseButtonRelease, points[-1], Qt.MouseButton.NoButton)


def test_a_stroke_in_progress_leaving_the_sheet_leaves_no_ink_beside_it(qtbot):
    """A student's find at 1024×700: while the pen was down, a stroke run off the sheet's top or bottom showed ink on
    the panel beside the sheet, until the pen lifted."""
    from PySide6.QtGui import QPalette

    from capsexplorer.app.widgets.canvas import DrawingCanvas

    canvas = DrawingCanvas()
    qtbot.addWidget(canvas)
    canvas.resize(300, 420)  # taller than wide: a band above and below the square sheet
    canvas.show()
    qtbot.waitExposed(canvas)
    held = Qt.MouseButton.LeftButton
    send_mouse(canvas, QEvent.Type.MouseButtonPress, (150, 200), held)
    for y in range(200, 2, -6):
        send_mouse(canvas, QEvent.Type.MouseMove, (150, y), held)
    qtbot.wait(20)
    image = canvas.grab().toImage()
    band = (420 - 300) // 2
    window = canvas.palette().color(QPalette.ColorRole.Window)
    for y in (2, band // 2, band - 3):
        assert image.pixelColor(150, y) == window, y
    assert image.pixelColor(150, band + 20).lightness() < 80  # the stroke itself, on the sheet
    send_mouse(canvas, QEvent.Type.MouseButtonRelease, (150, 3), Qt.MouseButton.NoButton)
