"""Loading and saving weights: safetensors only (or torch.load with weights_only=True).

Anything that would run code when unpickled, a corrupt file, or weights that do not fit the
network is refused with one WeightsError line.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import torch

from capsexplorer.errors import WeightsError
from capsexplorer.files import atomic_write, reason, regular_file, resource_path
from capsexplorer.net.config import ROUTERS, CapsNetConfig, digits_model_name, pairs_model_name
from capsexplorer.net.model import CapsNet, resolve_device

SHIPPED = "capsnet-mnist.safetensors"  # the default: the full MNIST's 60,000 training digits
SHIPPED_CNN = "cnn-mnist.safetensors"  # the CNN baseline, same data and budget
SHIPPED_MODELS = {"mnist": SHIPPED, "mnist5k": "capsnet-mnist5k.safetensors",
                  "fashion-mnist": "capsnet-fashion-mnist.safetensors",
                  "multimnist": "capsnet-multimnist.safetensors"}  # by name
# Each router trained alike (capsexplorer.analysis.router_comparison): digits, and two digits for three of them.
ROUTER_MODELS = {name: f"capsnet-{name}.safetensors" for r in ROUTERS
                 for name in (digits_model_name(r), pairs_model_name(r)) if name}
SHIPPED_MODELS.update(ROUTER_MODELS)
SHIPPED_CNNS = {"mnist": SHIPPED_CNN, "mnist5k": "cnn-mnist5k.safetensors"}  # the CNN of each digits model's data


def shipped_baseline_path(dataset: str) -> Path | None:
    """The shipped CNN trained on `dataset` alike (the digits models' comparison), or None."""
    name = SHIPPED_CNNS.get(dataset)
    return shipped_weights_path(name) if name else None


def resolve_weights(name_or_path: str | Path | None) -> Path:
    """A shipped model's name ("mnist", "mnist5k", "fashion-mnist", "multimnist") → its file; anything else is a path.
    A file of that name in the current folder is not taken for the shipped model of that name."""
    if name_or_path is None:
        return shipped_weights_path()
    if isinstance(name_or_path, str) and name_or_path in SHIPPED_MODELS and not Path(name_or_path).exists():
        return shipped_weights_path(SHIPPED_MODELS[name_or_path])
    return Path(name_or_path)


def shipped_weights_path(name: str = None) -> Path:
    """The weights shipped with the package (the CapsNet's by default)."""
    return resource_path(name or SHIPPED)


def save_weights(model: CapsNet, path: str | Path, metadata: dict | None = None, float16: bool = True) -> None:
    """Writes the model's weights as safetensors (float16 storage by default), atomically."""
    from safetensors.torch import save

    dtype = torch.float16 if float16 else torch.float32
    tensors = {k: v.detach().to("cpu", dtype).contiguous() for k, v in model.state_dict().items()}
    meta = {k: str(v) for k, v in (metadata or {}).items()}
    meta["config"] = json.dumps(model.config.to_dict())
    data = save(tensors, metadata=meta)
    with atomic_write(path) as f:
        f.write(data)


def read_metadata(path: str | Path) -> dict[str, str]:
    """A safetensors file's metadata, without its tensors ({} for another kind of file)."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            return dict(f.metadata() or {})
    except (SafetensorError, OSError, ValueError, RuntimeError):
        return {}


def read_state(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Reads tensors and metadata from safetensors, or from a plain tensor file that torch can
    load with weights_only=True. Raises WeightsError for anything else."""
    path = Path(path)
    if regular_file(path, WeightsError, "weights file").st_size == 0:
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
        pickled = _starts_with(path, (b"\x80", b"PK"))  # a pickle, or PyTorch's zip around one
        if pickled and ("weights_only" in str(exc) or "Unsupported global" in str(exc) or "GLOBAL" in str(exc)):
            raise WeightsError(f"{path}: refused — the file is a pickle that would run code; "
                               "use safetensors weights") from None
        raise WeightsError(f"{path}: not a weights file — {_what_it_is(path)}; capsexplorer reads "
                           "safetensors files and PyTorch tensor files") from None
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]  # a training checkpoint
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(f"{path}: does not hold a dictionary of tensors")
    return state, {}


def _starts_with(path: Path, prefixes: tuple[bytes, ...]) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4).startswith(prefixes)
    except OSError:
        return False


def _what_it_is(path: Path) -> str:
    """A guess, from the first bytes, at what a file that is not weights holds."""
    try:
        with open(path, "rb") as f:
            head = f.read(512)
    except OSError as exc:
        return f"it cannot be read ({reason(exc)})"
    if not head:
        return "it is empty (0 bytes)"
    if head.startswith(b"PK"):
        return "it is a zip archive without PyTorch tensors in it"
    if head[:8] == b"\x89PNG\r\n\x1a\n" or head[:3] == b"\xff\xd8\xff" or head[:6] in (b"GIF87a", b"GIF89a"):
        return "it is an image"
    if head.startswith(b"%PDF"):
        return "it is a PDF document"
    if head.startswith(b"\x1f\x8b"):
        return "it is gzip-compressed data"
    try:
        text = head.decode("utf-8").lstrip()
        return "it is JSON text" if re.match(r'[\[{]\s*["\[{}\]\d-]', text) else "it is a text file"
    except UnicodeDecodeError:
        pass
    if len(head) >= 8 and int.from_bytes(head[:8], "little") > 100_000_000:
        return "its header is damaged or it is another binary format"
    return "it is truncated or damaged, or another binary format"


def load_model(path: str | Path | None = None, device: str | torch.device | None = None) -> CapsNet:
    """A shipped model by name — "mnist" (the default: the full MNIST), "mnist5k" (4,000 digits), "fashion-mnist",
    "multimnist" — or the weights at `path`,
    on `device` (CUDA when available, else CPU), in eval mode."""
    path = resolve_weights(path)
    tensors, metadata = read_state(path)
    device = resolve_device(device)  # a bad --device is named before any work
    if metadata.get("model") == "cnn":
        raise WeightsError(f"{path}: these are the CNN baseline's weights; load them with load_baseline() "
                           "or --model cnn")
    config = _config(path, metadata, CapsNetConfig)
    return _build(path, tensors, metadata, CapsNet, config, device)


def load_baseline(path: str | Path | None = None, device: str | torch.device | None = None):
    """The shipped CNN baseline ("mnist", the default, or "mnist5k": the one trained alike with each digits
    model), or the one at `path`, in eval mode: `predict(batch)` → probabilities (B, 10)."""
    from capsexplorer.net.baseline import BaselineCNN, CNNConfig

    if path is None or (isinstance(path, str) and path in SHIPPED_CNNS and not Path(path).exists()):
        path = shipped_weights_path(SHIPPED_CNNS[path or "mnist"])
    path = Path(path)
    tensors, metadata = read_state(path)
    device = resolve_device(device)
    kind = metadata.get("model") or ("capsnet" if "primary_types" in metadata.get("config", "") else "cnn")
    if kind != "cnn":
        raise WeightsError(f"{path}: these are CapsNet weights, not the CNN baseline's; load them with load_model()")
    return _build(path, tensors, metadata, BaselineCNN, _config(path, metadata, CNNConfig), device).for_inference()


def _config(path: Path, metadata: dict, kind):
    try:
        return kind.from_dict(json.loads(metadata["config"])) if "config" in metadata else kind()
    except (TypeError, ValueError, RecursionError) as exc:
        raise WeightsError(f"{path}: unusable model configuration in its metadata ({exc})") from None


def _build(path: Path, tensors: dict, metadata: dict, network, config, device):
    """The network with `tensors` loaded — after every name and shape was checked on the meta device."""
    with torch.device("meta"):  # shapes only: nothing is allocated until the tensors are known to fit
        expected = network(config).state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        detail = f"missing {', '.join(missing[:3])}" if missing else f"unexpected {', '.join(unexpected[:3])}"
        raise WeightsError(f"{path}: not {'CapsNet' if network is CapsNet else 'CNN baseline'} weights ({detail})")
    for name, value in tensors.items():
        if tuple(value.shape) != tuple(expected[name].shape):
            raise WeightsError(f"{path}: {name} has shape {tuple(value.shape)}, "
                               f"the model needs {tuple(expected[name].shape)}")
        if not value.is_floating_point() or not torch.isfinite(value).all():
            raise WeightsError(f"{path}: {name} holds non-finite or non-float values")
    model = network(config)
    model.load_state_dict({k: v.float() for k, v in tensors.items()})
    model.metadata = dict(metadata, path=str(path))
    return model.to(device).eval()


def class_names(model) -> tuple[str, ...]:
    """The class names a weights file records (digits, garments, a folder's names), or the class numbers."""
    names = tuple(str(model.metadata.get("classes") or "").split(","))
    n = model.config.n_classes
    return names if len(names) == n else tuple(str(d) for d in range(n))


def heldout_accuracy(metadata: dict) -> float | None:
    """The accuracy a weights file claims, or None when it is absent or not a number in [0, 1]."""
    try:
        value = float(metadata.get("heldout_accuracy"))
    except (TypeError, ValueError):
        return None
    return value if 0.0 <= value <= 1.0 else None


def accuracy_text(metadata: dict) -> str:
    """What a weights file says of its accuracy, in words: on which images and with how many routing iterations
    — "held-out accuracy 99.63 % (10,000 MNIST test digits, 3 iterations)"; a quick MNIST 5k run's own
    validation fifth (MNIST training digits) is called validation, never held out."""
    iterations = metadata.get("routing_iterations")
    routing = f", {iterations} iteration{'s' if str(iterations) != '1' else ''}" if iterations else ""
    value = heldout_accuracy(metadata)
    if value is not None:
        size = metadata.get("heldout_size")
        pairs = metadata.get("heldout_pairs")
        what = f"{int(pairs):,} held-out pairs" if pairs and str(pairs).isdigit() else \
            f"{int(size):,} MNIST test digits" if metadata.get("dataset") in ("mnist", "mnist5k") and str(size).isdigit() \
            else f"{int(size):,} held-out images" if str(size).isdigit() else "held-out images"
        measure = "both digits right" if pairs else "held-out accuracy"
        return f"{measure} {value:.2%} ({what}{routing})"
    try:
        validation = float(metadata.get("validation_accuracy"))
    except (TypeError, ValueError):
        return "held-out accuracy unknown"
    return f"validation accuracy {validation:.2%} (MNIST 5k's own fifth{routing})"
