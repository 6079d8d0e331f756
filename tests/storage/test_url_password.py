"""A password inside a profile's base URL is kept in the keyring, never in profiles.json."""

from __future__ import annotations

import json

from gui.core.spec import ModelProfile, ProviderKind
from gui.storage import paths
from gui.storage.profiles import ProfileStore, SavedProfile
from gui.storage.secrets import KeyStore

URL = "https://alice:s3cret-pw@llm.example:8443/v1"


def test_the_url_password_goes_to_the_keyring_and_comes_back_on_load() -> None:
    profile = ModelProfile(model="m", provider=ProviderKind.OPENAI, base_url=URL)
    ProfileStore().save([SavedProfile("proxy", profile)])
    text = paths.profiles_path().read_text(encoding="utf-8")
    assert "s3cret-pw" not in text
    entry = json.loads(text)["profiles"][0]
    assert entry["profile"]["base_url"] == "https://alice@llm.example:8443/v1"
    assert KeyStore().get("proxy (base URL password)") == "s3cret-pw"

    (loaded,) = ProfileStore().load()
    assert loaded.profile.base_url == URL  # usable as the user typed it

    ProfileStore().delete("proxy")
    assert KeyStore().get("proxy (base URL password)") is None
