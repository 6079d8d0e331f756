"""Help > Demos: the bundled demo presets (``resources/demos``), the same ones ``--demo`` runs.

Entries are named after the preset files at once and titled from the presets the first time
the menu opens; presets are read in a worker thread, so the menu never reads a file on the
GUI thread.
"""

from __future__ import annotations

import asyncio
import logging

import shiboken6
from PySide6.QtCore import Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QWidget

from gui.core.tasks import TaskOwner
from gui.resources import Preset, demo_names, load_preset

__all__ = ["DemosMenu"]

log = logging.getLogger(__name__)


def _read_all() -> dict[str, Preset]:
    presets = {}
    for name in demo_names():
        try:
            presets[name] = load_preset(name)
        except Exception:  # a broken preset file keeps its plain name, the menu still works
            log.exception("demo preset %s unreadable", name)
    return presets


class DemosMenu(QMenu):
    """One entry per bundled demo.

    Signals:
        chosen(Preset): the user picked a demo; carries the preset, read off the GUI thread.
        failed(str): the preset could not be read; one line for the status bar.
    """

    chosen = Signal(object)
    failed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Demos", parent)
        self.setObjectName("demosMenu")
        self._tasks = TaskOwner()
        self._titled = False
        for name in demo_names():
            action = self.addAction(name)
            action.setData(name)
        self.aboutToShow.connect(self._on_about_to_show)
        self.triggered.connect(self._on_triggered)

    async def title_entries(self) -> None:
        """Name each entry after its preset's title (what the first opening does)."""
        self._titled = True
        presets = await asyncio.to_thread(_read_all)
        if not shiboken6.isValid(self):
            return
        for action in self.actions():
            preset = presets.get(str(action.data()))
            if preset is not None:
                action.setText(preset.title)
                action.setToolTip(f"Load and run the {preset.name} demo (--demo {preset.name})")

    def shutdown(self) -> None:
        """Cancel reads in progress (the window is closing)."""
        self._tasks.cancel_all()

    async def _choose(self, name: str) -> None:
        try:
            preset = await asyncio.to_thread(load_preset, name)
        except Exception as exc:
            log.exception("demo preset %s unreadable", name)
            if shiboken6.isValid(self):
                self.failed.emit(f"The {name} demo could not be read: {type(exc).__name__}")
            return
        if shiboken6.isValid(self):
            self.chosen.emit(preset)

    def _on_about_to_show(self) -> None:
        if not self._titled:
            self._tasks.spawn(self.title_entries(), "fanout-demos-titles")

    def _on_triggered(self, action: QAction) -> None:
        self._tasks.spawn(self._choose(str(action.data())), "fanout-demo-load")
