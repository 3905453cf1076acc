"""What the commands share: the one-line failure, loading the weights, checking outputs and results."""
from __future__ import annotations

import logging
import math
import os
import sys
from pathlib import Path

from capsexplorer.errors import CapsExplorerError

log = logging.getLogger("capsexplorer")


def _fail(message: str) -> int:
    """One line on standard error as 'capsexplorer: …', and in the log file (logging is set up first)."""
    log.error("%s", message)
    return 1


def _check_finite(model, what: str, lengths, reconstruction=None) -> None:
    """Weights whose numbers overflow give NaN or infinity: one line naming the weights file, never
    a bare NaN in the output or an "internal error" from the JSON encoder."""
    import numpy as np

    for part, values in (("the capsule lengths for", lengths), ("the decoder's reconstruction of", reconstruction)):
        if values is not None and not np.isfinite(values).all():
            raise CapsExplorerError(f"{model.metadata.get('path', 'the weights')}: {part} {what} "
                                    "is not finite (NaN or infinity): the weights are unusable")


def _same_classes(model, classes: int, data: str, hint: str = "choose another --dataset") -> None:
    """One line, not an IndexError, where a model's class capsules cannot score a data set's labels."""
    if model.config.n_classes != classes:
        raise CapsExplorerError(f"{model.metadata.get('path')}: the weights have {model.config.n_classes} classes, "
                                f"{data} has {classes}; {hint}")


def _defined(value: float, digits: int) -> float | None:
    """A number for JSON: rounded, or None where it is undefined (NaN)."""
    return round(float(value), digits) if math.isfinite(value) else None


def _load(args):
    from capsexplorer.net.weights import load_model

    if args.weights is not None and not str(args.weights).strip():
        raise CapsExplorerError("--weights is empty: give a weights file")
    return load_model(args.weights, device=args.device)


def _style(model) -> str:
    from capsexplorer.data.preprocess import style_for

    return style_for(model.metadata.get("dataset"))


def _silence_stdout() -> None:
    """Standard output's reader has gone: what is still buffered, and whatever follows, goes nowhere
    (Python's own flush at exit would otherwise complain on stderr)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _targets(args, suffixes: dict[str, str]) -> None:
    """Every output file is checked before the model loads; a missing suffix is an error."""
    from capsexplorer.files import writable_target

    for option, suffix in suffixes.items():
        path = getattr(args, option)
        if path is None:
            continue
        if Path(path).suffix.lower() != suffix:
            raise CapsExplorerError(f"{path}: --{option} is written as {suffix[1:].upper()}; name it *{suffix}")
        writable_target(path)


def model_input(path, model):
    """An image file as the model's input, float32 (H, W) in [0, 1]: a picture already of the model's own size
    other than 28×28 (a 36×36 MultiMNIST pair) as it is — greyscale, light ink on dark — else prepared as a
    drawing is (28×28)."""
    import numpy as np

    from capsexplorer.data.preprocess import load_image, preprocess_array, to_grayscale

    image = load_image(path)
    size = model.config.image_size
    if size != 28 and getattr(image, "size", None) == (size, size):
        gray = to_grayscale(image)  # (size, size) in [0, 1]
        border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
        return np.ascontiguousarray(1.0 - gray if border.mean() > 0.5 else gray, dtype=np.float32)
    return preprocess_array(image, _style(model))


def _network_input(args, model):
    try:
        return model_input(args.image, model)
    except CapsExplorerError as exc:
        message = str(exc)
        raise CapsExplorerError(message if message.startswith(str(args.image))
                                else f"{args.image}: {message}") from None


def _save_npz(path: str, arrays: dict) -> None:
    import numpy as np

    from capsexplorer.files import atomic_write

    with atomic_write(path) as f:
        np.savez_compressed(f, **arrays)
