"""Help > About and the application icon, as a user meets them in the window."""

from __future__ import annotations

import asyncio
from importlib import metadata
from pathlib import Path

import pytest_asyncio
from PySide6.QtCore import QSize, qVersion
from PySide6.QtWidgets import QApplication

from gui.core.spec import ModelProfile, SimSettings
from gui.qt.main_window import MainWindow
from gui.qt.resources import app_icon
from gui.qt.views.about import AboutDialog

from .conftest import SESSION_LOOP, signal_future


@pytest_asyncio.fixture(loop_scope="session")
async def window(qtbot):
    win = MainWindow()
    win.show()
    yield win
    await win.shutdown()
    win.close()
    win.deleteLater()


def _help_menu_actions(win: MainWindow) -> list[str]:
    for action in win.menuBar().actions():
        if action.text().replace("&", "") == "Help":
            menu = action.menu()
            return [a.text() for a in menu.actions()]
    return []


@SESSION_LOOP
async def test_about_lists_every_version_and_the_data_folder_while_a_run_streams_on(
    window: MainWindow, fanout_home: Path
) -> None:
    assert "About Fanout Studio" in _help_menu_actions(window)
    window.prompt.set_template("Tell me about {topic}")
    window.inputs.set_variables(window.prompt.variables())
    window.inputs.set_rows([{"topic": "cats"}, {"topic": "dogs"}])
    window.models.set_profiles(
        [ModelProfile(model="sim-1", sim=SimSettings.with_latency(0.5, output_tokens=20, seed=1))]
    )
    finished = signal_future(window.run_finished)
    window.start_run()
    window.about_action.trigger()  # returns at once: no nested event loop
    dialog = window.findChild(AboutDialog)
    assert dialog is not None and dialog.isVisible() and not dialog.isModal()
    # The run goes on behind the open box and ends on its own.
    (summary,) = await asyncio.wait_for(finished, 60)
    assert summary.done == 2 and dialog.isVisible()

    text = dialog.details.text()
    for dist in ("PySide6-Essentials", "qasync", "langchain-core", "langchain-openai"):
        assert metadata.version(dist) in text, dist
    for label in ("Python", "PySide6", "Qt", "qasync", "langchain-core", "langchain-openai"):
        assert f"<td>{label}</td>" in text
    assert qVersion() in text and str(fanout_home) in text
    assert f"Fanout Studio {metadata.version('fanout-studio')}" in dialog.title.text()

    window.about_action.trigger()  # a second time raises the same box
    assert window.findChildren(AboutDialog) == [dialog]

    dialog.copy_button.click()
    copied = QApplication.clipboard().text()
    assert copied.startswith(f"Fanout Studio {metadata.version('fanout-studio')}\n")
    assert "Data folder:" in copied and str(fanout_home) in copied
    dialog.close()
    assert not dialog.isVisible()


def test_the_app_icon_has_the_svg_and_every_drawn_size(qtbot) -> None:
    icon = app_icon()
    assert not icon.isNull()
    sizes = {s.width() for s in icon.availableSizes()}
    assert {16, 24, 32, 48, 64, 128, 256} <= sizes
    # A size between the drawn ones still renders (from the SVG or the nearest PNG).
    assert not icon.pixmap(QSize(40, 40)).isNull()
