"""Paths the user hands us: one line naming what is wrong with them, never a traceback.

`Path.exists()` raises on a permission error or a name that is too long and calls a symlink loop
"missing"; `os.stat` with the errno read out says what really happened.
"""
from __future__ import annotations

import errno
import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import BinaryIO

from capsexplorer.errors import CapsExplorerError

_REASONS = {
    errno.ENOENT: "no such file",
    errno.ENOTDIR: "a part of the path is not a directory",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.ENAMETOOLONG: "the file name is too long",
    errno.ELOOP: "too many symbolic links (a link loop?)",
    errno.ENOSPC: os.strerror(errno.ENOSPC),  # "No space left on device"
}


def reason(exc: OSError) -> str:
    """An OSError in words, without the path Python repeats in its message."""
    return _REASONS.get(exc.errno) or exc.strerror or type(exc).__name__


def regular_file(path: str | Path, error: type[CapsExplorerError] = CapsExplorerError,
                 what: str = "file") -> os.stat_result:
    """Stats `path` and insists on a regular file (not a directory, FIFO or device, which would hang
    or mislead a reader); raises `error` with one line naming the path and the problem."""
    try:
        info = os.stat(path)
    except OSError as exc:
        message = f"no such {what}" if exc.errno == errno.ENOENT else reason(exc)
        raise error(f"{path}: {message}") from None
    except ValueError as exc:  # an embedded NUL byte
        raise error(f"{path!r}: not a usable path ({exc})") from None
    if stat.S_ISDIR(info.st_mode):
        raise error(f"{path}: is a directory, not a {what}")
    if not stat.S_ISREG(info.st_mode):
        kind = "a FIFO" if stat.S_ISFIFO(info.st_mode) else "a socket" if stat.S_ISSOCK(info.st_mode) \
            else "a device"
        raise error(f"{path}: is {kind}, not a regular {what}")
    return info


def writable_target(path: str | Path, error: type[CapsExplorerError] = CapsExplorerError) -> Path:
    """Checks, before any work is done, that `path` can be created or replaced as a regular file: its
    folder exists (or can be made) and a file can really be created there (root passes `os.access`
    even on /proc), the name is not too long, and what is there now is no directory, device or FIFO
    (an atomic replace would put a file in a device's place)."""
    if str(path) in ("", "."):
        raise error("an empty output path: give a file name")
    path = Path(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise error(f"{path}: {reason(exc)}") from None
    except ValueError as exc:
        raise error(f"{path!r}: not a usable path ({exc})") from None
    if info is not None and stat.S_ISDIR(info.st_mode):
        raise error(f"{path}: is a directory; give a file name")
    if info is not None and not stat.S_ISREG(info.st_mode):
        raise error(f"{path}: is not a regular file (a device or a FIFO); give a file name")
    parent = path.parent if str(path.parent) else Path(".")
    try:
        max_name = os.pathconf(parent if parent.exists() else ".", "PC_NAME_MAX")
    except (OSError, ValueError):
        max_name = 255
    if len(os.fsencode(path.name)) > max_name:
        raise error(f"{path}: the file name is too long")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise error(f"{path}: cannot create its folder ({reason(exc)})") from None
    try:  # the real test: create (and remove) a file beside it
        fd, probe = tempfile.mkstemp(prefix=".capsexplorer-", suffix=".probe", dir=parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise error(f"{path}: cannot write there ({reason(exc)})") from None
    return path


@contextmanager
def atomic_write(path: str | Path) -> Iterator[BinaryIO]:
    """Yields a binary file opened beside `path`; when the block succeeds the file is flushed to disk
    and renamed over `path`, so `path` holds either its old bytes or the complete new ones. On any
    failure — a full disk, Ctrl+C — the temporary file is removed and the old file is untouched;
    an OSError becomes one line: "cannot write PATH (reason)"."""
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=_temporary_prefix(path), suffix=".tmp", dir=path.parent)
        os.close(fd)
        with open(tmp, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes files private; ours are ordinary files
        os.replace(tmp, path)
    except OSError as exc:
        raise CapsExplorerError(f"cannot write {path} ({reason(exc)})") from None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


def _temporary_prefix(path: Path) -> str:
    return path.name[:200] + "."  # + 8 random characters + ".tmp" stays under 255 bytes


def remove_orphans(path: str | Path) -> list[Path]:
    """Deletes temporary files that an `atomic_write` to `path` left behind when its process was
    killed mid-write; returns them."""
    path = Path(path)
    removed = []
    for orphan in path.parent.glob(glob_escape(_temporary_prefix(path)) + "*.tmp"):
        try:
            orphan.unlink()
            removed.append(orphan)
        except OSError:
            pass
    return removed


def glob_escape(text: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)


def resource_path(name: str) -> Path:
    """A file shipped in resources/, installed as the package `capsexplorer.resources`."""
    try:
        return Path(str(resources.files("capsexplorer.resources").joinpath(name)))
    except ModuleNotFoundError:  # running from a source tree that is not installed
        return Path(__file__).resolve().parent.parent / "resources" / name
