"""Faults a user meets outside the happy path: a full disk, non-finite numbers, a reader that leaves.
Each test failed before the fix it comes with."""
import errno
import os

import numpy as np
import pytest
from drawing import as_drawn
from PIL import Image

from capsexplorer import files
from capsexplorer.cli import main
from capsexplorer.errors import CapsExplorerError

NO_SPACE = os.strerror(errno.ENOSPC)


@pytest.fixture(autouse=True)
def _few_training_images(monkeypatch):
    """`grid` first computes the pose statistics of weights it has not met (about 40 s over the 4,000 training
    digits on a CPU); here from 5 digits a class."""
    from capsexplorer.analysis import pose_stats

    monkeypatch.setattr(pose_stats, "PER_CLASS", 5)


class _FullDisk:
    """A file that takes `room` bytes and then fails as a full disk does."""

    def __init__(self, f, room):
        self.f, self.room = f, room

    def write(self, data):
        data = memoryview(data).cast("B")
        if len(data) > self.room:
            self.f.write(data[:self.room])
            self.room = 0
            raise OSError(errno.ENOSPC, NO_SPACE)
        self.room -= len(data)
        return self.f.write(data)

    def __getattr__(self, name):
        return getattr(self.f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()


@pytest.fixture
def full_disk(monkeypatch):
    """Every file capsexplorer writes takes 100 bytes, then the disk is full."""
    real_open = open
    monkeypatch.setattr(files, "open", lambda *a, **k: _FullDisk(real_open(*a, **k), 100), raising=False)


def _left_intact(folder, path, old):
    assert path.read_bytes() == old
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in folder.iterdir()
                                                              if not p.name.endswith(".tmp"))


@pytest.fixture
def three(tmp_path, heldout):
    path = tmp_path / "three.png"
    Image.fromarray(as_drawn(heldout.images[np.flatnonzero(heldout.labels == 3)[0]])).save(path)
    return path


@pytest.mark.parametrize("option, name", [("--out", "old.png"), ("--gif", "old.gif"), ("--npz", "old.npz")])
def test_a_full_disk_keeps_the_old_sweep_output(capsys, tmp_path, three, full_disk, option, name):
    old_file = tmp_path / name
    old = os.urandom(5000)
    old_file.write_bytes(old)
    code = main(["sweep", str(three), "--transform", "rotate", "--from", "-10", "--to", "10", "--steps", "3",
                 option, str(old_file), "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 1 and err == f"capsexplorer: cannot write {old_file} ({NO_SPACE})\n"
    assert old_file.read_bytes() == old
    assert not list(tmp_path.glob("*.tmp"))


@pytest.mark.parametrize("json_out", [True, False])
def test_a_full_disk_still_prints_the_robustness_measured(capsys, tmp_path, monkeypatch, full_disk, json_out):
    """Issue 22 §12: `robustness --json --out` on a full disk measured for minutes, then printed nothing."""
    import json

    from capsexplorer.analysis import robustness
    from capsexplorer.net.weights import resource_path

    shipped = next(resource_path("").glob("robustness-*.json"))  # a real measurement: every transform
    measured = json.loads(shipped.read_text())
    monkeypatch.setattr(robustness, "measure", lambda *a, **k: dict(measured))
    old_file = tmp_path / "old.png"
    old_file.write_bytes(b"old picture")
    argv = ["robustness", "--out", str(old_file), "--device", "cpu"] + (["--json"] if json_out else [])
    assert main(argv) == 1
    out, err = capsys.readouterr()
    if json_out:
        assert json.loads(out) == measured
    else:
        mix = measured["affine-mix"]
        assert "capsnet:" in out and f"affine mix: capsnet {mix['capsnet']:.3f}, cnn {mix['cnn']:.3f}" in out
    assert err.count("\n") == 1 and NO_SPACE in err, err
    assert old_file.read_bytes() == b"old picture"


def test_a_full_disk_keeps_the_old_grid_and_trace(capsys, tmp_path, three, full_disk):
    for argv, path in ((["grid", str(three), "--out"], tmp_path / "g.png"),
                       (["trace", str(three), "--out"], tmp_path / "t.npz")):
        path.write_bytes(b"old")
        assert main(argv + [str(path), "--device", "cpu"]) == 1
        assert capsys.readouterr().err == f"capsexplorer: cannot write {path} ({NO_SPACE})\n"
        assert path.read_bytes() == b"old"
    assert not list(tmp_path.glob("*.tmp"))


def test_a_full_disk_keeps_old_weights_and_checkpoints(tmp_path, model, full_disk):
    import torch

    from capsexplorer.net.weights import save_weights
    from capsexplorer.training.train import TrainConfig, _save_checkpoint

    weights, ckpt = tmp_path / "w.safetensors", tmp_path / "w.safetensors.ckpt"
    for path in (weights, ckpt):
        path.write_bytes(b"old")
    with pytest.raises(CapsExplorerError, match=f"^cannot write {weights} \\({NO_SPACE}\\)$"):
        save_weights(model, weights)
    optimizer = torch.optim.Adam(model.parameters())
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, 0.9)
    with pytest.raises(CapsExplorerError, match=f"^cannot write {ckpt} \\({NO_SPACE}\\)$"):
        _save_checkpoint(ckpt, model, optimizer, scheduler, TrainConfig(out=str(weights)), 0, 1, {}, 0.0)
    assert weights.read_bytes() == ckpt.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([weights.name, ckpt.name])


def test_an_interrupted_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "w.bin"
    target.write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt):
        with files.atomic_write(target) as f:
            f.write(b"half of the new")
            raise KeyboardInterrupt
    assert target.read_bytes() == b"old" and list(tmp_path.iterdir()) == [target]
    with files.atomic_write(target) as f:
        f.write(b"new")
    assert target.read_bytes() == b"new" and list(tmp_path.iterdir()) == [target]


def _weights(folder, name, change):
    """The shipped model's tensors, changed by `change(name, tensor)`, saved as float32 safetensors."""
    from safetensors.torch import save_file

    from capsexplorer.net.weights import read_state, shipped_weights_path

    tensors, meta = read_state(shipped_weights_path())
    path = folder / name
    save_file({k: change(k, v.float()).contiguous() for k, v in tensors.items()}, str(path), metadata=meta)
    return path


@pytest.fixture(scope="module")
def overflowing(tmp_path_factory):
    """Weights whose decoder overflows: every reconstruction is NaN, the lengths are fine."""
    return _weights(tmp_path_factory.mktemp("w"), "overflow.safetensors",
                    lambda k, v: v * 1e30 if k.startswith("decoder") else v)


@pytest.fixture(scope="module")
def zero(tmp_path_factory):
    return _weights(tmp_path_factory.mktemp("w"), "zero.safetensors", lambda k, v: v * 0)


@pytest.mark.parametrize("argv", [
    ["evaluate", "--json", "--limit", "100"], ["grid", "IMAGE", "--json"], ["grid", "IMAGE"],
    ["trace", "IMAGE", "--out", "OUT"],
    ["sweep", "IMAGE", "--transform", "rotate", "--from", "0", "--to", "10", "--steps", "2", "--json"],
])
def test_a_decoder_that_overflows_is_one_line_naming_the_weights(capsys, tmp_path, three, overflowing, argv):
    out = tmp_path / "t.npz"
    argv = [str(three) if a == "IMAGE" else str(out) if a == "OUT" else a for a in argv]
    code = main(argv + ["--weights", str(overflowing), "--device", "cpu"])
    stdout, err = capsys.readouterr()
    assert code == 1 and stdout == "" and not out.exists()
    # one error line; before it, only progress lines of work that took over 2 s (the grid's pose statistics
    # under load — issue 23: this test expected an empty stderr and failed on a loaded machine)
    *progress, last = err.splitlines()
    assert last.startswith(f"capsexplorer: {overflowing}: ") and "not finite" in last and err.endswith("\n")
    assert all(line.startswith("capsexplorer: pose statistics") and " batches" in line for line in progress)


def test_a_zero_pose_has_an_undefined_angle_and_no_warnings(capsys, three, zero):
    import warnings

    argv = ["sweep", str(three), "--transform", "rotate", "--from", "0", "--to", "10", "--steps", "2",
            "--weights", str(zero), "--device", "cpu"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a numpy RuntimeWarning fails the test
        assert main(argv) == 0
        out, err = capsys.readouterr()
        assert err == "" and "nan" not in out and "undefined" in out
        assert main(argv + ["--json"]) == 0
    import json

    row = json.loads(capsys.readouterr().out)
    assert row["pose_angle_deg"] == [None, None] and row["relative_length_change"] == [None, None]


def test_training_that_diverges_stops_and_keeps_the_last_good_checkpoint(capsys, tmp_path, overflowing):
    out, ckpt = tmp_path / "w.safetensors", tmp_path / "old.ckpt"
    ckpt.write_bytes(b"the last good checkpoint")
    code = main(["train", "--init", str(overflowing), "--limit", "16", "--epochs", "1", "--batch-size", "8",
                 "--out", str(out), "--checkpoint", str(ckpt), "--fresh", "--device", "cpu", "--progress", "json"])
    stdout, err = capsys.readouterr()
    assert code == 1 and err.count("\n") == 1
    assert "loss is not finite" in err and "epoch 1, step 1" in err and "no weights written" in err
    assert not out.exists() and ckpt.read_bytes() == b"the last good checkpoint"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.ckpt"]


def test_a_decoder_fit_that_diverges_stops_without_writing(capsys, tmp_path, overflowing, heldout):
    from capsexplorer.data.datasets import Split
    from capsexplorer.net.weights import load_model
    from capsexplorer.training.decoder_fit import DecoderFit, fit_decoder

    model = load_model(overflowing, device="cpu")
    with pytest.raises(CapsExplorerError, match="decoder epoch 1, step 1: the loss is not finite"):
        fit_decoder(model, Split(heldout.images[:8], heldout.labels[:8]), DecoderFit(epochs=1, augmentations=1))


@pytest.fixture(scope="module")
def tiny():
    from capsexplorer.data.datasets import Dataset, Split, mnist5k

    full = mnist5k()
    pick = np.arange(0, len(full.train), len(full.train) // 48)[:48]
    return Dataset("mnist5k", Split(full.train.images[pick], full.train.labels[pick]),
                   Split(full.heldout.images[::50], full.heldout.labels[::50]), split="test slice")


def _train(tmp_path, data, stop_at=None, **overrides):
    """A tiny run; with `stop_at`, stopped (as Ctrl+C would) after that many steps."""
    import threading

    from capsexplorer.training.train import TrainConfig, iter_training

    values = dict(epochs=2, batch_size=16, out=str(tmp_path / "w.safetensors"), checkpoint_every=1, float16=False,
                  device="cpu")
    stop = threading.Event()
    done = 0
    for p in iter_training(TrainConfig(**dict(values, **overrides)), dataset=data, stop=stop):  # noqa: B007
        done += 1
        if done == stop_at:
            stop.set()
    return p


def test_the_cnn_resumes_bit_exactly(tmp_path, tiny):
    """Dropout draws random numbers: a resumed run must draw the ones the uninterrupted run drew."""
    from capsexplorer.net.weights import read_state

    cnn = dict(model="cnn", epochs=1, limit=32, checkpoint_every=100)
    straight = _train(tmp_path / "a", tiny, **cnn)
    assert _train(tmp_path / "b", tiny, stop_at=1, **cnn).interrupted
    resumed = _train(tmp_path / "b", tiny, **cnn)
    a, b = read_state(straight.weights)[0], read_state(resumed.weights)[0]
    assert all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in a)


def test_every_accepted_seed_trains(tmp_path, tiny):
    assert _train(tmp_path, tiny, epochs=1, limit=16, seed=2**32 - 1).finished


@pytest.fixture(scope="module", params=[{"image_size": 32}, {"n_classes": 2}, {"digit_dim": 4}],
                ids=["32px", "2-classes", "4-D"])
def other_shape(request, tmp_path_factory):
    """Random weights of a legal CapsNetConfig other than the paper's."""
    import torch

    from capsexplorer.net.config import CapsNetConfig
    from capsexplorer.net.model import CapsNet
    from capsexplorer.net.weights import save_weights

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("shape") / "w.safetensors"
    save_weights(CapsNet(CapsNetConfig(**request.param)), path, {"dataset": "mnist5k"})
    return request.param, path


@pytest.mark.parametrize("argv", [
    ["classify", "IMAGE", "--json"], ["trace", "IMAGE", "--out", "t.npz"], ["grid", "IMAGE", "--json"],
    ["sweep", "IMAGE", "--transform", "rotate", "--from", "-10", "--to", "10", "--steps", "3", "--json",
     "--out", "s.png"],
    ["grid", "IMAGE", "--out", "g.png"], ["evaluate", "--json", "--limit", "200"],
], ids=lambda argv: argv[0])
def test_every_command_works_for_every_shape_the_loader_accepts(capsys, tmp_path, three, other_shape, argv):
    import json

    shape, weights = other_shape
    argv = [str(three) if a == "IMAGE" else str(tmp_path / a) if "." in a else a for a in argv]
    code = main(argv + ["--weights", str(weights), "--device", "cpu"])
    out, err = capsys.readouterr()
    if argv[0] == "evaluate" and "n_classes" in shape:  # the data set has 10 classes: refused in one line
        assert code == 1 and err.count("\n") == 1 and "2 classes" in err and "10" in err
        return
    assert (code, err) == (0, "")
    if "--json" in argv:
        json.loads(out.splitlines()[0])


def test_a_digit_the_model_lacks_is_one_line(capsys, tmp_path, three):
    import torch

    from capsexplorer.net.config import CapsNetConfig
    from capsexplorer.net.model import CapsNet
    from capsexplorer.net.weights import save_weights

    torch.manual_seed(0)
    save_weights(CapsNet(CapsNetConfig(n_classes=2)), tmp_path / "w.safetensors")
    assert main(["grid", str(three), "--digit", "5", "--weights", str(tmp_path / "w.safetensors")]) == 1
    assert capsys.readouterr().err == "capsexplorer: --digit must be from 0 to 1 for these weights, got 5\n"


@pytest.mark.parametrize("argv", [["equivariance", "--limit", "10"], ["fit-decoder", "--epochs", "1"], ["evaluate"]])
def test_a_model_whose_classes_cannot_score_its_data_is_one_line(capsys, tmp_path, argv):
    """Issue 22 §12: a 2-class model without a data set in its metadata (digits assumed) ended equivariance and
    fit-decoder in an internal IndexError / ValueError."""
    import torch

    from capsexplorer.net.config import CapsNetConfig
    from capsexplorer.net.model import CapsNet
    from capsexplorer.net.weights import save_weights

    torch.manual_seed(0)
    weights = tmp_path / "w.safetensors"
    save_weights(CapsNet(CapsNetConfig(n_classes=2)), weights)
    out = tmp_path / "out.safetensors"
    extra = ["--out", str(out)] if argv[0] == "fit-decoder" else []
    assert main([*argv, *extra, "--weights", str(weights), "--device", "cpu"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "internal error" not in err and "the weights have 2 classes" in err, err
    assert not out.exists()


def test_with_standard_error_closed_errors_never_mix_into_the_output(tmp_path, three):
    import json
    import subprocess
    import sys

    blank = tmp_path / "blank.png"
    Image.new("L", (40, 40), 255).save(blank)
    done = subprocess.run(["bash", "-c", '"$@" 2>&-', "bash", sys.executable, "-m", "capsexplorer", "classify",
                           str(blank), str(three), "--json", "--device", "cpu"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1  # the blank image failed
    assert [json.loads(line)["prediction"] for line in done.stdout.splitlines()] == [3]


@pytest.mark.parametrize("argv", [["classify", "IMAGE"],
                                  ["train", "--limit", "8", "--batch-size", "8", "--epochs", "1", "--progress", "json",
                                   "--out", "w.safetensors"]], ids=["classify", "train"])
def test_commands_never_load_triton(tmp_path, three, argv):
    """CUDA builds of torch bring triton, whose nanobind bindings (triton._C.libtriton) print ~30 'leaked'
    lines at every exit; nothing here compiles, so they are never loaded (-X importtime lists every import
    on stderr; a refused attempt shows as a bare 'triton' of a few microseconds)."""
    import subprocess
    import sys

    argv = [str(three) if a == "IMAGE" else a for a in argv]
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "capsexplorer", *argv, "--device", "cpu"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    imported = [line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time")]
    assert "torch" in imported and not [m for m in imported if m.startswith("triton.")]


def test_a_sweep_in_small_chunks_equals_one_batch(model, heldout):
    from capsexplorer.analysis.sweep import run_sweep
    from capsexplorer.data.preprocess import preprocess_array

    x = preprocess_array(heldout.images[0])
    values = np.linspace(-30, 30, 7)
    one = run_sweep(model, x, "rotate", values, chunk=100)
    small = run_sweep(model, x, "rotate", values, chunk=3)
    assert one.digit == small.digit and np.array_equal(one.prediction, small.prediction)
    for name in ("lengths", "poses", "reconstruction", "reference_lengths", "reference_pose"):
        np.testing.assert_allclose(getattr(small, name), getattr(one, name), rtol=1e-4, atol=1e-5, err_msg=name)


def test_a_huge_blank_array_is_no_ink_without_a_full_size_float_copy():
    import tracemalloc

    from capsexplorer.data.preprocess import preprocess_array
    from capsexplorer.errors import NoInkError

    blank = np.zeros((8000, 8000), np.uint8)  # 64 MB; a float64 copy would be 512 MB
    tracemalloc.start()
    try:
        with pytest.raises(NoInkError, match="no ink"):
            preprocess_array(blank)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < blank.nbytes / 2, f"{peak / 2**20:.0f} MiB"


def _core_imports() -> dict[str, set[str]]:
    """capsexplorer's core modules (all but app/ and cli/) → the core modules each imports, at the top or in a
    function."""
    import ast
    from pathlib import Path

    import capsexplorer

    folder = Path(capsexplorer.__file__).parent
    paths = {".".join(("capsexplorer", *p.relative_to(folder).with_suffix("").parts)).removesuffix(".__init__"): p
             for p in folder.rglob("*.py") if p.relative_to(folder).parts[0] not in ("app", "cli")}
    graph = {}
    for name, path in paths.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                found |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
            elif isinstance(node, ast.Import):
                found |= {a.name for a in node.names}
        graph[name] = found & set(paths) - {name}
    assert len(graph) > 30 and any(graph.values())  # the walk found the modules and their imports
    return graph


def test_the_core_has_no_import_cycle():
    graph = _core_imports()
    done, path = set(), []

    def visit(name):
        assert name not in path, "import cycle: " + " → ".join(path[path.index(name):] + [name])
        if name in done:
            return
        path.append(name)
        for other in sorted(graph.get(name, ())):
            visit(other)
        path.pop()
        done.add(name)

    for name in sorted(graph):
        visit(name)


def test_the_log_file_keeps_the_traceback_of_an_internal_error(capsys, monkeypatch, tmp_path, three):
    import capsexplorer.cli as cli
    from capsexplorer.logfile import log_path

    monkeypatch.setenv("CAPSEXPLORER_LOG_DIR", str(tmp_path / "logs"))
    assert log_path() == tmp_path / "logs" / "capsexplorer.log"
    monkeypatch.setattr(cli, "cmd_classify", lambda args: 1 / 0)
    assert main(["classify", str(three)]) == 1
    err = capsys.readouterr().err
    assert "internal error: ZeroDivisionError" in err and "Traceback" not in err and str(log_path()) in err
    text = log_path().read_text()
    assert "Traceback" in text and "ZeroDivisionError" in text
    with pytest.raises(SystemExit):
        main(["--help"])
    assert str(log_path()) in capsys.readouterr().out


def test_a_log_folder_that_cannot_be_made_is_one_warning(capsys, monkeypatch, tmp_path, three):
    (tmp_path / "file").write_text("x")
    monkeypatch.setenv("CAPSEXPLORER_LOG_DIR", str(tmp_path / "file" / "logs"))
    assert main(["classify", str(three), "--device", "cpu"]) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"capsexplorer: warning: cannot write the log file "
                                                   f"{tmp_path / 'file' / 'logs' / 'capsexplorer.log'}")


def test_with_standard_error_closed_an_error_still_reaches_the_log_file(tmp_path):
    import subprocess
    import sys

    logs = tmp_path / "logs"
    done = subprocess.run(["bash", "-c", '"$@" 2>&-', "bash", sys.executable, "-m", "capsexplorer", "classify",
                           str(tmp_path / "missing.png"), "--json", "--device", "cpu"],
                          capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, CAPSEXPLORER_LOG_DIR=str(logs)))
    assert done.returncode == 1 and done.stdout == ""
    assert f"{tmp_path / 'missing.png'}: no such file" in (logs / "capsexplorer.log").read_text()
