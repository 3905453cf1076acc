"""One primary capsule under the microscope: where it looks, what it predicts for each digit, and
Procedure 1 (Sabour et al. 2017) written out with its own numbers — so a student can see why its
coupling moved the way it did."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGroupBox, QHBoxLayout, QLabel, QSpinBox, QVBoxLayout
from superqt.utils import signals_blocked

from capsexplorer.analysis import captions, views
from capsexplorer.app.session.state import NO_PRIMARY, ExplorerState
from capsexplorer.app.widgets import theme
from capsexplorer.app.widgets.guard import Bars
from capsexplorer.app.widgets.when_shown import WhenShown

CHOOSE_HINT = ("Click a cell of the routing matrix, or choose a capsule type and a position here, to see one "
               "primary capsule's part in routing.")


def capsule_index(capsule_type: int, row: int, col: int, geometry: views.Geometry = views.PAPER) -> int:
    return geometry.index(capsule_type, row, col)


def procedure_html(trace, i: int, r: int, names=None, enabled: bool = True, routing: str = "dynamic") -> str:
    """The routing rule in use for primary capsule i at 0-based iteration r, with its numbers (needs û): for
    dynamic routing, Procedure 1's lines — the b and c the iteration starts from, what it computes, and the b it
    leaves for the next; for another router (capsexplorer.net.routers), its own rule."""
    names = names or [str(d) for d in range(trace.coupling.shape[-1])]
    if not enabled:
        return (f"<b>Primary capsule i = {i} is switched off</b> (Parts): it takes no part in routing — its "
                f"predictions û<sub>j|i</sub> are left out of every s<sub>j</sub>. Switch it on to read how it "
                "routes.")
    if routing != "dynamic":
        return _other_rule_html(trace, i, min(r, trace.iterations - 1), routing)
    b = trace.logits[r, 0, i]  # (J,)
    c = trace.coupling[r, 0, i]
    u_hat = trace.u_hat[0, i]  # (J, D)
    s = np.einsum("kj,kjd->jd", trace.coupling[r, 0], trace.u_hat[0])  # (J, D) s_j of this iteration
    v = trace.iteration_poses[r, 0]  # (J, D)
    a = (u_hat * v).sum(-1)  # (J,) agreement û_j|i · v_j
    winner = int(trace.lengths[r, 0].argmax())
    share = float((c[winner] * u_hat[winner]) @ s[winner] / max(float(s[winner] @ s[winner]), 1e-12))
    fmt = lambda x: " ".join(f"{value:+.3f}" for value in x)  # noqa: E731
    last = r == trace.iterations - 1
    lines = [
        f"<b>Iteration {r + 1} of {trace.iterations}</b>, primary capsule i = {i} — what this iteration starts "
        f"from, computes, and leaves for the next:",
        f"b<sub>i·</sub> at the start of iteration {r + 1} = [{fmt(b)}]  "
        f"{'(all zero: routing starts uniform)' if r == 0 else f'(as iteration {r} left it)'}",
        f"c<sub>i·</sub> = softmax(b<sub>i·</sub>) = [{fmt(c)}]",
        f"s<sub>j</sub> = Σ<sub>i</sub> c<sub>ij</sub> û<sub>j|i</sub>: its share of s<sub>{winner}</sub> "
        f"(class {names[winner]}, the winner at this iteration) is {share:+.2%}",
        f"v<sub>j</sub> = squash(s<sub>j</sub>); agreement a<sub>ij</sub> = û<sub>j|i</sub>·v<sub>j</sub> = [{fmt(a)}]",
        ("(the last iteration: nothing is added — the next b would change nothing that is used)" if last else
         f"b<sub>ij</sub> ← b<sub>ij</sub> + a<sub>ij</sub>, the b iteration {r + 2} starts from: "
         f"{captions.leading_parent(a, names)}"),
    ]
    return "<br>".join(lines)


def _other_rule_html(trace, i: int, r: int, routing: str) -> str:
    """Uniform, attention (Tsai et al. 2020) or self-attention (Mazzia et al. 2021) routing, for capsule i."""
    fmt = lambda x: " ".join(f"{value:+.3f}" for value in x)  # noqa: E731
    c, logits = trace.coupling[r, 0, i], trace.logits[r, 0, i]  # (J,), (J,)
    classes = trace.coupling.shape[-1]
    if routing == "uniform":
        lines = [f"<b>Uniform couplings</b> (no routing, one pass), primary capsule i = {i}:",
                 f"c<sub>ij</sub> = 1/J = [{fmt(c)}] for every parent j",
                 "s<sub>j</sub> = Σ<sub>i</sub> c<sub>ij</sub> û<sub>j|i</sub>; v<sub>j</sub> = squash(s<sub>j</sub>); "
                 "no agreement step"]
    elif routing == "attention":
        lines = [f"<b>Inverted dot-product attention</b> (Tsai et al. 2020), pass {r + 1} of {trace.iterations}, "
                 f"primary capsule i = {i}:",
                 f"logits = ⟨LayerNorm(s<sub>j</sub>) of the pass before, û<sub>j|i</sub>⟩ / √D = [{fmt(logits)}]"
                 + (" (the first pass: all zero, uniform)" if r == 0 else ""),
                 f"r<sub>i·</sub> = softmax over the parents j = [{fmt(c)}]",
                 "s<sub>j</sub> = Σ<sub>i</sub> r<sub>ij</sub> û<sub>j|i</sub>; the next pass compares with "
                 "LayerNorm(s<sub>j</sub>); the capsule's length is that of squash(s<sub>j</sub>)"]
    else:
        lines = [f"<b>Self-attention routing</b> (Efficient-CapsNet, Mazzia et al. 2021), one pass, primary capsule "
                 f"i = {i}:",
                 f"a<sub>ij</sub> = Σ<sub>k</sub> ⟨û<sub>j|i</sub>, û<sub>j|k</sub>⟩ / √D = [{fmt(logits)}]",
                 f"c<sub>ij</sub> = softmax<sub>j</sub>(a<sub>ij</sub>) + b<sub>ij</sub> (learned priors) = [{fmt(c)}]",
                 "s<sub>j</sub> = Σ<sub>i</sub> c<sub>ij</sub> û<sub>j|i</sub>; v<sub>j</sub> = (1 − e<sup>−‖s‖</sup>) "
                 "s<sub>j</sub>/‖s<sub>j</sub>‖"]
    return "<br>".join(lines + [f"(J = {classes} parents)"])


class PrimaryInspector(QGroupBox):
    def __init__(self, state: ExplorerState, parent=None):
        super().__init__("Primary capsule — its part in routing", parent)
        self.state = state
        self.type_box, self.row_box, self.col_box = (self._spin(0, views.TYPES - 1, "capsule type"),
                                                     self._spin(0, views.GRID - 1, "row of the primary grid"),
                                                     self._spin(0, views.GRID - 1, "column of the primary grid"))
        pick = QHBoxLayout()
        for text, box in (("type", self.type_box), ("row", self.row_box), ("col", self.col_box)):
            pick.addWidget(QLabel(text))
            pick.addWidget(box)
        pick.addStretch(1)

        self.field_plot = theme.picture_plot()
        self.field_plot.setFixedSize(120, 120)
        item = self.field_plot.getPlotItem()
        self.input_image = theme.image_item((28, 28), theme.GREYS)
        item.addItem(self.input_image)
        self.field = pg.QtWidgets.QGraphicsRectItem(0, 0, views.RECEPTIVE_FIELD, views.RECEPTIVE_FIELD)
        self.field.setPen(pg.mkPen(theme.winner_colour(), width=2))
        item.addItem(self.field)
        item.setRange(xRange=(0, 28), yRange=(0, 28), padding=0.02)

        self.predictions = theme.static_plot(minimum_height=110)
        p = self.predictions.getPlotItem()
        p.setTitle("‖û<sub>j|i</sub>‖: its prediction for each class", color=theme.foreground().name(), size="10pt")
        self.prediction_bars = Bars(x=np.arange(10), height=np.zeros(10), width=0.7,
                                               brush=theme.bar_colour(), pen=pg.mkPen(None))
        p.addItem(self.prediction_bars)
        self.class_axis = theme.ClassAxis(self.predictions, range(10))
        state.modelChanged.connect(self._follow_model)
        self.couplings = theme.static_plot(minimum_height=110)
        q = self.couplings.getPlotItem()
        q.setTitle(f'c<sub>ij</sub> by iteration (<span style="color:{theme.winner_colour().name()}">'
                   "winner</span>; grey: others)", color=theme.foreground().name(), size="10pt")
        q.setLabel("bottom", "iteration")
        self.coupling_lines = [q.plot([], [], pen=pg.mkPen(theme.bar_colour())) for _ in range(10)]
        self.details = QLabel(CHOOSE_HINT)
        self.details.setWordWrap(True)
        self.details.setTextFormat(Qt.TextFormat.RichText)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.procedure = QLabel("")
        self.procedure.setWordWrap(True)
        self.procedure.setTextFormat(Qt.TextFormat.RichText)
        self.procedure.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        top = QHBoxLayout()
        top.addWidget(self.field_plot)
        top.addWidget(self.details, 1)
        plots = QHBoxLayout()
        plots.addWidget(self.predictions)
        plots.addWidget(self.couplings)
        for plot in (self.predictions, self.couplings):
            plot.setMaximumHeight(220)
        layout = QVBoxLayout(self)
        layout.addLayout(pick)
        layout.addLayout(top)
        layout.addLayout(plots, 1)
        layout.addWidget(self.procedure)
        for box in (self.type_box, self.row_box, self.col_box):
            box.valueChanged.connect(self._picked)
        self.redraw = WhenShown(self, self._show)  # hidden: nothing computed until the tab is shown
        for signal in (state.primaryChanged, state.resultChanged, state.iterationChanged, state.partsChanged):
            signal.connect(self.redraw)
        self._show()

    def _follow_model(self) -> None:
        """The model's classes on the axis and lines; its types and grid as the choices' ranges."""
        g = self.state.geometry
        self.class_axis.set_names(self.state.tick_names)
        self.prediction_bars.setOpts(x=np.arange(g.classes), height=np.zeros(g.classes))
        self.predictions.getPlotItem().setXRange(-0.6, g.classes - 0.4, padding=0)
        q = self.couplings.getPlotItem()
        while len(self.coupling_lines) > g.classes:
            q.removeItem(self.coupling_lines.pop())
        while len(self.coupling_lines) < g.classes:
            self.coupling_lines.append(q.plot([], [], pen=pg.mkPen(theme.bar_colour())))
        for box, high in ((self.type_box, g.types - 1), (self.row_box, g.grid - 1), (self.col_box, g.grid - 1)):
            with signals_blocked(box):
                box.setMaximum(high)
        self.row_box.setToolTip(f"row of the {g.grid}×{g.grid} grid")
        self.col_box.setToolTip(f"column of the {g.grid}×{g.grid} grid")
        self.field_plot.getPlotItem().setRange(xRange=(0, g.size), yRange=(0, g.size), padding=0.02)

    def _spin(self, low: int, high: int, tip: str) -> QSpinBox:
        box = QSpinBox()
        box.setRange(low, high)
        box.setToolTip(tip)
        return box

    def _picked(self) -> None:
        self.state.set_primary(capsule_index(self.type_box.value(), self.row_box.value(), self.col_box.value(),
                                             self.state.geometry))

    def _show(self, *_) -> None:
        i, tr = self.state.primary, self.state.trace
        if tr is not None:
            self.input_image.setImage(tr.images[0], levels=(0, 1), autoLevels=False)  # the input shown, always
        if i == NO_PRIMARY or tr is None or tr.u_hat is None:
            self.details.setText(CHOOSE_HINT if tr is not None else "Draw or load a digit first.")
            self.procedure.setText("")
            self.field.hide()
            for plot in (self.predictions, self.couplings):  # no empty axes before a capsule is chosen
                plot.hide()
            return
        for plot in (self.predictions, self.couplings):
            plot.show()
        g = self.state.geometry
        capsule_type, row, col = g.place(i)
        for box, value in ((self.type_box, capsule_type), (self.row_box, row), (self.col_box, col)):
            with signals_blocked(box):
                box.setValue(value)
        self.input_image.setImage(tr.images[0], levels=(0, 1), autoLevels=False)
        self.field.setRect(g.step * col, g.step * row, g.receptive_field, g.receptive_field)
        self.field.setPen(pg.mkPen(theme.winner_colour(), width=2))  # this theme's orange
        self.field.show()
        u = tr.primary_poses[0, i]
        reach = np.linalg.norm(tr.u_hat[0, i], axis=-1)  # (J,)
        active = views.active_primaries(tr)
        rank = int((reach.max() < np.linalg.norm(tr.u_hat[0], axis=-1).max(-1)).sum()) + 1
        names = self.state.classes
        side = g.receptive_field
        where = (f"<b>Capsule {i}</b>: type {capsule_type}, position row {row}, col {col}; it sees the {side}×{side} "
                 f"patch outlined. ‖u<sub>i</sub>‖ = {np.linalg.norm(u):.3f}; u<sub>i</sub> = "
                 f"[{' '.join(f'{x:+.2f}' for x in u)}].")
        if self.state.enabled[i]:
            self.details.setText(
                f"{where} Its longest prediction is for class {names[int(reach.argmax())]} (‖û‖ = "
                f"{reach.max():.3f}, rank {rank} of {g.n_primary} — "
                f"{'one of the active parts' if active[i] else 'not among the active parts'}).")
        else:
            self.details.setText(f"<b>Switched off</b> (Parts, below): it sends nothing to any class capsule. "
                                 f"{where}")
        winner = int(tr.prediction[0])
        colours = [theme.winner_colour() if d == winner else theme.bar_colour() for d in range(g.classes)]
        self.prediction_bars.setOpts(height=reach, brushes=colours)
        iterations = np.arange(1, tr.iterations + 1)
        theme.integer_ticks(self.couplings, tr.iterations)
        self.couplings.getPlotItem().setXRange(0.8, max(2, tr.iterations) + 0.2, padding=0)  # every iteration
        for d, line in enumerate(self.coupling_lines):
            line.setData(iterations, tr.coupling[:, 0, i, d])
            line.setPen(pg.mkPen(colours[d], width=3 if d == winner else 1))
        routing = self.state.model.config.routing if self.state.model is not None else "dynamic"
        self.procedure.setText(procedure_html(tr, i, self.state.iteration, names, bool(self.state.enabled[i]), routing))
