"""The window's settings kept between runs (QSettings): its geometry, the theme, the columns' widths, the state's
choices and the panels' own settings."""
from __future__ import annotations


def restore(window) -> None:
    s = window.settings
    if not s:
        return
    window.theme_actions[window.theme].setChecked(True)  # applied before the panels were built
    if s.value("geometry") is not None:
        window.restoreGeometry(s.value("geometry"))
    if s.value("columns") is not None:
        window.columns.restoreState(s.value("columns"))
    window.state.restore_settings(s)
    for panel in window.panels:
        panel.restore_settings(s)


def save(window) -> None:
    s = window.settings
    if not s:
        return
    s.setValue("geometry", window.saveGeometry())
    s.setValue("theme", window.theme)
    s.setValue("columns", window.columns.saveState())
    window.state.save_settings(s)
    for panel in window.panels:
        panel.save_settings(s)
    if window.training is not None:
        window.training.panel.save_settings(s)
    s.sync()
