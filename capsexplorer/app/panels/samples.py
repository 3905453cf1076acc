"""Samples: an image of the model's own data that it never trained on (random, or of a chosen class) —
one of MNIST's 10,000 test digits (no model here trained on them), or a Fashion-MNIST test image — or an
image file."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QGroupBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout

from capsexplorer.app.session.state import USERS_DRAWING
from capsexplorer.data.datasets import model_samples
from capsexplorer.errors import CapsExplorerError

IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.bmp *.gif *.tif *.tiff *.webp *.pgm *.ppm);;All files (*)"


class SamplesPanel(QGroupBox):
    """Emits `sampleChosen(image, description)`; `openRequested` asks the window for a file dialog."""

    sampleChosen = Signal(object, str)
    openRequested = Signal()
    failed = Signal(str)
    pairWanted = Signal()  # a two-digit model's "sample": a held-out pair (the Two digits tab makes it)

    def __init__(self, state, parent=None):
        super().__init__("Samples", parent)
        self.dataset = "mnist"
        self.classes: tuple[str, ...] = tuple(str(d) for d in range(10))
        self.digit = QComboBox()
        self._fill_classes()
        self.digit.setToolTip("Class of the next held-out sample")
        self.notice = QLabel("")  # what the model was trained on, when that is not digits
        self.notice.setWordWrap(True)
        self.notice.setVisible(False)
        self.random_button = QPushButton("Held-out sample")
        self.random_button.setToolTip("Load a random digit of MNIST's test set, which no model here trained on (Ctrl+R)")
        self.open_button = QPushButton("Open image…")
        self.open_button.setToolTip("Open an image file (Ctrl+O), or drop one on the window")
        self.random_button.clicked.connect(lambda: self.load_random())
        self.open_button.clicked.connect(self.openRequested)
        self.note = QLabel("")
        self.note.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(self.random_button)
        row.addWidget(self.digit)
        layout = QVBoxLayout(self)
        layout.addWidget(self.notice)
        layout.addLayout(row)
        layout.addWidget(self.open_button)
        layout.addWidget(self.note)
        self._rng = np.random.default_rng()
        self._why = False  # the note says why no sample could be loaded
        state.modelChanged.connect(lambda: self.set_model_data(state.model.dataset, state.classes))
        state.inputChanged.connect(lambda: self._follow_input(state.input))

    def _follow_input(self, given) -> None:
        """The note says where the input came from, while it is a loaded image, not a drawing."""
        loaded = given is not None and given.label and given.label != USERS_DRAWING
        text = f"Loaded {given.label}." if loaded else ""
        if text != self.note.text() and (loaded or not self._why):
            self.note.setText(text)
        self._why = False

    def _fill_classes(self) -> None:
        digits = self.classes == tuple(str(d) for d in range(len(self.classes)))
        self.digit.clear()
        self.digit.addItem("any digit" if digits else "any class", -1)  # not None in item data: see state.WINNER
        for d, name in enumerate(self.classes):
            self.digit.addItem(f"digit {d}" if digits else name, d)

    def set_model_data(self, dataset: str, classes: tuple[str, ...]) -> None:
        """Samples from the data the loaded model was trained on, named with its classes."""
        if (dataset, tuple(classes)) == (self.dataset, self.classes):
            return
        self.dataset, self.classes = dataset, tuple(classes)
        self._fill_classes()
        clothing = dataset == "fashion-mnist"
        self.random_button.setText("Test image" if clothing else "Held-out pair" if dataset == "multimnist" else
                                   "Held-out sample")
        self.notice.setText("This model was trained on clothing (Fashion-MNIST): whatever you draw is read as "
                            "one of its ten kinds of garment." if clothing else
                            "" if dataset in ("mnist", "mnist5k") else
                            "This model was trained on pairs of overlapping digits (MultiMNIST, 36×36): the Pairs "
                            "tab shows which strokes routing gives to which. It always names two digits (its two longest "
                            "capsules), even when you draw one." if dataset == "multimnist" else
                            f"This model was trained on {dataset} data.")
        self.notice.setVisible(bool(self.notice.text()))

    def load_random(self, digit: int | None = None, seed: int | None = None) -> bool:
        """Loads a sample of the model's own data; False when there is none (the input then stays)."""
        if digit is None:
            digit = self.digit.currentData()
            digit = None if digit is None or digit < 0 else int(digit)
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        if self.dataset == "multimnist":
            self.pairWanted.emit()
            return True
        try:
            found = model_samples(self.dataset)  # all of them: a sample's number names one image whatever the filter
        except CapsExplorerError as exc:
            self.failed.emit(str(exc))
            return False
        if found is None:
            self.note.setText(f"No sample images of this model's data ({self.dataset}); draw or open an image.")
            self._why = True  # kept until the next input that is not the one shown
            return False
        split, source = found
        choices = np.arange(len(split)) if digit is None else np.flatnonzero(split.labels == digit)
        if not len(choices):
            return False
        k = int(choices[self._rng.integers(len(choices))])
        label = int(split.labels[k])
        name = self.classes[label] if label < len(self.classes) else str(label)
        description = f"{source} sample #{k}, class {name}"
        self.sampleChosen.emit(split.images[k], description)
        return True
