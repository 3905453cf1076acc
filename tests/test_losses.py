import pytest
import torch

from capsexplorer.net.losses import margin_loss, reconstruction_loss


def test_margin_loss_hand_computed():
    lengths = torch.tensor([[0.95, 0.05, 0.5, 0, 0, 0, 0, 0, 0, 0.2],
                            [0.1, 0.6, 0, 0, 0, 0, 0, 0, 0, 0]])
    labels = torch.tensor([0, 0])
    # example 0: present 0.95 ≥ 0.9 → 0; absent 0.5 → 0.5·0.4² = 0.08; 0.2 → 0.5·0.1² = 0.005
    # example 1: present 0.1 → (0.8)² = 0.64; absent 0.6 → 0.5·0.5² = 0.125
    expected = ((0.08 + 0.005) + (0.64 + 0.125)) / 2
    assert margin_loss(lengths, labels).item() == pytest.approx(expected, rel=1e-6)


def test_margin_loss_is_zero_when_margins_are_met():
    lengths = torch.full((3, 10), 0.1)
    labels = torch.tensor([1, 5, 9])
    lengths[torch.arange(3), labels] = 0.9
    assert margin_loss(lengths, labels).item() == 0.0


def test_reconstruction_loss_is_0_0005_times_sum_of_squared_errors():
    images = torch.zeros(2, 1, 28, 28)
    recon = torch.zeros(2, 784)
    recon[0, :100] = 0.5  # SSE 25
    recon[1, :4] = 1.0  # SSE 4
    assert reconstruction_loss(recon, images).item() == pytest.approx(0.0005 * (25 + 4) / 2)
