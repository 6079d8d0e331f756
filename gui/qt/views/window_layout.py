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

from gui.qt.looks import SEMIBOLD, set_weight
from gui.qt.views.run_controls import RunControls

__all__ = [
    "Menus",
    "add_dock",
    "add_editor",
    "add_late_menus",
    "add_pages",
    "build_menus",
    "editor_section",
    "place_editor",
    "start_body",
]


def editor_section(title: str | None, widget: QWidget) -> QWidget:
    """``widget`` under a bold section title, with a little breathing room (not placed yet:
    see :func:`place_editor`)."""
    box = QWidget()
    layout = QVBoxLayout(box)
    layout.setContentsMargins(6, 6, 6, 2)
    layout.setSpacing(4)
    if title:
        label = QLabel(title)
        label.setObjectName("sectionTitle")
        set_weight(label, SEMIBOLD)
        layout.addWidget(label)
    layout.addWidget(widget)
    return box


def start_body(prompt: QWidget) -> tuple[QSplitter, QSplitter, QTabWidget, QTabWidget]:
    """The first frame's body: the prompt editor over the (still empty) tabs.

    The prompt is the first page of its own small tab widget: what belongs to the template
    (its checks, its judge) joins it as further pages (:func:`add_prompt_page`). The other
    editors join the top splitter (:func:`add_editor`) and the pages the tabs
    (:func:`add_pages`) in the frames after it.

    Returns:
        The editors' splitter, the whole body's splitter (the central widget), the tabs and
        the prompt's tabs.
    """
    prompt_tabs = QTabWidget()
    prompt_tabs.setObjectName("promptTabs")
    prompt_tabs.setDocumentMode(True)
    prompt_tabs.addTab(prompt, "Prompt")
    top = QSplitter(Qt.Orientation.Horizontal)
    top.addWidget(editor_section(None, prompt_tabs))
    top.setChildrenCollapsible(False)

    body = QSplitter(Qt.Orientation.Vertical)
    body.addWidget(top)
    tabs = QTabWidget()
    tabs.setDocumentMode(True)
    body.addWidget(tabs)
    body.setStretchFactor(0, 2)
    body.setStretchFactor(1, 5)
    body.setSizes([300, 560])
    body.setChildrenCollapsible(False)
    return top, body, tabs, prompt_tabs


def add_prompt_page(prompt_tabs: QTabWidget, page: QWidget, title: str) -> None:
    """``page`` as a tab beside the prompt (for what a run carries with its template)."""
    prompt_tabs.addTab(page, title)


def add_editor(top: QSplitter, title: str | None, editor: QWidget) -> None:
    """An editor beside the ones already in ``top`` (the prompt first, then the inputs and
    the models); with all three, the splitter gets its default widths."""
    place_editor(top, editor_section(title, editor))


def place_editor(top: QSplitter, section: QWidget) -> None:
    """A section made by :func:`editor_section` beside the editors already in ``top``.

    Apart from :func:`editor_section` for a large editor: moving its widgets into the
    section and showing them in the visible window cost about as much each (the models
    panel with its cards: ~4.5 and ~5 ms), so a staged build gives each a turn.
    """
    top.addWidget(section)
    if top.count() == 3:
        top.setSizes([480, 330, 330])


def add_pages(tabs: QTabWidget, pages: list[tuple[QWidget, str]]) -> None:
    """Each built page as a tab, in order (a tab shows only once its page exists)."""
    for page, title in pages:
        tabs.addTab(page, title)


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
        file: The File menu (the Export submenu joins it once the history view exists).
        quit: File > Quit (Ctrl+Q).
        history: File > History (Ctrl+H), shows the History tab.
        view: The View menu (dock toggles and the theme choice join it once built).
        help: The Help menu (the demos join it once built).
        about: Help > About Fanout Studio.
    """

    file: QMenu
    quit: QAction
    history: QAction
    view: QMenu
    help: QMenu
    about: QAction


def build_menus(window: QMainWindow, controls: RunControls) -> Menus:
    """File, Run, View and Help, in that order, on the window's menu bar: the entries the
    first frame has (:func:`add_late_menus` adds the rest)."""
    quit_action = QAction("Quit", window)
    quit_action.setShortcut(QKeySequence("Ctrl+Q"))
    bar = window.menuBar()
    file_menu = bar.addMenu("&File")
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
    help_menu = bar.addMenu("&Help")
    about = help_menu.addAction("About Fanout Studio")
    return Menus(
        file=file_menu,
        quit=quit_action,
        history=history_action,
        view=view_menu,
        help=help_menu,
        about=about,
    )


def add_late_menus(
    menus: Menus, export_menu: QMenu, docks: tuple[QDockWidget, ...], demos_menu: QMenu
) -> None:
    """File > Export first, the docks' toggles in View, the demos above About in Help."""
    menus.file.insertMenu(menus.history, export_menu)
    for dock in docks:
        menus.view.addAction(dock.toggleViewAction())
    menus.help.insertMenu(menus.about, demos_menu)  # the presets --demo runs
    menus.help.insertSeparator(menus.about)
