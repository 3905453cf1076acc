"""Two digits (the paper's §6 and Figure 5, live): a held-out MultiMNIST pair — or two drawn digits — the two
longest capsules' reconstructions in two colours over the input, and which strokes routing gives to which
digit, iteration by iteration, beside what uniform couplings give (capsexplorer.analysis.segmentation)."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import (
    QButtonGroup,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QRadioButton,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)
from superqt.utils import signals_blocked

from capsexplorer.analysis import segmentation, views
from capsexplorer.analysis.captions import pair_accuracy_text
from capsexplorer.analysis.predictions import segmentation_measured
from capsexplorer.app.layout import scrolling
from capsexplorer.app.session.state import ExplorerState
from capsexplorer.app.widgets import theme
from capsexplorer.app.widgets.pair_canvas import LAYER_COLOURS, PairCanvas
from capsexplorer.data import multimnist

FIRST, SECOND = (np.array(c.getRgbF()[:3]) for c in LAYER_COLOURS)  # the two digits' colours, as RGB in [0, 1]
TWO_DIGIT_MODEL = "multimnist"
SIDE = multimnist.CANVAS  # px: a pair's canvas, 36
TITLES = {"input": "Input + reconstructions", "routed": "Routing", "uniform": "Uniform couplings",
          "change": "Routing − uniform"}  # the pictures' titles before there is a pair to name
MIN_SPREAD = 0.02  # the split pictures reach full colour at this input's largest share, and at 52 % at least


def shipped_two_digit_model(info) -> bool:
    """The model in use is the shipped two-digit weights (whose measurements the tab quotes)."""
    from pathlib import Path

    from capsexplorer.net.weights import SHIPPED_MODELS, shipped_weights_path

    try:
        return info is not None and Path(info.path).resolve() == \
            shipped_weights_path(SHIPPED_MODELS[TWO_DIGIT_MODEL]).resolve()
    except (OSError, ValueError):
        return False


def two_colour(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """(H, H, 3): `first` in orange and `second` in blue, added (where both: light)."""
    return np.clip(first[..., None] * FIRST + second[..., None] * SECOND, 0, 1).astype(np.float32)


def painted_split(image: np.ndarray, share: np.ndarray, spread: float = 0.5) -> np.ndarray:
    """(H, H, 3): each pixel's ink in the colours of the digit its routed mass goes to — orange where a share
    of 0.5 + `spread` or more goes to the first, blue where as much goes to the second, mixed in between."""
    s = np.clip(0.5 + (np.nan_to_num(share, nan=0.5) - 0.5) / (2 * spread), 0, 1)[..., None]
    return np.clip(image[..., None] * (s * FIRST + (1 - s) * SECOND), 0, 1).astype(np.float32)


class PairPanel(QWidget):
    """Emits `pairChosen(image uint8 (36, 36), description)` for the window to show as the input; asks the state for
    the two-digit model (`want_model`)."""

    pairChosen = Signal(object, str)

    def __init__(self, state: ExplorerState, parent=None):
        super().__init__(parent)
        self.state = state
        self._pairs = None  # multimnist.Pairs: the held-out pairs, made when first needed
        self._split = None  # the held-out digits they come from
        self.truth: dict | None = None  # {"image", "parts", "labels"} of the pair last sent
        self._levels = 0.1
        self.spread = 0.5  # the share from 0.5 at which the split pictures reach full colour
        self._splits = (None, [])  # ((the trace, a, b), every iteration's segmentation.Split)

        self.need_model = QLabel("")
        self.need_model.setWordWrap(True)
        self.load_button = QPushButton("Load the two-digit model")
        self.load_button.setToolTip("The shipped CapsNet trained on overlapping pairs (MultiMNIST, 36×36)")
        self.load_button.clicked.connect(lambda: state.want_model(TWO_DIGIT_MODEL))

        self.index = QSpinBox()
        self.index.setRange(0, multimnist.HELDOUT_PAIRS - 1)
        self.index.setToolTip("One of the 10,000 held-out pairs (both digits held out; the evaluation's set)")
        self.index.valueChanged.connect(lambda _v: self.show_pair(reset_distance=True))
        self.another = QPushButton("Another pair")
        self.another.clicked.connect(self.another_pair)
        self._rng = np.random.default_rng(0)
        self.distance = QSlider(Qt.Orientation.Horizontal)
        self.distance.setRange(0, 2 * multimnist.FURTHEST)
        self.distance.setToolTip("Slide the second digit over the first: 0 px puts it on top (full overlap); the "
                                 "training pairs lie within 8 px (each digit within ±4 px). Overlap: the share of "
                                 "the smaller digit's ink the other one covers")
        self.distance.valueChanged.connect(lambda _v: self.show_pair(reset_distance=False))
        self.distance_label = QLabel("")
        self.distance_label.setMinimumWidth(60)
        self.distance_label.setWordWrap(True)

        self.canvas = PairCanvas()
        self.canvas.setMaximumSize(240, 240)
        self.canvas.setMinimumSize(110, 110)
        self.canvas.setToolTip("Draw the first digit (orange), then choose the second and draw it where it "
                               "should overlap: each is sized and centred as MNIST digits are, then placed "
                               "where you drew it; the network sees their maximum")
        self.canvas.changed.connect(self._drawn)
        self.layer_choice = QButtonGroup(self)
        layer_row = QHBoxLayout()
        for k, text in enumerate(("first", "second")):
            button = QRadioButton(text)
            swatch = QPixmap(12, 12)
            swatch.fill(LAYER_COLOURS[k])
            button.setIcon(QIcon(swatch))
            button.setToolTip(f"Draw the {text} digit ({('orange', 'blue')[k]})")
            self.layer_choice.addButton(button, k)
            layer_row.addWidget(button)
        self.layer_choice.button(0).setChecked(True)
        self.layer_choice.idToggled.connect(lambda k, on: setattr(self.canvas, "layer", k) if on else None)
        undo, clear = QPushButton("Undo"), QPushButton("Clear")
        undo.clicked.connect(self.canvas.undo)
        clear.clicked.connect(self._clear_drawing)
        edit_row = QHBoxLayout()
        edit_row.addWidget(undo)
        edit_row.addWidget(clear)

        self.plots = {}
        self.images = {}
        for key, title in TITLES.items():
            plot = theme.picture_plot(minimum_height=120)
            plot.setMinimumWidth(100)
            plot.getPlotItem().setTitle(title, color=theme.foreground().name(), size="9pt")
            item = pg.ImageItem(np.zeros((SIDE, SIDE, 3), np.float32), axisOrder="row-major", levels=(0, 1))
            plot.getPlotItem().addItem(item)
            plot.getPlotItem().setRange(xRange=(0, SIDE), yRange=(0, SIDE), padding=0.02)
            self.plots[key], self.images[key] = plot, item
            theme.hover_read_out(plot, lambda x, y: self.read_out(x, y), "Hover a pixel for its numbers")
        self.images["change"].setColorMap(pg.colormap.get(theme.CHANGE_MAP))
        self.change_bar = pg.ColorBarItem(values=(-0.1, 0.1), colorMap=pg.colormap.get(theme.CHANGE_MAP),
                                          interactive=False, width=10)
        self.change_bar.setImageItem(self.images["change"], insert_in=self.plots["change"].getPlotItem())
        self.change_bar.axis.enableAutoSIPrefix(False)
        self.change_bar.axis.setStyle(showValues=False)  # the range is in the title: no number to cut off
        self.change_bar.axis.setWidth(6)
        self.sheet_note = QLabel("")  # what the two-digit sheet still needs (never overwritten by a redraw)
        self.sheet_note.setWordWrap(True)
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        self.caption = QLabel("")
        self.caption.setWordWrap(True)
        self.caption.setTextFormat(Qt.TextFormat.RichText)
        self.caption.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        pairs_row = QHBoxLayout()
        pairs_row.addWidget(QLabel("Held-out pair"))
        pairs_row.addWidget(self.index)
        pairs_row.addWidget(self.another)
        pairs_row.addStretch(1)
        apart_row = QHBoxLayout()
        apart_row.addWidget(QLabel("Apart"))
        apart_row.addWidget(self.distance, 1)
        apart_row.addWidget(self.distance_label, 1)
        pictures = QGridLayout()
        pictures.setSpacing(2)
        for k, key in enumerate(self.plots):
            pictures.addWidget(self.plots[key], k // 2, k % 2)
        side = QVBoxLayout()
        side.addWidget(QLabel("…or draw two digits:"))
        side.addLayout(layer_row)
        side.addWidget(self.canvas)
        side.addLayout(edit_row)
        side.addWidget(self.sheet_note)
        side.addWidget(scrolling(self.caption), 1)
        side_widget = QWidget()
        side_widget.setLayout(side)
        side_widget.setMaximumWidth(300)
        side_widget.setMinimumWidth(110)
        self.caption.setMinimumWidth(100)
        side.setContentsMargins(0, 0, 0, 0)
        self.body = QWidget()  # the pictures and the drawing sheet: shown only where a two-digit model reads them
        middle = QHBoxLayout(self.body)
        middle.setContentsMargins(0, 0, 0, 0)
        middle.addLayout(pictures, 3)
        middle.addWidget(side_widget, 2)
        layout = QVBoxLayout(self)
        need = QHBoxLayout()
        need.addWidget(self.need_model, 1)
        need.addWidget(self.load_button)
        layout.addLayout(need)
        layout.addLayout(pairs_row)
        layout.addLayout(apart_row)
        layout.addWidget(self.summary)
        layout.addWidget(self.body, 1)
        layout.addStretch(0)

        state.modelChanged.connect(self._follow_model)
        state.resultChanged.connect(self._draw)
        state.iterationChanged.connect(self._draw)
        state.labViewChanged.connect(self._shown)
        self._follow_model()

    # --- the model --------------------------------------------------------------------------------
    @property
    def ready(self) -> bool:
        """A two-digit model is in use: pairs are what it reads."""
        return self.state.two_digits

    def _follow_model(self) -> None:
        ready = self.ready
        self.need_model.setText("" if ready else
                                "This tab is for a model trained on two overlapping digits (MultiMNIST, 36×36): "
                                f"the model in use reads one {self.state.item_word} at a time.")
        for widget in (self.need_model, self.load_button):
            widget.setVisible(not ready)
        self.body.setVisible(ready)  # four empty pictures and a scale without numbers said nothing (a student's find)
        for widget in (self.index, self.another, self.distance, self.canvas):
            widget.setEnabled(ready)
        self._draw()

    def _shown(self) -> None:
        """Showing the tab with the two-digit model and no pair on the input: the first held-out pair."""
        if self.state.lab_view == "pair" and self.ready and self.truth is None:
            self.show_pair(reset_distance=True)
        self._draw()

    # --- inputs -------------------------------------------------------------------------------
    def pairs(self):
        """The evaluation's 10,000 held-out pairs (the same seed), as (sources (N, 2), shifts (N, 2, 2)): each
        pair's image is made when it is shown."""
        if self._pairs is None:
            from capsexplorer.data.datasets import heldout_samples

            self._split = heldout_samples()
            self._pairs = multimnist.heldout_arrangement(self._split)
        return self._pairs

    def another_pair(self) -> None:
        """A held-out pair at random (the first one for the first time: the same pictures every start)."""
        if self.truth is None and self.index.value() == 0:
            self.show_pair(reset_distance=True)
        else:
            self.index.setValue(int(self._rng.integers(multimnist.HELDOUT_PAIRS)))

    def show_pair(self, reset_distance: bool) -> None:
        """The held-out pair chosen, its second digit at the distance set (or where the set has it)."""
        (sources, all_shifts), k = self.pairs(), self.index.value()
        shifts = all_shifts[k]
        if reset_distance:
            with signals_blocked(self.distance):
                self.distance.setValue(round(multimnist.distance(shifts)))
        else:
            shifts = multimnist.separated(shifts, self.distance.value())
        with signals_blocked(self.canvas):  # the sheet showed an earlier drawing: not the input any more
            self._clear_drawing()
        digits = self._split.images[sources[k]].astype(np.float32) / 255.0  # (2, 28, 28)
        image, parts = multimnist.overlay(digits, shifts)
        labels = self._split.labels[sources[k]]
        names = [self.state.class_name(int(c)) for c in labels]
        self._say_distance(shifts, parts)
        moved = "" if reset_distance else f", {multimnist.distance(shifts):.0f} px apart"
        self._send(image, parts, labels, f"held-out pair #{k} ({names[0]} and {names[1]}{moved})")

    def _say_distance(self, shifts, parts) -> None:
        beyond = "" if multimnist.in_training_range(shifts) else " (beyond training)"
        self.distance_label.setText(f"{multimnist.distance(shifts):.0f} px, overlap "
                                    f"{multimnist.ink_overlap(parts):.0%}{beyond}")

    def _drawn(self) -> None:
        """Both layers drawn: each sized and centred as an MNIST digit, placed where it was drawn."""
        from capsexplorer.data.preprocess import preprocess_array
        from capsexplorer.errors import NoInkError

        if self.canvas.is_empty(1):
            if not self.canvas.is_empty(0):
                self.layer_choice.button(1).setChecked(True)  # the first is there: on to the second
                self.sheet_note.setText("Now draw the second digit (blue) where it should overlap the first.")
            return
        digits, shifts = [], []
        for layer in (0, 1):
            try:
                digits.append(preprocess_array(self.canvas.layer_image(layer)))
            except NoInkError:  # that layer is empty or too faint: the input shown stays as it was
                self.sheet_note.setText(f"The {('first (orange)', 'second (blue)')[layer]} digit has no ink yet: draw "
                                     "it too — the network reads the two together.")
                return
            x, y = self.canvas.ink_centre(layer)
            shifts.append((round((x - 0.5) * multimnist.CANVAS), round((y - 0.5) * multimnist.CANVAS)))
        image, parts = multimnist.overlay(np.stack(digits), shifts)
        self._say_distance(shifts, parts)
        self._send(image, parts, None, "your two digits")

    def _clear_drawing(self) -> None:
        self.canvas.clear()
        self.layer_choice.button(0).setChecked(True)

    def _send(self, image, parts, labels, description: str) -> None:
        self.sheet_note.setText("")
        self.truth = {"image": image, "parts": parts, "labels": labels}
        self.pairChosen.emit(np.clip(image * 255 + 0.5, 0, 255).astype(np.uint8), description)

    # --- drawing ------------------------------------------------------------------------------
    def current(self) -> dict | None:
        """What the tab shows for the trace held: the two capsules, both splits, and the pair's truth when
        the input is the pair last sent (its parts: which strokes are whose)."""
        s, tr = self.state, self.state.trace
        if tr is None or tr.u_hat is None or not self.ready or s.result.image.shape != (SIDE, SIDE):
            return None
        a, b = segmentation.two_capsules(tr)
        truth = self.truth
        known = truth is not None and np.allclose(truth["image"], s.result.image, atol=1 / 255)
        if known:  # orange is the pair's first digit: the capsule that is it (by label, else by its drawing)
            a, b = segmentation.match(s.result.reconstructions, (a, b), truth["parts"], truth["labels"])
        held, splits = self._splits
        if held is None or held[0] is not tr or held[1:] != (a, b):  # once a trace: stepping, hovering only read
            splits = segmentation.every_split(tr, s.geometry, a, b)
            self._splits = ((tr, a, b), splits)
        return {"a": a, "b": b, "routed": splits[s.iteration], "uniform": splits[0], "splits": splits,
                "image": s.result.image, "parts": truth["parts"] if known else None,
                "labels": truth["labels"] if known else None}

    def _draw(self, *_) -> None:
        if self.state.lab_view != "pair":
            return  # drawn when the tab is shown (_shown)
        shown = self.current()
        if shown is None:
            for key, item in self.images.items():
                item.setImage(np.zeros((SIDE, SIDE, 3), np.float32), levels=(0, 1))
                self.plots[key].getPlotItem().setTitle(TITLES[key], color=theme.foreground().name(), size="9pt")
            self.change_bar.setLevels((-0.1, 0.1))
            if not self.ready:
                self.distance_label.setText("")
            self.caption.setText("")
            self.summary.setText("")
            return
        s, a, b = self.state, shown["a"], shown["b"]
        image, routed, uniform = shown["image"], shown["routed"], shown["uniform"]
        recon = self.state.result.reconstructions
        grey = 0.35 * image
        self.images["input"].setImage(np.clip(grey[..., None] + two_colour(recon[a], recon[b]), 0, 1), levels=(0, 1))
        splits = shown["splits"]
        ink = image >= segmentation.INK  # one scale for every iteration and both pictures: stepping shows change
        widest = max(float(np.nanmax(np.abs(x.share[ink] - 0.5), initial=0.0)) for x in splits)
        self.spread = min(max(MIN_SPREAD, views.scale_ceiling(widest)), 0.5)  # stated in the titles
        self.images["routed"].setImage(painted_split(image, routed.share, self.spread), levels=(0, 1))
        self.images["uniform"].setImage(painted_split(image, uniform.share, self.spread), levels=(0, 1))
        change = self._change(routed, uniform, image)
        every = [self._change(x, uniform, image) for x in splits]
        peak = max(float(np.nanmax(np.abs(c))) if np.isfinite(c).any() else 0.0 for c in every)
        top = views.scale_ceiling(peak) if peak > 0 else 0.01
        self._levels = top
        self.images["change"].setImage(np.nan_to_num(change).astype(np.float32), levels=(-top, top))
        self.change_bar.setLevels((-top, top))
        name = s.class_name
        full = f"<br>full colour at {0.5 + self.spread:.0%}"
        for key, title in (("routed", f"Routing, iteration {s.iteration + 1}{full}"),
                           ("uniform", f"Uniform (iteration 1){full}"),
                           ("input", f"{self._coloured(name(a), 0)} and {self._coloured(name(b), 1)} redrawn"),
                           ("change", f"Routing − uniform<br>±{top:g}, red: more to {self._coloured(name(a), 0)}")):
            self.plots[key].getPlotItem().setTitle(title, color=theme.foreground().name(), size="9pt")
        key, words = self._caption(shown, change, top)
        self.summary.setText(key)
        self.caption.setText(words)

    @staticmethod
    def _coloured(text: str, digit: int) -> str:
        return f'<span style="color:{LAYER_COLOURS[digit].name()}"><b>{text}</b></span>'

    @staticmethod
    def _change(routed, uniform, image) -> np.ndarray:
        """(H, H) the change of the first capsule's share, on the ink only (NaN elsewhere)."""
        return np.where(image >= segmentation.INK, routed.share - uniform.share, np.nan)

    def _caption(self, shown: dict, change: np.ndarray, top: float) -> tuple[str, str]:
        """(the key numbers in one line, the words that explain the pictures)."""
        s, a, b = self.state, shown["a"], shown["b"]
        name, lengths = s.class_name, s.trace.final_lengths[0]
        r = s.iteration
        labels = shown["labels"]
        verdict = ""
        if labels is not None:
            right = sorted(int(c) for c in labels) == sorted((a, b))
            verdict = (f"The pair is {name(int(labels[0]))} and {name(int(labels[1]))}: "
                       f"{'both right' if right else '<b>not both right</b>'}. ")
            if not right:  # "own digit" then means the capsule each true digit was matched to
                verdict += (f"The {name(int(labels[0]))} is matched to capsule {name(a)}, the "
                            f"{name(int(labels[1]))} to {name(b)} (by their reconstructions). ")
        ink = shown["image"] >= segmentation.INK
        sides = int((((shown["routed"].share > 0.5) != (shown["uniform"].share > 0.5)) & ink).sum())
        largest = float(np.nanmax(np.abs(change))) if np.isfinite(change).any() else 0.0
        key = (f"{verdict}Iteration {r + 1}: routing moved <b>{sides} of {int(ink.sum())}</b> ink pixels to the other "
               f"digit's side compared with uniform couplings (largest change of a share {largest:.3f})")
        truth = None
        if shown["parts"] is not None:
            truth = [segmentation.agreement(shown[key].share, shown["parts"]) for key in ("routed", "uniform")]
            routed, uniform = truth[0]["own_strokes"], truth[1]["own_strokes"]
            worse = (" — below chance: on this pair the capsules take more of the other digit's strokes than their "
                     "own" if max(routed, uniform) < 0.5 else "")
            than = ("routing gives fewer to their own digit than uniform couplings" if routed < uniform - 0.005 else
                    "routing gives more than uniform couplings" if routed > uniform + 0.005 else "the same either way")
            key += (f"; strokes given to their own digit: routing <b>{routed:.0%}</b>, uniform "
                    f"<b>{uniform:.0%}</b> (half is chance; {than}{worse})")
        which = ("the pair's first digit" if labels is not None else "the digit drawn first"
                 if shown["parts"] is not None else "the longer capsule")
        text = (f"The two longest capsules: {self._coloured(name(a), 0)} (‖v‖ {lengths[a]:.2f}) and "
                f"{self._coloured(name(b), 1)} ({lengths[b]:.2f}), redrawn over the input in grey; orange is {which}. "
                f"Each stroke is painted in the "
                f"colour of the capsule its routed mass c<sub>ij</sub>·‖û<sub>j|i</sub>‖ goes to (summed over the "
                f"primary capsules that see it): full orange where {0.5 + self.spread:.0%} or more goes to "
                f"{name(a)}, full blue where as much goes to {name(b)} (this input's largest share; the same scale "
                f"for both pictures and every iteration), mixed (olive) near half and half. The "
                f"difference: red where routing gave {name(a)} more than uniform couplings, blue where less "
                f"(±{top:g} at the ends, the same for every iteration).")
        if truth is not None:
            by_routing, by_uniform = truth
            text += (f" Against each digit drawn alone: the strokes only one digit draws go to that digit's capsule "
                     f"{by_routing['own_strokes']:.0%} of the time (uniform {by_uniform['own_strokes']:.0%}); the "
                     f"{by_routing['shared_pixels']} pixels both draw go {by_routing['shared_to_a']:.0%} to "
                     f"{name(a)} (uniform {by_uniform['shared_to_a']:.0%}).")
        measured = segmentation_measured(s.model.path if s.model is not None else None)
        if measured is not None:
            uniform, routed = measured["iterations"]["1"], measured["iterations"][str(max(map(int, measured["iterations"])))]
            text += (f" Over the {measured['both_right']:,} of {measured['pairs']:,} held-out pairs this model reads "
                     f"right: {uniform['own_strokes']:.1%} of such strokes to their own digit with uniform couplings, "
                     f"{routed['own_strokes']:.1%} after {max(map(int, measured['iterations']))} iterations "
                     "(measured once for these weights).")
            text += pair_accuracy_text(measured)
        return key + ".", text

    def read_out(self, x: float, y: float) -> str:
        shown = self.current()
        col, row = int(np.floor(x)), int(np.floor(y))
        if shown is None or not (0 <= row < SIDE and 0 <= col < SIDE):
            return ""
        name, a, b = self.state.class_name, shown["a"], shown["b"]
        routed, uniform = shown["routed"].share[row, col], shown["uniform"].share[row, col]
        if shown["image"][row, col] < segmentation.INK:
            return f"Pixel (row {row}, col {col}): no ink here (ink {shown['image'][row, col]:.2f}): not painted."
        text = (f"Pixel (row {row}, col {col}): ink {shown['image'][row, col]:.2f}; share to {name(a)}: "
                f"routing {routed:.1%} (iteration {self.state.iteration + 1}), uniform {uniform:.1%}, change "
                f"{routed - uniform:+.2%}; to {name(b)}: the rest.")
        if shown["parts"] is not None:
            parts = shown["parts"]
            whose = [k for k in (0, 1) if parts[k][row, col] >= segmentation.INK]
            labels = shown["labels"]
            owners = [name(int(labels[k])) if labels is not None else ("first", "second")[k] for k in whose]
            text += f" Drawn by: {' and '.join(owners) if owners else 'neither'}."
        return text
