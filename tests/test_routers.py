"""Every router against a slow, literal reading of its paper's equations (issue 24)."""
import numpy as np
import pytest
import torch

from capsexplorer.net.routers import ONE_PASS, ROUTERS, efficient_squash, literal, make_router


def votes(seed=0, batch=3, n_out=4, n_in=7, dim=5):
    return torch.randn(batch, n_out, n_in, dim, generator=torch.Generator().manual_seed(seed)) * 0.4


@pytest.mark.parametrize("name", ["uniform", "attention", "self-attention"])
@pytest.mark.parametrize("iterations", [1, 3])
def test_each_router_equals_its_papers_equations(name, iterations):
    u_hat = votes()
    router = make_router(name, n_in=7, n_out=4, dim=5).double()
    with torch.no_grad():
        for p in router.parameters():  # not the initial zeros / ones: the literal reading must use them
            p.copy_(torch.randn(p.shape, generator=torch.Generator().manual_seed(9), dtype=p.dtype) * 0.3 + p)
        fast = router(u_hat.double(), iterations)  # (B, J, D)
    for b in range(u_hat.shape[0]):
        slow = literal(name, u_hat[b], iterations, router)
        np.testing.assert_allclose(fast[b].numpy(), slow.numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", ROUTERS)
def test_every_router_records_what_the_views_draw(name):
    u_hat = votes(batch=2)
    router = make_router(name, n_in=7, n_out=4, dim=5)
    result = router(u_hat, 3, record=True)
    passes = 1 if name in ONE_PASS else 3
    assert result.coupling.shape == (passes, 2, 7, 4) and result.logits.shape == (passes, 2, 7, 4)
    assert result.poses.shape == (passes, 2, 4, 5) and result.outputs.shape == (2, 4, 5)
    torch.testing.assert_close(result.poses[-1], result.outputs)
    torch.testing.assert_close(router(u_hat, 3), result.outputs)
    lengths = result.outputs.norm(dim=-1)
    lengths = lengths.detach()
    assert float(lengths.min()) >= 0 and float(lengths.max()) < 1  # a length is a probability for every router


def test_efficient_squash_is_their_equation_and_keeps_zero():
    s = torch.tensor([[3.0, 4.0], [0.0, 0.0]])
    v = efficient_squash(s)
    np.testing.assert_allclose(v[0].numpy(), (1 - np.exp(-5.0)) * np.array([0.6, 0.8]), rtol=1e-6)
    assert torch.equal(v[1], torch.zeros(2))


def test_an_unknown_router_is_one_clear_line():
    with pytest.raises(ValueError, match="unknown router 'em'; choose one of dynamic, uniform, attention"):
        make_router("em", 7, 4, 5)


@pytest.mark.parametrize("name", ROUTERS)
def test_a_model_of_each_router_counts_saves_and_loads_its_router(tmp_path, name):
    from capsexplorer import load_model, save_weights
    from capsexplorer.net.config import CapsNetConfig
    from capsexplorer.net.model import CapsNet

    config = CapsNetConfig(routing=name)
    model = CapsNet(config)
    assert config.parameter_count() == sum(p.numel() for p in model.parameters())
    with torch.no_grad():
        for p in model.router.parameters():
            p.add_(0.25)
    save_weights(model, tmp_path / "w.safetensors", {"dataset": "mnist"})
    loaded = load_model(str(tmp_path / "w.safetensors"), device="cpu")
    assert loaded.config.routing == name and type(loaded.router) is type(model.router)
    for a, b in zip(model.router.parameters(), loaded.router.parameters()):
        torch.testing.assert_close(a.half().float(), b.float())
    x = torch.rand(2, 1, 28, 28)
    tr = loaded.trace(x, iterations=3)
    assert tr.coupling.shape == ((1 if name in ONE_PASS else 3), 2, 1152, 10)


def test_the_router_is_checked_where_a_user_names_it(tmp_path):
    from capsexplorer.cli.parser import build_parser
    from capsexplorer.errors import CapsExplorerError
    from capsexplorer.net.config import CapsNetConfig
    from capsexplorer.training.train import TrainConfig

    with pytest.raises(ValueError, match="routing must be one of dynamic, uniform, attention, self-attention, got 'em'"):
        CapsNetConfig.from_dict({"routing": "em"})
    with pytest.raises(CapsExplorerError, match="--routing chooses a CapsNet's router; the CNN has none"):
        TrainConfig(model="cnn", routing="attention", out=str(tmp_path / "c.safetensors")).validate()
    args = build_parser().parse_args(["train", "--routing", "self-attention"])
    assert args.routing == "self-attention"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--routing", "em"])


@pytest.mark.parametrize("name", ROUTERS)
def test_the_inspector_writes_the_rule_of_the_router_in_use(name):
    """Issue 24 §1: the formula view shows the router's own rule, with the clicked capsule's numbers."""
    pytest.importorskip("PySide6")
    from capsexplorer.app.panels.inspector import procedure_html
    from capsexplorer.net.config import CapsNetConfig
    from capsexplorer.net.model import CapsNet

    model = CapsNet(CapsNetConfig(routing=name))
    tr = model.trace(torch.rand(1, 1, 28, 28), iterations=3, keep_u_hat=True)
    r = tr.iterations - 1
    html = procedure_html(tr, 7, r, routing=name)
    rule = {"dynamic": "softmax(b<sub>i·</sub>)", "uniform": "Uniform couplings",
            "attention": "Inverted dot-product attention", "self-attention": "Self-attention routing"}[name]
    assert rule in html
    assert f"{tr.coupling[r, 0, 7, 0]:+.3f}" in html  # the clicked capsule's own coupling, as the views show it
