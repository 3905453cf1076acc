"""Every tab of the window photographed at several sizes, light and dark, with each shipped model — one
window per model, so the series takes about a minute, not a process per picture:

    python -m capsexplorer.app.screenshots OUTDIR [--sizes 1024x700 1280x800 1920x1080]
                                                   [--themes light dark] [--models mnist5k fashion-mnist]
    python -m capsexplorer.app.screenshots --readme   # the README's pictures, into resources/screenshots

Each picture waits for its tab's jobs, follow-ups included (the CNN's curve of a sweep), as `snapshot` does."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from types import SimpleNamespace

TABS = ("routing", "primary", "probe", "sweep", "figure4", "heldout", "robustness", "pose")
README_SIZE = (1500, 920)
# The settings the README's pictures and the series show: one capsule to inspect, a probe, a sweep.
LAB_SETTINGS = dict(view=None, primary=446, probe=["rotate=30"], sweep="rotate:-180:180")


def _size(text: str) -> tuple[int, int]:
    width, _, height = text.partition("x")
    return int(width), int(height)


def photograph(model: str, out: Path, sizes, themes, tabs=TABS, name=None) -> list[Path]:
    """One window with `model`; every (theme, size, tab) written as OUT/[name or model]-THEME-WxH-TAB.png."""
    from .export import save_png
    from .main import _show_lab, wait_for
    from .window import MainWindow

    window = MainWindow(weights=model, persist=False, sample_seed=0)
    written = []
    try:
        window.resize(*README_SIZE)
        window.show()
        if not wait_for(window.traceShown, 60_000, abort=(window.errorShown,))[0]:
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


def readme_pictures(folder: Path) -> None:
    """resources/screenshots/TAB.png (the digits model, light, 1500×920) and fashion.png."""
    import shutil
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        for path in photograph("mnist5k", Path(tmp), [README_SIZE], ["light"], TABS[:-1], name="x"):
            shutil.copyfile(path, folder / (path.stem.rsplit("-", 1)[1] + ".png"))
        for path in photograph("fashion-mnist", Path(tmp), [README_SIZE], ["light"], ("routing",), name="f"):
            shutil.copyfile(path, folder / "fashion.png")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m capsexplorer.app.screenshots", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", nargs="?", type=Path, default=Path("screenshots"))
    parser.add_argument("--sizes", nargs="+", type=_size, default=[(1024, 700), (1280, 800), (1920, 1080)])
    parser.add_argument("--themes", nargs="+", choices=("light", "dark", "system"), default=["light", "dark"])
    parser.add_argument("--models", nargs="+", default=["mnist5k", "fashion-mnist"])
    parser.add_argument("--tabs", nargs="+", choices=TABS, default=list(TABS))
    parser.add_argument("--readme", action="store_true", help="the README's pictures, into resources/screenshots")
    args = parser.parse_args(argv)
    from .main import _application, configure_process

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
