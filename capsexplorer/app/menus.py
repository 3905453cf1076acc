"""The window's menus: File (images, samples, weights, the shipped models, training, exports), Edit, View (the
theme) and Help. Each item calls the window, its file actions or its controller; the menus hold no state."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence

from capsexplorer.net.config import PAIR_ROUTERS
from capsexplorer.net.config import ROUTER_TITLES as TITLES
from capsexplorer.app.widgets import theme

SHIPPED = (  # (weights name, menu text, shortcut, tip)
    ("mnist", "&Digits — MNIST, 20 epochs (the default)", "Ctrl+1",
     "The CapsNet trained on MNIST's 60,000 training digits for 20 epochs"),
    ("fashion-mnist", "&Clothing — Fashion-MNIST", "Ctrl+2",
     "The CapsNet trained on the 60,000 Fashion-MNIST training images"),
    ("multimnist", "&Two digits — MultiMNIST", "Ctrl+3",
     "The CapsNet trained on pairs of overlapping digits (36×36): the Pairs tab"),
    ("mnist5k", "Digits — 4,000 of MNIST (&small)", "Ctrl+4",
     "The earlier CapsNet, trained on 4,000 MNIST digits: how much data matters"),
)  # in the order of their shortcuts
ROUTER_MODELS = tuple(  # every router trained alike: 3 epochs of MNIST (two digits: 12,000 pairs more)
    [(f"mnist-{r}", f"Digits, 3 epochs — {text}", None, f"The CapsNet with the {r} router, trained like the others: the "
      "Routers tab compares them") for r, text in TITLES.items()]
    + [(f"multimnist-{r}", f"Two digits, short fine-tune — {TITLES[r]}", None, f"The two-digit CapsNet with the {r} router, "
        "trained like the others") for r in PAIR_ROUTERS])


def action(window, menu, text: str, slot, shortcut=None, tip: str | None = None) -> QAction:
    item = QAction(text, window)
    if shortcut is not None:
        item.setShortcut(QKeySequence(shortcut))
    if tip:
        item.setStatusTip(tip)
    item.triggered.connect(slot)
    menu.addAction(item)
    return item


def build_menus(window) -> tuple[dict[str, QAction], dict[str, QAction]]:
    """The menu bar of `window` → (the shipped models' actions, the themes' actions), by name."""
    bar, files, controller = window.menuBar(), window.files, window.controller
    file = bar.addMenu("&File")
    action(window, file, "&Open image…", files.open_image_dialog, QKeySequence.StandardKey.Open)
    action(window, file, "Held-out &sample", lambda: window.samples.load_random(), "Ctrl+R")
    action(window, file, "Open &weights…", files.open_weights_dialog)
    shipped_menu = file.addMenu("Shipped &models")
    shipped = {name: action(window, shipped_menu, text, lambda _=False, n=name: controller.load(n), key, tip)
               for name, text, key, tip in SHIPPED}
    shipped_menu.addSection("Routers trained alike")
    shipped.update({name: action(window, shipped_menu, text, lambda _=False, n=name: controller.load(n), key, tip)
                    for name, text, key, tip in ROUTER_MODELS})
    for item in shipped.values():
        item.setCheckable(True)
    action(window, file, "&Train a model…", window.show_training, "Ctrl+T",
           "Train a CapsNet in a separate process and watch it learn")
    file.addSeparator()
    action(window, file, "&Export window as PNG…", lambda: files.export_png(window), "Ctrl+E")
    panels = file.addMenu("Export &panel as PNG")
    for name, widget in (("Drawing", window.draw), ("Routing", window.routing), ("Lengths", window.lengths),
                         ("Pose", window.pose)):
        action(window, panels, name, lambda _=False, w=widget: files.export_png(w))
    action(window, file, "Export routing &animation (GIF)…", files.export_gif)
    file.addSeparator()
    action(window, file, "&Quit", window.close, QKeySequence.StandardKey.Quit)
    edit = bar.addMenu("&Edit")
    action(window, edit, "&Undo", window.draw.canvas.undo, QKeySequence.StandardKey.Undo)
    action(window, edit, "&Clear canvas", window.draw.canvas.clear, Qt.Key.Key_Escape)
    themes_menu = bar.addMenu("&View").addMenu("&Theme")
    group = QActionGroup(window)
    themes = {}
    for name, text in theme.THEMES.items():
        item = action(window, themes_menu, text, lambda _=False, n=name: window.set_theme(n),
                      tip="Light, dark, or the look the system gives programs; the plots follow")
        item.setCheckable(True)
        group.addAction(item)
        themes[name] = item
    themes["system"].setChecked(True)
    help_menu = bar.addMenu("&Help")
    action(window, help_menu, "&Keyboard shortcuts", window.show_shortcuts, QKeySequence.StandardKey.HelpContents)
    action(window, help_menu, "&About capsexplorer", window.show_about)
    return shipped, themes


def check_shipped(actions: dict[str, QAction], path: str) -> None:
    """The shipped model in use is checked; other weights: none."""
    from capsexplorer.net.weights import SHIPPED_MODELS, shipped_weights_path

    for name, item in actions.items():
        try:
            item.setChecked(Path(path).resolve() == shipped_weights_path(SHIPPED_MODELS[name]).resolve())
        except (OSError, ValueError):
            item.setChecked(False)
