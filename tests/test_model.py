import numpy as np
import pytest
import torch

from capsexplorer import RoutingTrace, load_model, preprocess
from capsexplorer.net.model import CapsNet, default_device


class Fixed(torch.nn.Module):
    def __init__(self, out):
        super().__init__()
        self.out = out

    def forward(self, h):
        return self.out


def test_each_primary_capsule_is_the_8_channels_of_one_type_at_one_position():
    model = CapsNet()
    out = torch.randn(2, 256, 6, 6)
    model.primary_conv = Fixed(out)
    with torch.enable_grad():  # the library-convolution path
        u = model.primary_capsules(torch.zeros(2, 1, 28, 28))
    for capsule_type, row, col in [(0, 0, 0), (5, 2, 3), (31, 5, 5)]:
        i = capsule_type * 36 + row * 6 + col
        raw = out[1, capsule_type * 8:(capsule_type + 1) * 8, row, col]
        norm2 = (raw ** 2).sum()
        np.testing.assert_allclose(u[1, i].detach().numpy(), (norm2 / (1 + norm2) * raw / norm2.sqrt()).numpy(),
                                   rtol=1e-5)


def test_gemm_path_for_live_traces_equals_the_convolution():
    model = CapsNet().eval()
    x = torch.rand(3, 1, 28, 28)
    with torch.no_grad():
        fast = model.primary_capsules(x)
    with torch.enable_grad():
        slow = model.primary_capsules(x).detach()
    torch.testing.assert_close(fast, slow, rtol=1e-4, atol=1e-5)
    with torch.no_grad():  # re-laid after the weights change
        model.primary_conv.weight.mul_(2)
        fast = model.primary_capsules(x)
    with torch.enable_grad():
        slow = model.primary_capsules(x).detach()
    torch.testing.assert_close(fast, slow, rtol=1e-4, atol=1e-5)


def test_w_is_shared_by_the_batch_not_copied():
    model = CapsNet()
    u = torch.randn(5, 1152, 8)
    u_hat = model.predictions(u)  # (B, J, I, D)
    expected = torch.einsum("ijdk,bik->bjid", model.digit_weights, u)
    torch.testing.assert_close(u_hat, expected, rtol=1e-4, atol=1e-5)


def test_trace_has_the_documented_shapes(model, heldout):
    batch = torch.from_numpy(heldout.images[:2]).float().div(255).unsqueeze(1)
    tr = model.trace(batch, iterations=3)
    assert isinstance(tr, RoutingTrace)
    assert tr.coupling.shape == (3, 2, 1152, 10)
    assert tr.logits.shape == (3, 2, 1152, 10)
    assert tr.lengths.shape == (3, 2, 10)
    assert tr.poses.shape == (2, 10, 16)
    assert tr.prediction.shape == (2,)
    assert tr.primary_poses.shape == (2, 1152, 8) and tr.primary_lengths.shape == (2, 1152)
    assert tr.reconstruction.shape == (2, 28, 28)
    np.testing.assert_allclose(np.linalg.norm(tr.poses, axis=-1), tr.lengths[-1], rtol=1e-5)
    assert list(tr.prediction) == list(tr.lengths[-1].argmax(axis=1))
    assert tr.prediction.dtype.kind == "i" and tr.coupling.dtype == np.float32
    assert tr.u_hat is None
    assert model.trace(batch[:1], iterations=1, keep_u_hat=True).u_hat.shape == (1, 1152, 10, 16)


def test_trace_accepts_what_preprocess_returns(model, digit_image):
    x = preprocess(digit_image)
    assert x.shape == (1, 28, 28) and x.dtype == torch.float32
    assert int(model.trace(x).prediction[0]) == 3


@pytest.mark.parametrize("iterations", [0, 11, 2.5])
def test_trace_refuses_iterations_outside_1_to_10(model, iterations):
    with pytest.raises(ValueError, match="1 to 10"):
        model.trace(torch.zeros(1, 1, 28, 28), iterations=iterations)


def test_every_iteration_count_from_1_to_10(model, digit_image):
    x = preprocess(digit_image)[None]
    for n in range(1, 11):
        assert model.trace(x, iterations=n).coupling.shape[0] == n


def test_reconstruct_returns_images_in_unit_range(model, digit_image):
    tr = model.trace(preprocess(digit_image)[None])
    digit = int(tr.prediction[0])
    image = model.reconstruct(torch.from_numpy(tr.poses[:, digit]), torch.tensor([digit]))
    assert image.shape == (1, 28, 28)
    assert float(image.min()) >= 0 and float(image.max()) <= 1
    np.testing.assert_allclose(image.numpy(), tr.reconstruction, atol=1e-5)
    bent = tr.poses[:, digit].copy()
    bent[0, 3] += 0.25
    assert not np.allclose(model.reconstruct(bent, [digit]).numpy(), image.numpy(), atol=1e-3)
    with pytest.raises(ValueError):
        model.reconstruct(np.zeros((1, 16)), [10])


def test_trace_saves_and_loads(tmp_path, model, digit_image):
    tr = model.trace(preprocess(digit_image)[None])
    tr.save(tmp_path / "t.npz")
    back = RoutingTrace.load(tmp_path / "t.npz")
    np.testing.assert_array_equal(back.coupling, tr.coupling)
    assert back.seconds == tr.seconds


def test_the_device_is_cuda_exactly_when_a_gpu_is_there(monkeypatch):
    from capsexplorer.errors import DeviceError
    from capsexplorer.net.model import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    assert resolve_device(None) == torch.device("cpu") and default_device().type == "cpu"
    with pytest.raises(DeviceError, match="no CUDA GPU"):
        resolve_device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device(None) == torch.device("cuda") and resolve_device("cuda:1") == torch.device("cuda:1")
    with pytest.raises(DeviceError, match="has 2 CUDA GPUs"):
        resolve_device("cuda:2")
    assert resolve_device("cpu") == torch.device("cpu")


def test_load_model_is_in_eval_mode_on_the_default_device():
    model = load_model()
    assert not model.training and model.device.type == default_device().type
