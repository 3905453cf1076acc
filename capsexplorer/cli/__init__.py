"""capsexplorer's command line: the window (no arguments), classify, trace, train, evaluate, snapshot, data, routers …"""
from __future__ import annotations

import logging
import os
import sys

from capsexplorer.cli.common import _fail, _silence_stdout, log
from capsexplorer.cli.inference_commands import cmd_classify, cmd_evaluate, cmd_sample, cmd_trace
from capsexplorer.cli.lab_commands import cmd_equivariance, cmd_grid, cmd_robustness, cmd_sweep
from capsexplorer.cli.parser import build_parser
from capsexplorer.cli.router_commands import cmd_routers
from capsexplorer.cli.training_commands import cmd_data, cmd_fit_decoder, cmd_train
from capsexplorer.errors import CapsExplorerError

__all__ = ["main", "build_parser", "cmd_classify", "cmd_trace", "cmd_train", "cmd_fit_decoder", "cmd_evaluate",
           "cmd_sweep", "cmd_grid", "cmd_robustness", "cmd_equivariance", "cmd_data", "cmd_sample", "cmd_routers"]


def main(argv: list[str] | None = None) -> int:
    _stand_in_for_closed_stderr()
    # Nothing here compiles (no torch.compile), yet torch's optimisers import torch._dynamo, which loads
    # triton where a CUDA build of torch brought it — and triton's bindings print ~30 "nanobind: leaked"
    # lines at every exit. Marked absent, triton is never loaded (torch then takes it for not installed).
    sys.modules.setdefault("triton", None)
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(args.debug)
    if sys.stdout is None:  # started with standard output closed (`>&-`)
        if (args.command or "gui") != "gui":
            return _fail("standard output is closed: there is nowhere to write the results")
        sys.stdout = open(os.devnull, "w")  # a window started from a launcher needs none
    command = args.command or "gui"
    try:
        if command == "gui":
            from capsexplorer.app.main import run_gui

            return run_gui(weights=args.weights, image=getattr(args, "image", None), device=args.device)
        if command == "snapshot":
            from capsexplorer.app.main import run_snapshot

            return run_snapshot(args)
        # Looked up by name when called, in this package's namespace: `capsexplorer.cli.cmd_classify`
        # replaced (a test's monkeypatch) is the one that runs.
        handler = globals()["cmd_" + command.replace("-", "_")]
        return handler(args)
    except CapsExplorerError as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        print("capsexplorer: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `capsexplorer classify … | head`: the reader left, having read what it wanted;
        _silence_stdout()  # so do we, quietly and without failing the pipeline
        return 0
    except OSError as exc:  # standard output on a full disk (/dev/full) or otherwise unwritable
        from capsexplorer.files import reason

        return _fail(f"cannot write the output ({reason(exc)})")
    except Exception as exc:  # a bug of ours: one line, and the traceback with --debug and in the log file
        from capsexplorer.logfile import log_path

        log.error("internal error: %s: %s%s", type(exc).__name__, exc,
                  "" if args.debug else f" (the traceback: run with --debug, or see {log_path()})", exc_info=True)
        return 1


def _stand_in_for_closed_stderr() -> None:
    """Started with standard error closed (`2>&-`), Python's sys.stderr is None and print(…, file=None)
    writes to standard output — our error lines would mix into --json results — while the next file
    opened would take descriptor 2 and catch torch's own messages. /dev/null takes its place."""
    if sys.stderr is not None:
        return
    fd = os.open(os.devnull, os.O_WRONLY)
    if fd != 2:
        os.dup2(fd, 2)
        os.close(fd)
    sys.stderr = open(2, "w", buffering=1, closefd=False)


class _OneLine(logging.Formatter):
    tracebacks = False  # --debug

    def format(self, record: logging.LogRecord) -> str:
        text = f"capsexplorer: {record.getMessage()}"
        if record.exc_info and self.tracebacks:
            text += "\n" + self.formatException(record.exc_info)
        return text


def _configure_logging(debug: bool) -> None:
    """Messages go to stderr as 'capsexplorer: …' (tracebacks only with --debug), and to the log file
    with their tracebacks."""
    logger = logging.getLogger("capsexplorer")
    if not any(getattr(h, "_capsexplorer", False) for h in logger.handlers):
        handler = logging.StreamHandler()
        handler._capsexplorer = True
        handler.setFormatter(_OneLine())
        logger.addHandler(handler)
        logger.propagate = False
    for handler in logger.handlers:
        if getattr(handler, "_capsexplorer", False):
            handler.stream = sys.stderr  # the current stderr (tests capture it)
            handler.setLevel(logging.DEBUG if debug else logging.INFO)
            handler.formatter.tracebacks = debug
    logger.setLevel(logging.DEBUG)  # the log file takes every record; standard error INFO and up
    from capsexplorer.files import reason
    from capsexplorer.logfile import add_file_handler, log_path

    try:
        add_file_handler(logger)
    except OSError as exc:
        print(f"capsexplorer: warning: cannot write the log file {log_path()} ({reason(exc)}); "
              f"messages go to standard error only", file=sys.stderr)
