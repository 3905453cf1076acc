"""How the window's panels sit: three columns — drawing and samples, the lab's tabs under the
iteration player, the pose — that scroll rather than squash on a short screen. Below COMPACT_WIDTH the
pose column becomes the lab's last tab, so that the lab's plots keep a readable width."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QProxyStyle,
    QScrollArea,
    QSplitter,
    QStyle,
    QStyleFactory,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from capsexplorer.app.guide import GuidePanel
from capsexplorer.app.session.tabs import LAB_TABS, POSE_TAB
from capsexplorer.app.widgets import theme
from capsexplorer.app.widgets.guard import qt_safe
from capsexplorer.app.widgets.steady_scroll import SteadyScrollArea

LAB_VIEWS = tuple(tab.key for tab in LAB_TABS)
COMPACT_WIDTH = 1280  # px: narrower windows show the pose as a lab tab


class SnugTabs(QProxyStyle):
    """The style in use with tabs a little narrower around their titles: all eleven fit a 1024 px window."""

    @qt_safe(default=0)
    def pixelMetric(self, metric, option=None, widget=None) -> int:  # noqa: N802 (Qt naming)
        if metric == QStyle.PixelMetric.PM_TabBarTabHSpace:
            return max(4, super().pixelMetric(metric, option, widget) - 14)
        return super().pixelMetric(metric, option, widget)


def snug_tabs(tabs: QTabWidget) -> None:
    """The tab bar in the application's current style, a little narrower (again after a theme change: a widget
    with a style of its own no longer follows the application's)."""
    style = SnugTabs(QStyleFactory.create(theme.style_name()))
    style.setParent(tabs)  # lives as long as the tabs
    previous = tabs.tabBar().style()
    tabs.tabBar().setStyle(style)
    if isinstance(previous, SnugTabs):
        previous.deleteLater()


def lab_view_at(index: int) -> str:
    return LAB_VIEWS[index] if 0 <= index < len(LAB_VIEWS) else POSE_TAB.key


def lab_index_of(view: str) -> int:
    return LAB_VIEWS.index(view) if view in LAB_VIEWS else len(LAB_VIEWS)


def scrolling(widget: QWidget) -> QScrollArea:
    """`widget` in a frameless scroll area: on a short screen the column scrolls instead of squashing; what changes
    inside never re-lays out the window around it."""
    area = SteadyScrollArea(widget)
    area.setMinimumWidth(widget.minimumSizeHint().width() + area.verticalScrollBar().sizeHint().width())
    return area


def column(*widgets: QWidget, stretch_last: bool = False) -> QWidget:
    holder = QWidget()
    layout = QVBoxLayout(holder)
    layout.setContentsMargins(0, 0, 0, 0)
    for k, widget in enumerate(widgets):
        layout.addWidget(widget, 1 if stretch_last and k == len(widgets) - 1 else 0)
    return holder


def splitter(orientation, *widgets: QWidget, stretch=()) -> QSplitter:
    split = QSplitter(orientation)
    for widget in widgets:
        split.addWidget(widget)
    for k, factor in enumerate(stretch):
        split.setStretchFactor(k, factor)
    split.setChildrenCollapsible(False)
    return split


def compose(w) -> tuple[QWidget, QSplitter, QTabWidget]:
    """The window `w`'s panels laid out: (central widget, the columns, the lab's tabs)."""
    w.guide = GuidePanel(w.state)
    left = column(w.draw, w.samples, w.guide, stretch_last=True)  # the guide's words scroll inside it
    lengths_and_summary = splitter(Qt.Orientation.Horizontal, w.lengths, w.summary)
    routing = splitter(Qt.Orientation.Vertical, w.routing, lengths_and_summary, stretch=(3, 2))
    primary = column(w.inspector, w.parts)
    primary.layout().setStretch(0, 1)
    lab = QTabWidget()
    lab.setDocumentMode(True)
    snug_tabs(lab)
    widgets = {"routing": routing, "votes": w.votes, "pair": w.pair, "primary": scrolling(primary), "probe": w.probe,
               "sweep": w.sweep, "figure4": w.grid, "heldout": w.browser, "routers": w.routers,
               "robustness": w.robustness}
    for tab in LAB_TABS:
        lab.addTab(widgets[tab.key], tab.title)
        lab.setTabToolTip(lab.count() - 1, tab.tip)
    middle = column(w.player, lab, stretch_last=True)
    w.pose_area = scrolling(w.pose)
    columns = splitter(Qt.Orientation.Horizontal, scrolling(left), middle, w.pose_area, stretch=(1, 3, 0))
    columns.setSizes([430, 770, 300])  # at the default 1500 px; resizing keeps the stretch 1 : 3 : 0
    central = QWidget()
    layout = QVBoxLayout(central)
    layout.setContentsMargins(6, 6, 6, 6)
    layout.addWidget(columns, 1)
    return central, columns, lab


def fit_width(w, width: int) -> None:
    """Below COMPACT_WIDTH the pose column moves into the lab as its last tab; above, it returns."""
    compact = width < COMPACT_WIDTH
    if compact == (w.lab.indexOf(w.pose_area) >= 0):
        return
    w.pose.set_beside(compact)  # a lab tab is wide and short: the sliders beside the pictures
    if compact:
        w.lab.addTab(w.pose_area, POSE_TAB.title)
        w.lab.setTabToolTip(w.lab.count() - 1, POSE_TAB.tip)
    else:
        shown = w.lab.currentWidget() is w.pose_area
        w.lab.removeTab(w.lab.indexOf(w.pose_area))
        w.columns.addWidget(w.pose_area)
        w.columns.setStretchFactor(2, 0)
        w.pose_area.show()
        if shown:
            w.lab.setCurrentIndex(0)


DEFAULT_SIZE = (1500, 920)  # px: every column at ease


def first_size(available) -> tuple[int, int]:
    """The first window's size: the roomy default, or the screen's free area less a margin on a smaller screen
    (at 1280×800 the Pose column and the status bar were off-screen)."""
    if available is None or available.width() <= 0 or available.height() <= 0:
        return DEFAULT_SIZE
    return (min(DEFAULT_SIZE[0], int(available.width() * 0.96)), min(DEFAULT_SIZE[1], int(available.height() * 0.94)))
