"""Starting the window, and rendering it headless for `capsexplorer snapshot`."""
from __future__ import annotations

import os
import sys
from pathlib import Path

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
    from .window import MainWindow

    window = MainWindow(weights=weights, device=device, image=image)
    window.show()
    _quit_on_signals(window)
    return app.exec()


def _quit_on_signals(window) -> None:
    """Ctrl+C or SIGTERM in the terminal closes the window cleanly (settings saved, worker
    stopped). Qt's loop runs in C++, so a timer gives Python a moment to run its handlers."""
    import signal

    from PySide6.QtCore import QTimer

    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda *_: window.close())
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


def wait_for(signal, timeout_ms: int, abort=None) -> tuple[bool, tuple]:
    """Runs the event loop until `signal` fires (True, its arguments), `abort` fires or the time
    runs out (False)."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    received: list[tuple] = []

    def done(*args):
        received.append(args)
        loop.quit()

    signal.connect(done)
    if abort is not None:
        abort.connect(loop.quit)
    QTimer.singleShot(timeout_ms, loop.quit)
    loop.exec()
    signal.disconnect(done)
    if abort is not None:
        abort.disconnect(loop.quit)
    return bool(received), received[0] if received else ()


def run_snapshot(args) -> int:
    from ..errors import CapsExplorerError
    from ..preprocess import load_image

    if args.image:
        load_image(args.image)  # a bad file fails here with one line, before any window
    out = Path(args.out)
    if out.suffix.lower() != ".png":
        raise CapsExplorerError(f"{out}: the snapshot is written as PNG; name it *.png")
    app = _application(headless=True)
    from PySide6.QtCore import QEventLoop, QTimer

    from .export import save_png
    from .window import MainWindow

    window = MainWindow(weights=args.weights, device=args.device, image=args.image, persist=False,
                        sample_seed=0)
    window.routing.iterations.setValue(args.iterations)
    errors: list[str] = []
    window.errorShown.connect(errors.append)
    window.resize(*SNAPSHOT_SIZE)
    window.show()
    ok, _ = wait_for(window.traceShown, 120_000, abort=window.errorShown)
    if not ok:
        window.close()
        raise CapsExplorerError(errors[0] if errors else "the model produced no trace")
    if args.digit is not None:
        window.pose.capsule.setCurrentIndex(window.pose.capsule.findData(args.digit))
        wait_for(window.traceShown, 60_000)
    if args.iteration is not None:
        n = window.routing.trace.iterations
        if not 1 <= args.iteration <= n:
            window.close()
            raise CapsExplorerError(f"--iteration must be from 1 to {n}, got {args.iteration}")
        window.routing.set_iteration(args.iteration - 1)
    loop = QEventLoop()
    QTimer.singleShot(100, loop.quit)  # let every panel lay out and paint
    loop.exec()
    saved = save_png(window, out)
    window.close()
    app.processEvents()
    print(f"snapshot written to {saved} ({window.width()}×{window.height()})")
    return 0
