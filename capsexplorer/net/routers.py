"""Routers: how the predictions û_{j|i} of the primary capsules become the parent capsules v_j.

One interface for every router: votes û laid out parent-major (B, J, I, D) and an iteration count in; the
parents v_j (B, J, D) out — or, with `record`, a RoutingResult holding the couplings, logits and poses of every
pass, so that every view of a trace (the routing matrix, the inspector, the votes, segmentation, the parts, the
probe) works for every router. A router that makes one pass (uniform, self-attention) records one.

- `dynamic` — routing by agreement, Procedure 1 of Sabour, Frosst & Hinton (2017): capsexplorer.net.routing.
- `uniform` — c_ij = 1/J, no agreement step: the ablation as a model of its own (Paik, Kwon & Kim 2019).
- `attention` — inverted dot-product attention (Tsai, Srivastava, Goh & Salakhutdinov, ICLR 2020): the first pass
  uniform, then r_ij = softmax_j(⟨v_j, û_{j|i}⟩ / √D) and v_j = LayerNorm(Σ_i r_ij û_{j|i}).
- `self-attention` — Efficient-CapsNet's routing (Mazzia, Salvetti & Chiaberge 2021): one pass,
  c_ij = softmax_j(Σ_k ⟨û_{j|i}, û_{j|k}⟩ / √D) + b_ij with learned log priors b_ij, and their squash
  v = (1 − 1/e^‖s‖) s/‖s‖.

Lengths are what the margin loss reads as class presence (Eq. 4) for every router. LayerNorm gives every vector
the same length (√D for a unit gain), so the attention router's *output* is the squash of its last weighted sum
s_j, while its agreement step uses LayerNorm(s_j) as Tsai et al. do; everything else is as the papers write it.
EM routing (Hinton, Sabour & Frosst 2018) is left out: it routes matrix capsules with activations and
per-dimension Gaussians, not vector capsules whose length is the probability — made to fit these, it would no
longer be the paper's algorithm.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from capsexplorer.net.config import ROUTERS  # noqa: F401 — the names, kept with the config (no torch there)
from capsexplorer.net.routing import RoutingResult, route, squash

ONE_PASS = ("uniform", "self-attention")  # routers whose iteration count is always 1
_EPS = 1e-9


def efficient_squash(s: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Efficient-CapsNet's squash: v = (1 − 1/e^‖s‖) · s/‖s‖ (Mazzia et al. 2021, Eq. 5). Zero maps to zero."""
    norm = torch.sqrt((s * s).sum(dim=dim, keepdim=True) + _EPS)
    return (1.0 - torch.exp(-norm)) * s / norm


def _weighted_sum(c: torch.Tensor, u_hat: torch.Tensor) -> torch.Tensor:
    """s_j = Σ_i c_ij û_{j|i}: c (B, J, I), û (B, J, I, D) → (B, J, D), one batched product."""
    batch, n_out, n_in, dim = u_hat.shape
    s = torch.bmm(c.reshape(batch * n_out, 1, n_in), u_hat.reshape(batch * n_out, n_in, dim))  # (B·J, 1, D)
    return s.view(batch, n_out, dim)


def _result(couplings: list, logits: list, poses: list, outputs: torch.Tensor, record: bool):
    if not record:
        return outputs
    return RoutingResult(logits=torch.stack([b.transpose(1, 2) for b in logits]),  # (R, B, I, J)
                         coupling=torch.stack([c.transpose(1, 2) for c in couplings]),
                         poses=torch.stack(poses), outputs=outputs)


class Router(nn.Module):
    """`forward(u_hat (B, J, I, D), iterations, record)` → v (B, J, D), or a RoutingResult when `record`."""

    name = ""

    def forward(self, u_hat: torch.Tensor, iterations: int = 3, record: bool = False):  # pragma: no cover
        raise NotImplementedError


class DynamicRouter(Router):
    name = "dynamic"

    def forward(self, u_hat, iterations=3, record=False):
        return route(u_hat, iterations, record)


class UniformRouter(Router):
    """c_ij = 1/J for every pair; one pass, whatever the iteration count."""

    name = "uniform"

    def forward(self, u_hat, iterations=3, record=False):
        batch, n_out, n_in, _ = u_hat.shape
        c = u_hat.new_full((batch, n_out, n_in), 1.0 / n_out)  # (B, J, I)
        v = squash(_weighted_sum(c, u_hat))  # (B, J, D)
        return _result([c], [torch.zeros_like(c)], [v], v, record)


class AttentionRouter(Router):
    """Inverted dot-product attention (Tsai et al. 2020, Procedure 1), with the squash of the last weighted sum
    as the output capsules (see the module's docstring)."""

    name = "attention"

    def __init__(self, dim: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim)

    def forward(self, u_hat, iterations=3, record=False):
        batch, n_out, n_in, dim = u_hat.shape
        logits = u_hat.new_zeros(batch, n_out, n_in)  # (B, J, I): the first pass is uniform
        couplings, all_logits, poses = [], [], []
        for _ in range(iterations):
            r = torch.softmax(logits, dim=1)  # (B, J, I): over the parents j
            s = _weighted_sum(r, u_hat)  # (B, J, D)
            pose = self.norm(s)  # v_j = LayerNorm(s_j): what the next agreement compares with
            couplings.append(r)
            all_logits.append(logits)
            poses.append(squash(s))
            logits = torch.einsum("bjd,bjid->bji", pose, u_hat) / math.sqrt(dim)  # ⟨v_j, û_{j|i}⟩ / √D
        return _result(couplings, all_logits, poses, poses[-1], record)


class SelfAttentionRouter(Router):
    """Efficient-CapsNet's self-attention routing (Mazzia et al. 2021, Eq. 6–8): one pass. Σ_k ⟨û_{j|i}, û_{j|k}⟩
    is ⟨û_{j|i}, Σ_k û_{j|k}⟩, so the I×I attention matrix is never formed."""

    name = "self-attention"

    def __init__(self, n_in: int, n_out: int):
        super().__init__()
        self.log_priors = nn.Parameter(torch.zeros(n_in, n_out))  # b_ij, learned

    def forward(self, u_hat, iterations=3, record=False):
        dim = u_hat.shape[-1]
        total = u_hat.sum(dim=2, keepdim=True)  # (B, J, 1, D): Σ_k û_{j|k}
        a = (u_hat * total).sum(-1) / math.sqrt(dim)  # (B, J, I): Σ_k ⟨û_{j|i}, û_{j|k}⟩ / √D
        c = torch.softmax(a, dim=1) + self.log_priors.t().unsqueeze(0)  # (B, J, I)
        v = efficient_squash(_weighted_sum(c, u_hat))  # (B, J, D)
        return _result([c], [a], [v], v, record)


def make_router(name: str, n_in: int, n_out: int, dim: int) -> Router:
    """The router `name` (one of ROUTERS) for n_in primary and n_out parent capsules of `dim` dimensions."""
    if name == "dynamic":
        return DynamicRouter()
    if name == "uniform":
        return UniformRouter()
    if name == "attention":
        return AttentionRouter(dim)
    if name == "self-attention":
        return SelfAttentionRouter(n_in, n_out)
    raise ValueError(f"unknown router {name!r}; choose one of {', '.join(ROUTERS)}")


def literal(name: str, u_hat: torch.Tensor, iterations: int, router: Router | None = None) -> torch.Tensor:
    """The slow, literal reading of each paper's equations, loop by loop over i and j (float64; for tests):
    u_hat (J, I, D) for one example → v (J, D)."""
    n_out, n_in, dim = u_hat.shape
    u = u_hat.double()
    if name == "uniform":
        s = [sum(u[j, i] / n_out for i in range(n_in)) for j in range(n_out)]
        return torch.stack([squash(sj) for sj in s])
    if name == "self-attention":
        priors = router.log_priors.detach().double()
        a = torch.zeros(n_in, n_out, dtype=torch.float64)
        for j in range(n_out):
            attention = u[j] @ u[j].t() / math.sqrt(dim)  # (I, I): A_j of Eq. 6
            for i in range(n_in):
                a[i, j] = attention[i].sum()
        c = torch.exp(a) / torch.exp(a).sum(dim=1, keepdim=True) + priors  # Eq. 7: softmax over j, plus b_ij
        s = [sum(c[i, j] * u[j, i] for i in range(n_in)) for j in range(n_out)]
        return torch.stack([efficient_squash(sj) for sj in s])
    if name == "attention":
        norm = router.norm
        weight, bias = norm.weight.detach().double(), norm.bias.detach().double()
        layer_norm = lambda x: F.layer_norm(x, (dim,), weight, bias, norm.eps)  # noqa: E731
        r = torch.full((n_in, n_out), 1.0 / n_out, dtype=torch.float64)  # the first pass: uniform
        for step in range(iterations):
            s = [sum(r[i, j] * u[j, i] for i in range(n_in)) for j in range(n_out)]
            v = [layer_norm(sj) for sj in s]
            if step < iterations - 1:
                agreement = torch.tensor([[float(v[j] @ u[j, i]) / math.sqrt(dim) for j in range(n_out)]
                                          for i in range(n_in)], dtype=torch.float64)
                r = torch.exp(agreement) / torch.exp(agreement).sum(dim=1, keepdim=True)  # softmax over j
        return torch.stack([squash(sj) for sj in s])
    raise ValueError(f"no literal reading of {name!r} here (dynamic routing's is in the tests)")
