"""The held-out digits at a glance: every one as a thumbnail with its label, the CapsNet's prediction
and its length; filters (misclassified, a class, low margin, CapsNet and CNN disagreeing), sorting,
and a confusion matrix whose cells filter the thumbnails. A click opens a digit in the explorer."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QAbstractListModel, QModelIndex, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListView,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)
from superqt.utils import signals_blocked

from capsexplorer.analysis.predictions import SetPredictions
from capsexplorer.app.widgets.guard import qt_safe
from capsexplorer.data.datasets import Split

THUMB = 42  # pixels a side


class ThumbnailModel(QAbstractListModel):
    """The digits shown, in order; pixmaps made when first drawn and kept (scrolling 10,000 stays smooth)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.names = self.full_names = [str(d) for d in range(10)]  # short and full class names
        self.split: Split | None = None
        self.predictions: SetPredictions | None = None
        self.order = np.zeros(0, np.int64)
        self._pixmaps: dict[int, QPixmap] = {}
        self.item_size: QSize | None = None  # every item's size (uniform): room for the longest caption

    def set_data(self, split: Split, predictions: SetPredictions) -> None:
        self.beginResetModel()
        self.split, self.predictions = split, predictions
        self._pixmaps.clear()
        self.order = np.arange(len(split))
        self.endResetModel()

    def clear(self) -> None:
        """No images (another model's predictions are coming, or none)."""
        self.beginResetModel()
        self.split, self.predictions, self.order = None, None, np.zeros(0, np.int64)
        self._pixmaps.clear()
        self.endResetModel()

    def set_order(self, order: np.ndarray) -> None:
        self.beginResetModel()
        self.order = np.asarray(order, np.int64)
        self.endResetModel()

    @qt_safe(default=0)
    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802, B008 (Qt's signature)
        return 0 if parent.isValid() else len(self.order)

    @qt_safe()
    def data(self, index: QModelIndex, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or self.predictions is None:
            return None
        if role == Qt.ItemDataRole.SizeHintRole:  # uniform sizes take the first item's: the longest caption's room
            return self.item_size
        k = int(self.order[index.row()])
        p = self.predictions
        label, predicted = int(p.labels[k]), int(p.prediction[k])
        if role == Qt.ItemDataRole.DisplayRole:  # the CNN's answer too, where it differs: "7→5 · CNN 7"
            cnn = "" if p.cnn is None or int(p.cnn_prediction[k]) == predicted else \
                f"\nCNN {self.names[int(p.cnn_prediction[k])]}"
            return f"{self.names[label]}→{self.names[predicted]} {p.winner_length[k]:.2f}{cnn}"
        if role == Qt.ItemDataRole.DecorationRole:
            if k not in self._pixmaps:
                grey = np.ascontiguousarray(255 - self.split.images[k])  # dark ink on light, as drawn
                side = grey.shape[-1]  # a data set's own size (28 for MNIST)
                image = QImage(grey.data, side, side, side, QImage.Format.Format_Grayscale8).copy()
                self._pixmaps[k] = QPixmap.fromImage(image.scaled(THUMB, THUMB))
            return self._pixmaps[k]
        if role == Qt.ItemDataRole.ForegroundRole and label != predicted:
            return QColor(200, 50, 30)
        if role == Qt.ItemDataRole.ToolTipRole:
            text = (f"held-out #{k}: label {self.full_names[label]}, CapsNet {self.full_names[predicted]} "
                    f"(‖v‖ {p.winner_length[k]:.3f}, margin {p.margin[k]:.3f})")
            if p.cnn is not None:
                text += f"; CNN {self.full_names[int(p.cnn_prediction[k])]} ({p.cnn[k].max():.0%})"
            return text
        if role == Qt.ItemDataRole.UserRole:
            return k
        return None


class BrowserPanel(QGroupBox):
    sampleChosen = Signal(object, str)  # image uint8 (28, 28), description

    def __init__(self, state, parent=None):
        super().__init__("The held-out digits", parent)
        self.split: Split | None = None
        self.predictions: SetPredictions | None = None
        self.cell: tuple[int, int] | None = None  # a confusion-matrix cell chosen (true, predicted)
        self._final, self._seconds = True, 0.0
        self.digit = QComboBox()
        self.digit.addItem("all classes", -1)
        for d in range(10):
            self.digit.addItem(f"class {d}", d)
        self.wrong = QCheckBox("misclassified")
        self.low_margin = QCheckBox("margin under")
        self.margin = QDoubleSpinBox()
        self.margin.setRange(0.0, 1.0)
        self.margin.setSingleStep(0.05)
        self.margin.setValue(0.3)
        self.disagree = QCheckBox("CapsNet ≠ CNN")
        self.both_wrong = QCheckBox("both wrong")
        self.both_wrong.setToolTip("The images both the CapsNet and the CNN get wrong")
        self.sort = QComboBox()
        for name, key in (("in order", "index"), ("shortest winner first", "length"),
                          ("smallest margin first", "margin")):
            self.sort.addItem(name, key)
        for widget in (self.digit, self.sort):
            widget.currentIndexChanged.connect(self._user_filter)
        for widget in (self.wrong, self.low_margin, self.disagree, self.both_wrong):
            widget.toggled.connect(self._user_filter)
        self.margin.valueChanged.connect(self._user_filter)

        self.confusion = QTableWidget(10, 10)
        self.confusion.setHorizontalHeaderLabels([str(d) for d in range(10)])
        self.confusion.setVerticalHeaderLabels([str(d) for d in range(10)])
        self.confusion.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.confusion.setToolTip("Rows: the true class; columns: the CapsNet's prediction. Click a cell to see "
                                  "those digits.")
        for header in (self.confusion.horizontalHeader(), self.confusion.verticalHeader()):
            header.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
            header.setMinimumSectionSize(18)
        font = self.confusion.font()
        font.setPointSizeF(font.pointSizeF() * 0.85)  # "100" fits a column in a narrow window
        self.confusion.setFont(font)
        self.confusion.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.confusion.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.confusion.setMinimumSize(250, 250)
        self.confusion.setMaximumHeight(300)
        self.confusion.cellClicked.connect(self._cell_clicked)

        self.model = ThumbnailModel(self)
        self.view = QListView()
        self.view.setViewMode(QListView.ViewMode.IconMode)
        self.view.setResizeMode(QListView.ResizeMode.Adjust)
        self.view.setUniformItemSizes(True)  # no per-item size queries: smooth with 10,000 items
        self.view.setIconSize(QSize(THUMB, THUMB))
        self.view.setGridSize(QSize(THUMB + 44, THUMB + 36))  # two lines: label→CapsNet, and the CNN's if other
        self.view.setWordWrap(True)
        self.view.setModel(self.model)
        self.view.setMinimumWidth(THUMB + 40)
        self.view.clicked.connect(self._open)
        self.status = QLabel("Computing the predictions for the held-out digits…")
        self.status.setWordWrap(True)
        self.ablation = QLabel("")
        self.ablation.setWordWrap(True)

        filters = QVBoxLayout()
        for widgets in ((self.digit, self.sort), (self.wrong, self.disagree, self.both_wrong),
                        (self.low_margin, self.margin)):
            row = QHBoxLayout()
            for widget in widgets:
                row.addWidget(widget)
            row.addStretch(1)
            filters.addLayout(row)
        body = QVBoxLayout()  # the matrix above the thumbnails: every count readable in a narrow window
        title = self.confusion_title = QLabel("Confusion — rows: the true class, columns: the CapsNet's prediction")
        title.setWordWrap(True)
        body.addWidget(title)
        body.addWidget(self.confusion)
        body.addWidget(self.view, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(filters)
        layout.addLayout(body, 1)
        layout.addWidget(self.status)
        layout.addWidget(self.ablation)
        state.modelChanged.connect(lambda: self.set_classes(state.classes))
        self._follow(state)

    def _fit_grid(self) -> None:
        """Thumbnails wide enough for their longest caption ("Pullover→Pullover 0.99", "CNN Pullover") on
        two lines: no caption is cut off."""
        metrics = self.view.fontMetrics()
        names = self.model.names
        widest = max(metrics.horizontalAdvance(f"{a}→{b} 0.99") for a in names for b in names)
        widest = max(widest, max(metrics.horizontalAdvance(f"CNN {n}") for n in names))
        grid = QSize(max(THUMB + 44, widest + 24), THUMB + 3 * metrics.height() + 8)
        self.view.setGridSize(grid)
        self.model.item_size = QSize(grid.width() - 8, grid.height() - 4)  # uniform sizes: not the first caption's

    def set_classes(self, classes: tuple[str, ...]) -> None:
        """The class filter and the confusion matrix's headers named by the model's classes."""
        from capsexplorer.data.datasets import SHORT_NAMES

        names = [SHORT_NAMES.get(c, c) for c in classes]
        digits = names == [str(d) for d in range(len(names))]
        self.model.names, self.model.full_names = names, list(classes)
        self.setTitle("The held-out digits" if digits else "The held-out images")
        with signals_blocked(self.digit):
            self.digit.clear()
            self.digit.addItem("all classes", -1)
            for d, name in enumerate(names):
                self.digit.addItem(f"class {d}" if digits else name, d)
        self.confusion.setRowCount(len(names))
        self.confusion.setColumnCount(len(names))
        self.confusion.setHorizontalHeaderLabels(names)
        self._fit_grid()
        self.confusion.setVerticalHeaderLabels(names)

    def _follow(self, state) -> None:
        """Draws the held-out predictions the explorer state holds, and their progress while computed."""
        def draw() -> None:
            result = state.predictions
            if result is None or result.predictions is None:  # another model: nothing of the last one stays
                self.clear_data()
            shown = result is None or result.predictions is not None  # never an empty matrix, nor idle filters
            for widget in (self.confusion, self.confusion_title, self.view, self.digit, self.sort, self.wrong,
                           self.disagree, self.both_wrong, self.low_margin, self.margin):
                widget.setVisible(shown)
            if result is not None and result.predictions is None:
                self.status.setText(result.why)
            elif result is not None:
                self.set_data(result.split, result.predictions, result.seconds, result.final)

        state.predictionsChanged.connect(draw)
        state.predictionsChanged.connect(lambda: self.show_ablation(state.ablation))
        state.progressChanged.connect(lambda kind: kind == "predictions" and state.progress.get(kind) is not None
                                      and self.show_progress(state.progress[kind]))

    def show_ablation(self, accuracy: dict | None) -> None:
        """Does routing matter here? The held-out accuracy with each routing iteration count."""
        if not accuracy:
            self.ablation.setText("")
            return
        self.ablation.setText("Does routing matter here? Held-out accuracy of the CapsNet with 1 (uniform "
                              "couplings: no routing), 2, 3 (as trained), 5 and 10 routing iterations: " +
                              ", ".join(f"{r}: {a:.1%}" for r, a in sorted(accuracy.items())) + ".")

    def show_progress(self, progress) -> None:
        """A `jobs.Progress` of the held-out predictions (images done of both models' total)."""
        self.status.setText(f"Computing the predictions for the held-out digits… {progress.done} of "
                            f"{progress.total}")

    def clear_data(self) -> None:
        """No predictions (another model's are coming, or there are none for it)."""
        self.split, self.predictions, self.cell = None, None, None
        self.model.clear()
        self.confusion.clearContents()
        self.status.setText("")

    def set_data(self, split: Split, predictions: SetPredictions, seconds: float, final: bool = True) -> None:
        """`final` False: the CapsNet's predictions, the CNN's still to come."""
        self.split, self.predictions = split, predictions
        self.model.set_data(split, predictions)
        counts = predictions.confusion()
        for t in range(len(counts)):
            for p in range(len(counts)):
                item = QTableWidgetItem(str(counts[t, p]) if counts[t, p] else "")
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                if t != p and counts[t, p]:
                    item.setForeground(QColor(200, 50, 30))
                self.confusion.setItem(t, p, item)
        self.disagree.setEnabled(predictions.cnn is not None)
        self.both_wrong.setEnabled(predictions.cnn is not None)
        self._final = final
        self._seconds = seconds
        self.apply()

    def _cell_clicked(self, true: int, predicted: int) -> None:
        self.cell = (true, predicted)
        self.apply()

    def _user_filter(self, *_) -> None:
        self.cell = None  # a filter set by hand replaces the matrix cell
        self.apply()

    def shown(self) -> np.ndarray:
        """The indices the filters keep, in the chosen order."""
        p = self.predictions
        keep = np.ones(len(p.labels), bool)
        if self.cell is not None:
            keep &= (p.labels == self.cell[0]) & (p.prediction == self.cell[1])
        if self.digit.currentData() >= 0:
            keep &= p.labels == self.digit.currentData()
        if self.wrong.isChecked():
            keep &= p.prediction != p.labels
        if self.low_margin.isChecked():
            keep &= p.margin < self.margin.value()
        if self.disagree.isChecked() and p.cnn is not None:
            keep &= p.cnn_prediction != p.prediction
        if self.both_wrong.isChecked() and p.cnn is not None:
            keep &= (p.cnn_prediction != p.labels) & (p.prediction != p.labels)
        order = np.flatnonzero(keep)
        key = self.sort.currentData()
        if key == "length":
            order = order[np.argsort(p.winner_length[order], kind="stable")]
        elif key == "margin":
            order = order[np.argsort(p.margin[order], kind="stable")]
        return order

    def apply(self) -> None:
        if self.predictions is None:
            return
        order = self.shown()
        self.model.set_order(order)
        p = self.predictions
        count = getattr(p, "iterations", 3)
        accuracy = (f"CapsNet {np.mean(p.prediction == p.labels):.1%} with {count} routing "
                    f"iteration{'s' if count != 1 else ''}")
        if p.cnn is not None:
            accuracy += f", CNN {np.mean(p.cnn_prediction == p.labels):.1%}"
        elif not self._final:
            accuracy += "; the CNN's predictions are still being computed"
        where = f" — cell true {self.cell[0]}, predicted {self.cell[1]}" if self.cell else ""
        self.status.setText(f"{len(order)} of {len(p.labels)} shown{where}. Held-out accuracy: {accuracy} "
                            f"({self._timing()}). Click a thumbnail to open it in the explorer.")

    def _timing(self) -> str:
        return "predictions read from the cache" if self._seconds < 0.2 else f"predictions in {self._seconds:.1f} s"

    def _open(self, index: QModelIndex) -> None:
        k = int(self.model.data(index, Qt.ItemDataRole.UserRole))
        label = self.model.full_names[int(self.split.labels[k])]
        self.sampleChosen.emit(self.split.images[k], f"held-out sample #{k}, class {label}")
