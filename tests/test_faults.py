"""Faults a user meets outside the happy path: a full disk, non-finite numbers, a reader that leaves.
Each test failed before the fix it comes with."""
import errno
import os

import numpy as np
import pytest
from PIL import Image

from capsexplorer import files
from capsexplorer.cli import main
from capsexplorer.errors import CapsExplorerError

from drawing import as_drawn

NO_SPACE = os.strerror(errno.ENOSPC)


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

    from capsexplorer.train import TrainConfig, _save_checkpoint
    from capsexplorer.weights import save_weights

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
