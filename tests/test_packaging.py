import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def core_modules() -> list[str]:
    """Every module of the package outside the window (capsexplorer.app), subpackages included (capsexplorer.cli),
    found on disk, not listed by hand."""
    package = ROOT / "capsexplorer"
    names = []
    for p in package.rglob("*.py"):
        parts = p.relative_to(ROOT).with_suffix("").parts
        if parts[1] == "app" or parts[-1] == "__main__" or parts == ("capsexplorer", "__init__"):
            continue
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    assert len(names) >= 20 and "capsexplorer.analysis.robustness" in names and "capsexplorer.cli.parser" in names
    return sorted(names)


def test_core_imports_no_qt():
    """The engine — every module outside capsexplorer.app — never imports Qt."""
    code = (
        "import importlib, sys, importlib.abc\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path, target=None):\n"
        "        if name.split('.')[0] in ('PySide6', 'pyqtgraph', 'superqt', 'PyQt5', 'PyQt6'):\n"
        "            raise ImportError('Qt is blocked: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import capsexplorer\n"
        f"for name in {core_modules()!r}:\n"
        "    importlib.import_module(name)\n"
        "m = capsexplorer.load_model(device='cpu')\n"
        "from capsexplorer import preprocess, load_image, CapsNetConfig, RoutingTrace\n"
        "assert callable(preprocess) and callable(capsexplorer.preprocess), 'a submodule shadows the function'\n"
        "print('ok')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


HEAVY = ("mlxtend", "pandas", "scikit-learn", "matplotlib", "scipy")


@pytest.mark.slow
def test_built_wheel_carries_weights_and_digits_and_no_heavy_dependencies(tmp_path):
    """Built the way pip builds it for a user (an isolated build environment: nothing from this
    venv, setuptools included, is relied on), installed from the wheel alone."""
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(tmp_path), str(ROOT)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    wheel = next(tmp_path.glob("capsexplorer-*.whl"))
    archive = zipfile.ZipFile(wheel)
    names = archive.namelist()
    for shipped in ("capsnet-mnist.safetensors", "cnn-mnist.safetensors", "capsnet-mnist5k.safetensors",
                    "mnist5k.npz", "mnist-test.npz"):
        assert f"capsexplorer/resources/{shipped}" in names
    assert "capsexplorer/app/__init__.py" in names
    metadata = archive.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    from capsexplorer import __version__

    assert f"Version: {__version__}" in metadata and "License" in metadata
    requires = [line.split(":", 1)[1].strip().lower() for line in metadata.splitlines()
                if line.startswith("Requires-Dist:") and "extra ==" not in line]
    assert requires and not [r for r in requires if r.split(">")[0].split("<")[0].split("=")[0].strip() in HEAVY]
    assert any(n.endswith("LICENSE") for n in names)
    # Installed from the wheel (not the source tree), the package finds its weights.
    target = tmp_path / "site"
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--target",
                           str(target), str(wheel)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    code = ("import capsexplorer, capsexplorer.net.weights as w, capsexplorer.data.datasets as d; "
            "m = capsexplorer.load_model(device='cpu'); assert len(d.mnist5k().heldout) == 1000; "
            "print(capsexplorer.__file__); print(w.shipped_weights_path())")
    env = dict(os.environ, PYTHONPATH=str(target))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    module_file, weights = proc.stdout.split()
    assert module_file.startswith(str(target)) and weights.startswith(str(target))


def test_the_import_contracts_cover_every_module():
    """Issue 23: every module of capsexplorer sits in a layer of the contract or in what the layers share, so a new
    module cannot escape the contracts; the core is kept from Qt."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    from pathlib import Path

    root = Path(__file__).parent.parent
    contracts = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    layers = next(c for c in contracts if c["type"] == "layers")["layers"]
    layered = {name.strip() for layer in layers for name in layer.split("|")}
    shared = set(next(c for c in contracts if c["name"].startswith("What every layer shares"))["source_modules"])
    package = root / "capsexplorer"
    top = {f"capsexplorer.{p.stem}" for p in package.glob("*.py") if p.stem not in ("__init__", "__main__")}
    top |= {f"capsexplorer.{p.name}" for p in package.iterdir() if (p / "__init__.py").exists()}
    assert top == layered | shared
    core = next(c for c in contracts if c["name"].startswith("The core"))
    assert set(core["source_modules"]) == top - {"capsexplorer.app", "capsexplorer.cli"}
    assert {"PySide6", "pyqtgraph", "capsexplorer.app", "capsexplorer.cli"} <= set(core["forbidden_modules"])


def test_every_import_the_readme_shows_works():
    """Issue 23: the folders moved; every `from capsexplorer… import …` the README shows still imports."""
    import re
    from pathlib import Path

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    lines = [m.group(1) for m in re.finditer(r"^\s*((?:from capsexplorer[\w.]* import [\w, ]+|import capsexplorer[\w.]*))",
                                             readme, re.M)]
    assert len(lines) >= 6
    code = "\n".join(line.strip().rstrip(",") for line in lines) + "\nprint('ok')\n"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]
