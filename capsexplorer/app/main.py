"""Starting the window, and rendering it headless for `capsexplorer snapshot`. Everything that
changes the whole process — torch's threads, the GC, Qt's message and Python's exception
handlers — happens here, once, at start-up: never in a constructor, so tests and code that embeds
the window keep their own settings."""
from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

log = logging.getLogger("capsexplorer")
QUIET_QT_MESSAGES = ("propagateSizeHints",)  # harmless notes of Qt's offscreen plugin

ORGANIZATION = "capsexplorer"
APPLICATION = "capsexplorer"
SNAPSHOT_SIZE = (1500, 920)


def _application(headless: bool = False):
    if headless and not os.environ.get("QT_QPA_PLATFORM"):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    return app


def configure_process() -> None:
    """Leaves one core to the GUI thread. On a 2-core laptop a trace on 2 torch threads is faster
    alone (5.7 vs 8.3 ms) but fights the painting thread: stroke end → panels drawn measured
    p95 46 ms with 2 threads and 22 ms with 1. A shorter GIL switch interval lets the worker's
    Python glue run between the GUI thread's paint calls. Qt's messages go to the log."""
    import torch
    from PySide6.QtCore import QtMsgType, qInstallMessageHandler

    torch.set_num_threads(max(1, (os.cpu_count() or 2) - 1))
    sys.setswitchinterval(0.001)
    levels = {QtMsgType.QtDebugMsg: logging.DEBUG, QtMsgType.QtInfoMsg: logging.INFO,
              QtMsgType.QtWarningMsg: logging.WARNING, QtMsgType.QtCriticalMsg: logging.ERROR,
              QtMsgType.QtFatalMsg: logging.CRITICAL}

    def qt_message(kind, _context, message: str) -> None:
        quiet = any(text in message for text in QUIET_QT_MESSAGES)
        log.log(logging.DEBUG if quiet else levels.get(kind, logging.WARNING), "Qt: %s", message)

    qInstallMessageHandler(qt_message)


def freeze_startup_objects() -> None:
    """torch, Qt and pyqtgraph leave ~250,000 long-lived objects: a full collection of them takes
    ~95 ms here, a visible hitch mid-stroke. Freezing them, once the model is loaded, keeps later
    collections small."""
    import gc

    gc.collect()
    gc.freeze()


def install_excepthook(window) -> None:
    """An exception raised in a Qt slot reaches the log and, in one line, the window it happened in —
    the Training dialog's own status when that is the active window, else the explorer's error banner —
    and the program goes on (the traceback is in the log file, and on stderr with --debug)."""
    from PySide6.QtWidgets import QApplication

    from capsexplorer.app.panels.training_panel import TrainingDialog

    def hook(kind, value, tb):
        if issubclass(kind, KeyboardInterrupt):
            sys.__excepthook__(kind, value, tb)
            return
        log.error("internal error: %s: %s", kind.__name__, value, exc_info=(kind, value, tb))
        message = f"internal error: {kind.__name__}: {value} — the program goes on; {_where_details_are()}"
        try:
            active = QApplication.activeWindow()
            if isinstance(active, TrainingDialog):
                active.panel.show_error(message)
            else:
                window.show_error(message)
        except Exception:  # noqa: BLE001 — a closed window: the log has it
            pass

    sys.excepthook = hook


def _where_details_are() -> str:
    try:
        from capsexplorer.logfile import log_path
    except ImportError:
        return "run with --debug for the traceback"
    return f"the traceback is in {log_path()}"


def run_gui(weights: str | None = None, image: str | None = None, device: str | None = None) -> int:
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY") \
            and not os.environ.get("QT_QPA_PLATFORM") and sys.platform.startswith("linux"):
        print("capsexplorer: no display found (DISPLAY is unset); use 'capsexplorer snapshot' "
              "for a headless render", file=sys.stderr)
        return 1
    missing = _missing_xcb_libraries()
    if missing:
        print("capsexplorer: Qt cannot open a window: the system lacks " + ", ".join(missing)
              + " (on Debian/Ubuntu: apt install libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 "
              "libxkbcommon-x11-0)", file=sys.stderr)
        return 1
    app = _application()
    configure_process()
    from capsexplorer.app.window import MainWindow

    window = MainWindow(weights=weights, device=device, image=image)
    install_excepthook(window)
    window.controller.modelReady.connect(freeze_startup_objects, type=_single_shot())
    window.show()
    _quit_on_signals(window)
    return app.exec()


def _single_shot():
    from PySide6.QtCore import Qt

    return Qt.ConnectionType.SingleShotConnection


def _quit_on_signals(window) -> None:
    """Ctrl+C or SIGTERM in the terminal closes the window cleanly, without asking (settings saved, worker
    stopped, a training run stopped with its checkpoint kept). Qt's loop runs in C++, so a timer gives Python a
    moment to run its handlers."""
    import signal

    from PySide6.QtCore import QTimer

    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda *_: QTimer.singleShot(0, window, window.quit_now))  # from the event loop,
        # not from inside whatever Python code the signal interrupted
    timer = QTimer(window)
    timer.timeout.connect(lambda: None)
    timer.start(200)


def _missing_xcb_libraries() -> list[str]:
    """Qt's X11 plugin aborts the process when these are missing; say so in one line instead."""
    if not sys.platform.startswith("linux") or os.environ.get("QT_QPA_PLATFORM", "xcb") != "xcb" \
            or not os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return []
    import ctypes.util

    names = ("xcb-cursor", "xcb-icccm", "xcb-keysyms", "xkbcommon-x11")
    return [f"lib{name}" for name in names if ctypes.util.find_library(name) is None]


def wait_for(signal, timeout_ms: int, abort=(), interrupted: list | None = None) -> tuple[bool, tuple]:
    """Runs the event loop until `signal` fires (True, its arguments), a signal in `abort` fires,
    `interrupted` fills (a SIGINT handler appends to it) or the time runs out (False). With
    `signal` None it just runs the loop for `timeout_ms`."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    received: list[tuple] = []

    def done(*args):
        received.append(args)
        loop.quit()

    if signal is not None:
        signal.connect(done)
    for other in abort:
        other.connect(loop.quit)
    QTimer.singleShot(timeout_ms, loop.quit)
    poll = QTimer()  # Python runs its signal handlers only when the loop hands it control
    poll.timeout.connect(lambda: loop.quit() if interrupted else None)
    poll.start(100)
    loop.exec()
    poll.stop()
    if signal is not None:
        signal.disconnect(done)
    for other in abort:
        other.disconnect(loop.quit)
    return bool(received), received[0] if received else ()


def _show_lab(window, args, interrupted) -> None:
    """Puts the lab in the state `snapshot`'s options ask for and waits for its views to be drawn."""
    from capsexplorer.app.session.tabs import KEYS, tab
    from capsexplorer.errors import CapsExplorerError

    if getattr(args, "view", None):
        window.state.set_view(mode=args.view)
    if getattr(args, "primary", None) is not None:
        window.state.set_primary(args.primary)
    for setting in getattr(args, "probe", None) or []:
        name, _, value = setting.partition("=")
        try:
            window.state.set_probe(name.strip(), float(value))
        except ValueError:
            raise CapsExplorerError(f"--probe wants NAME=VALUE, e.g. rotate=30; got {setting!r}") from None
    if getattr(args, "sweep", None):
        try:
            name, start, stop = args.sweep.split(":")
            start, stop = float(start), float(stop)
        except ValueError:
            raise CapsExplorerError(f"--sweep wants NAME:FROM:TO, e.g. rotate:-180:180; got {args.sweep!r}") from None
        sweep = window.sweep
        index = sweep.transform.findData(name)
        if index < 0:
            raise CapsExplorerError(f"--sweep: unknown transform {name!r}")
        sweep.transform.setCurrentIndex(index)
        sweep.start.setValue(start)
        sweep.stop.setValue(stop)
        sweep.request()  # these settings become the state's
    view = getattr(args, "tab", None) or "routing"
    state = window.state
    controller = window.controller
    done = {"sweep": controller.sweepShown, "figure4": controller.gridShown, "probe": controller.probeShown}.get(view)
    if done is None and view in KEYS and tab(view).job is not None and tab(view).field and \
            getattr(state, tab(view).field) is None:
        done = getattr(state, tab(view).changed)  # any other tab asking the worker: the state says it answered
    if view == "heldout" and (state.predictions is None or not state.predictions.final):
        done = window.controller.predictionsShown
    elif view == "robustness" and state.robustness is None and state.model.cnn_path is not None:
        window.controller.measure_robustness()  # minutes, unless measured before or shipped (then at once)
        done = window.controller.robustnessShown
    if view == "pair" and window.pair.ready and window.pair.truth is None:
        done = window.controller.traceShown  # showing the tab puts the first held-out pair on the input
    if view == "pose" and window.lab.indexOf(window.pose_area) < 0:
        view = "routing"  # a wide window shows the pose as its right-hand column
    if view != state.lab_view:
        state.set_lab_view(view)  # showing a lab tab asks the worker for its view
    else:
        state.labViewChanged.emit()  # asked again when shown again (a series of screenshots)
    if done is not None:
        limit_s = {"robustness": 900, "heldout": 600}.get(view, 120)  # 10,000 predictions: minutes when busy
        errors: list[str] = []
        window.errorShown.connect(errors.append)
        ok, _ = wait_for(done, limit_s * 1000, abort=(window.errorShown,), interrupted=interrupted)
        if interrupted:
            raise KeyboardInterrupt
        if not ok:  # never a picture of empty plots
            raise CapsExplorerError(errors[0] if errors else f"the {args.tab} tab was not ready within {limit_s} s; "
                                    "no snapshot written")
        if view == "heldout":
            while not window.state.predictions.final:  # the CNN's half follows the CapsNet's
                ok, _ = wait_for(window.controller.predictionsShown, 120_000, abort=(window.errorShown,),
                                 interrupted=interrupted)
                if interrupted or not ok:
                    raise KeyboardInterrupt if interrupted else CapsExplorerError("the held-out predictions "
                                                                                  "did not finish; no snapshot")
        if view == "sweep" and window.state.model.cnn_path is not None:  # the CNN's curve follows the sweep
            wait_for(window.state.sweepChanged, 30_000, interrupted=interrupted)
        wait_for(None, 200)


def run_snapshot(args) -> int:
    """Renders the whole window to a PNG. Every problem — an unwritable --out, a bad or blank
    image, weights that fail, Ctrl+C — ends in one line within seconds, with the worker stopped."""
    import signal

    from capsexplorer.data.preprocess import load_image, preprocess_array
    from capsexplorer.errors import CapsExplorerError
    from capsexplorer.files import writable_target

    out = Path(args.out)
    if out.suffix.lower() != ".png":
        raise CapsExplorerError(f"{out}: the snapshot is written as PNG; name it *.png")
    writable_target(out)
    if args.iteration is not None and not 1 <= args.iteration <= args.iterations:
        raise CapsExplorerError(f"--iteration must be from 1 to {args.iterations}, got {args.iteration}")
    if args.image:
        try:
            preprocess_array(load_image(args.image))  # a bad or blank file fails here, before any window
        except CapsExplorerError as exc:
            message = str(exc)
            raise CapsExplorerError(message if message.startswith(str(args.image))
                                    else f"{args.image}: {message}") from None
    app = _application(headless=True)
    configure_process()
    from capsexplorer.app.export import save_png
    from capsexplorer.app.window import MainWindow

    window = MainWindow(weights=args.weights, device=args.device, image=args.image, persist=False,
                        sample_seed=0)
    interrupted = []
    previous = signal.signal(signal.SIGINT, lambda *_: (interrupted.append(True), app.quit()))
    try:
        window.state.set_iterations(args.iterations)
        errors: list[str] = []
        window.errorShown.connect(errors.append)
        window.set_theme(getattr(args, "theme", "system"))
        window.resize(*(getattr(args, "size", None) or SNAPSHOT_SIZE))
        window.show()
        if window.state.model is None:
            wait_for(window.controller.modelReady, 60_000, abort=(window.errorShown,), interrupted=interrupted)
        if window.state.model is not None and window.state.result is None and window.draw.canvas.is_empty() \
                and not args.image:
            raise CapsExplorerError(f"no sample images of this model's data ({window.state.model.dataset}) come "
                                    "with capsexplorer: give an image, e.g. capsexplorer snapshot IMAGE --out F.png")
        if window.state.result is None and not errors:
            ok, _ = wait_for(window.controller.traceShown, 60_000, abort=(window.errorShown, window.controller.blankShown),
                             interrupted=interrupted)
        else:
            ok = window.state.result is not None
        if interrupted:
            raise KeyboardInterrupt
        if not ok:
            raise CapsExplorerError(errors[0] if errors else "the model produced no trace within 60 s")
        if window.state.pose_stats is None and not window.state.pose_stats_why:
            # the sliders' and Figure 4's scale (shipped: a moment; else computed; none without training images)
            wait_for(window.state.labDataChanged, 120_000, interrupted=interrupted)
        if args.digit is not None:
            classes = window.state.geometry.classes
            if not 0 <= args.digit < classes:
                raise CapsExplorerError(f"--digit must be from 0 to {classes - 1} for this model, got {args.digit}")
            window.state.set_pose_digit(args.digit)
            window.state.set_overlay_digit(args.digit)
        _show_lab(window, args, interrupted)
        if args.iteration is not None:
            n = window.state.trace.iterations
            if not 1 <= args.iteration <= n:
                raise CapsExplorerError(f"--iteration must be from 1 to {n}, got {args.iteration}")
            window.state.set_iteration(args.iteration - 1)
        wait_for(None, 100, interrupted=interrupted)  # let every panel lay out and paint
        if interrupted:
            raise KeyboardInterrupt
        saved = save_png(window, out)
        print(f"snapshot written to {saved} ({window.width()}×{window.height()})")
        return 0
    finally:
        signal.signal(signal.SIGINT, previous)
        window.close()  # stops the worker: a QThread destroyed while running aborts the process
        app.processEvents()
