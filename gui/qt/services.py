"""The services views reach storage through: the run history, exports, saved profiles, keys,
and the response cache.

Each is a small object with async methods that do their file, SQLite or keyring work in a
worker thread, so a view only awaits them and never calls ``asyncio.to_thread`` itself; a
view test hands it a fake with the same methods. :func:`default_services` makes the real
ones (``gui/qt/app.py`` creates them once and hands them to the window, which hands each
view the ones it needs). Storage modules are imported on first use, off the first paint.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gui.core.keys import HeldKeys
from gui.core.tasks import TaskOwner

if TYPE_CHECKING:
    from gui.compat.imports import BusyGate
    from gui.core.chat import Chat
    from gui.core.estimate import RunEstimate
    from gui.core.pricing import PriceEntry, PriceTable
    from gui.core.ratings import LeaderboardEntry, Rating
    from gui.core.spec import ModelProfile, RunSpec
    from gui.providers.cache import CacheSize, SqliteResponseCache
    from gui.storage.chats import ChatHistory, ChatRecord
    from gui.storage.history import History
    from gui.storage.profiles import ProfileStore, SavedProfile, UnsupportedProfile
    from gui.storage.records import RunRecord, StoredRun
    from gui.storage.secrets import KeyStore

#: Longest an estimate's count waits in all for a busy GUI thread (seconds).
ESTIMATE_MAX_WAIT_S = 2.0

__all__ = [
    "ESTIMATE_MAX_WAIT_S",
    "CacheService",
    "ExportService",
    "HistoryService",
    "KeyService",
    "PriceService",
    "ProfileService",
    "Services",
    "default_services",
]

log = logging.getLogger(__name__)


def _open_history_file() -> History:
    # In a worker thread: SQLite and the history code load here, not before the first paint.
    from gui.storage.history import History

    return History.open()


class HistoryService:
    """The run history, opened once off the GUI thread.

    Args:
        history: An open history to use (tests); default: opened on first :meth:`open`.
        opener: Opens it (blocking; called in a worker thread).
    """

    def __init__(
        self, history: History | None = None, opener: Callable[[], History] = _open_history_file
    ) -> None:
        self._history = history
        self._opener = opener
        self._opening: asyncio.Task[History] | None = None
        self._tasks = TaskOwner()

    @property
    def history(self) -> History | None:
        """The open history, or ``None`` before :meth:`open` finished."""
        return self._history

    def open(self, gate: Callable[[], Awaitable[None]] | None = None) -> asyncio.Task[History]:
        """Open the history (once); the task resolves to it.

        Args:
            gate: Awaited before the first open (the window's warm-up imports: two imports in
                two threads at once can leave a module half-imported).
        """
        if self._opening is None:
            self._opening = self._tasks.spawn(self._open(gate), "fanout-history-open")
        return self._opening

    async def _open(self, gate: Callable[[], Awaitable[None]] | None) -> History:
        if gate is not None:
            await gate()
        history = self._history
        if history is None:
            history = await asyncio.to_thread(self._opener)
        self._history = history
        return history

    async def list_runs(
        self, query: str, *, model: str | None, since: float | None, limit: int
    ) -> tuple[list[RunRecord], list[str]]:
        """Runs matching the filters (newest first) and every model name, for the list."""
        history = await self.open()

        def read() -> tuple[list[RunRecord], list[str]]:
            return history.list_runs(query, model=model, since=since, limit=limit), history.models()

        return await asyncio.to_thread(read)

    async def get_run(self, run_id: str) -> StoredRun | None:
        """The whole stored run, or ``None`` if it is gone."""
        history = await self.open()
        return await asyncio.to_thread(history.get_run, run_id)

    async def recent_output_tokens(self, models: list[str]) -> dict[str, float]:
        """Per column title, the mean output tokens of its recent answers (see
        :meth:`gui.storage.history.History.recent_output_tokens`); ``{}`` before the history
        is open (the estimate never waits for it)."""
        history = self._history
        if history is None:
            return {}
        return await asyncio.to_thread(history.recent_output_tokens, models)

    async def delete_run(self, run_id: str) -> bool:
        """Delete a run; ``False`` if it was already gone."""
        history = await self.open()
        return await asyncio.to_thread(history.delete_run, run_id)

    def _chats(self, history: History) -> ChatHistory:
        from gui.storage.chats import ChatHistory

        return ChatHistory(history)

    async def list_chats(self, query: str, *, limit: int) -> list[ChatRecord]:
        """Chats whose title or any message holds ``query``, newest first (as on disk: a
        caller that must see a turn that just ended awaits :meth:`flush` first)."""
        history = await self.open()
        return await asyncio.to_thread(self._chats(history).list, query, limit=limit)

    async def get_chat(self, chat_id: str) -> Chat | None:
        """The whole stored chat (every branch and alternative), or ``None`` if it is gone."""
        history = await self.open()
        return await asyncio.to_thread(self._chats(history).get, chat_id)

    async def delete_chat(self, chat_id: str) -> bool:
        """Delete a chat; ``False`` if it was already gone."""
        history = await self.open()
        return await asyncio.to_thread(self._chats(history).delete, chat_id)

    async def set_rating(self, run_id: str, cell_id: str, rating: Rating | None) -> str | None:
        """Store one cell's rating (``None`` clears it).

        Returns:
            ``None`` when stored, else one line saying why not (read-only history, the run
            was deleted, the file is busy).
        """
        history = await self.open()

        def write() -> str | None:
            from gui.storage.history import HistoryError

            try:
                history.set_rating(run_id, cell_id, rating)
            except HistoryError as exc:
                return str(exc)
            return None

        return await asyncio.to_thread(write)

    async def leaderboard(
        self, query: str, *, since: float | None, until: float | None
    ) -> tuple[list[LeaderboardEntry], str | None]:
        """The models ranked by Elo over the blind ratings of the matching runs, and one line
        saying why the history could not be read (``None`` when it could)."""
        history = await self.open()

        def read() -> tuple[list[LeaderboardEntry], str | None]:
            from gui.core.ratings import leaderboard
            from gui.storage.history import HistoryError

            try:
                rows = history.leaderboard_rows(query, since=since, until=until)
            except HistoryError as exc:
                return [], str(exc)
            return leaderboard(rows), None

        return await asyncio.to_thread(read)

    async def flush(self, wait_s: float = 2.0) -> bool:
        """Wait (at most ``wait_s``) until the cells recorded so far are stored."""
        history = self._history
        if history is None:
            return True
        return await asyncio.to_thread(history.flush, wait_s)

    async def close(self) -> None:
        """Store what is left, mark unfinished runs interrupted, stop the writer."""
        self._tasks.cancel_all()
        history = self._history
        if history is not None:
            await asyncio.to_thread(history.close)


class ExportService:
    """Writes a stored run as JSON, CSV or Markdown, or a chat as JSON or Markdown, as
    ``fanout-studio export -o`` does."""

    async def write(self, run: StoredRun, fmt: str, path: Path) -> str | None:
        """Write ``run`` as ``fmt`` to ``path`` (a new file is private, 0600).

        Returns:
            ``None`` when written; else one line saying why the app will not write there
            (the history database, its WAL/SHM files, profiles, settings, or a file of the
            data folder it did not export), and nothing is written.

        Raises:
            OSError: the file cannot be written.
        """

        def write() -> str | None:
            from gui.storage.export import ExportRefused, save

            try:
                save(run, fmt, path)
            except ExportRefused as exc:
                return str(exc)
            return None

        return await asyncio.to_thread(write)

    def default_path(self, run: StoredRun, fmt: str) -> Path:
        """Where the save dialog starts: the exports folder, a name made from the run."""
        from gui.storage import paths
        from gui.storage.export import default_filename

        return paths.exports_dir() / default_filename(run, fmt)

    async def write_chat(self, chat: Chat, fmt: str, path: Path) -> str | None:
        """Write ``chat`` as ``fmt`` (``json``, ``md`` or ``md-table``) to ``path``.

        Returns:
            ``None`` when written, else one line saying why the app will not write there.

        Raises:
            OSError: the file cannot be written.
        """

        def write() -> str | None:
            from gui.storage.chat_export import save_chat
            from gui.storage.export import ExportRefused

            try:
                save_chat(chat, fmt, path)
            except ExportRefused as exc:
                return str(exc)
            return None

        return await asyncio.to_thread(write)

    def default_chat_path(self, chat: Chat, fmt: str) -> Path:
        """Where the save dialog starts for a chat: the exports folder, a name from the chat."""
        from gui.storage import paths
        from gui.storage.chat_export import default_chat_filename

        return paths.exports_dir() / default_chat_filename(chat, fmt)


class ProfileService:
    """Saved provider profiles (``profiles.json``, never a key).

    Args:
        store: The file store; default the data folder's.
    """

    def __init__(self, store: ProfileStore | None = None) -> None:
        self._store = store

    def _get(self) -> ProfileStore:
        if self._store is None:
            from gui.storage.profiles import ProfileStore

            self._store = ProfileStore()
        return self._store

    @property
    def path(self) -> Path | None:
        """The file, once known."""
        return self._store.path if self._store is not None else None

    @property
    def unsupported(self) -> list[UnsupportedProfile]:
        """Entries of the file this version cannot use, as the last load or save found them
        (kept in the file untouched)."""
        return list(self._store.unsupported) if self._store is not None else []

    async def load(self) -> tuple[list[SavedProfile], str | None]:
        """Every saved profile, and one line for the user if the file had to be set aside."""

        def read() -> tuple[list[SavedProfile], str | None]:
            store = self._get()
            return store.load(), store.notice

        return await asyncio.to_thread(read)

    async def save(self, profiles: list[SavedProfile]) -> None:
        """Replace the saved profiles with ``profiles``.

        Raises:
            OSError: the file cannot be written.
        """
        await asyncio.to_thread(lambda: self._get().save(profiles))


class KeyService:
    """API keys in the OS keyring, and the ones the app holds for its runs.

    It is the window's :class:`gui.core.ports.KeySource`: ``gui/qt/app.py`` makes one and the
    window hands it to the provider backend and the model cards, which resolve a profile's
    ``key_ref`` through it. Keys reach it only from the keyring or the Profiles dock's Save;
    it holds them in this object, not in a module others read.

    Args:
        keystore: Makes the key store; called once, in a worker thread (resolving the system
            keyring imports its backends and may talk to D-Bus).
    """

    def __init__(self, keystore: Callable[[], KeyStore] | None = None) -> None:
        self._make = keystore
        self._store: KeyStore | None = None
        self._held = HeldKeys()

    @property
    def ready(self) -> bool:
        """Whether the keyring has been looked at (:meth:`open` finished)."""
        return self._store is not None

    @property
    def available(self) -> bool:
        """Whether keys can be saved (``True`` until known otherwise)."""
        return self._store is None or self._store.available

    @property
    def detail(self) -> str:
        """Which keyring keeps the keys."""
        return self._store.detail if self._store is not None else ""

    @property
    def reason(self) -> str:
        """Why keys cannot be saved, with what to do instead."""
        return self._store.reason if self._store is not None else ""

    def held(self, name: str) -> bool:
        """Whether a key is held for the saved profile ``name``."""
        return self._held.resolve(name) is not None

    def resolve(self, ref: str) -> str | None:
        """The key held for the saved profile ``ref`` (no I/O: safe from any thread)."""
        return self._held.resolve(ref)

    async def open(self) -> None:
        """Look at the system keyring (once, off the GUI thread)."""
        if self._store is None:
            self._store = await asyncio.to_thread(self._new_store)

    def _new_store(self) -> KeyStore:
        if self._make is not None:
            return self._make()
        from gui.storage.secrets import KeyStore

        return KeyStore()

    async def load(self, names: list[str]) -> None:
        """Read the keys of ``names`` from the keyring and hold them for runs.

        A key that cannot be read is logged and left out: its profile then runs with its
        environment variable, as a profile without a saved key does.
        """
        await self.open()
        store = self._store
        assert store is not None

        def read() -> None:
            from gui.storage.secrets import KeyStoreError

            for name in names:
                try:
                    self._held.hold(name, store.get(name))
                except KeyStoreError as exc:
                    log.warning("key of %s not read: %s", name, exc)

        await asyncio.to_thread(read)

    async def get(self, name: str) -> str | None:
        """The key saved for ``name``."""
        await self.open()
        store = self._store
        assert store is not None
        return await asyncio.to_thread(store.get, name)

    async def set(self, name: str, key: str) -> None:
        """Save ``key`` for ``name`` in the keyring and hold it for runs.

        Raises:
            KeyStoreError: the keyring refused it (the message says why).
        """
        await self.open()
        store = self._store
        assert store is not None
        await asyncio.to_thread(store.set, name, key)
        self._held.hold(name, key)

    async def delete(self, name: str) -> None:
        """Delete ``name``'s key from the keyring and from memory."""
        store = self._store
        if store is not None:
            await asyncio.to_thread(store.delete, name)
        self._held.hold(name, None)


class PriceService:
    """The price table (issue 15): the dated starter prices with the user's entries on top,
    kept in ``prices.json`` in the data folder; and the pre-run estimate, in a worker thread.

    The entries are held here once loaded, so a run's spec takes them without I/O
    (:meth:`entries`); before :meth:`load` finished they are the starter prices alone.

    Args:
        store: A :class:`gui.storage.prices.PriceStore` (tests); default: the data folder's.
    """

    def __init__(self, store: object | None = None) -> None:
        self._store = store
        self._user: tuple[PriceEntry, ...] = ()
        self._table: PriceTable | None = None
        #: One line for the user when the last load had to set a broken file aside.
        self.notice: str | None = None

    def _get(self) -> Any:
        if self._store is None:
            from gui.storage.prices import PriceStore

            self._store = PriceStore()
        return self._store

    def user_entries(self) -> tuple[PriceEntry, ...]:
        """The entries the user set (the Profiles dock's table shows and edits these)."""
        return self._user

    def table(self) -> PriceTable:
        """The starter prices with the user's entries on top (no I/O)."""
        if self._table is None:
            from gui.core.pricing import STARTER_PRICES, PriceTable

            self._table = PriceTable(STARTER_PRICES).with_entries(self._user)
        return self._table

    def entries(self) -> tuple[PriceEntry, ...]:
        """Every entry a run's spec carries (:attr:`gui.core.spec.RunSpec.prices`)."""
        return self.table().entries

    async def load(self) -> tuple[PriceEntry, ...]:
        """Read the user's entries (off the GUI thread) and hold them."""
        store = self._get()

        def read() -> tuple[PriceEntry, ...]:
            entries: tuple[PriceEntry, ...] = store.load()
            return entries

        self._user = await asyncio.to_thread(read)
        self.notice = getattr(store, "notice", None)
        self._table = None
        return self._user

    async def save(self, entries: tuple[PriceEntry, ...]) -> None:
        """Write the user's entries and use them from the next run on.

        Raises:
            OSError: the data folder is not writable.
        """
        store = self._get()
        await asyncio.to_thread(store.save, entries)
        self._user = tuple(entries)
        self._table = None

    async def start_tokenizer(self, profiles: list[ModelProfile]) -> bool:
        """Start the tokenizer process (off the GUI thread: the spawn takes milliseconds) if
        any of ``profiles`` is counted with it, without waiting for it to be ready; whether
        one was asked for."""

        def start() -> bool:
            from gui.providers.tokens import counter_kind, start_tokenizer

            if all(counter_kind(profile) != "tiktoken" for profile in profiles):
                return False
            start_tokenizer(profiles)
            return True

        return await asyncio.to_thread(start)

    async def estimate(
        self,
        spec: RunSpec,
        recent_output: dict[int, float] | None = None,
        gate: BusyGate | None = None,
    ) -> RunEstimate:
        """What ``spec`` would cost, counted in a worker thread, or from there in the tokenizer
        process when it has OpenAI models (:func:`gui.providers.tokens.estimate_counted`);
        ``recent_output``: per column, its recent answers' mean length; ``gate``: whether the
        GUI thread is busy (the window's heartbeat), for the count to wait while it is."""
        table = self.table()

        def compute() -> RunEstimate:
            from gui.compat.imports import GuiYield
            from gui.providers.tokens import estimate_counted

            # In the tokenizer process when the plan has OpenAI models; else (or without a
            # process) here, where a big plan's walk is a second of pure Python next to the
            # GUI thread: the window's work comes first, within ESTIMATE_MAX_WAIT_S of waits.
            pause = GuiYield(gate, max_total=ESTIMATE_MAX_WAIT_S)
            return estimate_counted(spec, table, recent_output, pause)

        return await asyncio.to_thread(compute)


def _price_service() -> PriceService:
    return PriceService()


class CacheService:
    """The response cache in the data folder (issue 15): the backend's cache, its size, clear.

    The cache file is opened on first use, in a worker thread (a size asked for, a cell
    looked up), never on the GUI thread.

    Args:
        path: The cache file; default: ``response-cache.sqlite3`` in the data folder.
    """

    def __init__(self, path: Path | None = None) -> None:
        self._path = path
        self._cache: SqliteResponseCache | None = None

    @property
    def cache(self) -> SqliteResponseCache:
        """The LangChain cache the backend's chains read and fill (made on first ask)."""
        if self._cache is None:
            from gui.providers.cache import CACHE_FILE_NAME, SqliteResponseCache

            path = self._path
            if path is None:
                from gui.storage import paths

                path = paths.home() / CACHE_FILE_NAME
            self._cache = SqliteResponseCache(path)
        return self._cache

    async def size(self) -> CacheSize:
        """How many answers the cache holds and its size on disk."""
        return await asyncio.to_thread(self.cache.size)

    async def clear(self) -> CacheSize:
        """Forget every cached answer; the size after (0 answers)."""
        cache = self.cache

        def clear() -> CacheSize:
            cache.clear()
            return cache.size()

        return await asyncio.to_thread(clear)

    def close(self) -> None:
        """Close the cache file, if it was opened."""
        if self._cache is not None:
            self._cache.close()


@dataclass
class Services:
    """Everything the views reach storage through, made once per app."""

    history: HistoryService
    exports: ExportService
    profiles: ProfileService
    keys: KeyService
    prices: PriceService = field(default_factory=_price_service)
    cache: CacheService = field(default_factory=CacheService)


def default_services(
    *,
    history: History | None = None,
    profile_store: ProfileStore | None = None,
    keystore: Callable[[], KeyStore] | None = None,
) -> Services:
    """The real services (arguments replace one part, for tests)."""
    return Services(
        HistoryService(history),
        ExportService(),
        ProfileService(profile_store),
        KeyService(keystore),
    )
