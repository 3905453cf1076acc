"""Training checkpoints: written atomically, read with weights_only=True, and refused in one line when
damaged or made with other settings."""
from __future__ import annotations

import io
from pathlib import Path

import torch

from capsexplorer.errors import CapsExplorerError
from capsexplorer.files import atomic_write, regular_file

REQUIRED = {"model", "optimizer", "scheduler", "epoch", "step"}


def save_checkpoint(path: Path, state: dict) -> None:
    """`state` (tensors, numbers, dicts) → `path`, which holds the old checkpoint or the whole new one."""
    buffer = io.BytesIO()  # torch.save reports a full disk as "unexpected pos …": the write is ours
    torch.save(state, buffer)
    with atomic_write(path) as f:
        f.write(buffer.getbuffer())


def load_checkpoint(path: Path, identity: dict, defaults: dict, free=("epochs",)) -> dict:
    """The checkpoint at `path`, if its "identity" (the settings it was made with) equals `identity`;
    a setting the checkpoint does not record counts only when it is away from its default, and the `free`
    ones not at all (the number of epochs: a run lengthened or shortened follows the same path)."""
    if regular_file(path, CapsExplorerError, "checkpoint").st_size == 0:
        raise CapsExplorerError(f"{path}: the checkpoint is empty; delete it or pass --fresh")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        detail = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise CapsExplorerError(f"{path}: unreadable checkpoint ({detail}); delete it or pass --fresh") from None
    if not isinstance(state, dict) or not REQUIRED <= set(state):
        raise CapsExplorerError(f"{path}: not a capsexplorer training checkpoint; delete it or pass --fresh")
    saved, current = state.get("identity"), {k: v for k, v in identity.items() if k not in free}
    if isinstance(saved, dict):
        # settings added since the checkpoint was written count when they are not at their default
        saved = {k: v for k, v in saved.items() if k not in free}
        current = {k: v for k, v in current.items() if k in saved or v != defaults.get(k)}
    if saved != current:
        differ = ", ".join(f"{k} {saved.get(k)!r} (now {v!r})" for k, v in current.items()
                           if saved.get(k) != v) if isinstance(saved, dict) else "unknown settings"
        raise CapsExplorerError(f"{path}: the checkpoint was made with other settings — {differ}; "
                                "use the same settings, or start over (--fresh)")
    return state
