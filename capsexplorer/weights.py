"""Loading and saving weights: safetensors only (or torch.load with weights_only=True).

Anything that would run code when unpickled, a corrupt file, or weights that do not fit the
network is refused with one WeightsError line.
"""
from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

import torch

from .errors import WeightsError
from .model import CapsNet, CapsNetConfig, default_device

SHIPPED = "capsnet-mnist5k.safetensors"


def shipped_weights_path() -> Path:
    """The weights shipped with the package: resources/ installs as `capsexplorer.resources`."""
    try:
        return Path(str(resources.files("capsexplorer.resources").joinpath(SHIPPED)))
    except ModuleNotFoundError:  # running from a source tree that is not installed
        return Path(__file__).resolve().parent.parent / "resources" / SHIPPED


@contextmanager
def atomic_path(path: str | Path):
    """Yields a temporary path beside `path`; moves it over `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes files private; weights are ordinary files
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def save_weights(model: CapsNet, path: str | Path, metadata: dict | None = None, float16: bool = True) -> None:
    """Writes the model's weights as safetensors (float16 storage by default), atomically."""
    from safetensors.torch import save_file

    dtype = torch.float16 if float16 else torch.float32
    tensors = {k: v.detach().to("cpu", dtype).contiguous() for k, v in model.state_dict().items()}
    meta = {k: str(v) for k, v in (metadata or {}).items()}
    meta["config"] = json.dumps(model.config.to_dict())
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)


def read_state(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Reads tensors and metadata from safetensors, or from a plain tensor file that torch can
    load with weights_only=True. Raises WeightsError for anything else."""
    path = Path(path)
    if not path.exists():
        raise WeightsError(f"{path}: no such weights file")
    if path.is_dir():
        raise WeightsError(f"{path}: is a directory, not a weights file")
    if path.stat().st_size == 0:
        raise WeightsError(f"{path}: the weights file is empty")
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            return {k: f.get_tensor(k) for k in f.keys()}, dict(f.metadata() or {})
    except (SafetensorError, OSError, ValueError, RuntimeError):
        pass  # not safetensors: maybe a plain torch file, loaded without running any code
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "weights_only" in str(exc) or "Unsupported global" in str(exc) or "GLOBAL" in str(exc):
            raise WeightsError(f"{path}: refused — the file is a pickle that would run code; "
                               "use safetensors weights") from None
        raise WeightsError(f"{path}: not a safetensors or torch weights file ({reason})") from None
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]  # a training checkpoint
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(f"{path}: does not hold a dictionary of tensors")
    return state, {}


def load_model(path: str | Path | None = None, device: str | torch.device | None = None) -> CapsNet:
    """The shipped model, or the one at `path`, on `device` (CUDA when available, else CPU), in eval mode."""
    path = Path(path) if path is not None else shipped_weights_path()
    tensors, metadata = read_state(path)
    try:
        config = CapsNetConfig.from_dict(json.loads(metadata["config"])) if "config" in metadata else CapsNetConfig()
    except (TypeError, ValueError) as exc:
        raise WeightsError(f"{path}: unreadable model configuration in its metadata ({exc})") from None
    model = CapsNet(config)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        detail = f"missing {', '.join(missing[:3])}" if missing else f"unexpected {', '.join(unexpected[:3])}"
        raise WeightsError(f"{path}: not CapsNet weights ({detail})")
    for name, value in tensors.items():
        if tuple(value.shape) != tuple(expected[name].shape):
            raise WeightsError(f"{path}: {name} has shape {tuple(value.shape)}, "
                               f"the model needs {tuple(expected[name].shape)}")
        if not value.is_floating_point() or not torch.isfinite(value).all():
            raise WeightsError(f"{path}: {name} holds non-finite or non-float values")
    model.load_state_dict({k: v.float() for k, v in tensors.items()})
    model.metadata = dict(metadata, path=str(path))
    device = torch.device(device) if device is not None else default_device()
    return model.to(device).eval()
