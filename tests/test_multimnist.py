"""MultiMNIST from the digits we have (Sabour et al. 2017, §6): placement, pairs, the measure, the losses, a
training run, and the split — held-out pairs from held-out digits only."""
import numpy as np
import pytest
import torch

from capsexplorer.data import multimnist
from capsexplorer.data.datasets import mnist5k
from capsexplorer.net.losses import margin_loss, reconstruction_loss


def test_a_digit_is_centred_and_moved_by_whole_pixels():
    digit = torch.zeros(1, 28, 28)
    digit[0, 3, 5] = 1.0
    for dx, dy in ((0, 0), (4, -4), (-3, 2)):
        placed = multimnist.place(digit, torch.tensor([[dx, dy]]))
        assert placed.shape == (1, 36, 36) and float(placed.sum()) == 1.0
        assert float(placed[0, 3 + 4 + dy, 5 + 4 + dx]) == 1.0


def test_pairs_are_two_different_classes_overlaid_by_their_maximum():
    data = mnist5k().train
    images = torch.as_tensor(data.images[:500].astype(np.float32) / 255)
    labels = torch.as_tensor(data.labels[:500])
    pairs = multimnist.make_pairs(images, labels, torch.arange(64), torch.Generator().manual_seed(1))
    assert pairs.images.shape == (64, 1, 36, 36) and pairs.parts.shape == (64, 2, 36, 36)
    assert bool((pairs.labels[:, 0] != pairs.labels[:, 1]).all()) and bool((pairs.labels[:, 0] == labels[:64]).all())
    torch.testing.assert_close(pairs.images[:, 0], pairs.parts.amax(1))
    again = multimnist.make_pairs(images, labels, torch.arange(64), torch.Generator().manual_seed(1))
    torch.testing.assert_close(again.images, pairs.images)  # seeded: a resumed run draws the same pairs


def test_held_out_pairs_come_from_held_out_digits_only_and_are_fixed():
    data = mnist5k()
    pairs = multimnist.heldout_pairs(data.heldout, count=300)
    assert pairs.images.shape == (300, 36, 36) and np.all(pairs.labels[:, 0] != pairs.labels[:, 1])
    assert pairs.sources.max() < len(data.heldout)  # indices into the held-out digits: nothing else was used
    for k in range(0, 300, 23):
        for j in range(2):
            digit = torch.as_tensor(data.heldout.images[pairs.sources[k, j]][None].astype(np.float32) / 255)
            expected = multimnist.place(digit, torch.as_tensor(pairs.shifts[k, j][None]))[0].numpy()
            np.testing.assert_allclose(pairs.parts[k, j], expected)
            assert data.heldout.labels[pairs.sources[k, j]] == pairs.labels[k, j]
    again = multimnist.heldout_pairs(data.heldout, count=300)
    np.testing.assert_array_equal(again.images, pairs.images)


def test_both_right_wants_exactly_the_two_digits_present():
    lengths = np.array([[0.9, 0.8, 0.1, 0, 0, 0, 0, 0, 0, 0],   # 0 and 1: right
                        [0.9, 0.1, 0.8, 0, 0, 0, 0, 0, 0, 0],   # 0 and 2 for 0 and 1: wrong
                        [0.2, 0.95, 0, 0, 0, 0, 0, 0, 0, 0.9]])  # 9 and 1, in either order: right
    labels = np.array([[0, 1], [0, 1], [1, 9]])
    assert list(multimnist.both_right(lengths, labels)) == [True, False, True]
    assert multimnist.two_longest(lengths)[2].tolist() == [1, 9]


def test_the_losses_count_both_digits():
    lengths = torch.tensor([[0.9, 0.5, 0.05] + [0.0] * 7])
    both = margin_loss(lengths, torch.tensor([[0, 1]]))
    assert float(both) == pytest.approx((0.9 - 0.5) ** 2)  # 0 at m⁺, 1 short of it, 2 under m⁻
    recon, parts = torch.zeros(1, 2, 4), torch.ones(1, 2, 2, 2)
    assert float(reconstruction_loss(recon, parts)) == pytest.approx(0.0005 * 8)


@pytest.mark.slow
def test_a_short_multimnist_run_trains_a_36_pixel_two_digit_model(tmp_path):
    from capsexplorer.net.weights import load_model
    from capsexplorer.training.train import TrainConfig, iter_training

    out = tmp_path / "multi.safetensors"
    config = TrainConfig(dataset="multimnist", epochs=1, batch_size=8, limit=16, out=str(out), device="cpu",
                         float16=False)
    last = None
    for last in iter_training(config):  # noqa: B007 (to the last progress)
        pass
    assert last.finished and 0.0 <= last.heldout_accuracy <= 1.0
    model = load_model(out, device="cpu")
    assert model.config.image_size == 36 and model.config.n_primary == 32 * 10 * 10
    assert model.metadata["dataset"] == "multimnist" and model.metadata["heldout_pairs"] == "100"  # a --limit run


@pytest.mark.slow
def test_evaluate_and_classify_speak_of_two_digits(tmp_path, capsys, monkeypatch):
    from capsexplorer.cli import main

    monkeypatch.setattr(multimnist, "HELDOUT_PAIRS", 200)  # the command measures 10,000; the test, 200
    from capsexplorer.net.model import CapsNet, CapsNetConfig
    from capsexplorer.net.weights import save_weights

    torch.manual_seed(0)
    weights = tmp_path / "two.safetensors"
    save_weights(CapsNet(CapsNetConfig(image_size=36)), weights, {"dataset": "multimnist"})
    assert main(["evaluate", "--weights", str(weights), "--json"]) == 0
    import json

    row = json.loads(capsys.readouterr().out)
    assert row["n"] == 200 and row["paper_accuracy"] == 0.948 and 0 <= row["accuracy"] <= 1
    assert "two longest" in row["measure"]
    from PIL import Image

    Image.fromarray(np.uint8(mnist5k().heldout.images[0])).save(tmp_path / "d.png")
    assert main(["classify", str(tmp_path / "d.png"), "--weights", str(weights), "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["two_longest"]) == 2


def test_the_routing_ablation_counts_answers_and_changes_against_uniform():
    from capsexplorer.net.model import CapsNet, CapsNetConfig

    torch.manual_seed(0)
    model = CapsNet(CapsNetConfig(image_size=36)).eval()
    pairs = multimnist.heldout_pairs(mnist5k().heldout, count=24)
    result = multimnist.routing_ablation(model, pairs, counts=(1, 3), batch_size=10)
    assert set(result) == {"1", "3"} and result["1"]["differs_from_uniform"] == 0.0
    lengths = model(torch.as_tensor(pairs.images[:, None]), 3)[0].detach().numpy()
    assert result["3"]["both_right"] == pytest.approx(multimnist.both_right(lengths, pairs.labels).mean())


@pytest.mark.parametrize("setting", [{"model": "cnn"}, {"decoder_epochs": 5}])
def test_settings_that_cannot_train_on_pairs_are_one_line(tmp_path, setting):
    from capsexplorer.errors import CapsExplorerError
    from capsexplorer.training.train import TrainConfig

    with pytest.raises(CapsExplorerError, match="multimnist|MultiMNIST"):
        TrainConfig(dataset="multimnist", out=str(tmp_path / "w.safetensors"), **setting).validate()


def test_pairs_need_two_classes():
    from capsexplorer.errors import DataError

    images, labels = torch.zeros(4, 28, 28), torch.zeros(4, dtype=torch.long)
    with pytest.raises(DataError, match="two classes"):
        multimnist.make_pairs(images, labels, torch.arange(4), torch.Generator().manual_seed(0))


def test_a_two_digit_model_takes_a_pair_as_it_is_and_a_single_digit_at_its_own_scale(tmp_path):
    from PIL import Image

    from capsexplorer.cli.common import model_input
    from capsexplorer.net.model import CapsNet, CapsNetConfig

    model = CapsNet(CapsNetConfig(image_size=36))
    model.metadata = {"dataset": "multimnist"}
    pairs = multimnist.heldout_pairs(mnist5k().heldout, count=2)
    Image.fromarray(np.uint8(np.round(pairs.images[0] * 255))).save(tmp_path / "pair.png")
    np.testing.assert_allclose(model_input(tmp_path / "pair.png", model), pairs.images[0], atol=1 / 255)
    digit = torch.rand(1, 1, 28, 28)
    fitted = model.fit_input(digit)  # a 28×28 digit: centred on the 36×36 canvas, not enlarged
    assert fitted.shape == (1, 1, 36, 36) and torch.equal(fitted[..., 4:32, 4:32], digit)


def test_a_digits_model_warm_starts_the_two_digit_one():
    """--init with 28×28 weights for a 36×36 run: convolutions as they are, each W_ij from the nearest cell of
    the old grid, the decoder drawing the old picture at the canvas's centre and dark around it."""
    from capsexplorer.net.model import CapsNet, CapsNetConfig
    from capsexplorer.training.train import warm_start_state

    torch.manual_seed(0)
    digits = CapsNet(CapsNetConfig())
    pairs = CapsNet(CapsNetConfig(image_size=36))
    pairs.load_state_dict(warm_start_state(digits, pairs.config))
    assert torch.equal(pairs.conv1.weight, digits.conv1.weight)
    assert torch.equal(pairs.primary_conv.weight, digits.primary_conv.weight)
    old, new = digits.config.grid, pairs.config.grid  # 6, 10
    for t, (r, c), (r_old, c_old) in ((0, (0, 0), (0, 0)), (5, (9, 9), (5, 5)), (31, (4, 7), (2, 4))):
        assert torch.equal(pairs.digit_weights[t * new * new + r * new + c],
                           digits.digit_weights[t * old * old + r_old * old + c_old])
    poses = torch.randn(3, 10, 16) * 0.3
    with torch.no_grad():
        small = digits.decoder(poses.flatten(1)).view(3, 28, 28)
        large = pairs.decoder(poses.flatten(1)).view(3, 36, 36)
    assert torch.allclose(large[:, 4:32, 4:32], small, atol=1e-6)
    assert float(large[:, :4].max()) < 0.01 and float(large[:, :, 32:].max()) < 0.01


def test_a_self_attention_digits_model_warm_starts_its_two_digit_one():
    """The learned priors b_ij (I × J) belong to the primary grid too: each from the nearest cell of the old grid."""
    from capsexplorer.net.model import CapsNet, CapsNetConfig
    from capsexplorer.training.train import warm_start_state

    torch.manual_seed(0)
    digits = CapsNet(CapsNetConfig(routing="self-attention"))
    with torch.no_grad():
        digits.router.log_priors.normal_()
    pairs = CapsNet(CapsNetConfig(image_size=36, routing="self-attention"))
    pairs.load_state_dict(warm_start_state(digits, pairs.config))
    old, new = digits.config.grid, pairs.config.grid
    for t, (r, c), (r_old, c_old) in ((0, (0, 0), (0, 0)), (5, (9, 9), (5, 5)), (31, (4, 7), (2, 4))):
        assert torch.equal(pairs.router.log_priors[t * new * new + r * new + c],
                           digits.router.log_priors[t * old * old + r_old * old + c_old])
