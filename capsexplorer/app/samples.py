"""Samples: a held-out bundled MNIST digit (random, or of a chosen class), or an image file."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QGroupBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout

from ..data import heldout_samples
from ..errors import CapsExplorerError

IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.bmp *.gif *.tif *.tiff *.webp *.pgm *.ppm);;All files (*)"


class SamplesPanel(QGroupBox):
    """Emits `sampleChosen(image, description)`; `openRequested` asks the window for a file dialog."""

    sampleChosen = Signal(object, str)
    openRequested = Signal()
    failed = Signal(str)

    def __init__(self, parent=None):
        super().__init__("Samples", parent)
        self.digit = QComboBox()
        self.digit.addItem("any digit", -1)  # not None in item data: see state.WINNER
        for d in range(10):
            self.digit.addItem(f"digit {d}", d)
        self.digit.setToolTip("Class of the next held-out sample")
        self.random_button = QPushButton("Held-out sample")
        self.random_button.setToolTip("Load a random MNIST digit the model never trained on (Ctrl+R)")
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
        layout.addLayout(row)
        layout.addWidget(self.open_button)
        layout.addWidget(self.note)
        self._rng = np.random.default_rng()

    def load_random(self, digit: int | None = None, seed: int | None = None) -> None:
        if digit is None:
            digit = self.digit.currentData()
            digit = None if digit < 0 else int(digit)
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        try:
            split = heldout_samples()  # all 1,000: a sample's number names one digit whatever the filter
        except CapsExplorerError as exc:
            self.failed.emit(str(exc))
            return
        choices = np.arange(len(split)) if digit is None else np.flatnonzero(split.labels == digit)
        k = int(choices[self._rng.integers(len(choices))])
        label = int(split.labels[k])
        description = f"held-out MNIST sample #{k}, class {label}"
        self.note.setText(f"Loaded {description}.")
        self.sampleChosen.emit(split.images[k], description)

    def show_file(self, path: str) -> None:
        self.note.setText(f"Loaded {path}.")
