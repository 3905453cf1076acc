"""The MNIST CapsNet of Sabour, Frosst & Hinton (2017), Section 4, with its decoder (Fig. 2).

Conv1 (256, 9×9, ReLU) → PrimaryCaps (32 types × 8-D, 9×9 stride 2 → 6×6×32 = 1152 capsules)
→ DigitCaps (10 × 16-D, one 16×8 W_ij per pair, dynamic routing) → decoder 512-1024-784.
"""
from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from capsexplorer.errors import DeviceError
from capsexplorer.net.config import MAX_ITERATIONS, CapsNetConfig
from capsexplorer.net.routers import make_router
from capsexplorer.net.routing import squash
from capsexplorer.net.trace import RoutingTrace

SMALL_BATCH = 4  # up to this many images, inference runs PrimaryCaps as a patch GEMM


def default_device() -> torch.device:
    """CUDA when a GPU is present, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def resolve_device(device: str | torch.device | None) -> torch.device:
    """`None` → the default; a name ("cpu", "cuda", "cuda:1", "mps") checked against this machine.
    Raises DeviceError with one line for a name torch does not know or a device that is absent."""
    if device is None:
        return default_device()
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise DeviceError(f"unknown device {str(device)!r}; use cpu, cuda or cuda:N") from None
    if resolved.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise DeviceError(f"device {str(device)!r}: no CUDA GPU is available on this machine")
        if resolved.index is not None and resolved.index >= count:
            raise DeviceError(f"device {str(device)!r}: this machine has {count} CUDA GPU"
                              f"{'s' if count > 1 else ''} (cuda:0{f'–cuda:{count - 1}' if count > 1 else ''})")
    elif resolved.type == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise DeviceError(f"device {str(device)!r}: Apple's MPS is not available on this machine")
    elif resolved.type != "cpu":
        raise DeviceError(f"device {str(device)!r} is not supported; use cpu, cuda or cuda:N")
    return resolved


class CapsNet(nn.Module):
    kind = "capsnet"

    def __init__(self, config: CapsNetConfig | None = None):
        super().__init__()
        self.config = cfg = config or CapsNetConfig()
        self.conv1 = nn.Conv2d(1, cfg.conv_channels, cfg.kernel)
        self.primary_conv = nn.Conv2d(cfg.conv_channels, cfg.primary_types * cfg.primary_dim,
                                      cfg.kernel, stride=2)
        # One 16×8 matrix W_ij for every primary capsule i and digit capsule j, shared by the batch.
        self.digit_weights = nn.Parameter(
            torch.randn(cfg.n_primary, cfg.n_classes, cfg.digit_dim, cfg.primary_dim).mul_(0.01))
        h1, h2 = cfg.decoder_hidden
        self.decoder = nn.Sequential(
            nn.Linear(cfg.n_classes * cfg.digit_dim, h1), nn.ReLU(inplace=True),
            nn.Linear(h1, h2), nn.ReLU(inplace=True),
            nn.Linear(h2, cfg.image_size * cfg.image_size), nn.Sigmoid(),
        )
        # Made last and drawing no random numbers: a dynamic-routing model's initial weights are as they were.
        self.router = make_router(cfg.routing, cfg.n_primary, cfg.n_classes, cfg.digit_dim)
        self.metadata: dict[str, str] = {}
        self._gemm_cache: tuple | None = None

    @property
    def device(self) -> torch.device:
        return self.digit_weights.device

    # --- the layers -------------------------------------------------------------------------
    def fit_input(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, H, H) network inputs — 28×28, as preprocessing and the data sets make them — brought to
        this model's image size: a MultiMNIST model's 36×36 canvas takes a 28×28 digit at its own scale,
        centred (zero padding, as its training placed digits); others are resized (bilinear, antialiased).
        Unchanged when they already fit."""
        size = self.config.image_size
        if x.shape[-2:] == (size, size):
            return x
        pad = (size - x.shape[-1]) // 2
        if getattr(self, "metadata", {}).get("dataset") == "multimnist" and pad >= 0 and x.shape[-1] + 2 * pad == size:
            return F.pad(x, (pad, pad, pad, pad))
        return F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False).clamp(0, 1)

    def primary_capsules(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, 1, 28, 28) → squashed primary capsules u_i (B, 1152, 8)."""
        cfg = self.config
        h = F.relu(self.conv1(x))  # (B, 256, 20, 20)
        batch = h.shape[0]
        if batch <= SMALL_BATCH and not torch.is_grad_enabled():
            p = self._primary_conv_as_gemm(h)
        else:
            p = self.primary_conv(h)  # (B, 32·8, 6, 6): channel = type·8 + component
        p = p.view(batch, cfg.primary_types, cfg.primary_dim, cfg.grid, cfg.grid)  # (B, 32, 8, 6, 6)
        u = p.permute(0, 1, 3, 4, 2).reshape(batch, cfg.n_primary, cfg.primary_dim)  # (B, 1152, 8)
        return squash(u)

    def _primary_conv_as_gemm(self, h: torch.Tensor) -> torch.Tensor:
        """The PrimaryCaps convolution as one GEMM over strided 9×9 patches — about 30% faster
        than the library convolution for the one or few images of a live trace on a CPU."""
        batch, channels, size, _ = h.shape
        k, stride, grid = self.config.kernel, 2, self.config.grid
        nhwc = h.permute(0, 2, 3, 1).contiguous()  # (B, 20, 20, C)
        patches = nhwc.as_strided(
            (batch, grid, grid, k, k, channels),
            (size * size * channels, stride * size * channels, stride * channels, size * channels, channels, 1),
        ).reshape(batch * grid * grid, k * k * channels)  # (B·36, 81·C)
        kernel = self._gemm_kernel()  # (81·C, 256)
        out = torch.addmm(self.primary_conv.bias, patches, kernel)  # (B·36, 256)
        return out.view(batch, grid, grid, -1).permute(0, 3, 1, 2)  # (B, 256, 6, 6)

    def _gemm_kernel(self) -> torch.Tensor:
        """The PrimaryCaps weights laid out for the patch GEMM, re-laid only when they change."""
        weight = self.primary_conv.weight
        version = -1 if weight.is_inference() else weight._version  # inference tensors keep no count
        key = (weight.data_ptr(), version, weight.device)
        if self._gemm_cache is None or self._gemm_cache[0] != key:
            kernel = weight.detach().permute(2, 3, 1, 0).reshape(-1, weight.shape[0]).contiguous()
            self._gemm_cache = (key, kernel)
        return self._gemm_cache[1]

    def predictions(self, u: torch.Tensor) -> torch.Tensor:
        """û_{j|i} = W_ij u_i, returned parent-major (B, 10, 1152, 16).

        One batched matmul over i with the batch as the columns: W is never copied per example.
        """
        n_in, n_out, dim, k = self.digit_weights.shape
        w_t = self.digit_weights.view(n_in, n_out * dim, k).transpose(1, 2)  # (I, K, J·D)
        u_hat = torch.bmm(u.transpose(0, 1), w_t)  # (I, B, J·D)
        return u_hat.view(n_in, -1, n_out, dim).permute(1, 2, 0, 3).contiguous()  # (B, J, I, D)

    def masked(self, poses: torch.Tensor, digits: torch.Tensor) -> torch.Tensor:
        """The decoder's input: the DigitCaps output masked to one capsule, (B, 10, 16), (B,) → (B, 160)."""
        mask = F.one_hot(digits.long(), self.config.n_classes).to(poses.dtype)  # (B, 10)
        return (poses * mask.unsqueeze(-1)).flatten(1)  # (B, 160)

    def decode(self, poses: torch.Tensor, digits: torch.Tensor) -> torch.Tensor:
        """Decoder fed the DigitCaps output masked to one capsule: (B, 10, 16), (B,) → (B, 784)."""
        return self.decoder(self.masked(poses, digits))

    def capsules(self, x: torch.Tensor, iterations: int | None = None) -> torch.Tensor:
        """x (B, 1, 28, 28) → the routed DigitCaps output v_j (B, 10, 16)."""
        u = self.primary_capsules(self.fit_input(x))  # (B, 1152, 8)
        return self.router(self.predictions(u), iterations or self.config.routing_iterations)  # (B, 10, 16)

    def forward(self, x: torch.Tensor, iterations: int | None = None,
                labels: torch.Tensor | None = None):
        """Training/inference pass → (lengths (B, 10), poses (B, 10, 16), reconstruction (B, 784)).

        The decoder is masked by `labels` when given (training), else by the longest capsule. Labels (B, K)
        — K digits in each image, MultiMNIST's two — give K reconstructions, (B, K, 784), each from its own
        capsule (Sabour et al. 2017, §6).
        """
        v = self.capsules(x, iterations)  # (B, 10, 16)
        lengths = v.norm(dim=-1)  # (B, 10)
        digits = labels if labels is not None else lengths.argmax(dim=1)
        if digits.ndim == 2:  # several labels an image (MultiMNIST): one reconstruction from each own capsule
            return lengths, v, torch.stack([self.decode(v, digits[:, k]) for k in range(digits.shape[1])], 1)
        return lengths, v, self.decode(v, digits)

    def class_scores(self, x: torch.Tensor, iterations: int | None = None) -> torch.Tensor:
        """(B, 10) the capsule lengths ‖v_j‖: what `evaluate` compares across models."""
        return self(x, iterations)[0]

    # --- the explorer's API -----------------------------------------------------------------
    def trace(self, batch: torch.Tensor, iterations: int = 3, keep_u_hat: bool = False,
              primary_mask=None) -> RoutingTrace:
        """Runs the network on `batch` (B×1×28×28, or B×28×28, floats in [0, 1]; resized to the model's
        image size when that differs) and records
        every routing iteration. Returns a detached, CPU, numpy RoutingTrace.

        `primary_mask` (1152,) bool switches primary capsules off (False): their predictions û are
        zero, so they send nothing to any parent and never agree — the parts taken away."""
        check_iterations(iterations)
        x = self.fit_input(_as_batch(batch).to(self.device))
        with torch.inference_mode():
            start = time.perf_counter()
            u = self.primary_capsules(x)  # (B, 1152, 8)
            u_hat = self.predictions(u)  # (B, 10, 1152, 16)
            if primary_mask is not None:
                keep = torch.as_tensor(np.asarray(primary_mask, dtype=bool).reshape(-1), device=self.device)
                if keep.numel() != u_hat.shape[2]:
                    raise ValueError(f"primary_mask needs {u_hat.shape[2]} entries, got {keep.numel()}")
                u_hat = u_hat * keep.view(1, 1, -1, 1)
            routed = self.router(u_hat, iterations, record=True)
            lengths = routed.poses.norm(dim=-1)  # (R, B, 10)
            prediction = lengths[-1].argmax(dim=1)  # (B,)
            recon = self.decode(routed.outputs, prediction)  # (B, 784)
            if x.is_cuda:
                torch.cuda.synchronize()
            seconds = time.perf_counter() - start
            size = self.config.image_size
            return RoutingTrace(
                images=_numpy(x[:, 0]),
                logits=_numpy(routed.logits),
                coupling=_numpy(routed.coupling),
                lengths=_numpy(lengths),
                iteration_poses=_numpy(routed.poses),
                poses=_numpy(routed.outputs),
                prediction=_numpy(prediction),
                primary_poses=_numpy(u),
                primary_lengths=_numpy(u.norm(dim=-1)),
                reconstruction=_numpy(recon.view(-1, size, size)),
                seconds=seconds,
                u_hat=_numpy(u_hat.transpose(1, 2)) if keep_u_hat else None,
            )

    def poses(self, batch, iterations: int = 3) -> np.ndarray:
        """The routed DigitCaps output v_j (B, 10, 16) for `batch` (what `trace` takes), and nothing else."""
        check_iterations(iterations)
        with torch.inference_mode():
            return _numpy(self.capsules(self.fit_input(_as_batch(batch).to(self.device)), iterations))

    def reconstruct(self, pose, digit) -> torch.Tensor:
        """Decoder image for 16-D poses of chosen digit capsules: pose (B, 16), digit (B,) → (B, 28, 28)."""
        cfg = self.config
        pose = torch.as_tensor(np.asarray(pose, dtype=np.float32) if not torch.is_tensor(pose) else pose)
        digit = torch.as_tensor(digit).reshape(-1)
        if pose.numel() % cfg.digit_dim or pose.shape[-1] != cfg.digit_dim:
            raise ValueError(f"a pose has {cfg.digit_dim} values; got shape {tuple(pose.shape)}")
        pose = pose.reshape(-1, cfg.digit_dim).float().to(self.device)
        if pose.shape[0] != digit.shape[0]:
            raise ValueError(f"{pose.shape[0]} poses but {digit.shape[0]} digits")
        if digit.numel() and (int(digit.min()) < 0 or int(digit.max()) >= cfg.n_classes):
            raise ValueError(f"digit must be in 0..{cfg.n_classes - 1}")
        digit = digit.to(self.device)
        with torch.inference_mode():
            poses = pose.new_zeros(pose.shape[0], cfg.n_classes, cfg.digit_dim)  # (B, 10, 16)
            poses[torch.arange(pose.shape[0], device=self.device), digit] = pose
            image = self.decode(poses, digit).view(-1, cfg.image_size, cfg.image_size)
            return image.float().cpu()


def check_iterations(iterations: int) -> None:
    if isinstance(iterations, bool) or not isinstance(iterations, (int, np.integer)) \
            or not 1 <= iterations <= MAX_ITERATIONS:
        raise ValueError(f"routing iterations must be an integer from 1 to {MAX_ITERATIONS}, got {iterations!r}")


def _as_batch(batch, size: int | None = None) -> torch.Tensor:
    """→ (B, 1, N, N) floats: of `size`, or — without one — square images of any size."""
    x = torch.as_tensor(batch).float()
    if x.dim() == 2:
        x = x[None, None]
    elif x.dim() == 3:  # (B, 28, 28), or the (1, 28, 28) that preprocess returns
        x = x[:, None]
    n = size or (x.shape[-1] if x.dim() == 4 else 0)
    if x.dim() != 4 or x.shape[1:] != (1, n, n):
        raise ValueError(f"expected a batch of shape B×1×{size or 'N'}×{size or 'N'}, got {tuple(x.shape)}")
    if x.shape[0] == 0:
        raise ValueError("the batch is empty")
    return x


def _numpy(t: torch.Tensor) -> np.ndarray:
    t = t.detach()
    return (t.float() if t.is_floating_point() else t).cpu().numpy()
