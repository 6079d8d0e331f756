"""API keys the process holds in memory, by profile name, and the one place a key is looked up.

Keys come from the OS keyring (``gui.storage.secrets``), read once off the GUI thread and
kept here, or from the environment variable a profile names. Nothing here writes a key
anywhere; :func:`redact` takes every known key out of text bound for a log or a message.
"""

from __future__ import annotations

import os
import threading
from urllib.parse import urlparse

from gui.core.hosts import HostScope, host_scope
from gui.core.spec import ModelProfile, ProviderKind

_lock = threading.Lock()
_keys: dict[str, str] = {}


def remember(ref: str, key: str | None) -> None:
    """Hold ``key`` for profiles whose ``key_ref`` is ``ref`` (``None`` forgets it)."""
    with _lock:
        if key:
            _keys[ref] = key
        else:
            _keys.pop(ref, None)


def held(ref: str) -> bool:
    """Whether a key is held for ``ref``."""
    with _lock:
        return ref in _keys


def api_key_for(profile: ModelProfile) -> str | None:
    """The profile's key: the one saved for its ``key_ref``, else its environment variable."""
    if profile.key_ref:
        with _lock:
            key = _keys.get(profile.key_ref)
        if key:
            return key
    value = os.environ.get(profile.api_key_env, "").strip()
    return value or None


def redact(text: str) -> str:
    """``text`` with every key held here, and every ``*KEY*``/``*TOKEN*`` variable, masked."""
    with _lock:
        secrets = [k for k in _keys.values() if len(k) >= 6]
    secrets += [
        v
        for name, v in os.environ.items()
        if len(v) >= 8 and ("KEY" in name.upper() or "TOKEN" in name.upper())
    ]
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, "***")
    return text


def key_status(profile: ModelProfile) -> str:
    """Where the profile's API key comes from (the value itself is never shown)."""
    if profile.key_ref and held(profile.key_ref):
        return f"key saved in the system keyring (profile {profile.key_ref!r})"
    name = profile.api_key_env
    if os.environ.get(name):
        return f"key found in ${name}"
    if profile.base_url is None:
        return f"no key in ${name} (api.openai.com needs one)"
    return f"no key in ${name} (fine for local servers)"


def clear_text_warning(profile: ModelProfile) -> str | None:
    """A warning when the profile's API key would travel unencrypted to another machine."""
    if profile.provider is not ProviderKind.OPENAI or not profile.base_url:
        return None
    url = urlparse(profile.base_url)
    if url.scheme != "http" or not url.netloc:
        return None
    if host_scope(url.hostname) is HostScope.THIS_MACHINE:
        return None
    which = (
        f"the key saved for {profile.key_ref!r}"
        if profile.key_ref
        else f"the API key in ${profile.api_key_env}"
    )
    return (
        f"Plain http:// to {url.hostname}: {which} would travel in clear text. Use https:// "
        "unless this network is trusted."
    )
