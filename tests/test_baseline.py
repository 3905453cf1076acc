"""The CNN baseline the CapsNet is compared with."""
import json

import numpy as np
import pytest
import torch

from capsexplorer import WeightsError, load_model
from capsexplorer.cli import main
from capsexplorer.net.baseline import BaselineCNN, CNNConfig
from capsexplorer.net.weights import load_baseline, save_weights, shipped_weights_path


def test_shapes_parameters_and_flops():
    model = BaselineCNN()
    assert sum(p.numel() for p in model.parameters()) == CNNConfig().parameter_count() == 8_575_762
    assert CNNConfig().flops() == pytest.approx(0.986e9, rel=0.01)
    x = torch.rand(3, 1, 28, 28)
    assert model(x).shape == (3, 10)
    probabilities = model.predict(np.random.rand(3, 28, 28).astype(np.float32))  # what trace takes
    assert probabilities.shape == (3, 10) and np.allclose(probabilities.sum(1), 1, atol=1e-5)


def test_features_are_what_the_last_layer_reads():
    model = BaselineCNN().eval()
    x = torch.rand(3, 1, 28, 28)
    with torch.no_grad():
        features = model.features(x)  # (3, 192)
        assert features.shape == (3, 192) and (features >= 0).all()
        torch.testing.assert_close(model.fc3(features), model(x))


def test_predict_is_deterministic_in_eval_mode_despite_dropout():
    model = BaselineCNN().train()
    x = torch.rand(4, 1, 28, 28)
    np.testing.assert_array_equal(model.predict(x), model.predict(x))
    assert model.training  # predict leaves the mode as it found it


def test_saved_and_loaded_and_never_mistaken_for_the_capsnet(tmp_path):
    model = BaselineCNN()
    path = tmp_path / "cnn.safetensors"
    save_weights(model, path, {"model": "cnn", "dataset": "mnist5k"}, float16=False)
    loaded = load_baseline(path, device="cpu")
    x = torch.rand(2, 1, 28, 28)
    np.testing.assert_allclose(loaded.predict(x), model.eval().predict(x), atol=1e-5)
    with pytest.raises(WeightsError, match="CNN baseline's weights"):
        load_model(path, device="cpu")
    with pytest.raises(WeightsError, match="CapsNet weights, not the CNN"):
        load_baseline(shipped_weights_path(), device="cpu")


@pytest.mark.parametrize("config, message", [({"channels": [256, 256]}, "channels"), ({"dropout": 1.5}, "dropout"),
                                             ({"hidden": [99999, 2]}, "hidden"), ({"bogus": 1}, "unknown field")])
def test_an_untrusted_config_is_checked(config, message):
    with pytest.raises(ValueError, match=message):
        CNNConfig.from_dict(config)


@pytest.mark.slow
def test_train_and_evaluate_the_cnn_from_the_command_line(capsys, tmp_path):
    out = tmp_path / "cnn.safetensors"
    assert main(["train", "--model", "cnn", "--limit", "32", "--epochs", "1", "--batch-size", "16",
                 "--out", str(out), "--device", "cpu"]) == 0
    capsys.readouterr()
    assert main(["evaluate", "--model", "cnn", "--weights", str(out), "--json", "--limit", "300"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["model"] == "cnn" and row["n"] == 300 and 0 <= row["accuracy"] <= 1
    assert "official MNIST test set" in row["split"]
    assert load_baseline(out, device="cpu").metadata["model"] == "cnn"


def test_set_predictions_are_cached_per_weights_file(model, heldout, tmp_path, monkeypatch):
    import capsexplorer.analysis.predictions as predictions
    from capsexplorer.data.datasets import Split

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    small = Split(heldout.images[::100], heldout.labels[::100])
    cnn = BaselineCNN().eval()
    weights = tmp_path / "w.safetensors"
    weights.write_bytes(b"stand-in for a weights file")
    key = predictions.weights_key(weights, None)
    steps = list(predictions.predict_steps(model, cnn, small, key, batch=25))
    partial = [s for s in steps if isinstance(s, predictions.SetPredictions)]
    progress = [s for s in steps if isinstance(s, tuple)]
    assert progress[0] == (0, 200) and progress[-1] == (200, 200) and len(progress) == 9  # every batch
    first = predictions.predict_set(model, cnn, small, key)  # from the cache the run above wrote
    assert len(partial) == 1 and partial[0].cnn is None  # the CapsNet's came first, alone
    np.testing.assert_array_equal(partial[0].capsnet, first.capsnet)
    assert first.capsnet.shape == (100, 10) and first.cnn.shape == (100, 10)
    assert first.confusion().sum() == 100 and np.all(first.margin >= 0)

    def must_not_run(*args, **kwargs):
        raise AssertionError("computed again instead of read from the cache")

    monkeypatch.setattr(predictions, "score_steps", must_not_run)
    again = predictions.predict_set(model, cnn, small, key)
    np.testing.assert_array_equal(again.capsnet, first.capsnet)
    np.testing.assert_array_equal(again.cnn, first.cnn)
    moved = tmp_path / "moved.safetensors"  # the same bytes elsewhere: the same key (shipped results travel)
    moved.write_bytes(weights.read_bytes())
    assert predictions.weights_key(moved, None) == key
    weights.write_bytes(b"another weights file, longer than the first")  # a new file: a new key
    assert predictions.weights_key(weights, None) != key
