"""Plain, vectorised CapsNets — the same network written without our engine's care — as yardsticks
for bench_engine.py:

- EinsumCapsNet, the strongest plain version we could write: W shared by the batch (never copied per
  example), û and the routing sums as torch.einsum contractions. The ratios in the README are against it.
- PlainCapsNet, as most public code does it: broadcasts W against the batch (torch.matmul then
  materialises one copy of W per example) and routes with elementwise products and sums."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def squash(s, dim=-1):
    n2 = (s ** 2).sum(dim, keepdim=True)
    return n2 / (1 + n2) * s / torch.sqrt(n2 + 1e-9)


class PlainCapsNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 256, 9)
        self.primary = nn.Conv2d(256, 256, 9, stride=2)
        self.W = nn.Parameter(0.01 * torch.randn(1, 1152, 10, 16, 8))
        self.decoder = nn.Sequential(nn.Linear(160, 512), nn.ReLU(), nn.Linear(512, 1024), nn.ReLU(),
                                     nn.Linear(1024, 784), nn.Sigmoid())

    def forward(self, x, iterations=3, labels=None):
        h = F.relu(self.conv1(x))
        p = self.primary(h).view(x.shape[0], 32, 8, 6, 6).permute(0, 1, 3, 4, 2).reshape(x.shape[0], 1152, 8)
        u = squash(p)
        u_hat = torch.matmul(self.W, u[:, :, None, :, None]).squeeze(-1)  # (B, 1152, 10, 16)
        b = torch.zeros(x.shape[0], 1152, 10, device=x.device)
        for r in range(iterations):
            c = F.softmax(b, dim=2)
            v = squash((c.unsqueeze(-1) * u_hat).sum(dim=1))  # (B, 10, 16)
            if r < iterations - 1:
                b = b + (u_hat * v.unsqueeze(1)).sum(-1)
        lengths = v.norm(dim=-1)
        digits = labels if labels is not None else lengths.argmax(1)
        masked = v * F.one_hot(digits, 10).unsqueeze(-1)
        return lengths, v, self.decoder(masked.flatten(1))


class EinsumCapsNet(PlainCapsNet):
    """W (1152, 10, 16, 8) shared by the batch; û and the routing as einsum contractions."""

    def __init__(self):
        super().__init__()
        self.W = nn.Parameter(0.01 * torch.randn(1152, 10, 16, 8))

    def forward(self, x, iterations=3, labels=None):
        h = F.relu(self.conv1(x))
        p = self.primary(h).view(x.shape[0], 32, 8, 6, 6).permute(0, 1, 3, 4, 2).reshape(x.shape[0], 1152, 8)
        u = squash(p)
        u_hat = torch.einsum("ijdk,bik->bijd", self.W, u)  # (B, 1152, 10, 16)
        b = torch.zeros(x.shape[0], 1152, 10, device=x.device, dtype=u_hat.dtype)
        for r in range(iterations):
            c = F.softmax(b, dim=2)
            v = squash(torch.einsum("bij,bijd->bjd", c.to(u_hat.dtype), u_hat))  # (B, 10, 16)
            if r < iterations - 1:
                b = b + torch.einsum("bijd,bjd->bij", u_hat, v)
        lengths = v.norm(dim=-1)
        digits = labels if labels is not None else lengths.argmax(1)
        masked = v * F.one_hot(digits, 10).unsqueeze(-1).to(v.dtype)
        return lengths, v, self.decoder(masked.flatten(1))
