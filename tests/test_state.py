"""The explorer's state and its worker, without a window."""
import time

import numpy as np
from PySide6.QtWidgets import QApplication

from capsexplorer.app.session import jobs
from capsexplorer.app.session.jobs import Blank
from capsexplorer.app.session.state import WINNER, ExplorerState, TraceResult
from capsexplorer.app.session.worker import InferenceWorker

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
    assert events == [("resultChanged",)]  # one draw per new trace: the iteration shown is drawn from it
    assert state.iteration == 2
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
    return worker.idle()


def trace_job(image, request, iterations=3):
    return jobs.TraceJob(request, np.asarray(image), iterations)


def test_worker_coalesces_requests_and_results(qtbot, model, digit_image):
    """The GUI thread blocked while twenty traces finish: one signal waits, with the newest answer."""
    worker = started_worker(qtbot, model)
    signals = []
    worker.ready.connect(lambda kind: signals.append(kind))
    try:
        for request in range(1, 21):
            worker.submit(trace_job(digit_image, request))
            deadline = time.monotonic() + 10
            while not idle(worker) and time.monotonic() < deadline:  # no Qt events processed meanwhile
                time.sleep(0.002)
        QApplication.processEvents()  # now the GUI thread runs: every queued signal is delivered
        assert signals.count(TraceResult) == 1
        newest = worker.take(TraceResult)
        assert newest.request == 20 and worker.take(TraceResult) is None
        # Requests made faster than traces are coalesced too: the newest wins.
        for request in range(21, 41):
            worker.submit(trace_job(digit_image, request))
        wait(qtbot, lambda: idle(worker))
        assert worker.take(TraceResult).request == 40
    finally:
        worker.stop()


def test_worker_reports_blank_images_and_survives_any_exception(qtbot, model, digit_image, monkeypatch):
    worker = started_worker(qtbot, model)
    failures = []
    worker.failed.connect(failures.append)
    try:
        worker.submit(trace_job(np.zeros((50, 50), np.uint8), 1))
        wait(qtbot, lambda: idle(worker))
        assert worker.take(Blank) == Blank(1)

        class Fatal(BaseException):
            pass

        def fatal(*args, **kwargs):
            raise Fatal("simulated BaseException")

        monkeypatch.setattr(model, "trace", fatal)
        worker.submit(trace_job(digit_image, 2))
        wait(qtbot, lambda: failures)
        assert "Fatal" in failures[0] and worker.isRunning()
        monkeypatch.undo()
        worker.submit(trace_job(digit_image, 3))
        wait(qtbot, lambda: idle(worker))
        assert worker.take(TraceResult).request == 3
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
        worker.submit(jobs.OpenImage(str(tmp_path / "big.png")))
        wait(qtbot, lambda: idle(worker))
        opened = worker.take(jobs.OpenedImage)
        assert opened.path == str(tmp_path / "big.png") and max(opened.image.shape) <= 1024
    finally:
        worker.stop()


def test_worker_stop_drops_queued_work(qtbot, model, digit_image):
    worker = started_worker(qtbot, model)
    ran = []
    worker._handlers[jobs.ReconstructJob] = ran.append
    worker.submit(trace_job(digit_image, 1, iterations=10))
    worker.submit(jobs.ReconstructJob(1, np.zeros(16, np.float32), 3))
    start = time.perf_counter()
    worker.stop()
    assert worker.isFinished() and time.perf_counter() - start < 2
    assert not ran and worker.take(jobs.ReconstructionResult) is None  # the queued bend was dropped, never decoded


class SlowLongJob:
    """Stands in for a long job: `batches` yields, each `seconds` long, counting what ran."""

    def __init__(self, batches=200, seconds=0.02):
        self.batches, self.seconds, self.ran = batches, seconds, 0

    def __call__(self, _job):
        for k in range(self.batches):
            time.sleep(self.seconds)
            self.ran += 1
            yield k + 1, self.batches


def test_a_long_job_serves_traces_between_batches_and_reports_progress_from_the_start(qtbot, model, digit_image,
                                                                                     monkeypatch):
    slow = SlowLongJob()
    progress = []
    worker = started_worker(qtbot, model)
    monkeypatch.setitem(worker._handlers, jobs.RobustnessJob, slow)
    worker.progress.connect(progress.append)
    try:
        worker.submit(jobs.RobustnessJob())
        wait(qtbot, lambda: progress)
        assert progress[0].done == 1 and progress[0].total == 200
        start = time.perf_counter()
        worker.submit(trace_job(digit_image, 7))
        wait(qtbot, lambda: worker._results.get(TraceResult) is not None)
        assert time.perf_counter() - start < 5  # served within a batch or two, not after the long job
        assert slow.ran < slow.batches and worker.take(TraceResult).request == 7
    finally:
        worker.stop()


def test_an_error_in_a_job_served_inside_a_long_one_does_not_end_it(qtbot, model, digit_image, monkeypatch):
    slow = SlowLongJob(batches=60)
    failures, progress = [], []
    worker = started_worker(qtbot, model)
    monkeypatch.setitem(worker._handlers, jobs.RobustnessJob, slow)
    worker.failed.connect(failures.append)
    worker.progress.connect(progress.append)

    def broken(*args, **kwargs):
        raise RuntimeError("simulated failure in a trace")

    try:
        worker.submit(jobs.RobustnessJob())
        wait(qtbot, lambda: progress)
        monkeypatch.setattr(model, "trace", broken)
        worker.submit(trace_job(digit_image, 1))
        wait(qtbot, lambda: failures)
        assert "simulated failure" in failures[0]
        wait(qtbot, lambda: slow.ran == slow.batches)  # the long job went on to its end
    finally:
        worker.stop()


def test_a_model_load_cancels_a_long_job_and_a_close_does_not_wait_for_it(qtbot, model, monkeypatch):
    slow = SlowLongJob(batches=100_000)
    cancelled, progress, loaded = [], [], []
    worker = started_worker(qtbot, model)
    monkeypatch.setitem(worker._handlers, jobs.RobustnessJob, slow)
    worker.cancelled.connect(cancelled.append)
    worker.progress.connect(progress.append)
    worker.modelLoaded.connect(loaded.append)
    worker.submit(jobs.RobustnessJob())
    wait(qtbot, lambda: progress)
    start = time.perf_counter()
    worker.submit(jobs.LoadModel(model=model))
    wait(qtbot, lambda: loaded)
    assert time.perf_counter() - start < 5 and cancelled == ["robustness"]
    worker.submit(jobs.RobustnessJob())
    wait(qtbot, lambda: slow.ran > 3 + len(progress) // 2)
    start = time.perf_counter()
    worker.stop()
    assert worker.isFinished() and time.perf_counter() - start < 2


def save_overflowing_weights(path):
    """The shipped weights ×1e30, stored in float32: finite numbers whose outputs overflow."""
    import torch

    from capsexplorer.net.weights import load_model, save_weights

    broken = load_model(device="cpu")
    with torch.no_grad():
        for p in broken.parameters():
            p.mul_(1e30)
    save_weights(broken, path, broken.metadata, float16=False)
    return path


def test_weights_that_load_but_cannot_run_leave_the_old_model(qtbot, model, tmp_path):
    """Finite weights ×1e30 load, but their outputs overflow: refused, the working model stays."""
    path = save_overflowing_weights(tmp_path / "huge.safetensors")
    failures, loaded = [], []
    worker = started_worker(qtbot, model)
    worker.failed.connect(failures.append)
    worker.modelLoaded.connect(loaded.append)
    try:
        worker.load(str(path))
        wait(qtbot, lambda: failures)
        assert "not finite" in failures[0] and "huge.safetensors" in failures[0] and not loaded
        assert worker._model is model
    finally:
        worker.stop()


def test_measure_pressed_goes_before_the_long_jobs_the_window_queued(model):
    """Issue 22 §3: Robustness showed only "Measuring…" for 2 min while held-out predictions and pose statistics
    ran first. Interactive jobs still come first of all."""
    import numpy as np

    from capsexplorer.app.session import jobs
    from capsexplorer.app.session.worker import InferenceWorker

    worker = InferenceWorker(model=model)
    worker._jobs = {"predictions": jobs.PredictionsJob(3), "pose_stats": jobs.PoseStatsJob(),
                    "robustness": jobs.RobustnessJob(cached_only=True)}
    assert worker._next_kind() == "predictions"  # only looked up in the cache: the window's own order
    worker._stats_at_hand = True  # statistics that ship are read first: the 4,000-digit model's Pose column waited
    assert worker._next_kind() == "pose_stats"  # minutes behind held-out predictions that do not ship
    worker._stats_at_hand = False
    worker._jobs["robustness"] = jobs.RobustnessJob()
    assert worker._next_kind() == "robustness"
    worker._jobs["trace"] = jobs.TraceJob(1, np.zeros((28, 28), np.float32), 3, np.ones(1152, bool))
    assert worker._next_kind() == "trace"


def test_a_chosen_capsule_returns_to_the_winner_with_the_new_trace_already_held(qapp, model, digit_image):
    """Issue 23: with a capsule chosen but not pinned, a new input's trace emitted the choice's return to the
    winner while the state still held the old trace — Routing and Votes drew the old trace, and a Figure-4 job
    for the old winner went out under the new generation."""
    from capsexplorer.app.session.state import InputImage

    state = ExplorerState()
    state.accept(result_for(model, digit_image, state.next_generation()))
    state.set_overlay_digit(5)
    state.set_pose_digit(6)
    seen = []
    for signal in (state.overlayDigitChanged, state.poseDigitChanged):
        signal.connect(lambda _d: seen.append((state.result.request, state.shown_overlay_digit(),
                                               state.shown_pose_digit())))
    state.set_input(InputImage(np.asarray(digit_image)))
    new = state.next_generation()
    assert state.accept(result_for(model, digit_image, new))
    assert seen == [(new, 3, 3), (new, 3, 3)]  # each emitted with the new trace held, pointing at its winner


def test_every_job_has_a_handler_and_every_answer_a_taker(qapp, model):
    """Issue 23 §2: dispatch by type — a job type no handler takes, or an answer type no taker takes, fails here
    (not at run time, as a string looked up did)."""
    import dataclasses

    from capsexplorer.app.session.controller import Controller
    from capsexplorer.app.session.state import ExplorerState
    from capsexplorer.app.session.worker import InferenceWorker

    def all_subclasses(cls):
        return {cls} | {s for sub in cls.__subclasses__() for s in all_subclasses(sub)}

    job_types = all_subclasses(jobs.Job) - {jobs.Job}
    worker = InferenceWorker(None, "cpu", model=model)
    controller = Controller(ExplorerState(), worker)
    assert set(worker._handlers) == job_types
    answers = {cls for name, cls in vars(jobs).items() if dataclasses.is_dataclass(cls) and isinstance(cls, type)
               and cls.__module__ == jobs.__name__ and cls not in all_subclasses(jobs.Job)
               and cls not in (jobs.ModelInfo, jobs.Progress, jobs.LabResult)}  # a model, progress, a base
    answers |= {TraceResult}
    assert answers <= set(controller._takers), answers - set(controller._takers)


def test_a_strokes_end_whose_drawing_its_live_trace_routed_asks_nothing_again(qapp, model, digit_image):
    """Issue 23 §7: the pen stopped before it lifted, so the stroke's end is the input its last live trace routes —
    no new request, no job, nothing drawn twice: the panels that waited draw at once if that trace came, else when
    it comes. Other pixels at the end ask again; a live trace that held no ink ends blank."""
    from capsexplorer.app.session.controller import Controller
    from capsexplorer.app.session.state import InputImage

    state = ExplorerState()
    worker = InferenceWorker(model=model)  # not started: submitted jobs wait in its queue
    controller = Controller(state, worker)
    state.model = object()  # a model is loaded (the controller asks for nothing without one)
    asked, settled, shown, blank = [], [], [], []
    submit = worker.submit
    worker.submit = lambda job: asked.append(job) or submit(job)
    state.settled.connect(lambda: settled.append(state.generation))
    controller.traceShown.connect(shown.append)
    controller.blankShown.connect(lambda: blank.append(state.generation))
    image = np.asarray(digit_image)

    state.set_input(InputImage(image.copy(), live=True))  # a live trace, answered before the pen lifts
    controller._took_trace(result_for(model, image, state.generation))
    assert state.live and not settled and len(asked) == 1
    state.set_input(InputImage(image.copy()))  # the pen lifts
    assert len(asked) == 1 and state.generation == asked[0].request  # nothing asked again
    assert not state.live and settled == [asked[0].request] and [r.request for r in shown] == [asked[0].request] * 2

    moved = np.roll(image, 2, axis=1)
    state.set_input(InputImage(moved.copy(), live=True))  # the next stroke's live trace, still on its way...
    state.set_input(InputImage(moved.copy()))  # ...when the pen lifts
    assert len(asked) == 2 and state.generation == asked[1].request
    controller._took_trace(result_for(model, moved, state.generation))  # it comes: taken as the stroke's end
    assert not state.live and settled[-1] == asked[1].request and shown[-1].request == asked[1].request

    state.set_input(InputImage(image.copy(), live=True))
    controller._took_trace(result_for(model, image, state.generation))
    state.set_input(InputImage(np.roll(image, 3, axis=0)))  # a last move the live trace never saw
    assert len(asked) == 4 and not asked[-1].live and state.generation == asked[-1].request

    state.set_input(InputImage(np.zeros_like(image), live=True))
    controller._took_blank(jobs.Blank(state.generation))  # no ink
    state.set_input(InputImage(np.zeros_like(image)))
    assert len(asked) == 5 and blank == [asked[-1].request] * 2

    state.set_input(InputImage(image.copy(), live=True))  # a live trace on its way when the pen lifts...
    state.set_input(InputImage(image.copy()))
    assert len(asked) == 6
    controller._failed("simulated: it failed")  # ...fails: the drawing as it ended is asked on its own
    assert len(asked) == 7 and not asked[-1].live and asked[-1].request == state.generation
    np.testing.assert_array_equal(asked[-1].image, image)
    controller._failed("simulated: so did that")  # asked once, not again and again
    assert len(asked) == 7 and not state.live

    state.set_input(InputImage(image.copy(), live=True))
    state.model_generation += 1  # another model, of the same shape, came mid-stroke (its own request not yet asked)
    state.set_input(InputImage(image.copy()))
    assert len(asked) == 9 and not asked[-1].live  # the stroke's end is asked of the model in use


def test_a_bend_belongs_to_the_trace_it_bent(qapp, model, digit_image):
    """A slider bent while a newer trace is on its way is tagged with the trace shown, so its drawing is dropped once
    the newer trace is shown (it was tagged with the newer request and painted over the new pose); a new input
    clears the bend."""
    from capsexplorer.app.session.controller import Controller
    from capsexplorer.app.session.jobs import ReconstructionResult

    state = ExplorerState()
    worker = InferenceWorker(model=model)  # not started: submitted jobs wait in its queue
    controller = Controller(state, worker)
    state.model = object()  # a model is loaded (the controller asks for nothing without one)
    first = result_for(model, digit_image, state.next_generation())
    state.accept(first)
    state.next_generation()  # a newer trace asked for, not answered yet
    state.bend_pose(3, np.zeros(16, np.float32))
    job = worker._jobs["reconstruct"]
    assert job.request == first.request
    state.accept(result_for(model, digit_image, state.generation))
    assert state.bent_pose is None
    late = ReconstructionResult(job.request, 3, np.zeros(16, np.float32), np.zeros((28, 28), np.float32), 0.01)
    controller._took_reconstruct(late)
    assert state.bent is None


def test_a_stroke_whose_end_fails_or_is_cleared_lets_the_waiting_panels_draw(qapp, model, digit_image):
    from capsexplorer.app.session.controller import Controller

    state = ExplorerState()
    controller = Controller(state, InferenceWorker(model=model))
    settled = []
    state.settled.connect(lambda: settled.append(1))
    state.accept(result_for(model, digit_image, state.next_generation()), live=True)
    assert state.live and not settled
    controller._failed("simulated failure at the stroke's end")
    assert not state.live and settled == [1]
    state.clear()
    state.live = True  # a stroke whose first trace never came, then Esc
    state.clear()
    assert not state.live and settled == [1, 1]
