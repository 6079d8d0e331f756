"""Which API key goes to which host, and masking every secret the process knows.

A profile names its key, never holds it (:attr:`gui.core.spec.ModelProfile.key_ref`, or the
environment variable :attr:`~gui.core.spec.ModelProfile.api_key_env`): specs are stored in the
history and the workspace. The provider layer is handed a :class:`gui.core.ports.KeySource`
when it is made (the window's ``KeyService``, the CLI's :class:`HeldKeys`) and asks
:func:`api_key_for` for the key of each profile it builds a model for. Nothing here keeps keys
by name for others to read.

A key is sent only where it belongs (:func:`api_key_for`): the default variable
``OPENAI_API_KEY`` goes to api.openai.com, not to any other base URL, unless the user named
that variable for it (:func:`allow_env`); a key saved with a profile, or a variable a profile
names other than the default, goes to that profile's base URL.

:func:`redact` takes every secret the process knows out of text bound for the history, a log,
an export, the code view or a message. What it masks is a process-wide set of *values*, never
read to send a request:

* every key a :class:`HeldKeys` (or the window's ``KeyService``) was given (:func:`mask`);
* the value of every environment variable a profile or ``--api-key-env`` names, whatever it
  is called, and of any variable whose name contains ``KEY``, ``TOKEN``, ``SECRET`` or
  ``PASSWORD``;
* the password of a URL (``http://user:password@host``), in any URL and, once a profile
  with such a base URL was used, wherever the bare password appears;
* ``Authorization`` values a server echoes back: ``Bearer <token>`` and ``Basic <base64>``.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import threading
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlparse, urlsplit

from gui.core.hosts import HostScope, host_scope
from gui.core.ports import KeySource
from gui.core.spec import ModelProfile, ProviderKind

__all__ = [
    "DEFAULT_KEY_ENV",
    "HeldKeys",
    "StreamRedactor",
    "allow_env",
    "api_key_for",
    "clear_text_warning",
    "key_status",
    "key_withheld",
    "mask",
    "redact",
    "strip_url_password",
    "watch_env",
    "watch_url",
]

#: The variable the OpenAI SDK reads by default: a key for api.openai.com only.
DEFAULT_KEY_ENV = "OPENAI_API_KEY"

_lock = threading.Lock()
_masked: set[str] = set()
_watched_envs: set[str] = {DEFAULT_KEY_ENV}
_allowed_envs: set[str] = set()
_url_secrets: set[str] = set()

_SECRET_NAME = re.compile("KEY|TOKEN|SECRET|PASSWORD|PASSWD", re.IGNORECASE)
# scheme://user:password@  (the user name stays; it is not a secret and tells URLs apart)
_URL_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://[^\s/@:]*):([^\s/@]*)@")
# A bearer token has digits or punctuation; "Bearer bonds" in an answer is not one.
_BEARER = re.compile(r"(?i)\b(Bearer)(\s+)([A-Za-z0-9._~+/=\-]*[0-9._~+/=\-][A-Za-z0-9._~+/=\-]*)")
_BASIC = re.compile(r"(?i)\b(Basic)(\s+)([A-Za-z0-9+/]{4,}={0,2})(?![A-Za-z0-9+/=])")

#: Shortest value masked: shorter ones would mask ordinary words everywhere.
_MIN_SECRET = 4
#: Shortest value masked for a variable only guessed secret from its name.
_MIN_GUESSED = 8


def mask(secret: str | None) -> None:
    """Mask ``secret`` in every text :func:`redact` sees from now on.

    Only a value to hide: nothing reads this set to send a request. A key that is later
    deleted stays masked, since text quoting it may still be on its way to a log.
    """
    if secret:
        with _lock:
            _masked.add(secret)


class HeldKeys:
    """Keys held in memory by the name they were saved under: a :class:`KeySource`.

    Each owner has its own (the CLI one per command, read from the keyring for ``--profile``;
    the window's ``KeyService`` one per app); every key held is also masked (:func:`mask`).

    Args:
        keys: Keys to hold from the start, by reference.
    """

    def __init__(self, keys: Mapping[str, str] | None = None) -> None:
        self._lock = threading.Lock()
        self._keys: dict[str, str] = {}
        for ref, key in (keys or {}).items():
            self.hold(ref, key)

    def resolve(self, ref: str) -> str | None:
        """The key held for ``ref``, or ``None``."""
        with self._lock:
            return self._keys.get(ref)

    def hold(self, ref: str, key: str | None) -> None:
        """Hold ``key`` for profiles whose ``key_ref`` is ``ref`` (``None`` forgets it)."""
        mask(key)
        with self._lock:
            if key:
                self._keys[ref] = key
            else:
                self._keys.pop(ref, None)


def watch_env(name: str) -> None:
    """Mask the value of the environment variable ``name`` from now on, whatever its name."""
    if name:
        with _lock:
            _watched_envs.add(name)


def allow_env(name: str) -> None:
    """The user named variable ``name`` for the run's base URL (``--api-key-env``): send it
    there even when it is :data:`DEFAULT_KEY_ENV`."""
    watch_env(name)
    with _lock:
        _allowed_envs.add(name)


def watch_url(url: str | None) -> None:
    """Mask the password of ``url`` (if it has one) wherever it appears from now on."""
    if not url:
        return
    try:
        password = urlsplit(url).password
    except ValueError:
        return
    if password and len(password) >= _MIN_SECRET:
        with _lock:
            _url_secrets.update({password, unquote(password)})


def strip_url_password(url: str) -> str:
    """``url`` without the password of its credentials (``http://user@host``)."""
    return _URL_CREDENTIALS.sub(r"\1@", url)


def _openai_host(base_url: str | None) -> bool:
    if not base_url:
        return True
    try:
        host = (urlsplit(base_url).hostname or "").lower()
    except ValueError:
        return False
    return host == "openai.com" or host.endswith(".openai.com")


def _saved_key(profile: ModelProfile, keys: KeySource) -> str | None:
    return (keys.resolve(profile.key_ref) or None) if profile.key_ref else None


def key_withheld(profile: ModelProfile, keys: KeySource) -> bool:
    """Whether the profile's variable holds a key that is not sent to its base URL: the
    default ``OPENAI_API_KEY`` to a host other than api.openai.com, not named by the user.

    Args:
        profile: The profile.
        keys: Where its saved key (``key_ref``) is found; a saved key is never withheld.
    """
    if _saved_key(profile, keys):
        return False
    env = profile.api_key_env
    if env != DEFAULT_KEY_ENV or _openai_host(profile.base_url):
        return False
    with _lock:
        if env in _allowed_envs:
            return False
    return bool(os.environ.get(env, "").strip())


def api_key_for(profile: ModelProfile, keys: KeySource) -> str | None:
    """The profile's key: the one ``keys`` holds for its ``key_ref``, else its environment
    variable (never the default ``OPENAI_API_KEY`` to another host: see :func:`key_withheld`).
    """
    watch_url(profile.base_url)
    key = _saved_key(profile, keys)
    if key:
        mask(key)  # a source that is not a HeldKeys may not have said it is a secret
        return key
    watch_env(profile.api_key_env)
    if key_withheld(profile, keys):
        return None
    value = os.environ.get(profile.api_key_env, "").strip()
    return value or None


# Scanning the whole environment is not free (docs/performance-notes.md), and the history
# writer masks every cell: the scan is kept until the state here or the environment's size changes, or for a second.
_cache: tuple[Any, float, list[str]] | None = None


def _secrets() -> list[str]:
    global _cache
    with _lock:
        held_now = frozenset(_masked) | frozenset(_url_secrets)
        watched = frozenset(_watched_envs)
    state = (held_now, tuple(os.environ.get(n) for n in sorted(watched)), len(os.environ))
    now = time.monotonic()
    cached = _cache
    if cached is not None and cached[0] == state and now - cached[1] < 1.0:
        return cached[2]
    found = {s for s in held_now if len(s) >= _MIN_SECRET}
    for name, value in os.environ.items():
        value = value.strip()
        if name in watched and len(value) >= _MIN_SECRET:
            found.add(value)
        elif len(value) >= _MIN_GUESSED and _SECRET_NAME.search(name):
            found.add(value)  # a name that says secret: values this long are not words
    # Longest first, so a key that contains another is masked whole.
    result = sorted(found, key=len, reverse=True)
    _cache = (state, now, result)
    return result


def known_secrets() -> list[str]:
    """Every secret :func:`redact` masks now, longest first (pass it back to ``redact``)."""
    return _secrets()


def _basic(match: re.Match[str]) -> str:
    token = match.group(3)
    try:
        decoded = base64.b64decode(token, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        # A message cut short may end inside the base64: long and not a word, still masked.
        decoded = ":" if len(token) >= 16 and not token.isalpha() else ""
    # Only a credential ("user:password") is masked, not "Basic idea" in an answer.
    return f"{match.group(1)}{match.group(2)}***" if ":" in decoded else match.group(0)


def redact(text: str, secrets: list[str] | None = None) -> str:
    """``text`` with every secret the process knows masked as ``***`` (see the module).

    ``secrets``: the list :func:`known_secrets` returned, for a caller that masks many texts
    at once (the history writer's bulk path): looking them up costs more than masking one.
    """
    for secret in _secrets() if secrets is None else secrets:
        if secret in text:
            text = text.replace(secret, "***")
    if text.isascii():
        return _redact_ascii(text)
    if "://" in text:
        text = _URL_CREDENTIALS.sub(r"\1:***@", text)
    if "earer" in text or "EARER" in text:
        text = _BEARER.sub(r"\1\2***", text)
    if "asic" in text or "ASIC" in text:
        text = _BASIC.sub(_basic, text)
    return text


#: Characters of a URL scheme (``[a-z0-9+.-]`` without regard to case, in ASCII text).
_SCHEME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-")


def _redact_ascii(text: str) -> str:
    """The patterns of :func:`redact` on an ASCII ``text``, tried only where they can match.

    Each pattern starts with a word it needs (``Bearer``, ``Basic``) or ends its first part
    with ``://``, so it is tried at each place that word is found rather than at every
    character: over a run's 300 KB spec (prices carry URLs, inputs may say "basic"), trying
    every character took 9-17 ms in one call holding the GIL, which the window waited for.
    In ASCII text ``lower()`` keeps every index and ignoring case means only ASCII letters,
    so the result is what ``pattern.sub`` gives.
    """
    lowered = text.lower()
    for pattern, repl, needle in (
        (_URL_CREDENTIALS, r"\1:***@", "://"),
        (_BEARER, r"\1\2***", "bearer"),
        (_BASIC, _basic, "basic"),
    ):
        found = lowered.find(needle)
        if found < 0:
            continue
        pieces: list[str] = []
        done = 0
        while found >= 0:
            match: re.Match[str] | None = None
            if needle == "://":  # the match starts in the scheme just before
                first = found
                while first > done and text[first - 1] in _SCHEME_CHARS:
                    first -= 1
                for start in range(first, found):
                    match = pattern.match(text, start)
                    if match is not None:
                        break
            else:
                match = pattern.match(text, found)
            if match is None:
                found = lowered.find(needle, found + 1)
                continue
            pieces.append(text[done : match.start()])
            pieces.append(match.expand(repl) if isinstance(repl, str) else repl(match))
            done = match.end()
            found = lowered.find(needle, done)
        if pieces:
            pieces.append(text[done:])
            text = "".join(pieces)
            lowered = text.lower()
    return text


#: Words after which a credential follows a space (``Bearer <token>``): held back with it.
_SCHEMES = ("bearer", "basic")


class StreamRedactor:
    """:func:`redact` for text printed as it streams in, a piece at a time.

    A secret may be split across two pieces, so text goes out only up to the last whitespace
    (keys, tokens and URL credentials hold none), and a trailing ``Bearer``/``Basic`` waits
    for the credential after it. Each character is masked once, so a long answer costs what
    masking it whole would.
    """

    def __init__(self) -> None:
        self._pending: list[str] = []  # pieces held back (a list: no copy per piece)

    def feed(self, text: str) -> str:
        """What may be printed now of ``text`` (added to what was held back), masked."""
        cut = max(text.rfind(" "), text.rfind("\n"), text.rfind("\t"))
        if cut < 0:  # no whitespace in this piece: nothing more can be known complete
            if text:
                self._pending.append(text)
            return ""
        head = "".join(self._pending) + text[: cut + 1]
        rest = text[cut + 1 :]
        last = head.rstrip()
        start = max(last.rfind(" "), last.rfind("\n"), last.rfind("\t")) + 1
        if last[start:].lower() in _SCHEMES:  # its credential is still to come
            head, rest = head[:start], head[start:] + rest
        self._pending = [rest] if rest else []
        return redact(head) if head else ""

    def end(self) -> str:
        """Everything still held back, masked (the text has ended)."""
        rest = "".join(self._pending)
        self._pending = []
        return redact(rest) if rest else ""


def key_status(profile: ModelProfile, keys: KeySource) -> str:
    """Where the profile's API key comes from (the value itself is never shown)."""
    if _saved_key(profile, keys):
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
