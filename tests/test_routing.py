"""Dynamic routing exactly as Procedure 1 of Sabour et al. (2017)."""
import numpy as np
import pytest
import torch

from capsexplorer.net.model import CapsNet
from capsexplorer.net.routing import route, squash


def procedure_1(u_hat, iterations):
    """A literal, loop-by-loop transcription of the paper's Procedure 1 for one example.
    u_hat: (I, J, D) numpy. Returns v (J, D) and the coupling of each iteration."""
    n_in, n_out, _ = u_hat.shape
    b = np.zeros((n_in, n_out))
    couplings = []
    for _ in range(iterations):
        c = np.exp(b) / np.exp(b).sum(axis=1, keepdims=True)  # softmax over the parents j, per i
        couplings.append(c)
        s = np.stack([sum(c[i, j] * u_hat[i, j] for i in range(n_in)) for j in range(n_out)])
        norm2 = (s ** 2).sum(1, keepdims=True)
        v = norm2 / (1 + norm2) * s / np.sqrt(norm2)
        for i in range(n_in):
            for j in range(n_out):
                b[i, j] += u_hat[i, j] @ v[j]
    return v, couplings


@pytest.mark.parametrize("iterations", [1, 2, 3, 5])
def test_route_matches_procedure_1_for_every_example(iterations):
    u_hat = torch.randn(3, 12, 4, 5, dtype=torch.float64) * 0.5  # (B, I, J, D)
    result = route(u_hat.transpose(1, 2).contiguous(), iterations, record=True)
    for k in range(3):
        v, couplings = procedure_1(u_hat[k].numpy(), iterations)
        np.testing.assert_allclose(result.outputs[k].numpy(), v, rtol=1e-6, atol=1e-12)
        for r in range(iterations):
            np.testing.assert_allclose(result.coupling[r, k].numpy(), couplings[r], rtol=1e-6)


def test_coupling_sums_to_one_over_parents_and_starts_uniform(model, heldout):
    x = torch.from_numpy(heldout.images[:6]).float().div(255).unsqueeze(1)
    tr = model.trace(x, iterations=4)
    assert tr.coupling.shape == (4, 6, 1152, 10)
    np.testing.assert_allclose(tr.coupling.sum(axis=-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(tr.coupling[0], 0.1, atol=1e-7)  # b_ij = 0 → uniform over the 10 parents
    np.testing.assert_array_equal(tr.logits[0], 0.0)


def test_routing_of_an_example_does_not_depend_on_the_rest_of_the_batch(model, heldout):
    images = torch.from_numpy(heldout.images[::97][:8]).float().div(255).unsqueeze(1)
    together = model.trace(images, iterations=3)
    for k in (0, 5):
        alone = model.trace(images[k:k + 1], iterations=3)
        np.testing.assert_allclose(together.coupling[:, k], alone.coupling[:, 0], atol=2e-5)
        np.testing.assert_allclose(together.poses[k], alone.poses[0], atol=2e-5)


def test_agreement_raises_the_coupling_to_the_agreeing_parent():
    torch.manual_seed(1)
    n_in, n_out, dim = 50, 10, 16
    u_hat = torch.randn(1, n_in, n_out, dim) * 0.3
    consensus = torch.randn(dim)
    u_hat[0, :, 4] = consensus + 0.05 * torch.randn(n_in, dim)  # every input agrees on parent 4
    result = route(u_hat.transpose(1, 2).contiguous(), 3, record=True)
    to_parent_4 = result.coupling[:, 0, :, 4].mean(dim=1)  # (R,)
    assert to_parent_4[0] == pytest.approx(0.1)
    assert to_parent_4[1] > 0.2 and to_parent_4[2] > to_parent_4[1]
    lengths = result.poses[:, 0].norm(dim=-1)  # (R, 10)
    assert lengths[-1].argmax() == 4 and lengths[-1, 4] > lengths[0, 4]


def test_real_digit_routing_raises_the_winners_coupling(model, digit_image):
    tr = model.trace(torch.from_numpy(digit_image).float().div(255)[None, None], iterations=3)
    winner = int(tr.prediction[0])
    weight = tr.primary_lengths[0]  # active capsules count more
    to_winner = (tr.coupling[:, 0, :, winner] * weight).sum(axis=1) / weight.sum()
    assert winner == 3
    assert to_winner[0] == pytest.approx(0.1, abs=1e-6)
    assert to_winner[2] > to_winner[1] > to_winner[0]


def test_routing_logits_are_not_parameters():
    model = CapsNet()
    shapes = {name: tuple(p.shape) for name, p in model.named_parameters()}
    assert set(shapes) == {"conv1.weight", "conv1.bias", "primary_conv.weight", "primary_conv.bias",
                           "digit_weights"} | {f"decoder.{k}.{w}" for k in (0, 2, 4) for w in ("weight", "bias")}
    assert shapes["digit_weights"] == (1152, 10, 16, 8)
    assert not list(model.buffers())  # nothing carried from one batch to the next
    assert sum(p.numel() for p in model.parameters()) == 8_215_568


def test_route_rejects_zero_iterations():
    with pytest.raises(ValueError):
        route(torch.zeros(1, 10, 4, 16), 0)


def test_squash_of_zero_is_zero_with_finite_gradient():
    s = torch.zeros(2, 10, 16, requires_grad=True)
    v = squash(s)
    assert torch.equal(v, torch.zeros_like(v))
    v.sum().backward()
    assert torch.isfinite(s.grad).all()


def test_squash_length_is_norm2_over_one_plus_norm2():
    s = torch.tensor([[3.0, 4.0]])
    assert squash(s).norm().item() == pytest.approx(25 / 26, rel=1e-6)
