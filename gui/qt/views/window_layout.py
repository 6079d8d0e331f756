"""Where the window's parts sit: the editors' splitter over the tabs, the docks, the menus.

Construction only: the window connects the actions built here to what they do.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QLabel,
    QMainWindow,
    QMenu,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from gui.qt.views.run_controls import RunControls

__all__ = ["Menus", "add_dock", "build_body", "build_menus"]


def _section(title: str | None, widget: QWidget) -> QWidget:
    """``widget`` under a bold section title, with a little breathing room."""
    box = QWidget()
    layout = QVBoxLayout(box)
    layout.setContentsMargins(6, 6, 6, 2)
    layout.setSpacing(4)
    if title:
        label = QLabel(title)
        label.setObjectName("sectionTitle")
        layout.addWidget(label)
    layout.addWidget(widget)
    return box


def build_body(
    prompt: QWidget, inputs: QWidget, models: QWidget, pages: list[tuple[QWidget, str]]
) -> tuple[QSplitter, QSplitter, QTabWidget]:
    """The editors side by side over the tabs of ``pages``.

    Returns:
        The editors' splitter, the whole body's splitter (the central widget) and the tabs.
    """
    top = QSplitter(Qt.Orientation.Horizontal)
    top.addWidget(_section("Prompt", prompt))
    top.addWidget(_section("Inputs", inputs))
    top.addWidget(_section(None, models))
    top.setSizes([480, 330, 330])
    top.setChildrenCollapsible(False)

    body = QSplitter(Qt.Orientation.Vertical)
    body.addWidget(top)
    tabs = QTabWidget()
    tabs.setDocumentMode(True)
    for page, title in pages:
        tabs.addTab(page, title)
    body.addWidget(tabs)
    body.setStretchFactor(0, 2)
    body.setStretchFactor(1, 5)
    body.setSizes([300, 560])
    body.setChildrenCollapsible(False)
    return top, body, tabs


def add_dock(window: QMainWindow, title: str, name: str, widget: QWidget) -> QDockWidget:
    """``widget`` in a movable, closable, floatable dock on the window's right."""
    dock = QDockWidget(title, window)
    dock.setObjectName(name)
    dock.setWidget(widget)
    dock.setFeatures(
        QDockWidget.DockWidgetFeature.DockWidgetMovable
        | QDockWidget.DockWidgetFeature.DockWidgetClosable
        | QDockWidget.DockWidgetFeature.DockWidgetFloatable
    )
    window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
    return dock


@dataclass(frozen=True, slots=True)
class Menus:
    """The menu entries the window connects or fills further.

    Attributes:
        quit: File > Quit (Ctrl+Q).
        history: File > History (Ctrl+H), shows the History tab.
        view: The View menu (the theme choice is added to it by the workspace binding).
        about: Help > About Fanout Studio.
    """

    quit: QAction
    history: QAction
    view: QMenu
    about: QAction


def build_menus(
    window: QMainWindow,
    export_menu: QMenu,
    controls: RunControls,
    docks: tuple[QDockWidget, ...],
    demos_menu: QMenu,
) -> Menus:
    """File, Run, View and Help, in that order, on the window's menu bar."""
    quit_action = QAction("Quit", window)
    quit_action.setShortcut(QKeySequence("Ctrl+Q"))
    bar = window.menuBar()
    file_menu = bar.addMenu("&File")
    file_menu.addMenu(export_menu)
    history_action = QAction("History", window)
    history_action.setShortcut(QKeySequence("Ctrl+H"))
    file_menu.addAction(history_action)
    file_menu.addSeparator()
    file_menu.addAction(quit_action)
    run_menu = bar.addMenu("&Run")
    run_menu.addAction(controls.run_action)
    run_menu.addAction(controls.cancel_action)
    run_menu.addSeparator()
    run_menu.addAction(controls.compare_action)
    run_menu.addAction(controls.block_action)
    view_menu = bar.addMenu("&View")
    for dock in docks:
        view_menu.addAction(dock.toggleViewAction())
    help_menu = bar.addMenu("&Help")
    help_menu.addMenu(demos_menu)  # the presets --demo runs
    help_menu.addSeparator()
    about = help_menu.addAction("About Fanout Studio")
    return Menus(quit=quit_action, history=history_action, view=view_menu, about=about)
