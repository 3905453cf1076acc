"""The log file: every message of a run, tracebacks included, in the platform's log folder
(~/.local/state/capsexplorer/log on Linux, ~/Library/Logs/capsexplorer on macOS, …), rotated.
CAPSEXPLORER_LOG_DIR names another folder (the tests use one of their own)."""
from __future__ import annotations

import logging
import os
from logging.handlers import RotatingFileHandler
from pathlib import Path

ENV = "CAPSEXPLORER_LOG_DIR"
MAX_BYTES = 1_000_000
BACKUPS = 3


def log_path() -> Path:
    folder = os.environ.get(ENV)
    if not folder:
        import platformdirs

        folder = platformdirs.user_log_dir("capsexplorer", appauthor=False)
    return Path(folder) / "capsexplorer.log"


def add_file_handler(logger: logging.Logger | None = None) -> Path:
    """Sends `logger`'s records ("capsexplorer" by default) to the log file, with their tracebacks;
    one such handler at a time, moved when the path changed. Raises OSError when the file cannot be
    written."""
    logger = logger or logging.getLogger("capsexplorer")
    path = log_path()
    for handler in [h for h in logger.handlers if getattr(h, "_capsexplorer_file", False)]:
        if Path(handler.baseFilename) == path.absolute():
            return path
        logger.removeHandler(handler)
        handler.close()
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = RotatingFileHandler(path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8")
    handler._capsexplorer_file = True
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    return path
