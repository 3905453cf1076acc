"""Every tab of the window photographed at several sizes, light and dark, with each shipped model — one
window per model, so the series takes about a minute, not a process per picture:

    python -m capsexplorer.app.screenshots OUTDIR [--sizes 1024x700 1280x800 1920x1080]
                                                   [--themes light dark] [--models mnist fashion-mnist]
    python -m capsexplorer.app.screenshots --readme   # the README's pictures, into resources/screenshots

Each picture waits for its tab's jobs, follow-ups included (the CNN's curve of a sweep), as `snapshot` does."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from types import SimpleNamespace

from capsexplorer.app.session.tabs import KEYS as TABS  # the registry: every tab, the pose last

README_SIZE = (1500, 920)
# The settings the README's pictures and the series show: one capsule to inspect, a probe, a sweep.
LAB_SETTINGS = dict(view=None, primary=446, probe=["rotate=30"], sweep="rotate:-180:180")
# What `--readme` writes: resources/screenshots/NAME.png for each, and resources/snapshot.png (the routing tab).
README_PICTURES = tuple(t for t in TABS if t not in ("pair", "pose")) + ("pair", "fashion", "training")


def _size(text: str) -> tuple[int, int]:
    width, _, height = text.partition("x")
    return int(width), int(height)


def photograph(model: str, out: Path, sizes, themes, tabs=TABS, name=None) -> list[Path]:
    """One window with `model`; every (theme, size, tab) written as OUT/[name or model]-THEME-WxH-TAB.png."""
    from capsexplorer.app.export import save_png
    from capsexplorer.app.main import _show_lab, wait_for
    from capsexplorer.app.window import MainWindow

    window = MainWindow(weights=model, persist=False, sample_seed=0)
    written = []
    try:
        window.resize(*README_SIZE)
        window.show()
        if not wait_for(window.controller.traceShown, 60_000, abort=(window.errorShown,))[0]:
            raise RuntimeError(f"{model}: no trace within 60 s")
        _show_lab(window, SimpleNamespace(tab="routing", **LAB_SETTINGS), [])
        for theme_name in themes:
            window.set_theme(theme_name)
            for width, height in sizes:
                window.resize(width, height)
                wait_for(None, 300)
                for tab in tabs:
                    _show_lab(window, SimpleNamespace(tab=tab), [])
                    wait_for(None, 300)
                    path = out / f"{name or model}-{theme_name}-{width}x{height}-{tab}.png"
                    written.append(save_png(window, path))
                    print(path, flush=True)
    finally:
        window.close()
    return written


TRAINING_RUN = dict(epochs=4, batch=32, limit=640)  # the README's picture of a short run in the Training window


def training_picture(path: Path, folder: Path) -> Path:
    """The Training window after a real short run: the first 640 bundled training digits, 4 epochs of
    batch 32 (about half a minute on 2 cores), saved under `folder`."""
    from capsexplorer.app.export import save_png
    from capsexplorer.app.main import wait_for
    from capsexplorer.app.panels.training_panel import TrainingDialog

    dialog = TrainingDialog()
    panel = dialog.panel
    try:
        panel.out.setText(str(folder / "short-run.safetensors"))
        panel.epochs.setValue(TRAINING_RUN["epochs"])
        panel.batch.setValue(TRAINING_RUN["batch"])
        panel.extra_arguments = ["--limit", str(TRAINING_RUN["limit"]), "--device", "cpu"]
        dialog.show()
        panel.start_button.click()
        if not wait_for(panel.process.finished, 600_000, abort=(panel.process.failed,))[0]:
            raise RuntimeError(f"the short training run did not finish: {panel.status.text()}")
        wait_for(None, 300)
        return save_png(dialog, path)
    finally:
        dialog.close()


def readme_pictures(folder: Path) -> None:
    """resources/screenshots/TAB.png (the digits model, light, 1500×920), fashion.png, pair.png (the two-digit
    model's Pairs tab) and training.png."""
    import shutil
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        training_picture(folder / "training.png", Path(tmp))
        for path in photograph("mnist", Path(tmp), [README_SIZE], ["light"], TABS[:-1], name="x"):
            if path.stem.endswith("-pair"):
                continue  # the Pairs tab is pictured with the two-digit model, below
            shutil.copyfile(path, folder / (path.stem.rsplit("-", 1)[1] + ".png"))
        shutil.copyfile(folder / "routing.png", folder.parent / "snapshot.png")  # the README's first picture
        for path in photograph("fashion-mnist", Path(tmp), [README_SIZE], ["light"], ("routing",), name="f"):
            shutil.copyfile(path, folder / "fashion.png")
        for path in photograph("multimnist", Path(tmp), [README_SIZE], ["light"], ("pair",), name="p"):
            shutil.copyfile(path, folder / "pair.png")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m capsexplorer.app.screenshots", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", nargs="?", type=Path, default=Path("screenshots"))
    parser.add_argument("--sizes", nargs="+", type=_size, default=[(1024, 700), (1280, 800), (1920, 1080)])
    parser.add_argument("--themes", nargs="+", choices=("light", "dark", "system"), default=["light", "dark"])
    parser.add_argument("--models", nargs="+", default=["mnist", "fashion-mnist"])
    parser.add_argument("--tabs", nargs="+", choices=TABS, default=list(TABS))
    parser.add_argument("--readme", action="store_true", help="the README's pictures, into resources/screenshots")
    args = parser.parse_args(argv)
    from capsexplorer.app.main import _application, configure_process

    _application(headless=True)
    configure_process()
    if args.readme:
        readme_pictures(Path(__file__).resolve().parents[2] / "resources" / "screenshots")
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    for model in args.models:
        photograph(model, args.out, args.sizes, args.themes, args.tabs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
