"""The History tab's export writes as ``fanout-studio export -o`` does: never over the app's
own files, every new file private (0600), and a file it exported into the data folder may
be written again. Through the real export service, with a stored run from a real history."""

from __future__ import annotations

import stat
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import pytest_asyncio
from pytestqt.qtbot import QtBot

from gui.qt.services import ExportService
from gui.qt.views.history_panel import HistoryPanel
from gui.storage.history import History
from gui.storage.records import RunRecord, StoredRun
from tests.storage.fake_runs import feed_run, spec

from .conftest import SESSION_LOOP

pytestmark = SESSION_LOOP

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes")


class OneRunHistory:
    """The history service's read side, holding one stored run."""

    def __init__(self, run: StoredRun) -> None:
        self.run = run

    async def list_runs(
        self, query: str, *, model: str | None, since: float | None, limit: int
    ) -> tuple[list[RunRecord], list[str]]:
        return [self.run], list(self.run.models)

    async def list_chats(self, query: str, *, limit: int) -> list[Any]:
        return []  # this history holds runs only

    async def get_run(self, run_id: str) -> Any:
        return self.run if run_id == self.run.id else None


@pytest.fixture
def stored(tmp_path: Path) -> StoredRun:
    with History.open(tmp_path / "elsewhere.sqlite3") as h:
        feed_run(h.recorder(), spec(), run_id="20261202-090000-exp")
        assert h.flush()
        run = h.get_run("20261202-090000-exp")
    assert run is not None
    return run


@pytest_asyncio.fixture(loop_scope="session")
async def panel(qtbot: QtBot, stored: StoredRun) -> AsyncIterator[HistoryPanel]:
    view = HistoryPanel(OneRunHistory(stored), ExportService())  # type: ignore[arg-type]
    qtbot.addWidget(view)
    view.set_history(SimpleNamespace(notice=None, persistent=True))  # type: ignore[arg-type]
    yield view
    await view.wait_idle()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize(
    "name", ["history.sqlite3", "history.sqlite3-wal", "profiles.json", "workspace.json"]
)
async def test_the_apps_own_files_are_never_written_over(
    panel: HistoryPanel, stored: StoredRun, fanout_home: Path, name: str
) -> None:
    own = fanout_home / name
    own.write_bytes(b"the app's own bytes")
    await panel.export_to(stored, "json", own)
    assert own.read_bytes() == b"the app's own bytes"
    assert panel.status().startswith("Will not write the export there: ")
    assert "choose another file" in panel.status()
    assert "Exported" not in panel.status()


async def test_a_link_to_the_history_database_is_refused_too(
    panel: HistoryPanel, stored: StoredRun, fanout_home: Path, tmp_path: Path
) -> None:
    (fanout_home / "history.sqlite3").write_bytes(b"db")
    link = tmp_path / "innocent.md"
    link.symlink_to(fanout_home / "history.sqlite3")
    await panel.export_to(stored, "md", link)
    assert (fanout_home / "history.sqlite3").read_bytes() == b"db"
    assert "Will not write the export there" in panel.status()


@posix_only
async def test_new_exports_are_private_and_one_in_the_data_folder_may_be_written_again(
    panel: HistoryPanel, stored: StoredRun, fanout_home: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "report.csv"
    await panel.export_to(stored, "csv", outside)
    summary = tmp_path / "report-summary.csv"
    assert panel.status() == (
        f"Exported run {stored.id} to {outside} (per-model summary: {summary.name})."
    )
    assert outside.read_text(encoding="utf-8").startswith("run_id,row,topic,")
    assert summary.read_text(encoding="utf-8").startswith("run_id,model,cells,")
    assert mode(outside) == mode(summary) == 0o600

    inside = fanout_home / "mine.md"
    await panel.export_to(stored, "md", inside)
    assert mode(inside) == 0o600
    assert inside.read_text(encoding="utf-8").startswith(f"# Fanout Studio run {stored.id}")
    inside.write_text("edited by hand", encoding="utf-8")
    await panel.export_to(stored, "md", inside)  # the app's own export: allowed again
    assert panel.status() == f"Exported run {stored.id} to {inside}."
    assert inside.read_text(encoding="utf-8").startswith("# Fanout Studio run")

    default = ExportService().default_path(stored, "json")
    await panel.export_to(stored, "json", default)
    assert default.parent == fanout_home / "exports" and mode(default) == 0o600
