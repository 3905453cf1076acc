import pickle

import pytest
import torch
from safetensors.torch import save_file

from capsexplorer import WeightsError, load_model, save_weights
from capsexplorer.model import CapsNet
from capsexplorer.weights import shipped_weights_path


class RunsCode:
    def __reduce__(self):
        import os

        return (os.system, ("touch pwned-by-pickle",))


def test_shipped_weights_load_with_metadata():
    model = load_model()
    meta = model.metadata
    assert shipped_weights_path().is_file()
    assert meta["dataset"] == "mnist5k" and float(meta["heldout_accuracy"]) >= 0.985
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
    (b"", "empty"), (b"{not json at all", "not a safetensors"), (b"\x08\x00\x00\x00\x00\x00\x00\x00{}", "not"),
])
def test_corrupt_files_are_refused(tmp_path, content, message):
    path = tmp_path / "w.safetensors"
    path.write_bytes(content)
    with pytest.raises(WeightsError, match=message):
        load_model(path)


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
