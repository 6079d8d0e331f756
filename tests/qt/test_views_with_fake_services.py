"""Views reach storage only through services: each is tested here with fakes, no file or keyring."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from gui.core.spec import ModelProfile, ProviderKind
from gui.qt.resources import status_colors
from gui.qt.theme import apply_theme
from gui.qt.views import history_panel
from gui.qt.views.history_panel import HistoryPanel
from gui.qt.views.providers_panel import ProvidersPanel
from gui.storage.history import RunRecord
from gui.storage.outcome import outcome_phase
from gui.storage.profiles import SavedProfile

from .conftest import SESSION_LOOP, signal_future, until

pytestmark = SESSION_LOOP


def record(run_id: str, template: str) -> RunRecord:
    return RunRecord(
        run_id, 1.7e9, 1.7e9 + 2, "finished", template, "stream", ("m",), 1, 1, 0, 0, 2.0, None
    )


class FakeHistory:
    def __init__(self) -> None:
        self.runs = {"a": record("a", "Tell me about {topic}"), "b": record("b", "Summarise {x}")}
        self.queries: list[str] = []

    async def list_runs(
        self, query: str, *, model: str | None, since: float | None, limit: int
    ) -> tuple[list[RunRecord], list[str]]:
        self.queries.append(query)
        found = [r for r in self.runs.values() if query.lower() in r.template.lower()]
        return found, ["m"]

    async def list_chats(self, query: str, *, limit: int) -> list[Any]:
        return []  # this history holds runs only

    async def get_run(self, run_id: str) -> Any:
        return SimpleNamespace(id=run_id) if run_id in self.runs else None

    async def delete_run(self, run_id: str) -> bool:
        return self.runs.pop(run_id, None) is not None


class FakeExports:
    def __init__(self) -> None:
        self.written: list[tuple[str, str, Path]] = []

    async def write(self, run: Any, fmt: str, path: Path) -> None:
        self.written.append((run.id, fmt, path))

    def default_path(self, run: Any, fmt: str) -> Path:
        return Path(f"/nowhere/{run.id}.{fmt}")


async def test_the_history_tab_lists_opens_exports_and_deletes_through_its_services(
    qtbot: QtBot,
) -> None:
    history, exports = FakeHistory(), FakeExports()
    panel = HistoryPanel(history, exports)  # type: ignore[arg-type]
    qtbot.addWidget(panel)
    panel.set_history(SimpleNamespace(notice=None, persistent=True))  # type: ignore[arg-type]
    await until(lambda: len(panel.records()) == 2)

    panel.search_edit.setText("summarise")
    await until(lambda: [r.id for r in panel.records()] == ["b"])
    assert history.queries[-1] == "summarise"

    panel.select("b")
    opened = signal_future(panel.open_requested)
    panel.open_button.click()
    (run,) = await asyncio.wait_for(opened, 60)
    assert run.id == "b"

    await panel.export_to(run, "csv", "/tmp/out.csv")
    assert exports.written == [("b", "csv", Path("/tmp/out.csv"))]
    assert "Exported run b" in panel.status()

    panel.delete_button.click()
    panel.confirm_button.click()
    await panel.wait_idle()
    await until(lambda: panel.records() == [])
    assert "b" not in history.runs


async def test_the_history_tabs_status_colours_follow_a_theme_switch_when_next_shown(
    qtbot: QtBot,
) -> None:
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    style, palette = app.style().name(), QPalette(app.palette())
    apply_theme(app, "light")
    panel = HistoryPanel(FakeHistory(), FakeExports())  # type: ignore[arg-type]
    qtbot.addWidget(panel)
    panel.show()
    panel.set_history(SimpleNamespace(notice=None, persistent=True))  # type: ignore[arg-type]
    await until(lambda: len(panel.records()) == 2)

    def status_colour() -> str:
        item = panel.tree.topLevelItem(0)
        assert item is not None and item.text(1) == "finished"
        return item.foreground(1).color().name()

    light = status_colors(outcome_phase("finished"))[1].name()
    assert status_colour() == light
    try:
        panel.hide()  # another tab is on screen: the switch leaves the rows for later
        apply_theme(app, "dark")
        dark = status_colors(outcome_phase("finished"))[1].name()
        assert dark != light and status_colour() == light
        panel.show()
        assert status_colour() == dark
        apply_theme(app, "light")  # on screen: at once
        assert status_colour() == light
    finally:
        apply_theme(app, "light")
        app.setStyle(style)
        app.setPalette(palette)


class FakeProfiles:
    def __init__(self, saved: list[SavedProfile]) -> None:
        self.saved = saved
        self.path = None
        self.unsupported: list[object] = []  # entries this version cannot use: none here

    async def load(self) -> tuple[list[SavedProfile], str | None]:
        return list(self.saved), None

    async def save(self, profiles: list[SavedProfile]) -> None:
        self.saved = list(profiles)


class FakeKeys:
    ready = True
    available = True
    detail = "a fake keyring"
    reason = ""

    def __init__(self) -> None:
        self.keys: dict[str, str] = {}
        self.loaded: list[str] = []

    def held(self, name: str) -> bool:
        return name in self.keys

    def resolve(self, ref: str) -> str | None:
        return self.keys.get(ref)

    async def open(self) -> None:
        return None

    async def load(self, names: list[str]) -> None:
        self.loaded = list(names)

    async def get(self, name: str) -> str | None:
        return self.keys.get(name)

    async def set(self, name: str, key: str) -> None:
        self.keys[name] = key

    async def delete(self, name: str) -> None:
        self.keys.pop(name, None)


async def test_the_profiles_dock_saves_a_profile_and_its_key_through_its_services(
    qtbot: QtBot,
) -> None:
    work = SavedProfile("work", ModelProfile(model="gpt-x", provider=ProviderKind.OPENAI))
    profiles, keys = FakeProfiles([work]), FakeKeys()
    panel = ProvidersPanel(profiles, keys)  # type: ignore[arg-type]
    qtbot.addWidget(panel)
    await panel.load()
    assert [p.name for p in panel.saved()] == ["work"]
    assert keys.loaded == []  # no profile refers to a saved key yet

    panel.select("work")
    panel.key_edit.setText("sk-fake-123456")
    panel.save_button.click()
    await panel.wait_idle()
    assert keys.keys == {"work": "sk-fake-123456"}
    assert profiles.saved[0].profile.key_ref == "work"
    assert "sk-fake" not in repr(profiles.saved)  # only the name travels with the profile
    # The editor's card reads its key status from the service it was handed.
    assert panel._card is not None
    assert "saved in the system keyring" in panel._card.key_status_label.text()
    assert "fake keyring" in panel.keyring_label.text()


async def test_a_long_history_list_reads_each_status_colour_once(
    qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Refreshed right after Run: the list's status colours come from the palette once per
    status, not once per run (500 palette reads were a visible part of that refresh)."""
    history, exports = FakeHistory(), FakeExports()
    statuses = ("finished", "cancelled", "interrupted")
    history.runs = {
        f"r{i}": replace(record(f"r{i}", f"Tell me about {{topic}} {i}"), status=statuses[i % 3])
        for i in range(500)
    }
    reads: list[str] = []
    colours = history_panel.status_colors

    def counted(phase: str) -> tuple[QColor, QColor]:
        reads.append(phase)
        return colours(phase)

    monkeypatch.setattr(history_panel, "status_colors", counted)
    panel = HistoryPanel(history, exports)  # type: ignore[arg-type]
    qtbot.addWidget(panel)
    panel.set_history(SimpleNamespace(notice=None, persistent=True))  # type: ignore[arg-type]
    await until(lambda: len(panel.records()) == 500)
    assert len(reads) == len(set(reads)) == 3  # one read per status shown
    shown = set()
    for i in range(panel.tree.topLevelItemCount()):
        item = panel.tree.topLevelItem(i)
        assert item is not None
        shown.add(item.text(1))
        assert item.foreground(1).color() == colours(outcome_phase(item.text(1)))[1]
    assert len(shown) == 3
