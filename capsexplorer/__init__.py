"""capsexplorer: a Capsule Network (Sabour, Frosst & Hinton 2017) you can see and touch.

    from capsexplorer import load_model, preprocess
    model = load_model()
    tr = model.trace(preprocess(image).unsqueeze(0), iterations=3)

The torch-backed names load on first use, so `capsexplorer --help` does not pay for importing torch.
"""
from __future__ import annotations

import importlib

from capsexplorer.data.preprocess import load_image, preprocess  # noqa: F401 — numpy and Pillow only
from capsexplorer.errors import CapsExplorerError, DataError, DeviceError, ImageError, NoInkError, WeightsError  # noqa: F401

__version__ = "0.2.0"

_EXPORTS = {
    "CapsNet": "net.model", "CapsNetConfig": "net.config", "default_device": "net.model",
    "RoutingTrace": "net.trace", "load_model": "net.weights", "save_weights": "net.weights",
    "load_baseline": "net.weights", "BaselineCNN": "net.baseline",
}
__all__ = sorted([*_EXPORTS, "preprocess", "load_image", "CapsExplorerError", "NoInkError", "ImageError",
                  "WeightsError", "DataError", "DeviceError"])


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'capsexplorer' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
