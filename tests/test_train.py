import numpy as np
import pytest
import torch

from capsexplorer import load_model
from capsexplorer.data import Dataset, Split, mnist5k
from capsexplorer.errors import CapsExplorerError
from capsexplorer.train import TrainConfig, augment, evaluate, iter_training, to_tensor


@pytest.fixture(scope="module")
def tiny():
    full = mnist5k()
    pick = np.arange(0, len(full.train), len(full.train) // 64)[:64]
    return Dataset("mnist5k", Split(full.train.images[pick], full.train.labels[pick]),
                   Split(full.heldout.images[::20], full.heldout.labels[::20]), split="test slice")


def config(tmp_path, **overrides):
    values = dict(epochs=2, batch_size=16, out=str(tmp_path / "w.safetensors"), checkpoint_every=2,
                  float16=False, device="cpu")
    values.update(overrides)
    return TrainConfig(**values)


def run_all(cfg, data, **kwargs):
    return list(iter_training(cfg, dataset=data, **kwargs))


def test_short_training_lowers_the_loss(tmp_path, tiny):
    progress = run_all(config(tmp_path, epochs=4, augment=False), tiny)
    per_epoch = [p.loss for p in progress if not p.finished and p.step == p.steps]
    assert per_epoch[-1] < 0.6 * per_epoch[0], per_epoch
    final = progress[-1]
    assert final.finished and 0 <= final.heldout_accuracy <= 1
    model = load_model(final.weights, device="cpu")
    assert model.metadata["epochs"] == "4" and model.metadata["dataset"] == "mnist5k"
    assert float(model.metadata["heldout_accuracy"]) == pytest.approx(final.heldout_accuracy, abs=1e-4)


def test_interrupted_run_resumes_to_the_same_weights(tmp_path, tiny):
    straight = run_all(config(tmp_path / "a"), tiny)[-1]

    def interrupt(epoch, step):
        if (epoch, step) == (1, 1):
            raise KeyboardInterrupt

    cfg = config(tmp_path / "b")
    with pytest.raises(KeyboardInterrupt):
        run_all(cfg, tiny, on_step=interrupt)
    assert cfg.checkpoint_path.exists() and not (tmp_path / "b" / "w.safetensors").exists()
    resumed = run_all(cfg, tiny)
    assert resumed[0].epoch == 2 and resumed[0].step == 2  # picked up mid-epoch, nothing redone
    assert not cfg.checkpoint_path.exists()
    a, b = load_model(straight.weights, device="cpu"), load_model(resumed[-1].weights, device="cpu")
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6, msg=name)
    assert resumed[-1].heldout_accuracy == straight.heldout_accuracy


def test_checkpoint_from_other_settings_is_refused(tmp_path, tiny):
    cfg = config(tmp_path)

    def interrupt(epoch, step):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_all(cfg, tiny, on_step=interrupt)
    with pytest.raises(CapsExplorerError, match="other settings"):
        run_all(config(tmp_path, seed=7), tiny)
    cfg.checkpoint_path.write_bytes(b"corrupt")
    with pytest.raises(CapsExplorerError, match="unreadable checkpoint"):
        run_all(cfg, tiny)


def test_augment_shifts_within_bounds_and_is_seeded(heldout):
    x = to_tensor(heldout.images[:8])
    a = augment(x, torch.Generator().manual_seed(3))
    b = augment(x, torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and a.shape == x.shape
    assert not torch.equal(a, x) and float(a.min()) >= 0 and float(a.max()) <= 1


def test_evaluate_confusion(model, heldout):
    part = Split(heldout.images[::10], heldout.labels[::10])
    result = evaluate(model, part)
    assert result.confusion.sum() == 100 and result.confusion.sum(axis=1).tolist() == [10] * 10
    assert result.accuracy == pytest.approx(np.trace(result.confusion) / 100)
