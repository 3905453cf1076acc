"""The explorer's state and its worker, without a window."""
import time

import numpy as np
from PySide6.QtWidgets import QApplication

from capsexplorer.app.state import WINNER, ExplorerState, TraceResult
from capsexplorer.app.worker import Blank, InferenceWorker

TIMEOUT = 30_000


def result_for(model, image, request, iterations=3):
    tr = model.trace(np.asarray(image, np.float32)[None, None] / 255.0, iterations=iterations)
    return TraceResult(request, tr.images[0], tr, np.zeros((10, 28, 28), np.float32), tr.seconds)


def recorder(state):
    events = []
    for name in ("resultChanged", "iterationChanged", "iterationsChanged", "overlayDigitChanged",
                 "poseDigitChanged", "primaryChanged", "viewChanged"):
        getattr(state, name).connect(lambda *args, name=name: events.append((name, *args)))
    return events


def test_answers_to_older_requests_are_dropped(qapp, model, digit_image):
    state = ExplorerState()
    first = state.next_generation()
    second = state.next_generation()
    assert not state.accept(result_for(model, digit_image, first)) and state.result is None
    assert state.accept(result_for(model, digit_image, second)) and state.winner == 3
    third = state.next_generation()  # e.g. the canvas was cleared: a blank request
    assert state.clear(third) and state.result is None
    assert not state.accept(result_for(model, digit_image, second))  # the in-flight trace arrives late
    assert state.result is None


def test_setters_signal_only_real_changes(qapp, model, digit_image):
    state = ExplorerState()
    events = recorder(state)
    state.set_iteration(1)  # no trace: nothing to step through
    state.set_overlay_digit(WINNER)
    state.set_view(weighted=False)
    assert events == []
    state.accept(result_for(model, digit_image, state.next_generation()))
    assert events == [("resultChanged",), ("iterationChanged", 2)]
    events.clear()
    state.set_iteration(7)  # clipped to the last
    state.set_iteration(0)
    state.set_iteration(0)
    state.set_pose_digit(4)
    state.set_primary(17)
    state.set_view(change=True)
    state.set_view(change=True)
    state.set_iterations(5)
    assert events == [("iterationChanged", 0), ("poseDigitChanged", 4), ("primaryChanged", 17),
                      ("viewChanged",), ("iterationsChanged", 5)]
    assert state.shown_pose_digit() == 4 and state.shown_overlay_digit() == 3


def test_the_iteration_shown_follows_the_last_only_when_it_was_on_the_last(qapp, model, digit_image):
    state = ExplorerState()
    state.accept(result_for(model, digit_image, state.next_generation()))
    assert state.iteration == 2
    state.accept(result_for(model, digit_image, state.next_generation(), iterations=5))
    assert state.iteration == 4  # was on the last: follows
    state.set_iteration(1)
    state.accept(result_for(model, digit_image, state.next_generation(), iterations=5))
    assert state.iteration == 1  # the user's choice stays


def wait(qtbot, predicate):
    qtbot.waitUntil(lambda: bool(predicate()), timeout=TIMEOUT)


def started_worker(qtbot, model):
    worker = InferenceWorker(model=model)
    loaded = []
    worker.modelLoaded.connect(loaded.append)
    worker.start()
    wait(qtbot, lambda: loaded)
    return worker


def idle(worker):
    with worker._lock:
        return not worker._jobs and not worker.busy


def test_worker_coalesces_requests_and_results(qtbot, model, digit_image):
    """The GUI thread blocked while twenty traces finish: one signal waits, with the newest answer."""
    worker = started_worker(qtbot, model)
    signals = []
    worker.traceReady.connect(lambda: signals.append(1))
    try:
        for request in range(1, 21):
            worker.request_trace(digit_image, 3, request)
            deadline = time.monotonic() + 10
            while not idle(worker) and time.monotonic() < deadline:  # no Qt events processed meanwhile
                time.sleep(0.002)
        QApplication.processEvents()  # now the GUI thread runs: every queued signal is delivered
        assert len(signals) == 1
        newest = worker.take_trace()
        assert newest.request == 20 and worker.take_trace() is None
        # Requests made faster than traces are coalesced too: the newest wins.
        for request in range(21, 41):
            worker.request_trace(digit_image, 3, request)
        wait(qtbot, lambda: idle(worker))
        assert worker.take_trace().request == 40
    finally:
        worker.stop()


def test_worker_reports_blank_images_and_survives_any_exception(qtbot, model, digit_image, monkeypatch):
    worker = started_worker(qtbot, model)
    failures = []
    worker.failed.connect(failures.append)
    try:
        worker.request_trace(np.zeros((50, 50), np.uint8), 3, 1)
        wait(qtbot, lambda: idle(worker))
        assert worker.take_trace() == Blank(1)

        class Fatal(BaseException):
            pass

        def fatal(*args, **kwargs):
            raise Fatal("simulated BaseException")

        monkeypatch.setattr(model, "trace", fatal)
        worker.request_trace(digit_image, 3, 2)
        wait(qtbot, lambda: failures)
        assert "Fatal" in failures[0] and worker.isRunning()
        monkeypatch.undo()
        worker.request_trace(digit_image, 3, 3)
        wait(qtbot, lambda: idle(worker))
        assert worker.take_trace().request == 3
    finally:
        worker.stop()
    assert worker.isFinished()


def test_worker_opens_huge_images_at_reduced_size(qtbot, model, tmp_path):
    from PIL import Image

    big = np.full((6000, 3000), 255, np.uint8)
    big[1000:5000, 1400:1600] = 0
    Image.fromarray(big).save(tmp_path / "big.png")
    worker = started_worker(qtbot, model)
    try:
        worker.request_open(str(tmp_path / "big.png"))
        wait(qtbot, lambda: idle(worker))
        opened = worker.take_image()
        assert opened.path == str(tmp_path / "big.png") and max(opened.image.shape) <= 1024
    finally:
        worker.stop()


def test_worker_stop_drops_queued_work(qtbot, model, digit_image):
    worker = started_worker(qtbot, model)
    worker.request_trace(digit_image, 10, 1)
    worker.request_reconstruction(np.zeros(16), 3)
    worker.stop()
    assert worker.isFinished()
