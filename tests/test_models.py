"""Issue 9's engine pieces: reconstruction error, the decoder fitted on frozen capsules, shipped models
by name, folder data sets, shift-only augmentation."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from capsexplorer import load_model
from capsexplorer.cli import main
from capsexplorer.data.augment import shift_images
from capsexplorer.data.datasets import Split, load_dataset, load_folder_dataset, mnist5k, model_samples
from capsexplorer.errors import CapsExplorerError, DataError
from capsexplorer.net.weights import SHIPPED_MODELS, resolve_weights, shipped_weights_path
from capsexplorer.training.decoder_fit import DecoderFit, fit_decoder
from capsexplorer.training.train import evaluate


def test_evaluate_reports_the_reconstruction_error(model, heldout):
    few = Split(heldout.images[:50], heldout.labels[:50])
    result = evaluate(model, few)
    x = torch.from_numpy(few.images).float().div(255).unsqueeze(1)
    with torch.inference_mode():
        recon = model(x)[2]
    expected = float(((recon - x.flatten(1)) ** 2).sum(1).mean())
    assert result.reconstruction_sse == pytest.approx(expected, rel=1e-4)
    assert result.to_dict()["reconstruction_sse"] == result.reconstruction_sse


def test_evaluate_json_has_reconstruction_sse(capsys):
    assert main(["evaluate", "--json", "--limit", "500"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["n"] == 500 and record["accuracy"] >= 0.98
    assert 0 < record["reconstruction_sse"] < 784


def test_the_decoder_fit_leaves_the_capsules_alone(model):
    fresh = load_model(device="cpu")
    before = {k: v.clone() for k, v in fresh.state_dict().items()}
    data = mnist5k().train
    tiny = Split(data.images[::100], data.labels[::100])  # 40 images
    info = fit_decoder(fresh, tiny, DecoderFit(epochs=3, augmentations=2, batch_size=16))
    after = fresh.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith("decoder.") for k in changed)
    assert info["pairs"] == 80 and np.isfinite(info["train_sse"])
    assert not fresh.training and all(p.requires_grad for p in fresh.parameters())


def test_shipped_models_by_name(tmp_path, monkeypatch):
    assert resolve_weights(None) == shipped_weights_path()
    assert resolve_weights("mnist") == shipped_weights_path()
    assert resolve_weights("mnist5k").name == SHIPPED_MODELS["mnist5k"] == "capsnet-mnist5k.safetensors"
    assert resolve_weights("fashion-mnist").name == SHIPPED_MODELS["fashion-mnist"]
    assert resolve_weights("some/file.safetensors") == Path("some/file.safetensors")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mnist5k").write_bytes(b"a file that happens to have the name")
    assert resolve_weights("mnist5k") == Path("mnist5k")  # a file that is there is what the user means


def test_the_fashion_model_ships_and_loads_by_name(capsys):
    model = load_model("fashion-mnist", device="cpu")
    assert model.metadata["dataset"] == "fashion-mnist"
    assert float(model.metadata["heldout_accuracy"]) >= 0.90
    assert model.metadata["classes"].split(",")[0] == "T-shirt/top"
    samples, source = model_samples("fashion-mnist")
    assert len(samples) == 1000 and np.bincount(samples.labels).tolist() == [100] * 10
    assert main(["classify", "--weights", "fashion-mnist", "--json", str(_trouser_png(samples))]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["prediction"] in (1, "Trouser")


def _trouser_png(samples):
    import tempfile

    path = tempfile.mkdtemp() + "/trouser.png"
    Image.fromarray(samples.images[np.flatnonzero(samples.labels == 1)[0]]).save(path)
    return path


def test_a_folder_of_images_sorted_or_named_by_class(tmp_path):
    digits = mnist5k().train
    for layout in ("sorted", "named"):
        root = tmp_path / layout
        for k in range(12):
            label = int(digits.labels[k * 330])
            folder = root / f"{label}" if layout == "sorted" else root
            folder.mkdir(parents=True, exist_ok=True)
            name = f"{k:03d}.png" if layout == "sorted" else f"{label}_{k:03d}.png"
            Image.fromarray(255 - digits.images[k * 330]).save(folder / name)  # dark ink on white
        data = load_dataset("folder", root)
        assert len(data.train) + len(data.heldout) == 12 and len(data.heldout) >= 2
        assert data.classes == tuple(sorted({str(int(digits.labels[k * 330])) for k in range(12)}, key=int))
        assert data.train.images.dtype == np.uint8 and data.train.images.shape[1:] == (28, 28)
        assert data.train.images.max() > 200 and data.train.images[:, 0, 0].max() == 0  # light ink on black


@pytest.mark.parametrize("make, message", [
    (lambda d: None, "no images"),
    (lambda d: (d / "a.png").write_bytes(b"not a png"), "name each image by its class"),
    (lambda d: ((d / "x").mkdir(), (d / "x" / "a.png").write_bytes(b"junk")), "1 class found"),
    (lambda d: ((d / "x").mkdir(), (d / "x" / "a.png").write_bytes(b"junk"),
                (d / "y").mkdir(), Image.new("L", (28, 28), 255).save(d / "y" / "b.png")), "a.png"),
    (lambda d: ((d / "x").mkdir(), Image.new("L", (28, 28), 255).save(d / "x" / "a.png"),
                (d / "y").mkdir(), Image.new("L", (28, 28), 255).save(d / "y" / "b.png")), "no ink"),
])
def test_bad_folders_are_named_in_one_line(tmp_path, make, message):
    make(tmp_path)
    with pytest.raises(CapsExplorerError, match=message) as info:
        load_folder_dataset(tmp_path)
    assert "\n" not in str(info.value)


def test_folder_needs_a_path_and_a_folder(tmp_path):
    with pytest.raises(DataError, match="--data-dir"):
        load_dataset("folder")
    with pytest.raises(DataError, match="no such folder"):
        load_dataset("folder", tmp_path / "absent")


def test_shift_only_augmentation_moves_whole_pixels():
    x = torch.rand(16, 1, 28, 28)
    moved = shift_images(x, torch.Generator().manual_seed(0), 2)
    for a, b in zip(x[:, 0], moved[:, 0]):
        found = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)
                 if torch.equal(b, torch.roll(a, (dy, dx), (0, 1)) * _mask(dy, dx))]
        assert found, "each image is its input moved by whole pixels, zero-filled"
    assert torch.equal(shift_images(x, torch.Generator().manual_seed(0), 0), x)


def _mask(dy, dx):
    m = torch.ones(28, 28)
    if dy > 0:
        m[:dy] = 0
    if dy < 0:
        m[dy:] = 0
    if dx > 0:
        m[:, :dx] = 0
    if dx < 0:
        m[:, dx:] = 0
    return m


@pytest.mark.parametrize("args, message", [
    (["--out", "x.pt"], "safetensors"),
    (["--out", "x.safetensors", "--lr", "0"], "--lr"),
    (["--out", "/proc/x.safetensors"], "/proc"),
])
def test_fit_decoder_refuses_bad_settings_before_work(args, message, capsys):
    assert main(["fit-decoder"] + args) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_fit_decoder_measures_a_digits_model_on_the_official_test_digits(tmp_path, monkeypatch, capsys):
    """Never on MNIST 5k's validation fifth, which is MNIST training digits."""
    import capsexplorer.data.datasets
    import capsexplorer.training.decoder_fit
    from capsexplorer.data.datasets import mnist_test

    test = mnist_test()
    few = Split(test.images[:40], test.labels[:40])
    monkeypatch.setattr(capsexplorer.data.datasets, "mnist_test", lambda: few)
    monkeypatch.setattr(capsexplorer.training.decoder_fit, "fit_decoder", lambda model, split, fit, progress=None: {"pairs": 0})
    out = tmp_path / "refit.safetensors"
    assert main(["fit-decoder", "--weights", "mnist5k", "--out", str(out)]) == 0
    meta = load_model(str(out), device="cpu").metadata
    assert meta["heldout_size"] == "40" and meta["dataset"] == "mnist5k"
