"""Routing: the coupling coefficients c_ij of the iteration shown, as the whole 1152×10 matrix
grouped by capsule type and position, and one digit's coupling over the 6×6 grid laid over the
input — both on one colour scale, since they show one quantity."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtWidgets import (
    QBoxLayout,
    QCheckBox,
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
    QWidget,
)
from superqt.utils import signals_blocked

from capsexplorer.analysis import views
from capsexplorer.net.config import ROUTER_TITLES as TITLES
from capsexplorer.app.session.state import NO_PRIMARY, WINNER, ExplorerState
from capsexplorer.app.widgets import theme
from capsexplorer.app.widgets.guard import qt_safe
from capsexplorer.app.widgets.steady_scroll import SteadyScrollArea

NARROW = 600  # below this width the spatial view goes under the matrix
HOVER_HINT = ("Each block: a class j, its {grid}×{grid} positions row by row. Hover to read; click: the Primary tab "
              "shows it.")
EMPTY_HINT = "Draw, or load a sample, to see how the input is routed."


QUANTITY_HTML = {"deviation": "c<sub>ij</sub> − 1/J", "coupling": "c<sub>ij</sub>", "logits": "b<sub>ij</sub>",
                 "agreement": "û<sub>j|i</sub>·v<sub>j</sub>", "routed": "c<sub>ij</sub>‖û<sub>j|i</sub>‖"}
MODE_NAMES = {"deviation": "deviation from uniform", "coupling": "coupling c_ij", "logits": "routing logits b_ij",
              "agreement": "agreement û·v", "routed": "routed mass c·‖û‖"}
ROW_FLAGS = QListWidgetItem().flags()  # a list row's own: enabled, selectable


def quantity_html(weighted: bool, change: bool, mode: str = "coupling") -> str:
    """The colour bar's title, typeset: c_ij, b_ij, Δc_ij·‖u_i‖ …"""
    text = QUANTITY_HTML[mode]
    if weighted:
        text = f"({text})·‖u<sub>i</sub>‖" if " " in text else text + "·‖u<sub>i</sub>‖"
    return (f"Δ({text})" if " " in text else "Δ" + text) if change else text


PRIMARY_MARGIN = (2.0, 0.6)  # cells left/right and above/below the chosen one inside its ring

class RoutingPanel(QGroupBox):
    def __init__(self, state: ExplorerState, parent=None):
        super().__init__("Dynamic routing — coupling coefficients c_ij", parent)
        self.state = state
        self._levels = (0.0, 1.0)
        self._stack = None  # (R, 1152, J) the trace's matrices at every iteration, once a trace
        self._mode = (False, False, "coupling")  # (weighted, change, mode) the colour maps were set for
        self._hover_cell: tuple[int, int] | None = None
        self._build_options()
        self._build_matrix()
        self._build_spatial()
        self.hover = QLabel(EMPTY_HINT)
        self.hover.setWordWrap(True)
        # Its words change with every hover and new trace: in a box of three lines' height that scrolls, so they
        # re-lay out nothing around them (a new text here re-laid out and repainted the whole lab).
        hover_area = SteadyScrollArea(self.hover)
        hover_area.setFixedHeight(self.hover.fontMetrics().lineSpacing() * 3 + 6)
        hover_area.setMinimumWidth(60)

        self.views_row = QBoxLayout(QBoxLayout.Direction.LeftToRight)
        self.views_row.addWidget(self.matrix_plot, 3)
        self.views_row.addWidget(self.spatial_box, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(self.options)
        layout.addLayout(self.views_row, 1)
        layout.addWidget(hover_area)

        state.modelChanged.connect(self._follow_model)
        state.resultChanged.connect(self._new_result)
        state.iterationChanged.connect(self._render)
        state.overlayDigitChanged.connect(self._overlay_digit_changed)
        state.viewChanged.connect(self._view_changed)
        state.primaryChanged.connect(self._show_primary)
        state.partsChanged.connect(self._render)
        self._follow_model()
        self._new_result()

    def _follow_model(self) -> None:
        """The model's shape (classes, types, grid, input size) and its classes' words on the axes and choices."""
        s, g = self.state, self.state.geometry
        router = s.model.config.routing if s.model is not None else "dynamic"
        self.setTitle(f"{TITLES.get(router, router)} — coupling coefficients c_ij")
        item = self.matrix_plot.getPlotItem()
        item.setLabel("bottom", s.capsule_word + " j")
        item.getAxis("left").setTicks([[(t + 0.5, str(t)) for t in sorted({0, g.types // 4, g.types // 2,
                                                                             3 * g.types // 4, g.types - 1})], []])
        item.setXRange(0, g.classes * g.positions, padding=0)
        item.setYRange(0, g.types, padding=0)
        for line in self.separators:
            item.removeItem(line)
        self.separators = [pg.InfiniteLine(d * g.positions, angle=90, pen=pg.mkPen(theme.background(), width=2))
                           for d in range(1, g.classes)]
        for line in self.separators:
            item.addItem(line)
        with signals_blocked(self.digit_choice):
            chosen = self.digit_choice.currentData()
            self.digit_choice.clear()
            self.digit_choice.addItem("winner", WINNER)
            for d in range(g.classes):
                self.digit_choice.addItem(f"digit {d}" if s.digits else s.class_name(d), d)
            self.digit_choice.setCurrentIndex(max(0, self.digit_choice.findData(s.overlay_digit)
                                                  if chosen is not None else 0))
        self.digit_choice.setToolTip(f"The {s.capsule_word} whose coupling is laid over the input")
        size = g.grid * g.step
        self.overlay.setRect(QRectF(g.origin, g.origin, size, size))
        self.spatial_plot.getPlotItem().setRange(xRange=(0, g.size), yRange=(0, g.size), padding=0.02)
        self.class_axis.set_names(s.tick_names, [g.positions * (d + 0.5) for d in range(g.classes)])  # in range

    # --- construction -------------------------------------------------------------------------
    def _build_options(self) -> None:
        self.mode = QComboBox()
        for mode, name in MODE_NAMES.items():
            self.mode.addItem(name, mode)
            self.mode.setItemData(self.mode.count() - 1, views.MODES[mode], Qt.ItemDataRole.ToolTipRole)
        self.mode.setToolTip("What the matrix shows; hover an entry for what it means")
        self.mode.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.mode.setMinimumContentsLength(8)  # narrow windows; the popup shows whole names
        self.mode.currentIndexChanged.connect(lambda: self.state.set_view(mode=str(self.mode.currentData())))
        self.weighted = QCheckBox("weight by ‖u_i‖")
        self.weighted.setToolTip("Multiply c_ij by the primary capsule's length: inactive capsules fade out")
        self.change = QCheckBox("change")
        self.change.setToolTip("Show c_ij(r) − c_ij(r−1): where routing moved coupling this iteration")
        self.weighted.toggled.connect(lambda on: self.state.set_view(weighted=on))
        self.change.toggled.connect(lambda on: self.state.set_view(change=on))
        self.options = QHBoxLayout()
        self.options.addWidget(self.mode, 1)
        self.options.addWidget(self.weighted)
        self.options.addWidget(self.change)
        self.options.addStretch(1)

    def _build_matrix(self) -> None:
        self.matrix_plot = theme.static_plot(minimum_height=120)
        item = self.matrix_plot.getPlotItem()
        item.invertY(True)
        item.setLabel("bottom", "digit capsule j")
        item.setLabel("left", "primary type")
        self.class_axis = theme.ClassAxis(self.matrix_plot, [views.POSITIONS * (d + 0.5) for d in range(10)])
        item.getAxis("left").setTicks([[(t + 0.5, str(t)) for t in (0, 8, 16, 24, 31)], []])
        self.matrix = theme.image_item((views.TYPES, 10 * views.POSITIONS), theme.COUPLING_MAP)
        item.addItem(self.matrix)
        item.setXRange(0, 10 * views.POSITIONS, padding=0)
        item.setYRange(0, views.TYPES, padding=0)
        separator = pg.mkPen(theme.background(), width=2)
        self.separators = [pg.InfiniteLine(d * views.POSITIONS, angle=90, pen=separator) for d in range(1, 10)]
        for line in self.separators:
            item.addItem(line)
        self.winner_box = pg.QtWidgets.QGraphicsRectItem(0, 0, views.POSITIONS, views.TYPES)
        self.winner_box.setPen(pg.mkPen(theme.winner_colour(), width=2))
        item.addItem(self.winner_box)
        # The chosen capsule's cell: a white ring on a black halo *around* it (a cell is about 2 px wide, so a
        # ring on it would paint it over — in blue, the colour of a negative change), in no map's colours.
        self.primary_box = pg.ItemGroup()
        for colour, width in (("k", 4), ("w", 2)):
            ring = pg.QtWidgets.QGraphicsRectItem(0, 0, 1, 1, self.primary_box)
            ring.setPen(pg.mkPen(colour, width=width))
        self.primary_box.hide()
        item.addItem(self.primary_box)
        self.colorbar = pg.ColorBarItem(values=(0, 1), colorMap=pg.colormap.get(theme.COUPLING_MAP),
                                        interactive=False, width=14)
        self.colorbar.setImageItem(self.matrix, insert_in=item)
        self.colorbar.axis.enableAutoSIPrefix(False)
        self.colorbar.axis.setTextPen(pg.mkPen(theme.foreground()))
        self.colorbar.axis.setPen(pg.mkPen(theme.muted()))
        self.colorbar.axis.setLabel(quantity_html(False, False), **theme.label_style())
        self.colorbar.axis.setWidth(52)  # room for "−0.05" and the title beside it
        item.setContentsMargins(0, 8, 0, 0)  # the colour bar's top value is written above the matrix, not cut
        self.matrix.hoverEvent = self._hover
        self.matrix.mouseClickEvent = self._click

    def _build_spatial(self) -> None:
        self.spatial_box = QWidget()
        self.digit_choice = QComboBox()
        self.digit_choice.addItem("winner", WINNER)
        for d in range(10):
            self.digit_choice.addItem(f"digit {d}", d)
        self.digit_choice.setToolTip("Digit capsule whose coupling is laid over the input")
        self.digit_choice.currentIndexChanged.connect(
            lambda: self.state.set_overlay_digit(int(self.digit_choice.currentData())))
        self.spatial_plot = theme.picture_plot()
        self.spatial_plot.setMinimumSize(100, 80)  # at 1024×700 the ranked rows above keep two lines
        item = self.spatial_plot.getPlotItem()
        half_line = self.fontMetrics().height() // 2 + 1
        item.setContentsMargins(0, half_line, 0, half_line)  # the colour bar's end values, centred on its ends, whole
        self.input_image = theme.image_item((28, 28), theme.GREYS)
        self.overlay = theme.image_item((views.GRID, views.GRID), theme.COUPLING_MAP)
        self.overlay.setOpacity(0.62)
        size = views.GRID * views.GRID_STEP
        self.overlay.setRect(QRectF(views.GRID_ORIGIN, views.GRID_ORIGIN, size, size))
        self.overlay.mouseClickEvent = self._click_position
        self.overlay.setToolTip("Click a position to inspect the primary capsule there (of the type chosen)")
        item.addItem(self.input_image)
        item.addItem(self.overlay)
        item.setRange(xRange=(0, 28), yRange=(0, 28), padding=0.02)
        self.overlay.setOpacity(0.8)
        self.spatial_bar = pg.ColorBarItem(values=(0, 1), colorMap=pg.colormap.get(theme.COUPLING_MAP),
                                           interactive=False, width=10)
        self.spatial_bar.setImageItem(self.overlay, insert_in=item)  # the overlay's own scale, readable
        self.spatial_bar.axis.enableAutoSIPrefix(False)
        self.spatial_bar.axis.setWidth(52)  # room for "-0.0005"
        self.spatial_caption = QLabel("")
        self.spatial_caption.setWordWrap(True)
        self.spatial_caption.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        row.addWidget(QLabel("Over the input:"))
        row.addWidget(self.digit_choice, 1)
        self.keep_digit = QCheckBox("keep")
        self.keep_digit.setToolTip("Keep this digit for new inputs (otherwise each new input shows its winner)")
        self.keep_digit.toggled.connect(lambda on: self.state.pin(overlay=on))
        row.addWidget(self.keep_digit)
        side_layout.addLayout(row)
        notes = QWidget()  # the words under the selector scroll rather than set the window's minimum height
        notes_layout = QVBoxLayout(notes)
        notes_layout.setContentsMargins(0, 0, 0, 0)
        self.scale_note = QLabel("")
        self.scale_note.setWordWrap(True)
        self.scale_note.setToolTip("The colour scale holds every value of every iteration of this input: "
                                   "no cell is painted at the end of the scale unless it is there")
        self.changes_title = QLabel("")
        self.changes_title.setWordWrap(True)
        self.changes = QListWidget()
        self.changes.setTextElideMode(Qt.TextElideMode.ElideNone)  # whole numbers: a long line wraps
        self.changes.setWordWrap(True)
        self.changes.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.changes.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.changes.setToolTip("The primary capsules whose coupling grew or fell most since iteration 1; "
                                "click one to inspect it in the Primary tab")
        rows = self.changes.fontMetrics().height() + 2
        self.changes.setMinimumHeight(rows * 4 + 6)  # the ranking first, four rows at least, then the words
        self.changes.setMaximumHeight(rows * 11 + 6)  # both headings and all nine capsules
        self.changes.setMinimumWidth(60)  # long lines scroll; the window keeps its minimum width
        self.changes.itemClicked.connect(self._open_change)
        notes_layout.addWidget(self.changes_title)
        notes_layout.addWidget(self.changes, 1)
        notes_layout.addWidget(self.spatial_caption)
        notes_layout.addWidget(self.scale_note)
        notes_layout.addStretch(1)
        area = SteadyScrollArea(notes)  # a caption's new length re-lays out the notes alone
        area.setMinimumHeight(40)
        side_layout.addWidget(area, 1)
        # Wide: the selector and caption above the plot, beside the matrix. Narrow: everything
        # below the matrix, the caption beside the plot (see resizeEvent).
        self.spatial_layout = QBoxLayout(QBoxLayout.Direction.BottomToTop, self.spatial_box)
        self.spatial_layout.setContentsMargins(0, 0, 0, 0)
        self.spatial_layout.addWidget(self.spatial_plot, 1)
        self.spatial_layout.addWidget(side, 1)  # a short window: the ranked rows share the height with the picture

    @qt_safe()
    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        narrow = event.size().width() < NARROW
        D = QBoxLayout.Direction
        want = (D.TopToBottom, D.LeftToRight) if narrow else (D.LeftToRight, D.BottomToTop)
        if self.views_row.direction() != want[0]:
            self.views_row.setDirection(want[0])
            self.spatial_layout.setDirection(want[1])
            self.views_row.setStretch(0, 3 if not narrow else 2)
            self.views_row.setStretch(1, 1)
        super().resizeEvent(event)

    # --- from the state -----------------------------------------------------------------------
    def _new_result(self) -> None:
        tr = self.state.trace
        for item in (self.overlay, self.winner_box, self.matrix):
            item.setVisible(tr is not None)
        for bar in (self.colorbar, self.spatial_bar):  # a scale of the last input's values over nothing misled;
            bar.setOpacity(1.0 if tr is not None else 0.0)  # cleared, not hidden: hiding re-laid the plots out
        if tr is None:
            size = self.state.geometry.size
            self.input_image.setImage(np.zeros((size, size), np.float32), levels=(0, 1), autoLevels=False)
            self.hover.setText(EMPTY_HINT)
            self.spatial_caption.setText("")
            self.changes.clear()  # the last input's capsules, over an empty matrix, misled
            self.changes_title.setText("")
            self.primary_box.hide()
            return
        self.input_image.setImage(tr.images[0], levels=(0, 1), autoLevels=False)
        hint = HOVER_HINT.format(grid=self.state.geometry.grid)
        if self._hover_cell is None and self.hover.text() != hint:
            self.hover.setText(hint)
        self._update_levels()
        self._render()

    def _overlay_digit_changed(self, digit: int) -> None:
        index = self.digit_choice.findData(digit)
        if index != self.digit_choice.currentIndex():
            with signals_blocked(self.digit_choice):
                self.digit_choice.setCurrentIndex(index)
        self._render()

    def _view_changed(self) -> None:
        index = self.mode.findData(self.state.mode)
        if index != self.mode.currentIndex():
            with signals_blocked(self.mode):
                self.mode.setCurrentIndex(index)
        for box, on in ((self.weighted, self.state.weighted), (self.change, self.state.change)):
            if box.isChecked() != on:
                with signals_blocked(box):
                    box.setChecked(on)
        if self.state.trace is not None:
            self._update_levels()
            self._render()

    def _update_levels(self) -> None:
        weighted, change, mode = self.state.weighted, self.state.change, self.state.mode
        values = views.mode_stack(self.state.trace, mode, 0, weighted, change)  # computed once a trace
        self._stack = values  # (R, 1152, J): the overlay's scale spans every iteration of it
        levels = views.mode_levels(self.state.trace, mode, 0, weighted, change, stack=values)
        self.scale_note.setText(f"Colour scale {levels[0]:g} … {levels[1]:g}; this input's values "
                                f"{np.nanmin(values):+.4f} … {np.nanmax(values):+.4f} over its iterations.")
        if levels != self._levels:  # rounded levels: most new traces keep the scale and its axis
            self._levels = levels
            self.colorbar.setLevels(levels)
        if (weighted, change, mode) != self._mode:  # colour maps and labels change only with the options
            self._mode = (weighted, change, mode)
            diverging = change or mode in views.DIVERGING
            colour_map = pg.colormap.get(theme.CHANGE_MAP if diverging else theme.COUPLING_MAP)
            for image in (self.matrix, self.overlay):
                image.setColorMap(colour_map)
            self.colorbar.setColorMap(colour_map)
            self.spatial_bar.setColorMap(colour_map)
            self.colorbar.axis.setLabel(quantity_html(weighted, change, mode), **theme.label_style())

    # --- drawing ------------------------------------------------------------------------------
    def current_matrix(self) -> np.ndarray:
        """(1152, 10) what the matrix view shows now."""
        s = self.state
        matrix = views.mode_matrix(s.trace, s.mode, s.iteration, 0, s.weighted, s.change)
        if not s.enabled.all():  # parts switched off: holes in the matrix, not zeros that look routed
            matrix = matrix.copy()
            matrix[~s.enabled] = np.nan
        return matrix

    def _render(self, *_) -> None:
        s, tr = self.state, self.state.trace
        if tr is None:
            return
        r = s.iteration
        matrix = self.current_matrix()
        g = s.geometry
        self.matrix.setImage(views.mosaic(matrix, g).astype(np.float32), levels=self._levels, autoLevels=False)
        winner = int(tr.lengths[r, 0].argmax())
        self.winner_box.setRect(winner * g.positions, 0, g.positions, g.types)
        digit = s.shown_overlay_digit()
        grid = views.spatial(matrix, digit, g).astype(np.float32)
        reshaped = self.overlay.image is None or self.overlay.image.shape != grid.shape
        diverging = s.change or s.mode in views.DIVERGING
        stack = self._stack if self._stack is not None and self._stack.shape[1:] == matrix.shape else matrix[None]
        levels = views.spatial_levels(stack, digit, diverging, g)  # its own scale, over every iteration
        self.overlay.setImage(grid, levels=levels, autoLevels=False)
        self.spatial_bar.setLevels(levels)
        low, high = float(levels[0]), float(levels[1])  # the ends and the middle written, however small the scale
        digits = max(2, min(5, 1 - int(np.floor(np.log10(max(abs(high - low), 1e-9))))))
        self.spatial_bar.axis.setTicks([[(v, f"{v:.{digits}f}") for v in (low, (low + high) / 2, high)]])
        if reshaped:  # setRect scales by the image's size when called: again for another grid
            self.overlay.setRect(QRectF(g.origin, g.origin, g.grid * g.step, g.grid * g.step))
        change = " (its change)" if s.change else ""
        chosen = " (the winner)" if s.overlay_digit == WINNER else ""
        self.spatial_caption.setText(f"Class {s.class_name(digit)}{chosen}, iteration {r + 1}: the matrix's "
                                     f"value{change}, "
                                     f"averaged over the {g.types} types at each {g.grid}×{g.grid} position, "
                                     f"on its own scale, {levels[0]:+.4f} … {levels[1]:+.4f} (the bar beside "
                                     "it; the averages lie too close together for the matrix's).")
        self._show_primary()
        self._show_changes()
        if self._hover_cell is not None:
            self._read_out(*self._hover_cell)

    def _show_changes(self) -> None:
        """The capsules whose coupling grew most from iteration 1 to the one shown: what the eye cannot rank."""
        s, tr = self.state, self.state.trace
        names = s.classes
        rows = views.largest_changes(tr, s.iteration, count=6, enabled=None if s.enabled.all() else s.enabled)
        if s.iteration == 0:
            self.changes.clear()
            self.changes_title.setText("Changed most: step to a later iteration (iteration 1 is uniform, "
                                       "c_ij = 1/J).")
            return
        self.changes_title.setText(f"Changed most, iteration 1 → {s.iteration + 1}:")  # one line: room for the rows
        fell = views.largest_changes(tr, s.iteration, count=3, enabled=None if s.enabled.all() else s.enabled,
                                     fell=True)
        lines = []  # (text, tooltip, primary capsule or None for a heading)
        for heading, found in (("grew most", rows), ("fell most", fell)):
            lines.append((heading, "", None))
            for i, j, first, then in found:
                capsule_type, row, col = s.geometry.place(i)
                lines.append((f"#{i} → {names[j]}: {then - first:+.3f} ({first:.3f} → {then:.3f}), "
                              f"type {capsule_type} at ({row}, {col})",  # the ranked figure first
                              f"Primary capsule {i}: type {capsule_type}, position row {row}, col {col}; its "
                              f"coupling to {names[j]} moved by {then - first:+.4f}. Click: the Primary tab.", i))
        self._list_lines(lines)

    def _list_lines(self, lines: list[tuple[str, str, int | None]]) -> None:
        """The list's rows set in place: refilling it re-laid out and repainted the list and its scroll bar on
        every trace."""
        while self.changes.count() > len(lines):
            self.changes.takeItem(self.changes.count() - 1)
        while self.changes.count() < len(lines):
            self.changes.addItem(QListWidgetItem())
        self.changes.clearSelection()  # a row clicked for the last input is not this one's
        for row, (text, tip, capsule) in enumerate(lines):
            item = self.changes.item(row)
            flags = Qt.ItemFlag.NoItemFlags if capsule is None else ROW_FLAGS  # a heading: not clickable
            if (item.text(), item.toolTip(), item.flags(), item.data(Qt.ItemDataRole.UserRole)) != (text, tip, flags,
                                                                                                 capsule):
                item.setText(text)  # (each setter re-lays the row out)
                item.setToolTip(tip)
                item.setFlags(flags)
                item.setData(Qt.ItemDataRole.UserRole, capsule)

    def shown_words(self) -> str:
        """What a cell of the matrix holds now, in words: the mode, weighted and as a change if so."""
        s = self.state
        words = MODE_NAMES[s.mode] + (", × ‖u_i‖" if s.weighted else "")
        return f"change of {words} since iteration {s.iteration}" if s.change and s.iteration > 0 else words

    def _open_change(self, item) -> None:
        capsule = item.data(Qt.ItemDataRole.UserRole)
        if capsule is None:  # a heading ("grew most"): Qt reports clicks on items it does not enable too
            return
        self.state.set_primary(int(capsule))
        self.state.set_lab_view("primary")

    def _show_primary(self, *_) -> None:
        if self.state.primary == NO_PRIMARY or self.state.trace is None:
            self.primary_box.hide()
            return
        positions = self.state.geometry.positions
        capsule_type, position = divmod(self.state.primary, positions)
        x, y = self.state.shown_overlay_digit() * positions + position, capsule_type
        for ring in self.primary_box.childItems():  # the cell itself stays visible inside
            ring.setRect(x - PRIMARY_MARGIN[0], y - PRIMARY_MARGIN[1], 1 + 2 * PRIMARY_MARGIN[0],
                         1 + 2 * PRIMARY_MARGIN[1])
        self.primary_box.show()

    # --- the mouse ----------------------------------------------------------------------------
    def _cell(self, pos) -> tuple[int, int] | None:
        row, col = int(pos.y()), int(pos.x())
        g = self.state.geometry
        if 0 <= row < g.types and 0 <= col < g.classes * g.positions:
            return row, col
        return None

    def _hover(self, event) -> None:
        if event.isExit():
            self._hover_cell = None
            self.hover.setText(HOVER_HINT.format(grid=self.state.geometry.grid) if self.state.trace is not None
                               else EMPTY_HINT)
            return
        if self.state.trace is None:
            return
        cell = self._cell(event.pos())
        if cell is not None and cell != self._hover_cell:
            self._hover_cell = cell
            self._read_out(*cell)

    def _click(self, event) -> None:
        cell = self._cell(event.pos())
        if self.state.trace is not None and cell is not None:
            i, digit, _, _ = views.capsule_at(*cell, self.state.geometry)
            self.state.set_primary(i)
            self.state.set_lab_view("primary")  # as the caption says: the Primary tab shows it
            event.accept()

    def _click_position(self, event) -> None:
        """A cell of the G×G map: the primary capsule at that position, of the type already chosen."""
        pos = event.pos()  # in the overlay image's own pixels: one per grid cell
        row, col, g = int(pos.y()), int(pos.x()), self.state.geometry
        if self.state.trace is not None and 0 <= row < g.grid and 0 <= col < g.grid:
            capsule_type = g.place(self.state.primary)[0] if self.state.primary != NO_PRIMARY else 0
            self.state.set_primary(g.index(capsule_type, row, col))
            event.accept()

    def _read_out(self, row: int, col: int) -> None:
        """The hovered cell's numbers, for the iteration and options shown now."""
        s = self.state
        i, digit, grid_row, grid_col = views.capsule_at(row, col, s.geometry)
        c = s.trace.coupling[s.iteration, 0, i, digit]
        length = s.trace.primary_lengths[0, i]
        shown = self.current_matrix()[i, digit]
        self.hover.setText(f"Primary capsule {i} (type {row}, position row {grid_row}, col {grid_col}; "
                           f"‖u_i‖ = {length:.3f}) → class {s.class_name(digit)}: c_ij = {c:.4f}; shown "
                           f"({self.shown_words()}) "
                           f"{shown:+.4f} (iteration {s.iteration + 1}).")

    # --- settings -----------------------------------------------------------------------------
    def save_settings(self, settings) -> None:
        settings.setValue("routing/overlay_digit", self.state.overlay_digit)
        settings.setValue("routing/keep_digit", self.keep_digit.isChecked())

    def restore_settings(self, settings) -> None:
        try:
            digit = int(settings.value("routing/overlay_digit", WINNER))
        except (TypeError, ValueError):
            digit = WINNER
        self.keep_digit.setChecked(settings.value("routing/keep_digit", False, type=bool))
        self.state.set_overlay_digit(digit if -1 <= digit < self.state.geometry.classes else WINNER)
