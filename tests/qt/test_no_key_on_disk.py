"""A whole session with a canary API key, then every file under FANOUT_HOME is searched for it.

The user saves a profile with the key (it goes to the keyring), runs on it, hits a server that
quotes the key back in an error, exports the runs in every format, logs an error that
mentions the key, and closes the window. Nothing the app wrote may contain the key.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from pathlib import Path

from pytestqt.qtbot import QtBot

from gui.core.spec import Limits, Strategy
from gui.qt.main_window import MainWindow
from gui.storage import paths
from gui.storage.logs import RedactingFilter, setup_logging
from gui.storage.secrets import SERVICE, KeyStore
from tests.support.memory_keyring import MemoryKeyring
from tests.support.openai_server import Behavior, FakeOpenAIServer

from .conftest import SESSION_LOOP, signal_future

pytestmark = SESSION_LOOP

CANARY = "sk-CANARY-2f9e41d7c3b8a605"


def files_holding(root: Path, needle: bytes) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


async def test_a_session_with_a_canary_key_writes_it_nowhere(
    qtbot: QtBot, fanout_home: Path
) -> None:
    log_path = setup_logging()
    assert log_path is not None and log_path.parent.parent == fanout_home
    ring = MemoryKeyring()
    win = MainWindow(keystore=lambda: KeyStore(ring))
    win.show()
    with FakeOpenAIServer(models=["fake-1"], api_key=CANARY, tokens=5) as server:
        # The server quotes the Authorization header back on the second model's requests.
        server.behave(
            lambda req: (
                Behavior(
                    status=400, error_message=f"bad request with {req.headers.get('authorization')}"
                )
                if req.model == "fake-echo"
                else None
            )
        )
        try:
            await win.providers.load()
            await win.ensure_history()
            panel = win.providers
            next(a for a in panel._new_menu.actions() if a.text() == "OpenAI").trigger()
            panel.name_edit.setText("canary")
            assert panel._card is not None
            panel._card.base_url_edit.setText(server.base_url)
            panel._card.model_edit.setText("fake-1")
            panel.key_edit.setText(CANARY)
            panel.save_button.click()
            await panel.wait_idle()
            assert ring.store == {(SERVICE, "canary"): CANARY}

            saved = panel.saved()[0]
            good = saved.for_run()
            echo = replace(good, model="fake-echo", label="echo")
            win.prompt.set_template("Tell me about {topic}")
            win.inputs.set_variables(["topic"])
            win.inputs.set_rows([{"topic": "owls"}, {"topic": "bats"}])
            win.models.set_profiles([good, echo])
            win.limits.set_strategy(Strategy.STREAM)
            win.limits.set_limits(Limits(retries=0))
            finished = signal_future(win.run_finished)
            run = win.start_run()
            assert run is not None
            summary = (await asyncio.wait_for(finished, 60))[0]
            assert summary.done == 2 and summary.failed == 2  # the key worked; echo refused
            assert server.requests[0].headers["authorization"] == f"Bearer {CANARY}"
            error = win.grid.cell_error("r0m1")
            assert "bad request with Bearer ***" in error  # shown, but masked

            history = win.services.history.history
            assert history is not None
            await asyncio.to_thread(history.flush)
            stored = await asyncio.to_thread(history.get_run, run.id)
            assert stored is not None
            for fmt in ("json", "csv", "md"):
                target = paths.exports_dir() / f"run.{fmt}"
                await win.history_panel.export_to(stored, fmt, target)
            logging.getLogger("gui.test").error("the server said %s", f"Bearer {CANARY}")
            try:
                raise RuntimeError(f"a crash quoting {CANARY}")
            except RuntimeError:
                logging.getLogger("gui.test").exception("unexpected")
        finally:
            await win.shutdown()
            win.close()
            win.deleteLater()
            root = logging.getLogger()
            for handler in [
                h for h in root.handlers if any(isinstance(f, RedactingFilter) for f in h.filters)
            ]:
                handler.close()
                root.removeHandler(handler)

    await asyncio.to_thread(check_disk, fanout_home, log_path)


def check_disk(home: Path, log_path: Path) -> None:
    written = sorted(p.relative_to(home) for p in home.rglob("*") if p.is_file())
    names = {p.name for p in written}
    assert {"history.sqlite3", "profiles.json", "run.json", "run.csv", "run.md"} <= names
    assert "fanout-studio.log" in names
    log_text = log_path.read_text(encoding="utf-8")
    assert "the server said Bearer ***" in log_text and "a crash quoting ***" in log_text
    assert files_holding(home, CANARY.encode()) == [], written
    assert files_holding(home, CANARY[3:].encode()) == []  # not even without its prefix
