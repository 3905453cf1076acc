"""`capsexplorer train --progress json` run as a separate process: the window stays responsive and the
model in the explorer is never touched by training. Pause is the command's own Ctrl+C (it checkpoints
the step it finished and exits); resume runs the same command again, which continues from that
checkpoint; cancel stops it the same way and deletes the checkpoint."""
from __future__ import annotations

import logging
import os
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QObject, QProcess, QTimer, Signal

from capsexplorer.progress_events import decode

log = logging.getLogger("capsexplorer")
KILL_AFTER_MS = 90_000  # a process that has not stopped this long after being asked is killed (an epoch's
# held-out report on 10,000 images can take half a minute on a laptop; the stop comes after it)
CLOSE_WAIT_MS = 20_000  # closing the window waits this long for the checkpoint


@dataclass
class TrainingRequest:
    """What the Training dialog asks for; `arguments()` is the command line after `capsexplorer train`."""

    out: str
    dataset: str = "mnist5k"  # mnist5k, mnist, fashion-mnist or folder
    data_dir: str | None = None
    epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-3
    iterations: int = 3
    augment: str = "digits"
    amp: bool = False
    extra: list[str] = field(default_factory=list)

    @property
    def checkpoint(self) -> Path:
        return Path(self.out + ".ckpt")

    def arguments(self) -> list[str]:
        args = ["train", "--progress", "json", "--dataset", self.dataset, "--epochs", str(self.epochs),
                "--batch-size", str(self.batch_size), "--lr", repr(float(self.lr)), "--iterations",
                str(self.iterations), "--augment", self.augment, "--out", self.out]
        if self.data_dir:
            args += ["--data-dir", self.data_dir]
        if self.amp:
            args.append("--amp")
        return args + list(self.extra)


class TrainingProcess(QObject):
    """One training run at a time. Signals carry the command's JSON records as dicts."""

    started = Signal()
    step = Signal(dict)
    epoch = Signal(dict)
    finished = Signal(dict)  # {"weights": …, "heldout_accuracy": …}
    paused = Signal(dict)  # the command stopped on request, its checkpoint kept
    cancelled = Signal()
    failed = Signal(str)  # one line: the command's own error message when it gave one
    stateChanged = Signal(str)  # "idle", "running", "pausing", "paused", "cancelling"

    def __init__(self, parent=None, program: list[str] | None = None):
        """`program`: how to start capsexplorer (default: this Python with `-m capsexplorer`)."""
        super().__init__(parent)
        self.program = program or [sys.executable, "-m", "capsexplorer"]
        self.request: TrainingRequest | None = None
        self.state = "idle"
        self._buffer = b""
        self._stderr: list[str] = []
        self._result: dict | None = None
        self._process: QProcess | None = None
        self._kill_timer = QTimer(self)
        self._kill_timer.setSingleShot(True)
        self._kill_timer.timeout.connect(self._kill)

    # --- control ----------------------------------------------------------------------------
    def start(self, request: TrainingRequest, fresh: bool = False) -> None:
        """Starts (or, with the same request and its checkpoint present, resumes) a run."""
        if self.running():
            raise RuntimeError("a training run is already going")
        self.request = request
        self._buffer, self._stderr, self._result = b"", [], None
        process = QProcess(self)
        process.setProgram(self.program[0])
        process.setArguments(self.program[1:] + request.arguments() + (["--fresh"] if fresh else []))
        environment = process.processEnvironment()
        if environment.isEmpty():
            from PySide6.QtCore import QProcessEnvironment

            environment = QProcessEnvironment.systemEnvironment()
        environment.insert("PYTHONUNBUFFERED", "1")
        process.setProcessEnvironment(environment)
        process.started.connect(self.started)
        process.readyReadStandardOutput.connect(self._read_stdout)
        process.readyReadStandardError.connect(self._read_stderr)
        process.finished.connect(self._ended)
        process.errorOccurred.connect(self._error)
        self._process = process
        self._set_state("running")
        process.start()

    def running(self) -> bool:
        return self._process is not None and self._process.state() != QProcess.ProcessState.NotRunning

    def pause(self) -> None:
        """Asks the command to checkpoint and stop (resume with `start` and the same request)."""
        if self.running() and self.state == "running":
            self._set_state("pausing")
            self._interrupt()

    def cancel(self) -> None:
        """Stops the run and deletes its checkpoint; a paused run's checkpoint is deleted at once."""
        if self.running():
            self._set_state("cancelling")
            self._interrupt()
        else:
            self._discard_checkpoint()
            self._set_state("idle")
            self.cancelled.emit()

    def stop_and_wait(self, msecs: int = CLOSE_WAIT_MS) -> None:
        """For closing the window: pause (checkpoint kept) and wait for the process to end."""
        if not self.running():
            return
        if self.state == "cancelling":  # already asked to stop; closing keeps what is left
            self._set_state("pausing")
        self.pause()
        process = self._process
        if not process.waitForFinished(msecs):  # `_ended` runs inside and lets go of the process
            self._kill()
            process.waitForFinished(2000)

    def has_checkpoint(self, request: TrainingRequest | None = None) -> bool:
        request = request or self.request
        return request is not None and request.checkpoint.is_file()

    # --- the process ------------------------------------------------------------------------
    def _interrupt(self) -> None:
        pid = self._process.processId()
        if pid and hasattr(signal, "SIGINT") and os.name == "posix":
            os.kill(pid, signal.SIGINT)  # the command's Ctrl+C: finish the step, checkpoint, exit
        else:
            self._process.terminate()
        self._kill_timer.start(KILL_AFTER_MS)

    def _kill(self) -> None:
        if self._process is not None and self._process.state() != QProcess.ProcessState.NotRunning:
            log.warning("training did not stop when asked; killed")
            self._process.kill()

    def _read_stdout(self) -> None:
        if self._process is None:
            return
        self._buffer += bytes(self._process.readAllStandardOutput())
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            self._record(line)

    def _record(self, line: bytes) -> None:
        record = decode(line)  # None: not a progress line (a library's print), ignored
        if record is None:
            return
        kind = record.get("event")
        if kind == "step":
            self.step.emit(record)
        elif kind == "epoch":
            self.epoch.emit(record)
        elif kind in ("finished", "interrupted"):
            self._result = record

    def _read_stderr(self) -> None:
        if self._process is None:
            return
        text = bytes(self._process.readAllStandardError()).decode("utf-8", "replace")
        for line in text.replace("\r", "\n").splitlines():
            if line.strip():
                self._stderr = (self._stderr + [line.strip()])[-50:]

    def _error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart and self._process is not None:
            failed, self._process = self._process, None
            self._set_state("idle")
            self.failed.emit(f"cannot start the training command ({failed.errorString()})")
            failed.deleteLater()

    def _ended(self, code: int, _status) -> None:
        self._kill_timer.stop()
        self._read_stdout()
        if self._buffer.strip():
            self._record(self._buffer)
        self._read_stderr()
        # The process object is deleted once control returns to the event loop: no reference to it may
        # outlive this call (a call on a deleted QProcess raises, and inside a Qt virtual such as
        # closeEvent that error crashes PySide6).
        finished, self._process = self._process, None
        finished.deleteLater()
        state, result = self.state, self._result or {}
        if result.get("event") == "finished":
            self._set_state("idle")
            self.finished.emit(result)
        elif state == "cancelling":
            self._discard_checkpoint()
            self._set_state("idle")
            self.cancelled.emit()
        elif result.get("event") == "interrupted" or (state == "pausing" and self.has_checkpoint()):
            self._set_state("paused")
            self.paused.emit(result)
        elif state == "pausing":  # stopped while still loading the data: nothing to resume
            self._set_state("idle")
            self.cancelled.emit()
        else:
            self._set_state("paused" if self.has_checkpoint() else "idle")
            self.failed.emit(self._failure(code))

    def _failure(self, code: int) -> str:
        mine = [line for line in self._stderr if line.startswith("capsexplorer:")]
        if mine:
            return mine[-1].removeprefix("capsexplorer:").strip()
        if self._stderr:
            return f"training stopped (exit code {code}): {self._stderr[-1]}"
        return f"training stopped (exit code {code})"

    def _discard_checkpoint(self) -> None:
        if self.request is not None:
            for path in (self.request.checkpoint,):
                try:
                    path.unlink(missing_ok=True)
                except OSError as exc:
                    log.warning("cannot delete %s: %s", path, exc)

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.stateChanged.emit(state)
