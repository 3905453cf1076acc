import pickle

import pytest
import torch
from safetensors.torch import save_file

from capsexplorer import DeviceError, WeightsError, load_model, save_weights
from capsexplorer.net.model import CapsNet
from capsexplorer.net.weights import shipped_weights_path


class RunsCode:
    def __reduce__(self):
        import os

        return (os.system, ("touch pwned-by-pickle",))


def test_shipped_weights_load_with_metadata():
    model = load_model()
    meta = model.metadata
    assert shipped_weights_path().is_file()
    # the default learned from MNIST's 60,000 training digits and reads the official test set as the paper's
    assert meta["dataset"] == "mnist" and int(meta["train_size"]) == 60000 and int(meta["heldout_size"]) == 10000
    assert float(meta["heldout_accuracy"]) >= 0.994  # 99.44 %: the paper has 99.75 %
    assert int(meta["routing_iterations"]) == 3 and int(meta["epochs"]) > 0


def test_a_pickle_that_would_run_code_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pt"
    path.write_bytes(pickle.dumps({"conv1.weight": RunsCode()}, protocol=2))
    with pytest.raises(WeightsError, match="refused") as info:
        load_model(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)
    assert not (tmp_path / "pwned-by-pickle").exists()


def test_torch_save_state_dict_is_accepted(tmp_path):
    model = CapsNet()
    torch.save(model.state_dict(), tmp_path / "plain.pt")
    loaded = load_model(tmp_path / "plain.pt", device="cpu")
    torch.testing.assert_close(loaded.digit_weights, model.digit_weights)


@pytest.mark.parametrize("content, message", [
    (b"", "empty"), (b"{not json at all", "not a weights file — it is a text file"),
    (b"\x08\x00\x00\x00\x00\x00\x00\x00{}", "not a weights file"),
    (b"\x89PNG\r\n\x1a\n" + bytes(100), "it is an image"),
    (bytes(range(256)) * 4, "damaged or it is another binary format"),
    # issue 22 §12: these were called "a pickle that would run code"
    (b"\x89PNG\r\n\x1a\n0000", "it is an image"), (b'{"a": 1}\n', "it is JSON text"),
    (b"%PDF-1.4\n%\xe2\xe3\n", "it is a PDF document"),
])
def test_corrupt_files_are_refused(tmp_path, content, message):
    path = tmp_path / "w.safetensors"
    path.write_bytes(content)
    with pytest.raises(WeightsError, match=message) as info:
        load_model(path)
    assert "(" not in str(info.value).split(":", 1)[1][:30]  # words, not an internal error code


def test_truncated_safetensors_is_refused(tmp_path):
    good = tmp_path / "good.safetensors"
    save_weights(CapsNet(), good)
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(good.read_bytes()[:100_000])
    with pytest.raises(WeightsError):
        load_model(cut)


def test_mismatched_weights_are_refused(tmp_path):
    state = {k: v.clone() for k, v in CapsNet().state_dict().items()}
    state["digit_weights"] = torch.zeros(1152, 10, 16, 4)
    save_file(state, str(tmp_path / "shape.safetensors"))
    with pytest.raises(WeightsError, match="digit_weights has shape"):
        load_model(tmp_path / "shape.safetensors")
    save_file({"foo": torch.zeros(3)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(WeightsError, match="not CapsNet weights"):
        load_model(tmp_path / "other.safetensors")
    state = {k: v.clone() for k, v in CapsNet().state_dict().items()}
    state["conv1.bias"][0] = float("nan")
    save_file(state, str(tmp_path / "nan.safetensors"))
    with pytest.raises(WeightsError, match="non-finite"):
        load_model(tmp_path / "nan.safetensors")


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(WeightsError, match="no such"):
        load_model(tmp_path / "nope.safetensors")
    with pytest.raises(WeightsError, match="directory"):
        load_model(tmp_path)


def test_float16_round_trip_keeps_predictions(tmp_path, model, heldout):
    save_weights(model, tmp_path / "w.safetensors", {"note": "x"}, float16=True)
    again = load_model(tmp_path / "w.safetensors", device="cpu")
    x = torch.from_numpy(heldout.images[:50]).float().div(255).unsqueeze(1)
    assert (again.trace(x).prediction == model.trace(x).prediction).all()
    assert again.metadata["note"] == "x"


def with_config(tmp_path, config, name="cfg.safetensors"):
    """The shipped tensors with an untrusted `config` in the metadata."""
    import json

    from capsexplorer.net.weights import read_state

    tensors, meta = read_state(shipped_weights_path())
    meta["config"] = config if isinstance(config, str) else json.dumps(config)
    save_file(tensors, str(tmp_path / name), metadata=meta)
    return tmp_path / name


@pytest.mark.parametrize("config, message", [
    ({"conv_channels": 1000000}, "conv_channels must be from 1 to 2048"),
    ({"conv_channels": "256"}, "conv_channels must be an integer"),
    ({"conv_channels": 256.0}, "conv_channels must be an integer"),
    ({"kernel": True}, "kernel must be an integer"),
    ({"decoder_hidden": [512]}, "decoder_hidden must be two"),
    ({"decoder_hidden": [8192, 8192], "conv_channels": 2048, "primary_types": 256}, "parameters"),
    ({"kernel": 15}, "leaves no capsules"),
    ({"bogus": 1}, "unknown field 'bogus'"),
    ([1, 2, 3], "not a mapping"),
    ("{not json", "unusable model configuration"),
    ("[" * 100000 + "]" * 100000, "unusable model configuration"),
])
def test_a_config_in_the_metadata_is_checked_before_anything_is_built(tmp_path, config, message):
    path = with_config(tmp_path, config)
    with pytest.raises(WeightsError, match=message) as info:
        load_model(path, device="cpu")
    assert str(path) in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("device, message", [
    ("bogus", "unknown device 'bogus'"), ("cuda", "no CUDA GPU"), ("cuda:5", "cuda:5"), ("tpu", "not supported|unknown"),
])
def test_a_device_that_is_not_there_is_named(device, message):
    if torch.cuda.is_available() and device.startswith("cuda") and device != "cuda:5":
        pytest.skip("this machine has a GPU")
    with pytest.raises(DeviceError, match=message):
        load_model(device=device)


def test_unreadable_paths_are_named_not_raised(tmp_path):
    loop = tmp_path / "loop.safetensors"
    loop.symlink_to(loop)
    with pytest.raises(WeightsError, match="link loop"):
        load_model(loop)
    with pytest.raises(WeightsError, match="too long"):
        load_model(tmp_path / ("w" * 300 + ".safetensors"))
    import os

    fifo = tmp_path / "fifo.safetensors"
    os.mkfifo(fifo)
    with pytest.raises(WeightsError, match="FIFO"):
        load_model(fifo)  # would hang for ever if opened


def test_atomic_write_keeps_the_old_file_when_the_write_fails(tmp_path):
    from capsexplorer.files import atomic_write

    target = tmp_path / "w.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_write(target) as f:
            f.write(b"half of the new")
            raise RuntimeError("disk full")
    assert target.read_bytes() == b"old" and list(tmp_path.iterdir()) == [target]


@pytest.mark.parametrize("metadata, text", [
    ({"heldout_accuracy": "0.9951", "heldout_size": "10000", "dataset": "mnist", "routing_iterations": "3"},
     "held-out accuracy 99.51% (10,000 MNIST test digits, 3 iterations)"),
    ({"heldout_accuracy": "0.7326", "heldout_pairs": "10000", "heldout_size": "10000", "dataset": "multimnist",
      "routing_iterations": "3"}, "both digits right 73.26% (10,000 held-out pairs, 3 iterations)"),
    ({"heldout_accuracy": "0.9", "heldout_size": "1000", "dataset": "fashion-mnist", "routing_iterations": "1"},
     "held-out accuracy 90.00% (1,000 held-out images, 1 iteration)"),
    ({"validation_accuracy": "0.99", "dataset": "mnist5k", "routing_iterations": "3"},
     "validation accuracy 99.00% (MNIST 5k's own fifth, 3 iterations)"),
    ({"heldout_accuracy": "n/a"}, "held-out accuracy unknown"),
    ({}, "held-out accuracy unknown"),
])
def test_the_accuracy_a_file_claims_says_on_what_and_with_how_many_iterations(metadata, text):
    from capsexplorer.net.weights import accuracy_text

    assert accuracy_text(metadata) == text
