"""The window's file dialogs and exports: open an image or weights, save PNGs and GIFs. Remembers the
last folder; a failure is one line on the error banner, a success a note in the status bar."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QFileDialog, QWidget

from capsexplorer.app.export import save_png, save_routing_gif
from capsexplorer.app.panels.samples import IMAGE_FILTER
from capsexplorer.errors import CapsExplorerError


class FileActions(QObject):
    def __init__(self, window):
        super().__init__(window)
        self.window = window

    # --- folders ------------------------------------------------------------------------------
    def last_dir(self) -> str:
        settings = self.window.settings
        return str(settings.value("last_dir", "")) if settings else ""

    def remember_dir(self, path: str) -> None:
        if self.window.settings:
            self.window.settings.setValue("last_dir", str(Path(path).parent))

    def save_path(self, title: str, name: str, filter_: str) -> str:
        start = str(Path(self.last_dir()) / name) if self.last_dir() else name
        path, _ = QFileDialog.getSaveFileName(self.window, title, start, filter_)
        if path:
            self.remember_dir(path)
        return path

    # --- opening ------------------------------------------------------------------------------
    def open_image_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.window, "Open an image", self.last_dir(), IMAGE_FILTER)
        if path:
            self.remember_dir(path)
            self.window.open_image(path)

    def open_weights_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.window, "Open CapsNet weights", self.last_dir(),
                                              "Weights (*.safetensors *.pt *.pth);;All files (*)")
        if path:
            self.remember_dir(path)
            self.window.controller.load(path)

    # --- exports ------------------------------------------------------------------------------
    def export_png(self, widget: QWidget) -> None:
        path = self.save_path("Export PNG", "capsexplorer.png", "PNG image (*.png)")
        if path:
            self._export(lambda: save_png(widget, path))

    def export_gif(self) -> None:
        path = self.save_path("Export routing animation", "routing.gif", "GIF (*.gif)")
        if path:
            self._export(lambda: save_routing_gif(self.window, path))

    def export_sweep(self, kind: str) -> None:
        from capsexplorer.analysis import render

        result = self.window.state.sweep
        if result is None:
            return
        sweep = result.value
        filter_ = "PNG image (*.png)" if kind == "png" else "GIF (*.gif)"
        path = self.save_path("Export the sweep", f"sweep-{sweep.transform}.{kind}", filter_)
        if path:
            path = str(Path(path).with_suffix("." + kind))
            self._export(lambda: render.save_png(render.sweep_strip(sweep), path) if kind == "png"
                         else render.save_gif(render.sweep_frames(sweep), path))

    def export_grid(self) -> None:
        from capsexplorer.analysis import render

        result = self.window.state.grid
        if result is None:
            return
        grid = result.value
        path = self.save_path("Export Figure 4", f"figure4-digit{grid.digit}.png", "PNG image (*.png)")
        if path:
            self._export(lambda: render.save_png(render.grid_image(grid), str(Path(path).with_suffix(".png"))))

    def _export(self, save) -> None:
        try:
            saved = save()
        except CapsExplorerError as exc:
            self.window.show_error(str(exc))
            return
        self.window.banner.hide()
        self.window.statusBar().showMessage(f"Saved {saved}", 5000)
