"""The engine's warm-up: LangChain imported off the GUI thread once the window is built (after
its first paint), and the gate that holds a run pressed before it is done.

:class:`Warmup` owns the import task and the one queued run. It shows nothing itself: the
window says "Starting…" while a run waits here, so this module knows no widget. The Markdown
view's warm-up that follows the engine's can be held back while a run needs the CPU more
(:meth:`Warmup.hold_markdown`).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # asyncio is imported when a task starts: the first frame needs no loop
    import asyncio

    from gui.core.tasks import TaskOwner

__all__ = ["Warmup"]

log = logging.getLogger(__name__)

#: What a run needs that the window does not: the engine, the simulated model, and the
#: history's and the keyring's modules, so that a run started as soon as the engine is ready
#: does not import them on a worker thread while its panes fill.
_ENGINE_MODULES = (
    "gui.providers.backend",
    "gui.providers.simulated",
    "gui.storage.history",
    "keyring",
    # LangChain's callback manager imports its tracers (and tenacity) on a run's first
    # stream: ~35 ms on the GUI thread at the first run's start if not imported here.
    "langchain_core.tracers.context",
    "langchain_core.tracers.langchain",
)

#: Seconds between the engine's readiness and the Markdown warm-up's start (see ``_import``).
MARKDOWN_DELAY_S = 0.25


def _find_keyring() -> None:
    """Let keyring find its backends now, on the warm-up's thread.

    Its entry-point scan is pure Python and holds the GIL long enough to delay a run's start
    visibly (docs/runtime.md); done here, it does not run on the profiles' worker thread
    while a first run starts.
    """
    import keyring

    try:
        keyring.get_keyring()  # cached by keyring: KeyStore() then starts at once
    except Exception:  # KeyStore reports an unusable keyring when the profiles load
        log.debug("keyring discovery failed", exc_info=True)


def _markdown_pieces() -> Sequence[Callable[[], object]]:
    """The Markdown view's warm-up, piece by piece: the parser's import and the common code
    lexers (building a lexer mid-stream was a visible freeze; docs/performance-notes.md)."""
    from gui.core.markdown_stream import warm_up_pieces

    return warm_up_pieces()


def _quietly(piece: Callable[[], object]) -> Callable[[], None]:
    def run() -> None:
        try:
            piece()
        except Exception:  # the first answer that needs it builds it instead
            log.debug("Markdown warm-up piece failed", exc_info=True)

    return run


def _after_engine_imports() -> None:
    """What the engine's first run would otherwise do on the GUI thread, done here: let
    keyring find its backends, and decide the engine's library hooks (each reads its
    library's installed version from the package metadata, tens of ms at a run's start)."""
    from gui.compat import CHUNK_MERGE, LCEL_STREAM, enabled

    _find_keyring()
    for hook in (LCEL_STREAM, CHUNK_MERGE):
        enabled(hook)  # decided once per process; the run's chain only reads the answer


class Warmup:
    """The warm-up imports and the run queued behind them.

    Args:
        tasks: The owner of the tasks started here (the window's, cancelled at shutdown).
    """

    def __init__(self, tasks: TaskOwner) -> None:
        self._tasks = tasks
        #: The import task started by :meth:`start` (``None`` before it; tests replace it).
        self.task: asyncio.Task[None] | None = None
        #: Set once the engine's own imports are done (the Markdown warm-up may still run).
        self._engine: asyncio.Event | None = None
        self._queued: asyncio.Task[None] | None = None
        self._markdown_held = False
        #: Set while the Markdown warm-up may go on (made on the loop, by the warm-up).
        self._markdown_go: asyncio.Event | None = None

    @property
    def importing(self) -> bool:
        """Whether the engine's warm-up imports are still running (a run waits for them)."""
        if self.task is None or self.task.done():
            return False
        return self._engine is None or not self._engine.is_set()

    @property
    def markdown_held(self) -> bool:
        """Whether the Markdown warm-up is held back (see :meth:`hold_markdown`)."""
        return self._markdown_held

    def hold_markdown(self, held: bool) -> None:
        """Hold the Markdown warm-up back (``True``) or let it go on (``False``).

        The window holds it while a run starts and streams into a layout that renders no
        Markdown: its thread builds lexers in pieces of 5-100 ms of GIL, which then only
        compete with the run (stream-stress-200 in docs/benchmarks.md). A piece under way
        finishes first; the next one waits on the loop, not in a thread, so nothing of the
        background import's settings (switch interval, collector) stays on during the run.
        """
        self._markdown_held = held
        if self._markdown_go is not None:
            if held:
                self._markdown_go.clear()
            else:
                self._markdown_go.set()

    @property
    def queued(self) -> bool:
        """Whether a run waits for the imports."""
        return self._queued is not None

    def start(self, openai: bool) -> asyncio.Task[None]:
        """Import the engine's LangChain side off the GUI thread (once, the window built).

        Args:
            openai: Import langchain-openai too (a restored workspace has OpenAI columns).
        """
        import asyncio

        self._engine = asyncio.Event()  # before the task runs: settled() may be awaited first
        self.task = self._tasks.spawn(
            self._import(openai=openai, engine=self._engine), "fanout-warm-up"
        )
        return self.task

    def want_openai(self) -> None:
        """An OpenAI-compatible column appeared: import its client now, not on the first run."""
        if "langchain_openai" not in sys.modules:
            self._tasks.spawn(self._import(openai=True), "fanout-warm-up-openai")

    async def settled(self) -> None:
        """Wait for the engine's warm-up imports (if any are running).

        The Markdown view's warm-up that follows them is not waited for: a run does not
        need it, and its imports share no module with the engine's or the history's.

        Imports in two worker threads at once (LangChain's in one, SQLite's or keyring's in
        another) met shiboken's import hook, which inspects every new module, and in a fair
        share of start-ups (docs/performance-notes.md) left pydantic half-imported for the whole process ("partially initialized module"):
        background imports run one after another, so other imports wait here.
        """
        import asyncio

        task, engine = self.task, self._engine
        if task is None or task.done():
            return
        if engine is None:
            await asyncio.wait([task])
            return
        waiter = asyncio.ensure_future(engine.wait())
        try:  # the task may also end without setting the event (a failed import)
            await asyncio.wait([task, waiter], return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()

    def queue(self, start: Callable[[], Awaitable[None]]) -> None:
        """Run ``start()`` as the queued run; a second press while one waits adds nothing.

        ``start`` awaits :meth:`settled` itself, so the caller shows the wait its own way.
        """
        if self._queued is None:
            self._queued = self._tasks.spawn(self._run_queued(start), "fanout-queued-run")

    async def _run_queued(self, start: Callable[[], Awaitable[None]]) -> None:
        try:
            await start()
        finally:
            self._queued = None

    async def _warm_markdown(self, import_in_background: Callable[..., None]) -> None:
        """Run the Markdown warm-up's pieces one at a time on a worker thread, waiting on the
        loop between two while :meth:`hold_markdown` holds it back."""
        import asyncio

        go = self._markdown_go = asyncio.Event()
        if not self._markdown_held:
            go.set()
        for piece in _markdown_pieces():
            await go.wait()
            await asyncio.to_thread(import_in_background, (), True, _quietly(piece))

    async def _import(self, openai: bool = False, engine: asyncio.Event | None = None) -> None:
        """Import the engine's modules; with ``engine`` (the first warm-up), set it once they
        are in and go on with the Markdown view's warm-up."""
        import asyncio

        # Imported here, not with the window's first frame (importlib's finder machinery).
        from gui.compat.imports import import_in_background

        modules = [*_ENGINE_MODULES, "langchain_openai"] if openai else list(_ENGINE_MODULES)
        missing = [m for m in modules if m not in sys.modules]
        try:
            if missing:
                await asyncio.to_thread(import_in_background, missing, True, _after_engine_imports)
            if engine is not None:
                engine.set()
                # After the engine is ready, still off the GUI thread, one import at a time;
                # a moment later, so that a run pressed as the engine became ready (queued,
                # or a demo's) has opened and held it back before its first piece.
                await asyncio.sleep(MARKDOWN_DELAY_S)
                await self._warm_markdown(import_in_background)
        except Exception:  # a broken install shows up on the run instead, with its message
            log.exception("warm-up import failed")
