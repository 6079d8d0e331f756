"""Saved profiles in the window: save with a key, use as a column, test the connection, no key on disk."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import pytest_asyncio
from keyring.backends import fail
from PySide6.QtCore import QCoreApplication, QEvent
from PySide6.QtGui import QAction
from pytestqt.qtbot import QtBot

from gui.core.keys import HeldKeys, api_key_for
from gui.core.runner import Run
from gui.core.spec import Limits, ProviderKind, make_spec
from gui.providers.backend import LangChainBackend
from gui.qt.main_window import MainWindow
from gui.qt.views.models_panel import ModelCard
from gui.storage.profiles import ProfileStore
from gui.storage.secrets import SERVICE, KeyStore
from tests.support.memory_keyring import MemoryKeyring
from tests.support.openai_server import FakeOpenAIServer

from .conftest import SESSION_LOOP, until

pytestmark = SESSION_LOOP

KEY = "sk-profile-test-4821"


@pytest.fixture
def ring() -> MemoryKeyring:
    return MemoryKeyring()


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(models=["fake-1", "fake-2"], api_key=KEY, tokens=4) as srv:
        yield srv


@pytest_asyncio.fixture(loop_scope="session")
async def window(qtbot: QtBot, ring: MemoryKeyring) -> AsyncIterator[MainWindow]:
    win = MainWindow(keystore=lambda: KeyStore(ring))
    win.show()
    await win.providers.load()
    yield win
    await win.shutdown()
    win.close()
    win.deleteLater()


def cards(win: MainWindow) -> list[ModelCard]:
    """The grid's model cards (deleted ones gone first)."""
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    return win.models.findChildren(ModelCard, "modelCard")


def new_profile(win: MainWindow, preset_text: str) -> None:
    action = next(a for a in win.providers.findChildren(QAction) if a.text() == preset_text)
    action.trigger()


async def test_a_profile_saved_with_a_key_keeps_the_key_in_the_keyring_only(
    window: MainWindow, ring: MemoryKeyring, fanout_home: Path, server: FakeOpenAIServer
) -> None:
    panel = window.providers
    assert "system keyring" in panel.keyring_label.text()
    new_profile(window, "OpenAI")
    panel.name_edit.setText("work")
    card = panel._card
    assert card is not None
    card.base_url_edit.setText(server.base_url)
    card.model_edit.setText("fake-1")
    panel.key_edit.setText(KEY)
    panel.save_button.click()
    await panel.wait_idle()

    assert panel.status_label.text() == "Saved 'work'. Its key is in the keyring."
    assert ring.store == {(SERVICE, "work"): KEY}
    assert panel.key_edit.text() == ""  # the key is never shown back
    assert "saved in the system keyring" in panel.key_edit.placeholderText()
    on_disk = (fanout_home / "profiles.json").read_text()
    assert KEY not in on_disk
    assert json.loads(on_disk)["profiles"][0]["profile"]["key_ref"] == "work"

    # The "Add model" menu offers it; a column made from it carries the key by name.
    action = next(a for a in window.models.findChildren(QAction) if a.text() == "work")
    action.trigger()
    column = window.models.profiles()[-1]
    assert column.display_name == "work" and column.key_ref == "work"
    assert api_key_for(column, window.services.keys) == KEY
    assert api_key_for(column, HeldKeys()) != KEY  # only the window's key service holds it


async def test_a_run_on_a_saved_profile_uses_its_key(
    window: MainWindow, server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    panel = window.providers
    new_profile(window, "OpenAI")
    panel.name_edit.setText("work")
    assert panel._card is not None
    panel._card.base_url_edit.setText(server.base_url)
    panel._card.model_edit.setText("fake-1")
    panel.key_edit.setText(KEY)
    panel.use_button.click()  # save, then add to the grid
    await panel.wait_idle()
    await until(lambda: window.models.profiles()[-1].display_name == "work")
    window.models.set_profiles([window.models.profiles()[-1]])
    window.prompt.set_template("Tell me about {topic}")
    window.inputs.set_variables(["topic"])
    window.inputs.set_rows([{"topic": "owls"}])
    run = window.start_run()
    assert run is not None
    summary = await run.wait()
    assert summary.done == 1  # the server demands the key: it was sent
    assert server.requests[-1].headers["authorization"] == f"Bearer {KEY}"

    # The key went through the window's key service, not a process-wide table: the same
    # profile on a backend given no key source sends no key, and the server refuses it.
    backend = LangChainBackend()
    bare = Run(
        make_spec(
            "Tell me about {topic}", ["owls"], window.models.profiles(), limits=Limits(retries=0)
        ),
        backend,
    )
    bare.start()
    try:
        refused = await bare.wait()
    finally:
        await backend.aclose()
    assert refused.failed == 1
    assert server.requests[-1].headers.get("authorization") != f"Bearer {KEY}"


async def test_renaming_moves_the_key_and_deleting_removes_it(
    window: MainWindow, ring: MemoryKeyring
) -> None:
    panel = window.providers
    new_profile(window, "OpenAI")
    panel.name_edit.setText("work")
    panel.key_edit.setText(KEY)
    panel.save_button.click()
    await panel.wait_idle()
    panel.name_edit.setText("renamed")
    panel.save_button.click()
    await panel.wait_idle()
    assert ring.store == {(SERVICE, "renamed"): KEY}
    assert [p.name for p in panel.saved()] == ["renamed"]
    assert [p.name for p in ProfileStore().load()] == ["renamed"]

    panel.delete_button.click()
    await panel.wait_idle()
    assert ring.store == {} and panel.saved() == [] and ProfileStore().load() == []
    assert not window.services.keys.held("renamed")


async def test_a_name_is_required_and_must_be_unique(window: MainWindow) -> None:
    panel = window.providers
    new_profile(window, "Ollama (localhost:11434)")
    panel.name_edit.setText("")
    panel.save_button.click()
    await panel.wait_idle()
    assert panel.status_label.text() == "Cannot save: Give the profile a name."
    panel.name_edit.setText("home")
    panel.save_button.click()
    await panel.wait_idle()
    new_profile(window, "Ollama (localhost:11434)")
    panel.name_edit.setText("home")
    panel.save_button.click()
    await panel.wait_idle()
    assert "exists already" in panel.status_label.text()
    saved = panel.saved()
    assert [p.name for p in saved] == ["home"]
    assert saved[0].profile.max_concurrency == 1  # a local server: one request at a time
    assert saved[0].profile.base_url == "http://localhost:11434/v1"


async def test_without_a_keyring_the_key_field_explains_the_environment_variable(
    qtbot: QtBot,
) -> None:
    win = MainWindow(keystore=lambda: KeyStore(fail.Keyring()))
    try:
        await win.providers.load()
        new_profile(win, "OpenAI")
        panel = win.providers
        assert not panel.key_edit.isEnabled()
        assert "environment variable" in panel.keyring_label.text()
        panel.name_edit.setText("envkey")
        panel.save_button.click()
        await panel.wait_idle()
        assert panel.status_label.text() == "Saved 'envkey'."
        assert panel.saved()[0].profile.key_ref is None
    finally:
        await win.shutdown()
        win.deleteLater()


async def test_test_connection_lists_the_servers_models_in_the_card(
    window: MainWindow, server: FakeOpenAIServer
) -> None:
    window.models.add_preset("vllm")
    card = cards(window)[-1]
    card.base_url_edit.setText(server.base_url)
    card.model_edit.setText("fake-9")
    await window.services.keys.set("work", KEY)  # saved for the profile "work"
    card.key_env_edit.setText("FANOUT_UNSET_KEY")  # no key at all first
    card.test_button.click()
    await until(
        lambda: card.test_button.isEnabled() and "HTTP 401" in card.test_result_label.text()
    )
    assert "no key is set" in card.test_result_label.text()

    # with the key, through a saved profile's name
    window.models.set_profiles([replace(card.profile(), key_ref="work")])
    card = cards(window)[-1]
    card.set_expanded(True)
    card.test_button.click()
    await until(lambda: "Connected" in card.test_result_label.text())
    assert "'fake-9' is not one of them" in card.test_result_label.text()
    completer = card.model_edit.completer()
    assert completer is not None
    assert completer.model().stringList() == ["fake-1", "fake-2"]  # type: ignore[attr-defined]
    assert card.profile().provider is ProviderKind.OPENAI
