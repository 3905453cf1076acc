"""The Routers tab (issue 24): the input shown under every shipped router's model, side by side; the player steps
them all; a click opens a router's model; every lab tab fits a 1024 px window."""
import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from capsexplorer.analysis import router_comparison as rc
from capsexplorer.app.layout import lab_index_of
from capsexplorer.net.routers import ROUTERS
from capsexplorer.net.weights import resolve_weights
from test_app import TIMEOUT, isolated_settings, open_window  # noqa: F401 (a fixture: these tests' settings)

SHIPPED = all(resolve_weights(rc.digits_name(r)).is_file() for r in ROUTERS)
needs_models = pytest.mark.skipif(not SHIPPED, reason="the routers' models are not in this copy")


def show_routers(qtbot, window):
    with qtbot.waitSignal(window.state.routersChanged, timeout=TIMEOUT):
        window.lab.setCurrentIndex(lab_index_of("routers"))
    qtbot.waitUntil(lambda: window.routers.view.views != (), timeout=TIMEOUT)
    qtbot.wait(20)


def click(widget, x, y):
    for kind in (QEvent.Type.MouseButtonPress, QEvent.Type.MouseButtonRelease):
        event = QMouseEvent(kind, QPointF(x, y), widget.mapToGlobal(QPointF(x, y)), Qt.MouseButton.LeftButton,
                            Qt.MouseButton.LeftButton if kind == QEvent.Type.MouseButtonPress else Qt.MouseButton.NoButton,
                            Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(widget, event)


def test_every_lab_tab_fits_a_1024_px_window(qtbot, model):
    """An eleventh tab pushed the last ones behind scroll arrows at 1024×700."""
    window = open_window(qtbot, model)
    window.resize(1024, 700)
    qtbot.waitUntil(lambda: window.lab.count() == 11, timeout=TIMEOUT)  # the pose joins the lab below 1280 px
    qtbot.wait(50)
    bar = window.lab.tabBar()
    assert bar.tabRect(bar.count() - 1).right() <= bar.width()
    window.close()


@needs_models
def test_the_routers_tab_shows_the_input_under_every_router(qtbot, model):
    window = open_window(qtbot, model)
    assert window.state.routers is None  # a hidden tab asks for nothing
    show_routers(qtbot, window)
    views = window.routers.view.views
    assert [v.name for v in views] == list(ROUTERS) and [v.weights for v in views] == [f"mnist-{r}" for r in ROUTERS]
    shown = window.state.result.image
    own = rc.side_by_side({"mnist-dynamic": window.worker._router_models["mnist-dynamic"]}, shown)[0]
    np.testing.assert_allclose(views[0].coupling, own.coupling, rtol=1e-5)  # the same input, the same router
    words = window.guide.seeing.text()
    assert "routers" in words and "uniform couplings" in words
    low, high = window.routers.view.scale
    assert low <= min(float(v.coupling.min()) for v in views) and high >= max(float(v.coupling.max()) for v in views)
    # the player steps them all: the two routers with three passes show the pass it shows, the one-pass ones theirs
    window.state.set_iteration(0)
    qtbot.wait(20)
    assert [window.routers.view.shown_iteration(v) for v in views] == [0, 0, 0, 0]
    window.state.set_iteration(2)
    qtbot.wait(20)
    assert [window.routers.view.shown_iteration(v) for v in views] == [2, 0, 2, 0]
    # a hover reads a cell as a number
    cell, words = window.routers.view._cells[0]
    assert "mean coupling" in window.routers.view.reading_at(cell.center().x(), cell.center().y())
    window.close()


@needs_models
def test_a_click_on_a_router_opens_its_model(qtbot, model):
    window = open_window(qtbot, model)
    show_routers(qtbot, window)
    column = window.routers.view._columns[2]  # attention
    wanted = []
    window.state.modelWanted.connect(wanted.append)
    cell, _ = window.routers.view._cells[0]
    click(window.routers.view, cell.center().x(), cell.center().y())  # a cell is read, not a button
    qtbot.wait(50)
    assert wanted == []
    with qtbot.waitSignal(window.controller.modelReady, timeout=TIMEOUT):
        click(window.routers.view, column.center().x(), column.top() + 5)
    qtbot.waitUntil(lambda: "attention routing" in window.status_line.model_label.text(), timeout=TIMEOUT)
    assert window.state.model.config.routing == "attention"
    assert window.shipped_actions["mnist-attention"].isChecked()
    assert window.routing.title() == "Inverted dot-product attention — coupling coefficients c_ij"
    window.lab.setCurrentIndex(lab_index_of("routing"))
    qtbot.waitUntil(lambda: "attention" in window.guide.seeing.text(), timeout=TIMEOUT)
    window.close()


@needs_models
def test_a_model_of_other_data_says_why_the_routers_wait(qtbot):
    from capsexplorer import load_model

    window = open_window(qtbot, load_model("fashion-mnist", device="cpu"))
    with qtbot.waitSignal(window.state.routersChanged, timeout=TIMEOUT):
        window.lab.setCurrentIndex(lab_index_of("routers"))
    qtbot.wait(20)
    assert window.routers.view.views == () and not window.routers.view.isVisible()
    assert "trained on digits" in window.routers.caption.text()
    window.close()


@needs_models
def test_a_damaged_router_model_leaves_the_others_shown_and_says_which(qtbot, model, monkeypatch, tmp_path):
    import capsexplorer.net.weights as weights

    broken = tmp_path / "capsnet-mnist-attention.safetensors"
    broken.write_bytes(b"\x00" * 64)
    real = weights.resolve_weights
    monkeypatch.setattr(weights, "resolve_weights", lambda name: broken if name == "mnist-attention" else real(name))
    window = open_window(qtbot, model)
    errors = []
    window.errorShown.connect(errors.append)
    show_routers(qtbot, window)
    assert [v.name for v in window.routers.view.views] == ["dynamic", "uniform", "self-attention"]
    assert "Not shown: mnist-attention (" in window.routers.caption.text() and errors == []
    window.close()


@needs_models
def test_with_a_one_pass_model_open_every_router_shows_its_last_pass_and_a_clear_empties_the_tab(qtbot, model):
    from capsexplorer import load_model

    window = open_window(qtbot, load_model("mnist-uniform", device="cpu"))
    assert window.state.trace.iterations == 1  # the player cannot step
    show_routers(qtbot, window)
    views = window.routers.view.views
    assert [window.routers.view.shown_iteration(v) for v in views] == [v.iterations - 1 for v in views] == [2, 0, 2, 0]
    assert window.routers.view.is_open("mnist-uniform") and not window.routers.view.is_open("mnist-dynamic")
    window.draw.canvas.clear()
    qtbot.waitUntil(lambda: window.state.routers is None, timeout=TIMEOUT)
    qtbot.wait(20)
    assert window.routers.view.views == () and "Draw a digit" in window.routers.caption.text()
    assert "routers" not in window.guide.seeing.text()
    window.close()


@needs_models
def test_a_model_asked_for_stops_the_routers_from_loading_theirs(qtbot, model):
    """The Routers job loads up to seven models once; a model switch waiting behind it waited for all of them."""
    from capsexplorer.app.session.jobs import LoadModel, RoutersJob, RoutersResult

    window = open_window(qtbot, model)
    worker = window.worker
    qtbot.waitUntil(worker.idle, timeout=TIMEOUT)
    with worker._lock:  # held: the worker thread cannot take the load meanwhile (the lock is re-entrant)
        worker._router_models.clear()
        worker._jobs["load"] = LoadModel("mnist-uniform")
        worker._routers(RoutersJob(window.state.generation, np.zeros((28, 28), np.float32)))
        del worker._jobs["load"]
    assert worker._router_models == {} and worker.take(RoutersResult) is None
    window.close()
