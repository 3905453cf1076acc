"""Per-class pose statistics, the slider and Figure-4 ranges drawn from them, and `grid --range`."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from capsexplorer import load_model
from capsexplorer.analysis import pose_stats
from capsexplorer.analysis.posegrid import pose_grid
from capsexplorer.cli import main
from capsexplorer.data.datasets import Split
from capsexplorer.net.config import CapsNetConfig
from capsexplorer.net.model import CapsNet
from capsexplorer.progress_events import run_steps

REPO = Path(__file__).resolve().parents[1]


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def fake():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), [50, 80, 1])
    poses = rng.normal(size=(131, 16)) * rng.uniform(0.01, 0.3, 16) + rng.normal(size=16)
    poses[:, 5] = 0.125  # a dimension that never varies
    return poses, labels, pose_stats.statistics(poses, labels, 4, "fake", bins=10)


def test_statistics_match_numpy(fake):
    poses, labels, stats = fake
    assert stats.counts.tolist() == [50, 80, 1, 0]
    for c in range(3):
        mine = poses[labels == c]
        np.testing.assert_allclose(stats.mean[c], mine.mean(0))
        np.testing.assert_allclose(stats.std[c], mine.std(0))
        np.testing.assert_allclose(stats.minimum[c], mine.min(0))
        np.testing.assert_allclose(stats.maximum[c], mine.max(0))
        assert (stats.histogram[c].sum(1) == len(mine)).all()
    for k in (0, 7):  # inside mean ± 3σ, the histogram is numpy's over the same edges
        edges = stats.edges(1, k)
        inside = poses[labels == 1, k]
        expected, _ = np.histogram(np.clip(inside, edges[0], np.nextafter(edges[-1], -np.inf)), bins=edges)
        np.testing.assert_array_equal(stats.histogram[1, k], expected)
    assert stats.histogram[1, 5].tolist() == [0] * 5 + [80] + [0] * 4  # no spread: all in the middle
    assert stats.std[3].tolist() == [0.0] * 16 and stats.histogram[3].sum() == 0  # a class never seen
    np.testing.assert_allclose(stats.high - stats.low, 6 * stats.std)


def test_json_round_trip(fake):
    _, _, stats = fake
    data = json.loads(json.dumps(stats.to_json(), allow_nan=False))
    again = pose_stats.PoseStats.from_json(data)
    np.testing.assert_allclose(again.mean, stats.mean, rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(again.histogram, stats.histogram)
    assert again.source == "fake" and again.counts.tolist() == stats.counts.tolist()
    with pytest.raises(ValueError):
        pose_stats.PoseStats.from_json(dict(data, std=[[0.0] * 16]))


def test_ranges_are_two_sigma_or_the_papers(fake):
    _, _, stats = fake
    data = pose_stats.ranges(stats, 1, "data")
    assert data.shape == (16, 2)
    np.testing.assert_allclose(data[:, 0], stats.mean[1] - 2 * stats.std[1])
    np.testing.assert_allclose(data[:, 1], stats.mean[1] + 2 * stats.std[1])
    pose = stats.mean[1].copy()
    pose[0] += 10 * stats.std[1, 0]  # an unusual digit: the slider reaches its own value, and 1σ beyond
    widened = pose_stats.ranges(stats, 1, "data", pose)
    assert widened[0, 1] == pytest.approx(pose[0] + stats.std[1, 0]) and widened[0, 0] == data[0, 0]
    assert np.allclose(widened[1:], data[1:])
    paper = pose_stats.ranges(stats, 1, "paper", pose)
    np.testing.assert_allclose(paper, np.stack([pose - 0.25, pose + 0.25], 1))
    np.testing.assert_allclose(pose_stats.ranges(stats, 1, "paper"), [[-0.25, 0.25]] * 16)
    np.testing.assert_allclose(pose_stats.spread(stats, 1), stats.std[1], rtol=1e-6)
    assert pose_stats.spread(stats, 1, "paper") is None
    with pytest.raises(ValueError, match="unknown range"):
        pose_stats.ranges(stats, 1, "bogus")


def test_stats_steps_take_the_true_class_and_say_what_they_chose():
    torch.manual_seed(0)
    model = CapsNet(CapsNetConfig(conv_channels=16, primary_types=4, decoder_hidden=(16, 16))).eval()
    rng = np.random.default_rng(1)
    split = Split((rng.random((30, 28, 28)) * 255).astype(np.uint8), np.repeat(np.arange(3), [12, 10, 8]))
    progress = []
    steps = pose_stats.stats_steps(model, split, "thirty images", batch=8, per_class=9)
    stats = run_steps(steps, lambda *step: progress.append(step))
    assert progress[0] == (0, 4) and progress[-1] == (4, 4)  # 26 images, 8 a batch
    assert stats.counts.tolist()[:3] == [9, 9, 8] and "at most 9 a class" in stats.source
    chosen = pose_stats.choose(split, 9)
    poses = model.poses(chosen.images.astype(np.float32) / 255)[np.arange(len(chosen)), chosen.labels]
    np.testing.assert_allclose(stats.mean[1], poses[chosen.labels == 1].mean(0), rtol=1e-4, atol=1e-6)


def test_the_training_images_of_the_shipped_models(model, monkeypatch):
    split, source = pose_stats.training_images(model)  # the default learned from MNIST's 60,000 training digits
    from capsexplorer.data.datasets import full_mnist

    if full_mnist() is not None:
        assert len(split) == 60000 and "MNIST's 60,000 training digits" in source
    else:  # said so, and the 4,000 of MNIST 5k stand in (they are MNIST training digits too)
        assert len(split) == 4000 and "the full MNIST is not installed" in source
    small = pose_stats.training_images(load_model("mnist5k", device="cpu"))
    assert len(small[0]) == 4000 and "4,000 training digits" in small[1]
    fashion = load_model("fashion-mnist", device="cpu")
    monkeypatch.setattr(pose_stats, "FASHION_DIRS", ())
    split, source = pose_stats.training_images(fashion)
    assert len(split) == 1000 and "not installed" in source


def test_computed_once_then_kept(model, tmp_path, monkeypatch, fake):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    from capsexplorer.analysis import predictions

    monkeypatch.setattr(predictions, "cached_file", lambda name: (predictions.cache_dir() / name)
                        if (predictions.cache_dir() / name).is_file() else None)  # not the shipped copy
    calls = []
    monkeypatch.setattr(pose_stats, "compute", lambda m, progress=None: calls.append(1) or fake[2])
    first = pose_stats.load_or_compute(model)
    second = pose_stats.load_or_compute(model)
    assert calls == [1] and np.allclose(second.mean, first.mean, rtol=1e-5)
    assert (tmp_path / "capsexplorer" / predictions.pose_stats_file(model)).is_file()


@pytest.mark.parametrize("name, source", [("mnist5k", "4,000 training digits"), ("fashion-mnist", "training set")])
def test_the_shipped_models_ship_their_statistics(name, source):
    from capsexplorer import load_model
    from capsexplorer.analysis.predictions import pose_stats_file

    model = load_model(name, device="cpu")
    path = REPO / "resources" / pose_stats_file(model)
    stats = pose_stats.PoseStats.from_json(json.loads(path.read_text()))
    assert source in stats.source and stats.mean.shape == (10, 16) and (stats.std > 0).all()
    assert stats.histogram.sum() == stats.counts.sum() * 16


# --- Figure 4 at ±2σ: the grid command ---------------------------------------------------------------------------
@pytest.fixture
def two_png(tmp_path, heldout):
    path = tmp_path / "two.png"
    Image.fromarray(255 - heldout.images[np.flatnonzero(heldout.labels == 2)[0]]).save(path)
    return path


def test_a_grid_with_sigma_perturbs_each_dimension_by_its_own_spread(model, heldout):
    from capsexplorer.analysis.posegrid import PoseGrid

    x = heldout.images[np.flatnonzero(heldout.labels == 2)[0]].astype(np.float32) / 255
    pose = model.poses(x[None])[0, 2]
    sigma = np.linspace(0, 0.15, 16).astype(np.float32)
    grid = pose_grid(model, pose, 2, 2.0, 5, sigma=sigma)
    np.testing.assert_allclose(grid.offsets, [-2, -1, 0, 1, 2])
    np.testing.assert_allclose(grid.dimension_offsets(), sigma[:, None] * np.array([-2, -1, 0, 1, 2]), atol=1e-7)
    moved = pose.copy()
    moved[9] += 2 * sigma[9]
    np.testing.assert_allclose(grid.grid[9, 4], model.reconstruct(moved[None], [2]).numpy()[0], atol=1e-5)
    np.testing.assert_allclose(grid.grid[0, 0], grid.grid[0, 4])  # σ = 0: the row never changes
    labels = grid.labels()
    assert labels[0]["label"] == "little effect" and set(grid.arrays()) >= {"sigma", "dimension_offsets"}
    assert isinstance(grid, PoseGrid)


def test_grid_range_paper_is_todays_grid(capsys, tmp_path, two_png, model):
    """--range paper (and --span alone) is the grid as it was: ±0.25 for every dimension."""
    code, out, err = run(capsys, "grid", two_png, "--range", "paper", "--json", "--npz", tmp_path / "g.npz")
    assert code == 0 and err == ""
    row = json.loads(out)
    expected = np.linspace(-0.25, 0.25, 11)
    assert row["range"] == "paper" and row["offsets"] == pytest.approx(expected)
    assert all(d["offsets"] == pytest.approx(expected) for d in row["dimensions"])
    from types import SimpleNamespace

    from capsexplorer.cli.common import _network_input

    tr = model.trace(_network_input(SimpleNamespace(image=two_png), model)[None])
    today = pose_grid(model, tr.poses[0, 2], 2, 0.25, 11)
    with np.load(tmp_path / "g.npz") as data:
        np.testing.assert_allclose(data["grid"], today.grid, atol=1e-6)
    assert [d["label"] for d in row["dimensions"]] == [d["label"] for d in today.labels()]
    code, out2, _ = run(capsys, "grid", two_png, "--span", "0.25", "--json")  # --span implies the paper's range
    assert code == 0 and json.loads(out2) == row


def test_grid_json_has_each_dimensions_offsets_at_two_sigma(capsys, two_png, monkeypatch):
    rng = np.random.default_rng(2)
    stats = pose_stats.statistics(rng.normal(size=(200, 16)) * 0.05, np.arange(200) % 10, 10)
    monkeypatch.setattr(pose_stats, "load_or_compute", lambda model, progress=None: stats)
    code, out, err = run(capsys, "grid", two_png, "--digit", "2", "--json")
    assert code == 0
    row = json.loads(out)
    assert row["range"] == "data" and row["offsets"] == pytest.approx(np.linspace(-2, 2, 11))
    assert row["sigma"] == pytest.approx(stats.std[2], abs=1e-6)
    for d in row["dimensions"]:
        assert set(d) == {"index", "dimension", "label", "effects", "offsets", "salience", "read_as"}
        assert d["offsets"] == pytest.approx(stats.std[2, d["index"]] * np.linspace(-2, 2, 11), abs=1e-6)
    code, out, err = run(capsys, "grid", two_png, "--digit", "2")
    assert code == 0 and "±2σ of its class's training poses" in out


def test_bad_ranges_are_one_line(capsys, two_png):
    with pytest.raises(SystemExit) as exit:
        main(["grid", str(two_png), "--range", "bogus"])
    assert exit.value.code == 2 and "invalid choice: 'bogus'" in capsys.readouterr().err
    code, out, err = run(capsys, "grid", two_png, "--range", "data", "--span", "0.2")
    assert code == 1 and "--span" in err and err.count("\n") == 1 and out == ""


def test_weights_without_their_training_images_fall_back_to_the_papers_range(capsys, tmp_path, two_png):
    from safetensors.torch import save_file

    from capsexplorer.net.weights import read_state, shipped_weights_path

    tensors, meta = read_state(shipped_weights_path())
    path = tmp_path / "folder.safetensors"
    save_file({k: v.float().contiguous() for k, v in tensors.items()}, str(path),
              metadata=dict(meta, dataset="folder", train_config=repr({"data_dir": str(tmp_path / "gone")})))
    code, out, err = run(capsys, "grid", two_png, "--json", "--weights", path)
    assert code == 0 and json.loads(out)["range"] == "paper"
    assert err.count("\n") == 1 and "training images (folder) are not here" in err and "±0.25" in err
    code, out, err = run(capsys, "grid", two_png, "--range", "data", "--weights", path)
    assert code == 1 and out == "" and "are not here" in err and err.count("\n") == 1


def test_weights_with_fewer_classes_than_their_data_take_only_theirs():
    torch.manual_seed(0)
    model = CapsNet(CapsNetConfig(conv_channels=8, primary_types=2, n_classes=2, decoder_hidden=(8, 8))).eval()
    split = Split(np.zeros((6, 28, 28), np.uint8), np.array([0, 1, 2, 3, 1, 0]))
    steps = pose_stats.stats_steps(model, split, "six")
    while True:
        try:
            next(steps)
        except StopIteration as finished:
            stats = finished.value
            break
    assert stats.counts.tolist() == [2, 2] and "only classes 0–1" in stats.source
