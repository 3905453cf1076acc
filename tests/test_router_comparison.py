"""Routers trained alike, compared (issue 24): the table's measurement, `capsexplorer routers`, one input under
every router. Random-weight models stand in for the shipped ones: what is checked is the plumbing and the
figures' meaning, not their values."""
import json

import numpy as np
import pytest
import torch

from capsexplorer.analysis import router_comparison as rc
from capsexplorer.net.config import PAIR_ROUTERS, CapsNetConfig
from capsexplorer.net.model import CapsNet
from capsexplorer.net.routers import ROUTERS

SMALL = {"test": 24, "drawn": 6, "robustness": 6, "movement": 6, "pairs": 8, "speed": 8, "train_steps": 1}


def random_model(router, size=28, seed=0):
    torch.manual_seed(seed)
    model = CapsNet(CapsNetConfig(image_size=size, routing=router)).eval()
    model.metadata = {"dataset": "mnist"}
    return model


@pytest.fixture
def stand_ins(monkeypatch):
    loaded = []

    def load(name, device=None):
        loaded.append(name)
        router = name.split("-", 1)[1]
        return random_model(router, 36 if name.startswith("multimnist") else 28)

    monkeypatch.setattr("capsexplorer.net.weights.load_model", load)
    monkeypatch.setattr(rc, "_shipped", lambda name: True)  # the stand-ins are "shipped"
    return loaded


def test_every_router_is_named_and_measured_alike(stand_ins):
    table = rc.measure(counts=SMALL)
    assert [row["name"] for row in table["routers"]] == list(ROUTERS)
    assert stand_ins == ["mnist-dynamic", "multimnist-dynamic", "mnist-uniform", "multimnist-uniform",
                         "mnist-attention", "multimnist-attention", "mnist-self-attention"]
    for row in table["routers"]:
        assert row["weights"] == f"mnist-{row['name']}"
        for key in ("test_accuracy", "drawn", "rotate_40", "shifts_6"):
            assert 0 <= row[key] <= 1
        assert row["images_per_s"] > 0 and row["train_images_per_s"] > 0
        assert row["parameters"] == sum(p.numel() for p in random_model(row["name"]).parameters())
        has_pairs = row["name"] in PAIR_ROUTERS
        assert (row["multimnist"] is not None) == has_pairs and (row["pairs_weights"] is not None) == has_pairs
    uniform = next(r for r in table["routers"] if r["name"] == "uniform")
    assert uniform["coupling_movement"] == pytest.approx(0, abs=1e-7)  # c = 1/J by construction
    assert uniform["decisions_changed"] == 0 and uniform["routing_parameters"] == 0
    learned = next(r for r in table["routers"] if r["name"] == "self-attention")
    assert learned["routing_parameters"] == 1152 * 10  # its priors b_ij
    json.dumps(table, allow_nan=False)  # what --json and the shipped file hold


def test_the_table_is_measured_on_test_digits_it_names(stand_ins):
    table = rc.measure(routers=("uniform",), counts=SMALL)
    assert table["counts"]["test"] == 24 and table["iterations"] == 3
    assert "--routing R" in table["recipe"] and "--epochs" in table["recipe"]


def test_one_input_under_every_router_on_one_colour_scale():
    models = {f"mnist-{r}": random_model(r) for r in ROUTERS}
    image = np.zeros((28, 28), np.float32)
    image[6:22, 12:16] = 1.0  # a stroke
    views = rc.side_by_side(models, image, iterations=3)
    assert [v.name for v in views] == list(ROUTERS) and [v.weights for v in views] == list(models)
    for view in views:
        passes = 1 if view.name in ("uniform", "self-attention") else 3
        assert view.coupling.shape == (passes, 10) and view.lengths.shape == (passes, 10)
        assert view.answer_at(view.iterations - 1) == (view.prediction,) == (int(np.argmax(view.lengths[-1])),)
    for view, model in zip(views, models.values()):  # the active capsules: the top 10 % by their longest û
        trace = model.trace(image[None], iterations=3, keep_u_hat=True)
        norms = np.linalg.norm(trace.u_hat[0], axis=-1).max(-1)  # (I,)
        active = norms >= np.quantile(norms, 0.9)
        np.testing.assert_allclose(view.coupling, trace.coupling[:, 0][:, active].mean(1), rtol=1e-5)
    assert rc.shared_scale(views)[0] <= 0.1 <= rc.shared_scale(views)[1]  # 1/J always on the scale
    np.testing.assert_allclose(views[1].coupling, 0.1, atol=1e-6)  # uniform: 1/J everywhere


def test_a_pair_under_every_router_is_split_between_its_two_capsules():
    models = {f"multimnist-{r}": random_model(r, 36) for r in PAIR_ROUTERS}
    image = np.zeros((36, 36), np.float32)
    image[8:28, 10:13] = 1.0
    image[8:28, 20:23] = 1.0
    views = rc.side_by_side(models, image, pair=True)
    for view in views:
        assert view.split.shape == (view.iterations, 36, 36)
        inked = view.split[:, image > 0.2]
        assert np.all((inked >= 0) & (inked <= 1))


def test_routers_command_prints_the_shipped_table_and_its_json(monkeypatch, capsys, tmp_path):
    from capsexplorer.cli import main

    table = {"routers": [{"name": "dynamic", "weights": "mnist-dynamic", "parameters": 8_215_568,
                          "test_accuracy": 0.99, "drawn": 0.98, "rotate_40": 0.6, "shifts_6": 0.7,
                          "multimnist": None, "segmentation": None, "coupling_movement": 0.006,
                          "images_per_s": 900.0, "train_images_per_s": 150.0}],
             "recipe": "r", "pairs_recipe": "p", "machine": "m", "seconds": 1.0}
    monkeypatch.setattr(rc, "shipped_table", lambda: table)
    assert main(["routers"]) == 0
    out = capsys.readouterr().out
    assert "mnist-dynamic" in out and "99.00 %" in out and "8.22 M" in out and "—" in out
    assert main(["routers", "--json", "--out", str(tmp_path / "t.json")]) == 0
    assert json.loads(capsys.readouterr().out) == table == json.loads((tmp_path / "t.json").read_text())


def test_routers_command_without_shipped_figures_says_how_to_measure(monkeypatch, capsys):
    from capsexplorer.cli import main

    monkeypatch.setattr(rc, "shipped_table", lambda: None)
    assert main(["routers"]) == 1
    assert "capsexplorer routers --measure" in capsys.readouterr().err


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b'{"routers": [{"weights": "x"}]}', b"\xff\xfe"])
def test_a_damaged_figures_file_is_passed_over_in_one_logged_line(monkeypatch, tmp_path, caplog, content):
    (tmp_path / rc.RESULT_FILE).write_bytes(content)
    monkeypatch.setattr("capsexplorer.files.resource_path", lambda name: tmp_path / name)
    assert rc.shipped_table() is None
    assert "is not readable" in caplog.text


def test_measuring_without_a_router_s_model_says_so_before_it_starts(monkeypatch, tmp_path):
    from capsexplorer.errors import CapsExplorerError

    monkeypatch.setattr("capsexplorer.net.weights.resolve_weights", lambda name: tmp_path / f"{name}.safetensors")
    with pytest.raises(CapsExplorerError, match="not found in this copy: mnist-dynamic, multimnist-dynamic"):
        next(rc.measure_steps(counts=SMALL))


def test_the_pass_shown_follows_the_player_and_a_one_pass_model_shows_each_router_s_last():
    three = rc.RouterView("dynamic", "mnist-dynamic", np.zeros((3, 10)), np.zeros((3, 10)), 0, 1)
    one = rc.RouterView("uniform", "mnist-uniform", np.zeros((1, 10)), np.zeros((1, 10)), 0, 1)
    assert [rc.shown_pass(v, 1, 3) for v in (three, one)] == [1, 0]
    assert [rc.shown_pass(v, 0, 1) for v in (three, one)] == [2, 0]  # the open model makes one pass


def test_a_row_with_missing_or_null_figures_is_written_with_dashes():
    row = {"name": "dynamic", "test_accuracy": 0.99, "segmentation": None, "drawn": float("nan"), "parameters": True}
    assert rc.figure_text(row, "test_accuracy") == "99.00 %"
    assert [rc.figure_text(row, k) for k in ("segmentation", "drawn", "parameters", "shifts_6")] == ["—"] * 4
    assert rc.figure_text(None, "test_accuracy") == "—"


def test_the_priors_sentence_is_said_only_where_couplings_do_not_sum_to_one():
    summing = rc.RouterView("dynamic", "mnist-dynamic", np.full((3, 10), 0.1), np.zeros((3, 10)), 0, 1)
    shifted = rc.RouterView("self-attention", "mnist-self-attention", np.full((1, 10), 0.033), np.zeros((1, 10)), 0, 1)
    assert rc.priors_note([summing]) == ""
    assert rc.priors_note([summing, shifted]).startswith("Self-attention's learned priors b_ij make its active "
                                                          "couplings sum to 0.33, not 1, so its even split is 0.033")
