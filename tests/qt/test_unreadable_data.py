"""The window says what is wrong with the user's data instead of showing it as empty."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from gui.qt.main_window import MainWindow
from gui.storage import history as history_module
from gui.storage import paths
from tests.storage.test_history_recovery import _version_1_file

from .conftest import SESSION_LOOP

pytestmark = SESSION_LOOP


async def close_window(win: MainWindow) -> None:
    await win.shutdown()
    win.close()
    win.deleteLater()


async def test_a_locked_history_is_named_once_not_shown_as_no_runs(
    qtbot: QtBot, fanout_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(history_module, "_BUSY_TIMEOUT_S", 0.1)
    db = fanout_home / "history.sqlite3"
    _version_1_file(db)  # two runs, and opening needs the write lock to migrate
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        win = MainWindow()
        win.show()
        await win.ensure_history()
        await win.history_panel.wait_idle()
        try:
            panel = win.history_panel
            shown = panel.empty_label.text()
            assert "No runs" not in shown
            assert shown.startswith("History is off for this session") and "locked" in shown
            assert len(shown.splitlines()) == 1
            assert "locked" not in panel.status()  # said once, not twice
        finally:
            await close_window(win)
    finally:
        other.execute("ROLLBACK")
        other.close()


async def test_the_profiles_dock_lists_an_unsupported_entry_and_keeps_the_others(
    qtbot: QtBot, fanout_home: Path
) -> None:
    paths.profiles_path().write_text(
        json.dumps(
            {
                "format": 1,
                "profiles": [
                    {"name": "future", "profile": {"model": "x", "provider": "anthropic"}},
                    {"name": "quick", "profile": {"model": "sim-q"}},
                ],
            }
        ),
        encoding="utf-8",
    )
    win = MainWindow()
    win.show()
    await win.providers.load()
    try:
        dock = win.providers
        assert [p.name for p in dock.saved()] == ["quick"]
        texts = [dock.list.item(i).text() for i in range(dock.list.count())]
        assert texts[0].startswith("quick")
        assert texts[1] == (
            'future  —  unsupported: provider "anthropic" is not supported by this version'
        )
        assert not dock.empty_label.isVisibleTo(dock)
    finally:
        await close_window(win)
