"""One rule for where a host is, and the key warnings built on it."""

from __future__ import annotations

import pytest

from gui.core.errors import SpecError
from gui.core.hosts import HostScope, host_scope
from gui.core.keys import HeldKeys, clear_text_warning, key_status
from gui.core.spec import ModelProfile, ProviderKind


@pytest.mark.parametrize(
    ("host", "scope"),
    [
        ("localhost", HostScope.THIS_MACHINE),
        ("LOCALHOST.", HostScope.THIS_MACHINE),
        ("ollama.localhost", HostScope.THIS_MACHINE),
        ("127.0.0.1", HostScope.THIS_MACHINE),
        ("127.8.9.1", HostScope.THIS_MACHINE),
        ("::1", HostScope.THIS_MACHINE),
        ("[::1]", HostScope.THIS_MACHINE),
        ("0.0.0.0", HostScope.THIS_MACHINE),
        ("192.168.1.20", HostScope.LOCAL_NETWORK),
        ("10.0.0.5", HostScope.LOCAL_NETWORK),
        ("172.20.0.3", HostScope.LOCAL_NETWORK),
        ("fd00::1", HostScope.LOCAL_NETWORK),
        ("gpu-box", HostScope.LOCAL_NETWORK),
        ("gpu-box.local", HostScope.LOCAL_NETWORK),
        ("router.lan", HostScope.LOCAL_NETWORK),
        ("api.example.com", HostScope.INTERNET),
        ("8.8.8.8", HostScope.INTERNET),
        ("", HostScope.INTERNET),
        (None, HostScope.INTERNET),
    ],
)
def test_host_scope(host: str | None, scope: HostScope) -> None:
    assert host_scope(host) is scope


def openai(base_url: str | None, **kw: object) -> ModelProfile:
    return ModelProfile(model="m", provider=ProviderKind.OPENAI, base_url=base_url, **kw)  # type: ignore[arg-type]


def test_the_scheme_hint_and_the_clear_text_warning_use_the_same_rule() -> None:
    # The local network gets an http:// hint, and a warning: the key would leave this machine.
    with pytest.raises(SpecError, match=r"Write http://192\.168\.1\.20:8000/v1\."):
        openai("192.168.1.20:8000/v1").validate()
    warning = clear_text_warning(openai("http://192.168.1.20:8000/v1"))
    assert warning is not None and "clear text" in warning and "192.168.1.20" in warning
    assert clear_text_warning(openai("http://[::1]:8000/v1")) is None
    assert clear_text_warning(openai("http://localhost:11434/v1")) is None
    assert clear_text_warning(openai("https://api.example.com/v1")) is None
    assert clear_text_warning(ModelProfile(base_url="http://api.example.com")) is None


def test_key_status_names_the_source_never_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    none = HeldKeys()
    monkeypatch.setenv("FANOUT_HOSTS_KEY", "sk-secret-value")
    assert (
        key_status(openai(None, api_key_env="FANOUT_HOSTS_KEY"), none)
        == "key found in $FANOUT_HOSTS_KEY"
    )
    monkeypatch.delenv("FANOUT_HOSTS_KEY")
    assert "api.openai.com needs one" in key_status(
        openai(None, api_key_env="FANOUT_HOSTS_KEY"), none
    )
    assert "fine for local servers" in key_status(
        openai("http://localhost:1/v1", api_key_env="FANOUT_HOSTS_KEY"), none
    )
    saved = openai(None, api_key_env="FANOUT_HOSTS_KEY", key_ref="work")
    assert key_status(saved, HeldKeys({"work": "sk-held-1234"})) == (
        "key saved in the system keyring (profile 'work')"
    )
    assert "api.openai.com needs one" in key_status(saved, none)  # the source holds none
