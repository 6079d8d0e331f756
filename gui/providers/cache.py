"""The response cache: LangChain's ``BaseCache`` on one SQLite file in the data folder.

langchain-community's ``SQLiteCache`` would do, but that package pulls in SQLAlchemy and
hundreds of integrations for one table; this is the same interface in the standard library.
Keys are hashed (a SHA-256 of the model's ``llm_string`` and the prompt), so the file holds
the answers, not a second copy of every prompt. Values are our own small JSON (the text, the
message's metadata and usage, the generation info), rebuilt as ``ChatGeneration`` objects:
nothing is unpickled or loaded by class path.

The chains (:class:`gui.providers.backend.FanoutChain`) consult it themselves, through the
same ``lookup``/``update`` (``alookup``/``aupdate``) interface LangChain's ``agenerate`` uses:
langchain-core's ``BaseChatModel.astream`` never reads a cache, and the streamed cells need
one as much as the whole-answer ones. The file's path comes from the caller (the window's
cache service, the CLI), since this layer does not know the data folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_core.caches import RETURN_VAL_TYPE, BaseCache
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration, Generation

from gui.core.keys import redact
from gui.core.private import create_private_file, private_dirs

#: The cache file's name in the data folder.
CACHE_FILE_NAME = "response-cache.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    key TEXT PRIMARY KEY,
    generations_json TEXT NOT NULL,
    created_at REAL NOT NULL
)
"""


@dataclass(frozen=True, slots=True)
class CacheSize:
    """How much the cache holds.

    Attributes:
        answers: Cached answers (one per distinct request).
        bytes: Size of the cache file on disk.
    """

    answers: int
    bytes: int

    def describe(self) -> str:
        """One line for the "Clear cache" action: ``12 answers, 48 KB``."""
        word = "answer" if self.answers == 1 else "answers"
        kb = self.bytes / 1024
        size = f"{kb / 1024:.1f} MB" if kb >= 1024 else f"{kb:.0f} KB"
        return f"{self.answers:,} {word}, {size}"


def cache_key(prompt: str, llm_string: str) -> str:
    """The row key of one request: its model string and prompt, hashed."""
    digest = hashlib.sha256()
    digest.update(llm_string.encode("utf-8", "surrogatepass"))
    digest.update(b"\0")
    digest.update(prompt.encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


class SqliteResponseCache(BaseCache):
    """A LangChain cache in one SQLite file; safe to use from the loop and worker threads.

    The file is opened on first use (so building the cache costs nothing at start-up) and
    made private (0600) like every file in the data folder. ``alookup``/``aupdate`` are
    ``BaseCache``'s own: they run the blocking calls in the loop's default executor, so the
    GUI thread never waits on the disk.

    Args:
        path: The SQLite file (created with its folder if missing).
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

    def _conn(self) -> sqlite3.Connection:
        """The open connection (opened on first use). Call with the lock held."""
        if self._db is None:
            # Private before SQLite writes a byte: its -wal and -shm take the file's mode, and
            # a data folder removed since the app started is made again 0700.
            private_dirs(self.path.parent)
            create_private_file(self.path)
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(_SCHEMA)
            self._db = db
        return self._db

    def lookup(self, prompt: str, llm_string: str) -> RETURN_VAL_TYPE | None:
        """The cached generations of this request, or ``None``."""
        key = cache_key(prompt, llm_string)
        with self._lock:
            row = (
                self._conn()
                .execute("SELECT generations_json FROM answers WHERE key = ?", (key,))
                .fetchone()
            )
        if row is None:
            return None
        try:
            return [_generation_from_json(item) for item in json.loads(row[0])]
        except (ValueError, TypeError, KeyError):
            return None  # a row written by something else: a miss, not a crash

    def update(self, prompt: str, llm_string: str, return_val: RETURN_VAL_TYPE) -> None:
        """Store the generations of this request (the newest answer wins)."""
        key = cache_key(prompt, llm_string)
        # Masked as the history masks a cell's text: an answer that echoes a key or an
        # Authorization header must not leave it in the clear in the data folder.
        value = redact(json.dumps([_generation_to_json(g) for g in return_val], ensure_ascii=False))
        with self._lock:
            self._conn().execute(
                "INSERT OR REPLACE INTO answers (key, generations_json, created_at) "
                "VALUES (?, ?, ?)",
                (key, value, time.time()),
            )

    def clear(self, **kwargs: Any) -> None:
        """Forget every cached answer and give the space back."""
        with self._lock:
            db = self._conn()
            db.execute("DELETE FROM answers")
            db.execute("VACUUM")

    def size(self) -> CacheSize:
        """How many answers the cache holds and how large its file is."""
        with self._lock:
            if self._db is None and not self.path.exists():
                return CacheSize(0, 0)
            (count,) = self._conn().execute("SELECT count(*) FROM answers").fetchone()
        on_disk = 0
        for suffix in ("", "-wal"):
            with contextlib.suppress(OSError):
                on_disk += os.path.getsize(f"{self.path}{suffix}")
        return CacheSize(int(count), on_disk)

    def close(self) -> None:
        """Close the file (a later call opens it again)."""
        with self._lock:
            db, self._db = self._db, None
        if db is not None:
            db.close()


def _generation_to_json(generation: Generation) -> dict[str, Any]:
    item: dict[str, Any] = {
        "text": generation.text,
        "generation_info": generation.generation_info or None,
    }
    message = getattr(generation, "message", None)
    if message is not None:
        item["response_metadata"] = dict(getattr(message, "response_metadata", None) or {})
        usage = getattr(message, "usage_metadata", None)
        item["usage_metadata"] = dict(usage) if usage else None
    return item


def _generation_from_json(item: dict[str, Any]) -> Generation:
    text = str(item["text"])
    info = item.get("generation_info") or None
    if "response_metadata" not in item:
        return Generation(text=text, generation_info=info)
    message = AIMessage(
        content=text,
        response_metadata=dict(item.get("response_metadata") or {}),
        usage_metadata=item.get("usage_metadata") or None,
    )
    return ChatGeneration(message=message, generation_info=info)


def generations_of(
    text: str,
    *,
    finish_reason: str | None,
    output_tokens: int | None,
    latency: float | None,
    ttft: float | None,
    note: str | None = None,
) -> Sequence[ChatGeneration]:
    """What a chain stores for one finished answer: its text, how it ended, and its metrics.

    The latency and time to first token go into the generation info, so a cell served from
    the cache later can show how the original request went; so does the cell's ``note`` on
    how the answer came (a whole JSON body to a streaming request), so a replay says what
    the original said.
    """
    usage: Any = None
    if output_tokens is not None:
        usage = {"input_tokens": 0, "output_tokens": output_tokens, "total_tokens": output_tokens}
    message = AIMessage(
        content=text,
        response_metadata={"finish_reason": finish_reason} if finish_reason else {},
        usage_metadata=usage,
    )
    info: dict[str, Any] = {"fanout_latency": latency, "fanout_ttft": ttft}
    if note:
        info["fanout_note"] = note
    return [ChatGeneration(message=message, generation_info=info)]


@dataclass(frozen=True, slots=True)
class CachedAnswer:
    """One answer read back from the cache, as a chain replays it."""

    text: str
    finish_reason: str | None
    output_tokens: int | None
    latency: float | None
    ttft: float | None
    #: The original cell's note on how its answer came (``None``: nothing to say).
    note: str | None = None


def cached_answer(generations: RETURN_VAL_TYPE | None) -> CachedAnswer | None:
    """The answer in ``generations`` (what ``lookup`` returned), or ``None`` for a miss."""
    if not generations:
        return None
    first = generations[0]
    message = getattr(first, "message", None)
    meta = dict(getattr(message, "response_metadata", None) or {})
    usage = getattr(message, "usage_metadata", None) or {}
    info = first.generation_info or {}
    tokens = usage.get("output_tokens") if usage else None
    latency = info.get("fanout_latency")
    ttft = info.get("fanout_ttft")
    reason = meta.get("finish_reason")
    note = info.get("fanout_note")
    return CachedAnswer(
        text=first.text,
        finish_reason=str(reason) if reason else None,
        output_tokens=int(tokens) if isinstance(tokens, int) else None,
        latency=float(latency) if isinstance(latency, int | float) else None,
        ttft=float(ttft) if isinstance(ttft, int | float) else None,
        note=note if isinstance(note, str) and note else None,
    )
