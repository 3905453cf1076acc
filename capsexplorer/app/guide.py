"""The words the window shows a user: a short guide to the panels, the keyboard shortcuts, About."""
from __future__ import annotations

from PySide6.QtCore import QEvent, Qt
from PySide6.QtWidgets import QGroupBox, QLabel, QVBoxLayout, QWidget

from capsexplorer.app.widgets.guard import qt_safe
from capsexplorer.app.widgets.steady_scroll import SteadyScrollArea


def guide(capsule: str = "digit capsule", item: str = "digit", geometry=None) -> str:
    """The panels explained in the words of the model's data (`capsule`: "digit capsule" or "class capsule")
    and in its shape (`geometry`: a views.Geometry; the paper's by default)."""
    from capsexplorer.analysis.views import PAPER

    g = geometry or PAPER
    return (
        f"<p>A CapsNet (Sabour, Frosst &amp; Hinton 2017) turns the {g.size}×{g.size} input into "
        f"<b>{g.n_primary} primary capsules</b> — {g.types} types at {g.grid}×{g.grid} positions, each an "
        f"{g.primary_dim}-D vector u<sub>i</sub> — and routes them to "
        f"<b>{g.classes} {capsule}s</b> v<sub>j</sub>, {g.pose_dim}-D each.</p>"
        f"<p><b>Routing</b> starts uniform (every c<sub>ij</sub> = 1/{g.classes} = {1 / g.classes:.3g}) and, "
        f"iteration by iteration, sends each primary capsule towards the {capsule}s that agree with its "
        "prediction.</p>"
        f"<p>The <b>length</b> ‖v<sub>j</sub>‖ says how sure the network is that class j is present; the "
        f"<b>pose</b> — the {g.pose_dim} numbers — says how it is drawn. Bend it and the decoder redraws the "
        f"{item}.</p>")


GUIDE = guide()
OTHER_MODEL_NOTE = ("<p><b>How much routing moves here</b> is not yet measured for this model; the Routing tab's "
                    "scale and its list of the couplings that changed most show it input by input.</p>")


def routing_note(stats: dict) -> str:
    """How far routing moved this model's couplings over the test digits — every figure from `stats`
    (capsexplorer.analysis.routing_movement), each judgement from those figures."""
    n, uniform, changed = stats["n"], stats["uniform"], stats["changed"]
    moved, active = stats["moved"], stats["moved_active"]
    share = changed / n if n else 0.0
    amount = "barely move" if active < 0.25 * uniform else "move" if active < uniform else "move far"
    decided = ("routing decides no digit differently from uniform couplings" if changed == 0 else
               f"routing decides {changed:,} of them ({share:.2%}) differently from uniform couplings")
    return (
        f"<p><b>How much routing moves here.</b> Over MNIST's {n:,} test digits this network's couplings "
        f"{amount}: after {stats['iterations']} iterations the mean |c<sub>ij</sub> − {uniform:.3g}| is "
        f"{moved:.4f} ({active:.4f} for the active parts, the 10 % with the longest predictions), the mean "
        f"coupling to the winner is {stats['to_winner']:.3f} ({stats['to_winner_active']:.3f} for the active "
        f"parts; uniform {uniform:.3g}), and {decided}. That is why the matrix shows the <i>deviation</i> from "
        "uniform by default, on its own scale. Trained CapsNets are known to route close to uniform: Paik, "
        "Kwon &amp; Kim (2019) found routing no better than uniform or random couplings, and Gu &amp; Tresp "
        "(CVPR 2020) that it adds neither accuracy nor affine robustness. (Measured once for these weights, "
        "over every test digit.)</p>")


def routing_stats_for(path: str | None) -> dict | None:
    """The shipped (or kept) routing figures of the weights at `path`, or None."""
    from capsexplorer.analysis.predictions import read_json, routing_file

    data = read_json(routing_file(path)) if path else None
    needed = ("n", "uniform", "changed", "moved", "moved_active", "to_winner", "to_winner_active", "iterations")
    return data if isinstance(data, dict) and all(k in data for k in needed) else None


SHORTCUTS = (
    "Ctrl+Z  undo the last stroke, clear or load\nEsc  clear the canvas\nCtrl+O  open an image\n"
    "Ctrl+R  load a held-out sample\nCtrl+E  export the window as PNG\n\n"
    "[ or Alt+Left  previous routing iteration\n] or Alt+Right  next iteration\n"
    "Alt+Home / Alt+End  first / last iteration\nP  play / pause the iterations\n\n"
    "The iteration keys work wherever the keyboard focus is in the window."
)


def about_text(version: str) -> str:
    return (f"<p><b>capsexplorer {version}</b></p>"
            "<p>A trained Capsule Network (Sabour, Frosst &amp; Hinton 2017, “Dynamic Routing Between "
            "Capsules”) at work: draw a digit, step through routing, and bend a digit capsule's pose.</p>"
            "<p>The bundled digits are from the MNIST database (LeCun, Cortes &amp; Burges), "
            "CC BY-SA 3.0. capsexplorer is MIT-licensed.</p>")


class SteadyText(QLabel):
    """A word-wrapped rich text whose height for a width is laid out once per text (Qt lays the document out again
    on every call, and the guide's layout asks at every new sentence above it: 2–3 ms a time for this text)."""

    def __init__(self, text: str = "", parent=None):
        super().__init__(text, parent)
        self._heights: dict[int, int] = {}

    @qt_safe()
    def setText(self, text: str) -> None:  # noqa: N802 (Qt naming)
        self._heights.clear()
        super().setText(text)

    @qt_safe()
    def changeEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        if event.type() in (QEvent.Type.FontChange, QEvent.Type.StyleChange):
            self._heights.clear()  # another font lays the words out again
        super().changeEvent(event)

    @qt_safe(default=-1)
    def heightForWidth(self, width: int) -> int:  # noqa: N802 (Qt naming)
        if width not in self._heights:
            self._heights[width] = super().heightForWidth(width)
        return self._heights[width]


class GuidePanel(QGroupBox):
    def __init__(self, state=None, parent=None):
        super().__init__("What you are looking at", parent)
        self.text = SteadyText(GUIDE + OTHER_MODEL_NOTE)
        self.text.setWordWrap(True)
        self.text.setTextFormat(Qt.TextFormat.RichText)
        self.text.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        body = QWidget()
        inner = QVBoxLayout(body)
        inner.setContentsMargins(0, 0, 0, 0)
        if state is not None:  # first, the shown tab in one sentence
            from capsexplorer.app.panels.seeing_line import SeeingLine

            self.seeing = SeeingLine(state)
            inner.addWidget(self.seeing)
        inner.addWidget(self.text)
        inner.addStretch(1)
        # The words scroll inside the panel: a sentence that grows or shrinks with every trace re-lays out the
        # guide alone, never the column above it (which moved and repainted the drawing with every stroke).
        area = SteadyScrollArea(body)
        area.setMinimumHeight(self.fontMetrics().height() * 8)
        layout = QVBoxLayout(self)
        layout.addWidget(area)
        if state is not None:
            state.modelChanged.connect(lambda: self.follow_model(state))

    def follow_model(self, state) -> None:
        """The routing figures quoted are those measured for the weights in use; none for other weights."""
        stats = routing_stats_for(state.model.path) if state.model is not None else None
        self.text.setText(guide(state.capsule_word, state.item_word, state.geometry)
                          + (routing_note(stats) if stats is not None else OTHER_MODEL_NOTE))
