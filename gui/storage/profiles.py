"""Saved provider profiles: a name and a model profile, in ``profiles.json`` in the data dir.

The file holds no key. A profile whose key the user saved points at it by name
(:attr:`~gui.core.spec.ModelProfile.key_ref`); the key itself is in the OS keyring
(:mod:`gui.storage.secrets`). Writes are atomic (a temporary file, then ``os.replace``), and
a file that cannot be read is moved aside with a notice instead of stopping the app.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from gui.core.spec import ModelProfile, ProviderKind, profile_from_dict, profile_to_dict
from gui.storage import paths

__all__ = ["PROVIDER_PRESETS", "ProfileStore", "ProviderPreset", "SavedProfile"]

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


class ProfileStore:
    """Reads and writes saved profiles.

    Args:
        path: The JSON file; default ``profiles.json`` in the data directory.
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or paths.profiles_path()
        #: One line for the user when the last :meth:`load` had to set a broken file aside.
        self.notice: str | None = None

    def load(self) -> list[SavedProfile]:
        """Every saved profile, in the order saved; ``[]`` when there is no file yet."""
        self.notice = None
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
            return [SavedProfile(str(i["name"]), profile_from_dict(i["profile"])) for i in items]
        except Exception as exc:
            backup = self.path.with_name(
                f"{self.path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}"
            )
            try:
                os.replace(self.path, backup)
                where = f"moved to {backup.name}"
            except OSError:
                where = "left in place"
            log.warning("unreadable profiles file %s: %s", self.path, exc)
            self.notice = (
                f"Saved profiles were unreadable ({type(exc).__name__}); the file was {where} "
                "and the list starts empty."
            )
            return []

    def save(self, profiles: list[SavedProfile]) -> None:
        """Replace the file with ``profiles`` (atomically).

        Raises:
            OSError: the data directory is not writable.
        """
        data: dict[str, Any] = {
            "format": _FORMAT,
            "profiles": [{"name": p.name, "profile": profile_to_dict(p.profile)} for p in profiles],
        }
        text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".profiles-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

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
        current = [p for p in self.load() if p.name != name]
        self.save(current)
        return current
