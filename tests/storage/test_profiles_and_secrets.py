"""Saved profiles and their keys: the file holds no key, the keyring does, a broken file is set aside."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from keyring.backends import fail

from gui.core import keys
from gui.core.spec import ModelProfile, ProviderKind, SimSettings
from gui.storage import paths
from gui.storage.profiles import PROVIDER_PRESETS, ProfileStore, SavedProfile
from gui.storage.secrets import SERVICE, KeyStore, KeyStoreError
from tests.support.memory_keyring import MemoryKeyring

CANARY = "sk-canary-7f3a9c1e5b"


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(paths.HOME_ENV, str(tmp_path / "home"))


def test_fanout_home_moves_every_file() -> None:
    home = paths.home()
    for path in (paths.history_path(), paths.profiles_path(), paths.settings_path()):
        assert path.parent == home
    assert paths.logs_dir().parent == home and paths.exports_dir().parent == home
    assert home.name == "home" and home.is_dir()


def test_profiles_round_trip_without_the_key() -> None:
    store = ProfileStore()
    ollama = next(p for p in PROVIDER_PRESETS if p.key == "ollama").profile()
    assert ollama.max_concurrency == 1  # a local server serves one request at a time
    cloud = ModelProfile(
        model="gpt-4o-mini",
        provider=ProviderKind.OPENAI,
        temperature=0.3,
        max_tokens=400,
        max_concurrency=16,
        key_ref="work",
    )
    sim = ModelProfile(model="sim-x", sim=SimSettings(ttft=0.2, seed=4, failure_rate=0.1))
    saved = [SavedProfile("local", ollama), SavedProfile("work", cloud), SavedProfile("s", sim)]
    store.save(saved)
    assert ProfileStore().load() == saved
    assert CANARY not in store.path.read_text()
    # replace in place, delete
    store.upsert(SavedProfile("local", ollama.__class__(model="qwen", max_concurrency=2)))
    names = [p.name for p in store.load()]
    assert names == ["local", "work", "s"] and store.load()[0].profile.model == "qwen"
    assert [p.name for p in store.delete("work")] == ["local", "s"]
    assert saved[1].for_run().label == "work"  # the column is titled with the saved name


def test_an_unreadable_profiles_file_is_set_aside_with_a_notice() -> None:
    store = ProfileStore()
    store.path.write_text("{not json", encoding="utf-8")
    assert store.load() == []
    assert store.notice is not None and "unreadable" in store.notice
    backups = list(store.path.parent.glob("profiles.json.corrupt-*"))
    assert len(backups) == 1 and backups[0].read_text() == "{not json"
    store.save([SavedProfile("x", ModelProfile())])  # and saving works again
    assert [p.name for p in ProfileStore().load()] == ["x"]


def test_keys_live_in_the_keyring_only() -> None:
    ring = MemoryKeyring()
    store = KeyStore(ring)
    assert store.available and store.reason == ""
    store.set("work", CANARY)
    assert ring.store == {(SERVICE, "work"): CANARY}
    assert store.get("work") == CANARY
    store.delete("work")
    store.delete("work")  # twice is fine
    assert store.get("work") is None


class PlaintextLike(MemoryKeyring):
    """Stands in for keyrings.alt's PlaintextKeyring, which writes keys to a file."""


PlaintextLike.__module__ = "keyrings.alt.file"


@pytest.mark.parametrize("backend", [fail.Keyring(), PlaintextLike()], ids=["none", "file"])
def test_without_a_safe_keyring_keys_are_refused_with_advice(backend: object) -> None:
    store = KeyStore(backend)
    assert not store.available
    assert "environment variable" in store.reason
    with pytest.raises(KeyStoreError, match="environment variable"):
        store.set("work", CANARY)
    assert store.get("work") is None


def test_a_profile_key_comes_from_memory_first_then_its_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    profile = ModelProfile(model="m", provider=ProviderKind.OPENAI, api_key_env="FANOUT_T_KEY")
    monkeypatch.setenv("FANOUT_T_KEY", "from-env")
    held = keys.HeldKeys()
    assert keys.api_key_for(profile, held) == "from-env"
    held.hold("work", CANARY)
    with_ref = ModelProfile(
        model="m", provider=ProviderKind.OPENAI, api_key_env="FANOUT_T_KEY", key_ref="work"
    )
    assert keys.api_key_for(with_ref, held) == CANARY
    # held keys and *KEY* variables alike
    assert keys.redact(f"boom {CANARY} and from-env...") == "boom *** and ***..."
    held.hold("work", None)
    assert keys.api_key_for(with_ref, held) == "from-env"


def test_the_profiles_file_is_plain_json_a_user_can_read() -> None:
    ProfileStore().save([SavedProfile("local", ModelProfile(model="llama3.2"))])
    data = json.loads(paths.profiles_path().read_text())
    assert data["profiles"][0]["name"] == "local"
    assert data["profiles"][0]["profile"]["model"] == "llama3.2"
