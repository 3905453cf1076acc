"""capsexplorer: a Capsule Network (Sabour, Frosst & Hinton 2017) you can see and touch.

    from capsexplorer import load_model, preprocess
    model = load_model()
    tr = model.trace(preprocess(image).unsqueeze(0), iterations=3)

The names below load on first use, so `capsexplorer --help` does not pay for importing torch.
"""
from __future__ import annotations

import importlib

__version__ = "0.2.0"

_EXPORTS = {
    "CapsNet": "model", "CapsNetConfig": "config", "default_device": "model",
    "RoutingTrace": "trace", "load_model": "weights", "save_weights": "weights",
    "preprocess": "preprocess", "load_image": "preprocess",
    "CapsExplorerError": "errors", "NoInkError": "errors", "ImageError": "errors",
    "WeightsError": "errors", "DataError": "errors", "DeviceError": "errors",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'capsexplorer' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
