"""Saved provider profiles: a name and a model profile, in ``profiles.json`` in the data dir.

The file holds no key. A profile whose key the user saved points at it by name
(:attr:`~gui.core.spec.ModelProfile.key_ref`); the key itself is in the OS keyring
(:mod:`gui.storage.secrets`). Writes are atomic (a temporary file, then ``os.replace``), and
a file that cannot be read is moved aside with a notice instead of stopping the app.

Each entry is checked on its own: one this version does not understand (a provider it does
not know, a field of the wrong type) becomes an :class:`UnsupportedProfile` that names the
problem, every other profile stays usable, and :meth:`ProfileStore.save` writes the entry
back exactly as it was read, so a newer version's profile survives a round trip here.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from gui.core.errors import SpecError
from gui.core.keys import strip_url_password
from gui.core.spec import (
    ModelProfile,
    ProviderKind,
    SimSettings,
    profile_from_dict,
    profile_to_dict,
)
from gui.storage import paths
from gui.storage.jsonfile import set_aside, write_atomic

__all__ = [
    "PROVIDER_PRESETS",
    "ProfileStore",
    "ProviderPreset",
    "SavedProfile",
    "UnsupportedProfile",
]

log = logging.getLogger(__name__)

_FORMAT = 1


@dataclass(frozen=True, slots=True)
class ProviderPreset:
    """A kind of server a profile can start from.

    Attributes:
        key: Stable id (``ollama``, ``lmstudio``...).
        text: What menus show.
        provider: Provider family.
        model: A typical model name on that server.
        base_url: Its usual OpenAI-compatible endpoint, or ``None`` for api.openai.com.
        max_concurrency: A sensible per-model limit (local servers often serve one request
            at a time), or ``None`` for the run's limit.
    """

    key: str
    text: str
    provider: ProviderKind
    model: str
    base_url: str | None = None
    max_concurrency: int | None = None

    def profile(self) -> ModelProfile:
        """A fresh profile from this preset."""
        return ModelProfile(
            model=self.model,
            provider=self.provider,
            base_url=self.base_url,
            max_concurrency=self.max_concurrency,
        )


PROVIDER_PRESETS: tuple[ProviderPreset, ...] = (
    ProviderPreset("simulated", "Simulated model", ProviderKind.SIMULATED, "sim"),
    ProviderPreset("openai", "OpenAI", ProviderKind.OPENAI, "gpt-4o-mini"),
    ProviderPreset(
        "ollama",
        "Ollama (localhost:11434)",
        ProviderKind.OPENAI,
        "llama3.2",
        "http://localhost:11434/v1",
        max_concurrency=1,
    ),
    ProviderPreset(
        "lmstudio",
        "LM Studio (localhost:1234)",
        ProviderKind.OPENAI,
        "qwen2.5-7b-instruct",
        "http://localhost:1234/v1",
        max_concurrency=1,
    ),
    ProviderPreset(
        "vllm",
        "vLLM (localhost:8000)",
        ProviderKind.OPENAI,
        "Qwen/Qwen2.5-1.5B-Instruct",
        "http://localhost:8000/v1",
    ),
    ProviderPreset(
        "llamacpp",
        "llama.cpp server (localhost:8080)",
        ProviderKind.OPENAI,
        "local",
        "http://localhost:8080/v1",
        max_concurrency=1,
    ),
)


@dataclass(frozen=True, slots=True)
class SavedProfile:
    """A provider profile the user saved under a name.

    Attributes:
        name: What menus show; also the keyring entry of its key.
        profile: The model profile (``key_ref`` is ``name`` when a key was saved).
    """

    name: str
    profile: ModelProfile

    def for_run(self) -> ModelProfile:
        """The profile as a grid column: labelled with the saved name unless it has a label."""
        return replace(self.profile, label=self.profile.label or self.name)


@dataclass(frozen=True, slots=True)
class UnsupportedProfile:
    """A saved entry this version cannot use; kept in the file exactly as it was.

    Attributes:
        name: Its name (or ``entry N`` when it has none).
        reason: Why it cannot be used, naming the field (one line).
        raw: The entry as read from the file.
        position: Its index in the file's list.
    """

    name: str
    reason: str
    raw: Any
    position: int


_TEXT = "text"
_WHOLE = "a whole number"
_NUMBER = "a number"
_FLAG = "true or false"

#: Profile fields and the JSON type each must have (``None`` is accepted where noted).
_FIELDS: dict[str, tuple[str, bool]] = {
    "model": (_TEXT, False),
    "provider": (_TEXT, False),
    "label": (_TEXT, False),
    "base_url": (_TEXT, True),
    "api_key_env": (_TEXT, False),
    "temperature": (_NUMBER, True),
    "max_tokens": (_WHOLE, True),
    "max_concurrency": (_WHOLE, True),
    "key_ref": (_TEXT, True),
    "vision": (_FLAG, False),
    "context_window": (_WHOLE, True),
}
_SIM_FIELDS: dict[str, str] = {
    "ttft": _NUMBER,
    "tokens_per_second": _NUMBER,
    "output_tokens": _WHOLE,
    "jitter": _NUMBER,
    "failure_rate": _NUMBER,
    "failure_kind": _TEXT,
    "retry_after": _NUMBER,
    "seed": _WHOLE,
}
assert set(_SIM_FIELDS) == {f.name for f in fields(SimSettings)}


def _type_ok(value: Any, kind: str) -> bool:
    if kind == _FLAG:
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if kind == _TEXT:
        return isinstance(value, str)
    if kind == _WHOLE:
        return isinstance(value, int)
    return isinstance(value, int | float)


def _shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 40 else text[:39] + "…"


def _entry_problem(entry: Any) -> str | None:
    """Why ``entry`` (one item of the file's list) cannot be used here, or ``None``."""
    if not isinstance(entry, Mapping):
        return "not a profile (an object with a name and a profile)"
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        return "field 'name' must be non-empty text"
    data = entry.get("profile")
    if not isinstance(data, Mapping):
        return "field 'profile' must be an object"
    for field_name, (kind, nullable) in _FIELDS.items():
        if field_name not in data or (nullable and data[field_name] is None):
            continue
        if not _type_ok(data[field_name], kind):
            return f"field '{field_name}' must be {kind}, not {_shown(data[field_name])}"
    provider = data.get("provider", ProviderKind.SIMULATED.value)
    if provider not in {k.value for k in ProviderKind}:
        return f"provider {_shown(provider)} is not supported by this version"
    sim = data.get("sim")
    if sim is not None:
        if not isinstance(sim, Mapping):
            return "field 'sim' must be an object"
        for field_name, kind in _SIM_FIELDS.items():
            value = sim.get(field_name)
            if value is None:
                continue
            if not _type_ok(value, kind):
                return f"field 'sim.{field_name}' must be {kind}, not {_shown(value)}"
    try:
        profile_from_dict(data).validate()
    except SpecError as exc:
        return str(exc).rstrip(".")
    except (TypeError, ValueError) as exc:
        return f"unreadable ({exc})"
    return None


class ProfileStore:
    """Reads and writes saved profiles.

    Args:
        path: The JSON file; default ``profiles.json`` in the data directory.
    """

    def __init__(self, path: Path | None = None, keystore: Any = None) -> None:
        self.path = path or paths.profiles_path()
        # The keyring that holds base-URL passwords (a KeyStore; made on first need).
        self._keystore = keystore
        #: One line for the user when the last :meth:`load` had to set a broken file aside.
        self.notice: str | None = None
        #: Entries of the last :meth:`load` this version cannot use (kept on save).
        self.unsupported: list[UnsupportedProfile] = []

    def load(self) -> list[SavedProfile]:
        """Every saved profile, in the order saved; ``[]`` when there is no file yet."""
        self.notice = None
        self.unsupported = []
        try:
            raw = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        except OSError as exc:
            self.notice = f"Saved profiles could not be read ({exc.strerror}): {self.path}"
            return []
        try:
            data = json.loads(raw)
            items = data["profiles"]
            if not isinstance(items, list):
                raise TypeError("'profiles' is not a list")
        except Exception as exc:
            where = set_aside(self.path)
            log.warning("unreadable profiles file %s: %s", self.path, exc)
            self.notice = (
                f"Saved profiles were unreadable ({type(exc).__name__}); the file was {where} "
                "and the list starts empty."
            )
            return []
        saved: list[SavedProfile] = []
        for position, item in enumerate(items):
            problem = _entry_problem(item)
            if problem is None:
                profile = profile_from_dict(item["profile"])
                if item.get(_URL_PASSWORD) == "keyring" and profile.base_url:
                    profile = replace(
                        profile, base_url=self._with_url_password(item["name"], profile.base_url)
                    )
                saved.append(SavedProfile(item["name"], profile))
                continue
            name = item.get("name") if isinstance(item, Mapping) else None
            shown = name if isinstance(name, str) and name.strip() else f"entry {position + 1}"
            # Shown by whoever lists the profiles (the CLI, the window): only logged here.
            log.info("profile %r not usable here: %s", shown, problem)
            self.unsupported.append(UnsupportedProfile(shown, problem, item, position))
        return saved

    def save(self, profiles: list[SavedProfile]) -> None:
        """Replace the file with ``profiles`` (atomically).

        Raises:
            OSError: the data directory is not writable.
        """
        entries: list[Any] = [self._entry(p) for p in profiles]
        names = {p.name for p in profiles}
        # Entries this version cannot use go back where they were, untouched (unless a
        # profile of the same name now replaces one).
        for kept in self.unsupported:
            if kept.name not in names:
                entries.insert(min(kept.position, len(entries)), kept.raw)
        data: dict[str, Any] = {"format": _FORMAT, "profiles": entries}
        text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
        write_atomic(self.path, text)

    def _keys(self) -> Any:
        if self._keystore is None:
            from gui.storage.secrets import KeyStore

            self._keystore = KeyStore()
        return self._keystore

    def _entry(self, saved: SavedProfile) -> dict[str, Any]:
        """The file's entry for ``saved``: a password in its base URL goes to the keyring
        (the file keeps ``http://user@host``); without a keyring it stays in this 0600 file."""
        entry: dict[str, Any] = {"name": saved.name, "profile": profile_to_dict(saved.profile)}
        url = saved.profile.base_url
        password = _url_password(url)
        if url is None or password is None:
            return entry
        from gui.storage.secrets import KeyStoreError

        try:
            self._keys().set(_url_key_name(saved.name), password)
        except KeyStoreError as exc:
            log.warning("base URL password of %r kept in the profiles file: %s", saved.name, exc)
            return entry
        entry["profile"]["base_url"] = strip_url_password(url)
        entry[_URL_PASSWORD] = "keyring"
        return entry

    def _with_url_password(self, name: str, url: str) -> str:
        """``url`` with the password saved in the keyring for profile ``name`` put back."""
        from gui.storage.secrets import KeyStoreError

        try:
            password = self._keys().get(_url_key_name(name))
        except KeyStoreError as exc:
            log.warning("base URL password of %r not read: %s", name, exc)
            return url
        if not password:
            return url
        parts = urlsplit(url)
        user, _, host = parts.netloc.rpartition("@")
        return urlunsplit(parts._replace(netloc=f"{user}:{password}@{host}"))

    def upsert(self, saved: SavedProfile) -> list[SavedProfile]:
        """Add ``saved`` or replace the profile of the same name; returns the new list."""
        current = self.load()
        names = [p.name for p in current]
        if saved.name in names:
            current[names.index(saved.name)] = saved
        else:
            current.append(saved)
        self.save(current)
        return current

    def delete(self, name: str) -> list[SavedProfile]:
        """Remove the profile called ``name``; returns the new list."""
        before = self.load()
        current = [p for p in before if p.name != name]
        self.save(current)
        if any(p.name == name and _url_password(p.profile.base_url) for p in before):
            from gui.storage.secrets import KeyStoreError

            try:
                self._keys().delete(_url_key_name(name))
            except KeyStoreError as exc:
                log.warning("base URL password of %r not deleted: %s", name, exc)
        return current


#: Entry field saying the base URL's password is in the keyring.
_URL_PASSWORD = "base_url_password"


def _url_key_name(name: str) -> str:
    return f"{name} (base URL password)"


def _url_password(url: str | None) -> str | None:
    if not url:
        return None
    try:
        return urlsplit(url).password or None
    except ValueError:
        return None
