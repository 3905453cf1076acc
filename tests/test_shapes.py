"""Any model's shape, everywhere (issue 16 §1): a 36×36 model and a 3-class model with 8-D poses (random
weights) through every tab of the window and every command."""
from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from test_app import isolated_settings, open_watched  # noqa: F401 (a fixture: these tests' settings)

from capsexplorer.analysis.views import Geometry
from capsexplorer.net.config import CapsNetConfig
from capsexplorer.net.model import CapsNet

SHAPES = {
    "36x36": (dict(image_size=36), {"dataset": "mnist5k"}),
    "3-class-8d": (dict(n_classes=3, digit_dim=8), {"dataset": "folder", "classes": "ring,bar,cross"}),
}


@pytest.fixture(autouse=True)
def _few_training_images(monkeypatch):
    """The sliders' data range is computed for weights met for the first time: over the 4,000 training digits at
    36×36, about two minutes on two cores. Here from 20 digits a class (the shape is the point, not the range)."""
    from capsexplorer.analysis import pose_stats

    monkeypatch.setattr(pose_stats, "PER_CLASS", 20)


def shaped_model(name: str) -> CapsNet:
    torch.manual_seed(0)
    config, metadata = SHAPES[name]
    model = CapsNet(CapsNetConfig(**config)).eval()
    model.metadata = dict(metadata)
    return model


def test_the_geometry_follows_the_config():
    paper = Geometry.of(CapsNetConfig())
    assert (paper.grid, paper.n_primary, paper.origin, paper.receptive_field) == (6, 1152, 7.0, 17)
    wide = Geometry.of(CapsNetConfig(image_size=36))
    assert (wide.grid, wide.n_primary, wide.size) == (10, 3200, 36)
    assert wide.place(wide.index(5, 9, 3)) == (5, 9, 3)
    # where the model's own capsule (r, c) looks: the input pixels its gradient reaches
    torch.manual_seed(0)
    model = CapsNet(CapsNetConfig(image_size=36)).eval()
    for row, col in ((0, 0), (9, 3), (4, 9)):
        x = torch.rand(1, 1, 36, 36, requires_grad=True)
        u = model.primary_capsules(x)  # (1, 3200, 8)
        u[0, wide.index(5, row, col)].sum().backward()
        rows, cols = np.nonzero(x.grad[0, 0].abs().numpy() > 0)
        assert (rows.min(), rows.max() + 1) == (wide.step * row, wide.step * row + wide.receptive_field)
        assert (cols.min(), cols.max() + 1) == (wide.step * col, wide.step * col + wide.receptive_field)
        centre = wide.step * col + (wide.receptive_field - 1) / 2  # the cell drawn around it: origin + step·col
        assert wide.origin + wide.step * col <= centre < wide.origin + wide.step * (col + 1)


def test_model_trace_takes_its_own_input_size():
    model = shaped_model("36x36")
    trace = model.trace(torch.rand(2, 1, 36, 36), keep_u_hat=True)
    assert trace.images.shape == (2, 36, 36) and trace.coupling.shape == (3, 2, 3200, 10)
    three = shaped_model("3-class-8d")
    trace = three.trace(torch.rand(1, 28, 28), keep_u_hat=True)
    assert trace.poses.shape == (1, 3, 8) and trace.u_hat.shape == (1, 1152, 3, 8)


@pytest.mark.parametrize("shape", SHAPES)
def test_every_tab_works_with_the_model_s_shape(qtbot, shape, digit_image, few_heldout):
    walk_every_tab(qtbot, shaped_model(shape), digit_image, shape)


def test_every_tab_works_with_the_shipped_two_digit_model(qtbot, digit_image):
    from capsexplorer import load_model

    walk_every_tab(qtbot, load_model("multimnist", device="cpu"), digit_image, "multimnist")


def walk_every_tab(qtbot, model, digit_image, shape: str) -> None:
    """Every lab tab shown and every iteration stepped, each panel checked to draw in the model's own shape."""
    from capsexplorer.app.main import _show_lab
    from capsexplorer.app.session.tabs import LAB_TABS

    geometry = Geometry.of(model.config)
    window, errors = open_watched(qtbot, model)
    qtbot.waitUntil(lambda: window.state.model is not None or bool(errors), timeout=60_000)
    assert not errors, errors
    window._show_sample(digit_image, "a held-out 3")  # a model of other data has no samples of its own
    qtbot.waitUntil(lambda: window.state.result is not None or bool(errors), timeout=60_000)
    assert not errors, errors
    state = window.state
    assert state.geometry == geometry and len(state.enabled) == geometry.n_primary
    assert state.result.image.shape == (geometry.size, geometry.size)
    state.set_primary(geometry.n_primary - 1)  # the last capsule of the model's own grid
    for tab in LAB_TABS:
        name = tab.key
        if name == "robustness" and state.model.cnn_path is None:
            continue
        _show_lab(window, SimpleNamespace(tab=name), [])
        qtbot.wait(50)
        for iteration in range(state.trace.iterations):
            state.set_iteration(iteration)
            qtbot.wait(10)
        assert not errors, f"{shape}, {name}: {errors}"
    # every panel drawn in the model's own shape
    assert window.routing.matrix.image.shape == (geometry.types, geometry.classes * geometry.positions)
    assert window.routing.overlay.image.shape == (geometry.grid, geometry.grid)
    placed = window.routing.overlay.mapRectToParent(window.routing.overlay.boundingRect())  # over the input
    assert (placed.x(), placed.y(), placed.width()) == pytest.approx(
        (geometry.origin, geometry.origin, geometry.grid * geometry.step))
    assert len(window.lengths.labels) == geometry.classes and len(window.lengths.x) == geometry.classes
    assert len(window.pose.sliders) == geometry.pose_dim and window.pose.pose().shape == (geometry.pose_dim,)
    assert window.inspector.type_box.maximum() == geometry.types - 1
    assert window.inspector.row_box.maximum() == geometry.grid - 1
    assert window.parts.brush.geometry_.grid == geometry.grid
    window.summary.class_line("lengths", geometry.classes - 1)  # a line for every class, and none more
    with pytest.raises(IndexError):
        window.summary.class_line("lengths", geometry.classes)
    assert window.routing.digit_choice.count() == geometry.classes + 1
    assert f"{geometry.n_primary} primary capsules" in window.guide.text.text()
    state.set_overlay_digit(geometry.classes - 1)
    state.set_pose_digit(geometry.classes - 1)
    parts = np.ones(geometry.n_primary, bool)
    parts[: geometry.positions] = False  # type 0 off
    state.set_enabled(parts)
    qtbot.waitUntil(lambda: state.result is not None and state.result.trace.u_hat is not None
                    and not state.result.trace.u_hat[0, :geometry.positions].any(), timeout=30_000)  # routed without
    assert not errors, f"{shape}: {errors}"
    window.close()


@pytest.fixture(scope="module")
def shaped_files(tmp_path_factory, heldout):
    """Both shapes' weights files, an image of a digit and a folder data set of three classes."""
    from PIL import Image

    from capsexplorer.net.weights import save_weights

    root = tmp_path_factory.mktemp("shapes")
    for name in SHAPES:
        save_weights(shaped_model(name), root / f"{name}.safetensors", shaped_model(name).metadata)
    Image.fromarray(heldout.images[0]).save(root / "digit.png")
    for name, digit in (("ring", 0), ("bar", 1), ("cross", 7)):
        (root / "folder" / name).mkdir(parents=True)
        for k in np.flatnonzero(heldout.labels == digit)[:4]:
            Image.fromarray(heldout.images[k]).save(root / "folder" / name / f"{k}.png")
    return root


def run(capsys, *argv) -> tuple[int, str, str]:
    from capsexplorer.cli import main

    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("shape", SHAPES)
def test_every_command_works_with_the_model_s_shape(capsys, shaped_files, shape, few_heldout):
    weights, image, root = shaped_files / f"{shape}.safetensors", shaped_files / "digit.png", shaped_files
    geometry = Geometry.of(shaped_model(shape).config)
    code, out, _ = run(capsys, "--weights", weights, "classify", "--json", image)
    answer = json.loads(out.splitlines()[0])
    assert code == 0 and len(answer["lengths"]) == geometry.classes and len(answer["pose"]) == geometry.pose_dim
    code, out, _ = run(capsys, "--weights", weights, "trace", image, "--out", root / f"{shape}.npz", "--u-hat")
    assert code == 0
    with np.load(root / f"{shape}.npz") as trace:
        assert trace["u_hat"].shape == (1, geometry.n_primary, geometry.classes, geometry.pose_dim)
        assert trace["images"].shape == (1, geometry.size, geometry.size)
    code, out, _ = run(capsys, "--weights", weights, "sweep", image, "--transform", "rotate", "--from", -30, "--to", 30,
                       "--steps", 3, "--json", "--out", root / f"{shape}-sweep.png")
    assert code == 0 and np.shape(json.loads(out)["lengths"]) == (3, geometry.classes)
    code, out, _ = run(capsys, "--weights", weights, "grid", image, "--steps", 3, "--range", "paper", "--json", "--out",
                       root / f"{shape}-grid.png")
    assert code == 0 and len(json.loads(out)["dimensions"]) == geometry.pose_dim
    data = ["--dataset", "folder", "--data-dir", root / "folder"] if shape == "3-class-8d" else []
    code, out, _ = run(capsys, "--weights", weights, "evaluate", "--json", "--limit", 300, *data)
    measured = json.loads(out)
    assert code == 0 and np.shape(measured["confusion"]) == (geometry.classes, geometry.classes)
    if data:  # a limit beyond a small set measures all of it, and says nothing of a limit
        assert measured["n"] == np.sum(measured["confusion"]) < 300 and "first" not in measured["split"]
    else:
        assert measured["n"] == 300 and measured["split"].startswith("the first 300 images")
    snapshot = root / f"{shape}.png"
    code, _, err = run(capsys, "--weights", weights, "snapshot", image, "--tab", "routing", "--out", snapshot)
    assert code == 0 and snapshot.stat().st_size > 10_000, err


def test_commands_that_measure_on_the_digits_say_so_for_a_model_of_other_classes(capsys, shaped_files):
    weights = shaped_files / "3-class-8d.safetensors"
    for command in (["robustness"], ["equivariance", "--limit", 10]):
        code, out, err = run(capsys, "--weights", weights, *command)
        assert code != 0 and out == "" and len(err.strip().splitlines()) == 1, err
        assert "folder" in err
    code, _, err = run(capsys, "--weights", weights, "snapshot", "--out", shaped_files / "none.png")
    assert code != 0 and "give an image" in err and not (shaped_files / "none.png").exists()
    code, _, err = run(capsys, "--weights", weights, "snapshot", shaped_files / "digit.png", "--digit", 5, "--out",
                       shaped_files / "none.png")
    assert code != 0 and "--digit must be from 0 to 2 for this model, got 5" in err
    assert not (shaped_files / "none.png").exists()


def test_switching_to_other_shapes_leaves_nothing_of_the_last_model(qtbot, model, shaped_files, digit_image):
    """Digits → a 3-class model → a 36×36 model trained on the same digits, at run time: no panel keeps the last
    model's results (the held-out browser indexed 3 names with 10 labels), nor quotes the shipped model's figures."""
    from capsexplorer.app.panels.pair_panel import TITLES

    MEASURED = "How much routing moves here.</b> Over MNIST's 10,000 test digits"

    window, errors = open_watched(qtbot, model)
    window.state.set_lab_view("heldout")
    qtbot.waitUntil(lambda: window.state.predictions is not None and window.state.predictions.final, timeout=60_000)
    assert window.browser.model.rowCount() == 10000 and MEASURED in window.guide.text.text()
    assert "benchmarks/" not in window.guide.text.text()  # a student is never sent to a developer's script
    window.worker.load(str(shaped_files / "3-class-8d.safetensors"))
    qtbot.waitUntil(lambda: window.state.model.classes == ("ring", "bar", "cross") and window.state.result is not None,
                    timeout=60_000)
    qtbot.wait(300)
    window.browser.view.viewport().repaint()
    assert window.browser.model.rowCount() == 0 and window.browser.confusion.rowCount() == 3
    assert window.inspector.input_image.image.shape == window.state.result.image.shape
    state = window.state
    state.set_lab_view("pair")
    qtbot.wait(50)
    assert window.pair.plots["input"].getPlotItem().titleLabel.text == TITLES["input"]
    assert window.pair.load_button.isVisible()
    window.worker.load(str(shaped_files / "36x36.safetensors"))
    qtbot.waitUntil(lambda: state.model.config.image_size == 36 and state.result is not None
                    and state.result.image.shape == (36, 36), timeout=60_000)
    assert MEASURED not in window.guide.text.text()  # trained on the same digits, but not the shipped weights
    assert "not yet measured for this model" in window.guide.text.text()
    assert not errors, errors
    window.close()


def test_a_request_made_for_the_last_model_s_capsules_is_dropped_not_an_error(qapp, heldout):
    """Parts switched off on the digits model (1152 capsules), the request still queued when a 36×36 model
    (3200) has loaded: the worker drops it — the new model's own request follows — instead of failing."""
    from capsexplorer.app.session.jobs import ProbeJob, TraceJob
    from capsexplorer.app.session.state import TraceResult
    from capsexplorer.app.session.worker import InferenceWorker

    worker = InferenceWorker(model=shaped_model("36x36"))
    worker._model = shaped_model("36x36")
    old_mask = np.ones(1152, bool)
    image = heldout.images[0].astype(np.float32) / 255.0
    worker._trace(TraceJob(1, image, 3, old_mask, preprocessed=True))
    worker._probe(ProbeJob(1, image, {"rotate": 10.0}, 3, old_mask))
    assert worker._results == {}
    worker._trace(TraceJob(2, image, 3, np.ones(3200, bool), preprocessed=True))
    assert worker._results[TraceResult].trace.coupling.shape[2] == 3200


@pytest.mark.slow
def test_switching_models_with_every_tab_shown_neither_errs_nor_crashes(qtbot, model, shaped_files):
    """Issue 22 §13: a 3-class model, the two-digit model, Fashion-MNIST, the 3-class model again and the digits,
    each with every lab tab shown in turn while its jobs run: no error, no crash, and the held-out browser's
    confusion matrix is always the model's own classes by its own classes."""
    from capsexplorer.app.layout import LAB_VIEWS

    window, errors = open_watched(qtbot, model)
    state = window.state
    for weights in (shaped_files / "3-class-8d.safetensors", "multimnist", "fashion-mnist",
                    shaped_files / "3-class-8d.safetensors", "mnist"):
        window.worker.load(str(weights))
        qtbot.waitUntil(lambda: state.result is not None and state.model is not None
                        and state.result.reconstructions.shape[0] == len(state.model.classes), timeout=60_000)
        for view in LAB_VIEWS:
            state.set_lab_view(view)
            qtbot.wait(150)
            window.grab()  # every paint override runs
        found = state.predictions
        if found is not None and found.predictions is not None:
            assert found.predictions.confusion().shape == (len(state.model.classes),) * 2
    assert not errors, errors
    window.close()


def test_a_model_whose_metadata_names_digits_it_cannot_read_gets_no_browser_not_an_error(qtbot, model, tmp_path):
    """A 3-class model that says it learned MNIST: the 10 test labels cannot be scored against its 3 classes
    (the confusion matrix's "cannot reshape array of size 30 into shape (3,3)"); the browser says why."""
    from capsexplorer.net.weights import save_weights

    three = shaped_model("3-class-8d")
    save_weights(three, tmp_path / "three.safetensors", {"dataset": "mnist", "classes": "a,b,c"})
    window, errors = open_watched(qtbot, model)
    window.worker.load(str(tmp_path / "three.safetensors"))
    qtbot.waitUntil(lambda: window.state.model is not None and window.state.model.classes == ("a", "b", "c"),
                    timeout=60_000)
    window.state.set_lab_view("heldout")
    qtbot.waitUntil(lambda: window.state.predictions is not None and window.state.predictions.why is not None,
                    timeout=60_000)
    assert "classes its 3 class capsules do not" in window.state.predictions.why
    qtbot.wait(100)
    assert not errors, errors
    window.close()
