"""Equivariance, measured: the read-out, the alignment and the length change, on synthetic poses with
known answers, on a tiny random network, and through the command."""
import json

import numpy as np
import pytest
import torch

from capsexplorer.analysis import equivariance as eq
from capsexplorer.cli import main
from capsexplorer.data.datasets import Split
from capsexplorer.net.baseline import BaselineCNN, CNNConfig
from capsexplorer.net.config import CapsNetConfig
from capsexplorer.net.model import CapsNet
from capsexplorer.net.weights import save_weights
from capsexplorer.progress_events import run_steps

CONTRACT_CAPSNET = {"length_change", "readout_r2", "alignment"}
CONTRACT_CNN = {"probability_change", "readout_r2"}


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def synthetic(noise: float, count: int = 400, seed: int = 1):
    """Δp (V, N, 16) of digits of 10 classes: each class's poses move along its own direction by the angle."""
    rng = np.random.default_rng(seed)
    values = np.array([-45.0, -30, -15, 15, 30, 45])
    labels = rng.integers(0, 10, count)
    directions = rng.normal(size=(10, 16)) / 45  # (10, 16)
    deltas = values[:, None, None] * directions[labels][None] + noise * rng.normal(size=(6, count, 16))
    return values, labels, deltas


def test_a_pose_that_encodes_the_angle_linearly_is_read_out():
    values, labels, deltas = synthetic(noise=0.001)
    fit = eq.halves(len(labels))
    assert eq.readout(deltas, values, fit)[2] > 0.99  # ten directions: one read-out still finds all of them
    fits, per_class = eq.readout_per_class(deltas, values, fit, labels)
    assert per_class > 0.99 and len(fits) == 10 and all(f is not None for f in fits)
    one_direction = np.repeat(values[:, None, None], len(labels), 1) * np.ones(16) / 45  # the same for all
    assert eq.readout(one_direction + 0.001 * np.random.default_rng(2).normal(size=one_direction.shape),
                      values, fit)[2] > 0.99
    weights, intercept = fits[labels[0]]
    assert eq.read_out({"weights": weights, "intercept": intercept}, "rotate", deltas[4, 0]) == pytest.approx(30, abs=1)


def test_pure_noise_reads_out_nothing():
    values, labels, _ = synthetic(noise=0)
    noise = np.random.default_rng(3).normal(size=(6, len(labels), 16))
    fit = eq.halves(len(labels))
    assert eq.readout(noise, values, fit)[2] <= 0.1
    assert eq.readout_per_class(noise, values, fit, labels)[1] <= 0.1


def test_ridge_finds_weights_and_intercept_on_the_raw_features():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(500, 16)) * rng.uniform(0.01, 10, 16) + rng.normal(size=16)
    true = rng.normal(size=16)
    weights, intercept = eq.fit_ridge(x, x @ true + 7.0, alpha=1e-9)
    np.testing.assert_allclose(weights, true, rtol=1e-6, atol=1e-6)
    assert intercept == pytest.approx(7.0, abs=1e-6)
    assert eq.r2(np.arange(5.0), np.arange(5.0)) == 1 and eq.r2(np.arange(5.0), np.full(5, 2.0)) == 0


def test_alignment_of_identical_directions_is_one_of_random_ones_about_zero():
    rng = np.random.default_rng(5)
    labels = np.repeat(np.arange(10), 30)
    same = np.repeat(rng.normal(size=(10, 16)), 30, 0) * rng.uniform(0.1, 3, (300, 1))  # lengths differ
    assert eq.alignment(same, labels) == pytest.approx(1.0)
    assert abs(eq.alignment(rng.normal(size=(300, 16)), labels)) < 0.05
    opposite = np.concatenate([same[:1], -same[:1]])
    assert eq.alignment(opposite, np.zeros(2, int)) == pytest.approx(-1.0)
    assert np.isnan(eq.alignment(np.zeros((3, 16)), np.zeros(3, int)))  # no direction at all


def test_relative_change_leaves_out_a_zero_and_takes_a_median():
    moved, plain = np.array([[1.0, 2.0, 9.0, 5.0]]), np.array([2.0, 2.0, 1.0, 0.0])
    assert eq.relative_change(moved, plain).tolist() == pytest.approx([(0.5 + 1 + 9) / 3 - 1])
    assert eq.relative_change(moved, plain, np.median).tolist() == pytest.approx([0.0])


@pytest.fixture(scope="module")
def tiny():
    """A small random CapsNet and CNN, and 20 digits of 4 classes."""
    torch.manual_seed(0)
    capsnet = CapsNet(CapsNetConfig(conv_channels=16, primary_types=4, decoder_hidden=(16, 16))).eval()
    cnn = BaselineCNN(CNNConfig(channels=(8, 8, 8), hidden=(24, 20))).eval()
    rng = np.random.default_rng(0)
    split = Split((rng.random((20, 28, 28)) * 255).astype(np.uint8), np.repeat(np.arange(4), 5))
    return capsnet, cnn, split


def test_measure_on_a_tiny_random_network_has_every_figure(tiny):
    capsnet, cnn, split = tiny
    values = {"rotate": (-30, 30), "thickness": (-0.5, 0.5, 1.0)}
    progress = []
    result = run_steps(eq.measure_steps(capsnet, cnn, split, batch=8, values=values), lambda *step: progress.append(step))
    assert progress[0] == (0, 36) and progress[-1] == (36, 36)  # 6 conditions × 3 batches × 2 models
    assert result["n"] == 20 and list(result["transforms"]) == ["rotate", "thickness"]
    row = result["transforms"]["thickness"]
    assert row["values"] == [-0.5, 0.5, 1.0]
    assert CONTRACT_CAPSNET <= set(row["capsnet"]) and CONTRACT_CNN <= set(row["cnn"])
    assert len(row["capsnet"]["length_change"]) == len(row["capsnet"]["alignment"]) == 3
    assert len(row["cnn"]["probability_change"]) == 3
    assert all(c is None or c >= -1 for c in row["capsnet"]["length_change"])
    assert len(row["capsnet"]["readout"]["weights"]) == 16 and len(row["capsnet"]["readout_per_class"]) == 4
    assert result["cnn_features"] == 20 and not cnn.training
    json.dumps(result, allow_nan=False)
    # the pooled read-out, applied by read_out, is the fitted line itself
    delta = np.ones(16)
    fit = row["capsnet"]["readout"]
    assert eq.read_out(result, "thickness", delta) == pytest.approx(sum(fit["weights"]) + fit["intercept"])
    assert eq.read_out(result, "thickness", np.ones((3, 16))).shape == (3,)


def test_measure_without_a_cnn_and_a_limited_subset(tiny):
    capsnet, _, split = tiny
    chosen = eq.subset(split, 8)
    assert len(chosen) == 8 and np.array_equal(chosen.labels, np.sort(chosen.labels))  # kept in order
    assert eq.subset(split, 8).images.tobytes() == chosen.images.tobytes()  # seeded
    result = eq.measure(capsnet, None, chosen, progress=lambda done, total: None)
    assert set(result["transforms"]) == set(eq.VALUES) and "cnn" not in result["transforms"]["rotate"]
    assert eq.halves(9).sum() == 4
    with pytest.raises(ValueError, match="at least 2"):
        eq.measure(capsnet, None, eq.subset(split, 1))


def test_the_defaults_agree_with_the_command_line():
    from capsexplorer.cli import build_parser

    args = build_parser().parse_args(["equivariance"])
    assert args.limit == eq.LIMIT and args.json is False and args.out is None and args.cnn_weights is None
    for transform, values in eq.VALUES.items():
        from capsexplorer.data import transforms

        assert transforms.IDENTITY[transform] not in values  # the identity is the reference, not a value
        for v in values:
            transforms.check(transform, v)


def test_the_command_prints_the_contract_and_keeps_the_default_run(capsys, tmp_path, monkeypatch, tiny):
    """JSON keys exactly as the issue gives them; the default run is kept where the window looks."""
    from capsexplorer import load_model
    from capsexplorer.analysis import predictions
    from capsexplorer.net.weights import SHIPPED_CNN, load_baseline, shipped_weights_path

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    capsnet, cnn, split = tiny
    small = eq.measure(capsnet, cnn, split)
    monkeypatch.setattr(eq, "measure", lambda *args, **kwargs: small)
    code, out, err = run(capsys, "equivariance", "--json", "--out", tmp_path / "e.png")
    assert code == 0 and err == ""
    result = json.loads(out)
    assert {"n", "transforms"} <= set(result)
    assert list(result["transforms"]) == ["rotate", "shift-x", "shift-y", "scale", "shear", "thickness"]
    for row in result["transforms"].values():
        assert {"values", "capsnet", "cnn"} <= set(row)
        assert CONTRACT_CAPSNET <= set(row["capsnet"]) and CONTRACT_CNN <= set(row["cnn"])
    assert (tmp_path / "e.png").stat().st_size > 1000
    name = predictions.equivariance_file(load_model(device="cpu"), load_baseline(shipped_weights_path(SHIPPED_CNN)))
    assert name.startswith("equivariance-") and json.loads((tmp_path / "capsexplorer" / name).read_text()) == small
    code, out, err = run(capsys, "equivariance")  # the text table
    assert code == 0 and "read-out R² capsnet" in out and "rotate (°)" in out


def test_the_command_measures_for_real_on_a_few_digits(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    code, out, err = run(capsys, "equivariance", "--json", "--limit", "10")
    assert code == 0 and "capsexplorer: measuring equivariance: 0 of" in err
    result = json.loads(out)
    assert result["n"] == 10 and len(result["transforms"]["scale"]["capsnet"]["length_change"]) == 6
    assert not list((tmp_path / "capsexplorer").glob("equivariance-*"))  # not the default run: not kept


@pytest.mark.parametrize("limit, message", [("0", "from 2 to"), ("-3", "from 2 to"), ("1", "from 2 to"),
                                            ("abc", "not an integer")])
def test_a_bad_limit_is_a_usage_error(capsys, limit, message):
    with pytest.raises(SystemExit) as exit:
        main(["equivariance", "--limit", limit])
    assert exit.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["--out", "FILE/x.png"], "not a directory"), (["--out", "x.jpg"], "name it *.png"),
    (["--cnn-weights", "MISSING"], "no such weights file"), (["--cnn-weights", "CAPSNET"], "CapsNet weights"),
    (["--cnn-weights", ""], "empty"),
])
def test_bad_options_are_one_line(capsys, tmp_path, argv, message):
    from capsexplorer.net.weights import shipped_weights_path

    (tmp_path / "f").write_text("x")
    swap = {"FILE/x.png": str(tmp_path / "f" / "x.png"), "MISSING": str(tmp_path / "none.safetensors"),
            "CAPSNET": str(shipped_weights_path())}
    code, out, err = run(capsys, "equivariance", *[swap.get(a, a) for a in argv])
    assert code == 1 and message in err and err.count("\n") == 1 and out == "" and "internal error" not in err


def test_a_cnn_of_another_data_set_is_refused(capsys, tmp_path):
    cnn = tmp_path / "cnn.safetensors"
    save_weights(BaselineCNN(CNNConfig(channels=(8, 8, 8), hidden=(24, 20))), cnn,
                 {"model": "cnn", "dataset": "fashion-mnist"})
    code, out, err = run(capsys, "equivariance", "--cnn-weights", cnn)
    assert code == 1 and "trained on mnist, the CNN on fashion-mnist" in err and err.count("\n") == 1


def test_the_shipped_models_ship_their_default_run():
    """The result of `capsexplorer equivariance` for the shipped CapsNet and CNN, where the window finds it."""
    from pathlib import Path

    from capsexplorer import load_model
    from capsexplorer.analysis.predictions import equivariance_file
    from capsexplorer.net.weights import SHIPPED_CNN, load_baseline, shipped_weights_path

    name = equivariance_file(load_model(device="cpu"), load_baseline(shipped_weights_path(SHIPPED_CNN), device="cpu"))
    result = json.loads((Path(__file__).resolve().parents[1] / "resources" / name).read_text())
    assert result["n"] == eq.LIMIT and list(result["transforms"]) == list(eq.VALUES)
    for transform, row in result["transforms"].items():
        assert row["values"] == [float(v) for v in eq.VALUES[transform]]
        assert CONTRACT_CAPSNET <= set(row["capsnet"]) and CONTRACT_CNN <= set(row["cnn"])
        assert len(row["capsnet"]["readout"]["weights"]) == 16 and len(row["capsnet"]["readout_per_class"]) == 10


def test_readout_words_name_the_value_seen_its_fit_and_an_extrapolation():
    from capsexplorer.analysis.equivariance import readout_words

    fit = {"weights": [2.0] + [0.0] * 15, "intercept": 1.0}
    result = {"n": 300, "transforms": {"rotate": {"values": [-45, -30, 30, 45], "capsnet": {
        "readout": fit, "readout_r2": 0.3, "readout_per_class": [None, fit], "readout_r2_per_class": 0.6}},
        "scale": {"values": [0.7, 1.3], "capsnet": {"readout": fit, "readout_r2": 0.5}}}}
    delta = [10.0] + [0.0] * 15  # read as 2·10 + 1 = 21
    assert readout_words(result, "rotate", 30, delta, 1) == \
        "rotate +30°: read from the pose +21° (read-out R² 0.60 over 150 held-out digits, one per class)"
    result["transforms"]["rotate"]["cnn"] = {"readout_r2": 0.1, "readout_r2_per_class": 0.4}
    assert readout_words(result, "rotate", 30, delta, 1).endswith("one per class; the CNN's features, cut to 16 "
                                                                   "components, R² 0.40)")
    assert "R² 0.30" in readout_words(result, "rotate", 30, delta, 0)  # no read-out of its own: the pooled one
    assert "extrapolation" in readout_words(result, "rotate", 90, delta, 1)
    assert readout_words(result, "scale", 1.2, [0.1] + [0.0] * 15, None).startswith("scale ×1.2: read from the pose ×1.2")
