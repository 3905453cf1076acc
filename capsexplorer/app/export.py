"""Exports: any widget as PNG, the routing iterations as an animated GIF — written beside the target and
renamed into place (capsexplorer.analysis.render), so an existing file is never left truncated."""
from __future__ import annotations

import io
from pathlib import Path

from PIL import Image
from PySide6.QtCore import QBuffer, QIODevice
from PySide6.QtWidgets import QApplication, QWidget

from capsexplorer.analysis import render
from capsexplorer.errors import CapsExplorerError


def widget_image(widget: QWidget) -> Image.Image:
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    widget.grab().save(buffer, "PNG")
    return Image.open(io.BytesIO(bytes(buffer.data()))).convert("RGB")


def save_png(widget: QWidget, path: str | Path) -> Path:
    path = Path(path)
    if path.suffix.lower() != ".png":
        path = path.with_suffix(".png")
    return render.save_png(widget_image(widget), path)


def save_routing_gif(window, path: str | Path, frame_ms: int = 800) -> Path:
    """The routing panel at each routing iteration of the window's trace, one frame each, looping."""
    state = window.state
    if state.trace is None:
        raise CapsExplorerError("nothing to export: draw or load a digit first")
    path = Path(path)
    if path.suffix.lower() != ".gif":
        path = path.with_suffix(".gif")
    shown = state.iteration
    frames = []
    try:
        for r in range(state.trace.iterations):
            state.set_iteration(r)
            QApplication.processEvents()
            frames.append(widget_image(window.routing))
    finally:
        state.set_iteration(shown)
    return render.save_gif(frames, path, frame_ms)
