"""API keys the process holds in memory, by profile name, and the one place a key is looked up.

Keys come from the OS keyring (``gui.storage.secrets``), read once off the GUI thread and
kept here, or from the environment variable a profile names. Nothing here writes a key
anywhere; :func:`redact` takes every known key out of text bound for a log or a message.
"""

from __future__ import annotations

import os
import threading

from gui.core.spec import ModelProfile

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
