"""Training from the window: `capsexplorer train --progress json` in its own process, drawn live;
pause/resume/cancel; the trained model opened in the explorer; closing asks first."""
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtWidgets import QMessageBox

from capsexplorer.app.panels.training_panel import DATASETS, TrainingDialog, TrainingPanel, duration
from capsexplorer.net.weights import load_model

QUICK = ["--limit", "32", "--device", "cpu", "--float32"]
pytestmark = pytest.mark.slow


def panel_for(qtbot, tmp_path, epochs=2, batch=16, dataset="Bundled digits (4,000 of MNIST)") -> TrainingPanel:
    panel = TrainingPanel()
    qtbot.addWidget(panel)
    panel.dataset.setCurrentText(dataset)
    panel.out.setText(str(tmp_path / "trained.safetensors"))
    panel.epochs.setValue(epochs)
    panel.batch.setValue(batch)
    panel.extra_arguments = list(QUICK)
    return panel


def test_a_run_is_drawn_live_and_its_model_opens(qtbot, tmp_path):
    panel = panel_for(qtbot, tmp_path)
    steps, epochs = [], []
    panel.process.step.connect(steps.append)
    panel.process.epoch.connect(epochs.append)
    with qtbot.waitSignal(panel.process.finished, timeout=180_000) as done:
        panel.start_button.click()
        assert not panel.start_button.isEnabled() and panel.pause_button.isEnabled()
    assert done.args[0]["weights"] == str(tmp_path / "trained.safetensors")
    assert len(steps) >= 2 and all(s["margin_loss"] > 0 and s["reconstruction_loss"] > 0 for s in steps)
    x, y = panel.margin_line.getData()
    assert len(x) == len(steps) and np.all(np.diff(x) > 0)
    assert len(epochs) == 1 and 0 <= epochs[0]["heldout_accuracy"] <= 1  # after epoch 1; the end reports epoch 2
    assert list(panel.accuracy_line.getData()[0]) == [1, 2]
    assert panel.mosaic.image[:28].max() > 0.5 and panel.mosaic.image[28:].max() > 0  # images and reconstructions
    assert "Finished" in panel.status.text() and panel.open_button.isEnabled()
    with qtbot.waitSignal(panel.openRequested) as opened:
        panel.open_button.click()
    model = load_model(opened.args[0], device="cpu")
    assert model.metadata["epochs"] == "2"
    assert not (tmp_path / "trained.safetensors.ckpt").exists()


def test_pause_keeps_a_checkpoint_and_resume_finishes(qtbot, tmp_path):
    panel = panel_for(qtbot, tmp_path, epochs=2, batch=4)  # 8 steps an epoch
    with qtbot.waitSignal(panel.process.step, timeout=120_000):
        panel.start_button.click()
    with qtbot.waitSignal(panel.process.paused, timeout=60_000):
        panel.pause_button.click()
    assert (tmp_path / "trained.safetensors.ckpt").is_file()
    assert panel.start_button.text() == "Resume" and panel.start_button.isEnabled()
    assert "Paused" in panel.status.text()
    assert not panel.epochs.isEnabled() and not panel.dataset.isEnabled()  # the checkpoint's settings hold
    x_before = len(panel.margin_line.getData()[0])
    with qtbot.waitSignal(panel.process.finished, timeout=180_000):
        panel.start_button.click()
    x = panel.margin_line.getData()[0]
    assert len(x) > x_before and np.all(np.diff(x) > 0)  # continued, no step drawn twice
    assert (tmp_path / "trained.safetensors").is_file()


def test_cancel_deletes_the_checkpoint(qtbot, tmp_path, monkeypatch):
    panel = panel_for(qtbot, tmp_path, epochs=3, batch=4)
    with qtbot.waitSignal(panel.process.step, timeout=120_000):
        panel.start_button.click()
    asked = []  # issue 22 §8: a running run's Cancel deleted its checkpoint without asking (a paused one asked)
    answers = iter([QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes])
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a[2]) or next(answers))
    panel.cancel_button.click()
    qtbot.wait(300)
    assert len(asked) == 1 and "Pause keeps it" in asked[0] and panel.process.running()  # No: it goes on
    with qtbot.waitSignal(panel.process.cancelled, timeout=60_000):
        panel.cancel_button.click()
    assert not (tmp_path / "trained.safetensors.ckpt").exists()
    assert not (tmp_path / "trained.safetensors").exists()
    assert panel.start_button.text() == "Start" and not panel.open_button.isEnabled()


def test_the_commands_error_is_shown_in_one_line(qtbot, tmp_path):
    empty = tmp_path / "no-images"
    empty.mkdir()
    panel = panel_for(qtbot, tmp_path, dataset=next(k for k, v in DATASETS.items() if v[0] == "folder"))
    panel.folder.setText(str(empty))
    with qtbot.waitSignal(panel.process.failed, timeout=120_000) as failed:
        panel.start_button.click()
    message = failed.args[0]
    assert "no images" in message and "Traceback" not in message and "\n" not in message
    assert panel.status.text() == message and panel.start_button.isEnabled()


def test_missing_settings_are_named_before_starting(qtbot, tmp_path):
    panel = panel_for(qtbot, tmp_path, dataset="Fashion-MNIST (IDX files)")
    panel.folder.setText("")
    panel.start_button.click()
    assert "folder" in panel.status.text() and not panel.process.running()
    panel.folder.setText(str(tmp_path / "absent"))
    panel.start_button.click()
    assert "no such folder" in panel.status.text() and not panel.process.running()
    panel.dataset.setCurrentIndex(0)
    panel.out.setText(str(tmp_path / "model.pt"))
    panel.start_button.click()
    assert "safetensors" in panel.status.text()


def test_closing_the_window_while_training_asks(qtbot, tmp_path, model, monkeypatch):
    from capsexplorer.app.window import MainWindow

    window = MainWindow(model=model, persist=False)
    qtbot.addWidget(window)
    dialog = window.show_training()
    assert isinstance(dialog, TrainingDialog)
    panel = dialog.panel
    panel.out.setText(str(tmp_path / "trained.safetensors"))
    panel.epochs.setValue(5)
    panel.batch.setValue(4)
    panel.extra_arguments = list(QUICK)
    with qtbot.waitSignal(panel.process.step, timeout=120_000):
        panel.start_button.click()
    answers = iter([QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes])
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: next(answers))
    window.show()
    assert not window.close()  # "No": the window stays, training goes on
    assert panel.process.running() and window.isVisible()
    seen_while_waiting = []
    wait = panel.process.stop_and_wait
    monkeypatch.setattr(panel.process, "stop_and_wait",
                        lambda: (seen_while_waiting.append((window.isVisible(), dialog.isVisible())), wait()))
    assert window.close()  # "Yes": stopped, its checkpoint kept for Resume
    assert seen_while_waiting == [(False, False)]  # both windows went before the wait for the checkpoint
    assert not panel.process.running()
    assert (tmp_path / "trained.safetensors.ckpt").is_file()


def test_the_training_window_opens_beside_the_explorer_with_its_legend_in_the_title(qtbot, model):
    from capsexplorer.app.window import MainWindow

    window = MainWindow(model=model, persist=False)
    qtbot.addWidget(window)
    window.show()
    qtbot.wait(20)
    dialog = window.show_training()
    qtbot.wait(20)
    try:
        from capsexplorer.app.panels.training_panel import beside

        screen = window.screen().availableGeometry()
        assert dialog.pos() == beside(window.frameGeometry(), dialog.width(), dialog.height(), screen)
        if window.frameGeometry().right() + 8 + dialog.width() <= screen.right():  # room on the right: no overlap
            assert not dialog.frameGeometry().intersects(window.frameGeometry())
        assert dialog.parent() is None  # a window of its own: the window manager keeps it above nothing
        title = dialog.panel.loss_plot.getPlotItem().titleLabel.text
        assert "margin" in title and "reconstruction" in title
        assert dialog.panel.loss_plot.getPlotItem().legend is None  # nothing covers the curves
        assert "each epoch's end" in dialog.panel.accuracy_plot.getPlotItem().titleLabel.text
    finally:
        window.close()


def test_the_training_window_goes_beside_the_explorer_where_the_screen_has_room():
    from PySide6.QtCore import QRect

    from capsexplorer.app.panels.training_panel import beside

    screen = QRect(0, 0, 1920, 1080)
    assert beside(QRect(0, 0, 900, 700), 980, 620, screen).x() == 907  # right of it
    assert beside(QRect(1000, 100, 900, 700), 980, 620, screen).x() == 1000 - 8 - 980  # left of it
    at = beside(QRect(0, 0, 1500, 920), 980, 620, screen)  # no room: the far side, over the pose column
    assert at.x() == 1919 - 980 and at.y() == 0


def test_durations_read_naturally():
    assert duration(None) == "estimating…"
    assert duration(42) == "42 s" and duration(600) == "10 min" and duration(7260) == "2 h 1 min"


def test_pause_resume_finish_then_close_with_the_event_loop_turning(qtbot, tmp_path, model):
    """As a user clicks: the event loop turns between every step (deleteLater() runs), and closing the
    window after the finished run neither crashes nor hangs."""
    from capsexplorer.app.window import MainWindow

    window = MainWindow(model=model, persist=False)
    qtbot.addWidget(window)
    panel = window.show_training().panel
    panel.out.setText(str(tmp_path / "trained.safetensors"))
    panel.epochs.setValue(2)
    panel.batch.setValue(4)
    panel.extra_arguments = list(QUICK)
    with qtbot.waitSignal(panel.process.step, timeout=120_000):
        panel.start_button.click()
    qtbot.wait(50)
    with qtbot.waitSignal(panel.process.paused, timeout=60_000):
        panel.pause_button.click()
    qtbot.wait(200)  # the old QProcess is deleted here
    assert not panel.process.running()
    with qtbot.waitSignal(panel.process.finished, timeout=180_000):
        panel.start_button.click()
    qtbot.wait(200)
    assert (tmp_path / "trained.safetensors").is_file()
    assert not panel.process.running()
    assert window.close()
    qtbot.wait(50)


def test_pause_then_cancel_with_the_event_loop_turning(qtbot, tmp_path, monkeypatch):
    panel = panel_for(qtbot, tmp_path, epochs=3, batch=4)
    with qtbot.waitSignal(panel.process.step, timeout=120_000):
        panel.start_button.click()
    qtbot.wait(50)
    with qtbot.waitSignal(panel.process.paused, timeout=60_000):
        panel.pause_button.click()
    qtbot.wait(200)
    assert (tmp_path / "trained.safetensors.ckpt").is_file()
    assert panel.progress_label.text().startswith("Paused after step")  # no stale "time left"
    answers = iter([QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes])
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: next(answers))
    panel.cancel_button.click()  # "No": the paused run's checkpoint stays
    qtbot.wait(50)
    assert (tmp_path / "trained.safetensors.ckpt").is_file() and panel.start_button.text() == "Resume"
    with qtbot.waitSignal(panel.process.cancelled, timeout=10_000):
        panel.cancel_button.click()  # "Yes"
    qtbot.wait(50)
    assert not (tmp_path / "trained.safetensors.ckpt").exists()
    assert panel.start_button.text() == "Start" and panel.start_button.isEnabled()
    assert panel.progress_label.text() == "Not started." and panel._steps == []  # the plots cleared


def test_a_bug_in_the_training_dialog_is_shown_in_that_dialog(qtbot, model, monkeypatch):
    import sys

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from capsexplorer.app.main import install_excepthook
    from capsexplorer.app.window import MainWindow

    window = MainWindow(model=model, persist=False)
    qtbot.addWidget(window)
    dialog = window.show_training()
    monkeypatch.setattr(QApplication, "activeWindow", staticmethod(lambda: dialog))
    saved = sys.excepthook
    install_excepthook(window)

    def buggy_slot():
        raise ValueError("a bug in the dialog")

    try:
        QTimer.singleShot(0, buggy_slot)
        qtbot.waitUntil(lambda: "a bug in the dialog" in dialog.panel.status.text(), timeout=5000)
    finally:
        sys.excepthook = saved
    assert not window.banner.isVisible()
    window.close()


def test_the_default_name_is_the_users_own_and_a_restart_offers_resume(qtbot, tmp_path):
    from PySide6.QtCore import QSettings

    from capsexplorer.app.panels.training_panel import default_out

    panel = TrainingPanel()
    qtbot.addWidget(panel)
    out = Path(panel.out.text())
    assert out == default_out("mnist5k") and out.name != "capsnet-mnist5k.safetensors"
    assert "capsexplorer/capsexplorer" not in out.as_posix()
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    panel.out.setText(str(tmp_path / "mine.safetensors"))
    panel.epochs.setValue(3)
    panel.save_settings(settings)
    (tmp_path / "mine.safetensors.ckpt").write_bytes(b"a checkpoint of the last session")
    again = TrainingPanel()  # the next session's dialog
    qtbot.addWidget(again)
    again.restore_settings(settings)
    assert again.out.text() == str(tmp_path / "mine.safetensors") and again.epochs.value() == 3
    assert again.start_button.text() == "Resume" and "checkpoint" in again.status.text()


def test_the_status_says_training_once_steps_come(qtbot, tmp_path):
    panel = panel_for(qtbot, tmp_path)
    panel._say("Starting… (loading the data)")
    panel.show_step({"epoch": 1, "epochs": 2, "step": 1, "steps": 8, "margin_loss": 0.5, "reconstruction_loss": 0.1})
    assert panel.status.text().startswith("Training…")


def test_a_one_epoch_run_shows_its_reconstructions_and_the_next_keeps_no_stale_tick(qtbot, tmp_path):
    """Issue 22 §8: after a 1-epoch run the reconstructions stayed black (only an epoch report drew them); the
    next run's accuracy axis kept the last run's tick; "Not started." stood above "Starting…"."""
    panel = panel_for(qtbot, tmp_path, epochs=1)
    with qtbot.waitSignal(panel.process.finished, timeout=180_000):
        panel.start_button.click()
        assert panel.progress_label.text() != "Not started."
    assert panel.mosaic.image[:28].max() > 0.5 and panel.mosaic.image[28:].max() > 0
    axis = panel.accuracy_plot.getPlotItem().getAxis("left")
    assert axis._tickLevels  # the run's accuracy, named
    panel.out.setText(str(tmp_path / "second.safetensors"))
    panel.start()
    assert axis._tickLevels is None and panel.mosaic.image.max() == 0
    with qtbot.waitSignal(panel.process.finished, timeout=180_000):
        pass


def test_sigterm_closes_without_asking_and_keeps_the_checkpoint(qtbot, model, monkeypatch):
    """A student's find: SIGTERM while a model trained left the app running, behind a question nobody at the
    terminal saw. Now it quits: the run pauses and stops (its checkpoint kept), no dialog."""
    import os
    import signal

    from capsexplorer.app.main import _quit_on_signals
    from capsexplorer.app.window import MainWindow

    window = MainWindow(model=model, persist=False)
    qtbot.addWidget(window)
    window.show()
    process = window.show_training().panel.process
    calls, asked = [], []
    monkeypatch.setattr(process, "running", lambda: "stopped" not in calls)  # a run in progress
    monkeypatch.setattr(process, "pause", lambda: calls.append("paused"))
    monkeypatch.setattr(process, "stop_and_wait", lambda: calls.append("stopped"))
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a) or QMessageBox.StandardButton.No)
    previous = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        _quit_on_signals(window)
        os.kill(os.getpid(), signal.SIGTERM)
        qtbot.waitUntil(lambda: not window.isVisible(), timeout=10_000)
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    assert not asked and calls == ["paused", "stopped"]


def test_the_explorer_says_a_model_is_training_while_its_window_is_closed(qtbot, model):
    """A student's find: with the Training window closed, nothing in the explorer said a model was still training.
    The status bar says how far it is while it runs; a click shows the window again."""
    from capsexplorer.app.window import MainWindow

    window = MainWindow(model=model, persist=False)
    qtbot.addWidget(window)
    window.show()
    dialog = window.show_training()
    process, badge = dialog.panel.process, window.status_line.training
    process.stateChanged.emit("running")
    process.step.emit({"epoch": 2, "epochs": 4, "step": 50, "steps": 100})
    dialog.close()
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=5000)
    assert badge.isVisible() and badge.text() == "Training: epoch 2 of 4, 38%"
    badge.click()
    qtbot.waitUntil(dialog.isVisible, timeout=5000)
    process.stateChanged.emit("pausing")
    process.step.emit({"epoch": 2, "epochs": 4, "step": 51, "steps": 100})  # the step in progress ends
    assert badge.text() == "Training: pausing…"
    process.stateChanged.emit("paused")  # stopped, its checkpoint kept: nothing runs
    assert not badge.isVisible()
    window.close()


def test_the_training_window_s_titles_and_path_read_whole(qtbot):
    """A student's find: the pictures' title was cut at the window's default size, and the save path showed only
    its end."""
    dialog = TrainingDialog()
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(dialog.isVisible, timeout=5000)
    qtbot.wait(50)
    panel = dialog.panel
    for plot in (panel.loss_plot, panel.accuracy_plot, panel.pictures):
        title = plot.getPlotItem().titleLabel.item
        assert title.boundingRect().width() <= plot.viewport().width(), title.toPlainText()
    assert panel.out.text() and panel.out.toolTip() == f"Saved as {panel.out.text()}"
