"""The engine's warm-up: LangChain imported off the GUI thread once the window is built (after
its first paint), and the gate that holds a run pressed before it is done.

The engine is ready when a run on the simulated model would start without importing
anything: LangChain's core and the engine's own modules are in, and the keyring has found
its backends (the saved profiles' keys load right after; its discovery loads native modules
that, run later, landed on the start of a run pressed at ready). What only some runs or later
moments need comes after, still off the GUI thread: the Markdown view's parser and lexers (a
view shows text raw until they are built, see ``gui.qt.widgets.markdown_view``), and the
OpenAI-compatible client when a column uses one (a run that needs it waits for it,
:meth:`Warmup.must_wait`).

:class:`Warmup` owns the import tasks and the one queued run. It shows nothing itself: the
window says "Starting…" while a run waits here, so this module knows no widget. The Markdown
warm-up can be held back while a run needs the CPU more (:meth:`Warmup.hold_markdown`).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # asyncio is imported when a task starts: the first frame needs no loop
    import asyncio

    from gui.compat.imports import BusyGate
    from gui.core.spec import RunSpec
    from gui.core.tasks import TaskOwner

__all__ = ["Warmup", "needs_openai"]

log = logging.getLogger(__name__)

#: What a run on the simulated model needs that the window does not: the engine, the simulated
#: model and the history's module (a run opens the history before its first cell), so that a
#: run started as soon as the engine is ready imports nothing on the GUI thread or anywhere
#: else; and the keyring's (see the module's docstring).
_ENGINE_MODULES = (
    "gui.providers.backend",
    "gui.providers.simulated",
    "gui.storage.history",
    "keyring",
    # LangChain's callback manager imports its tracers (and tenacity) on a run's first
    # stream, and the console tracer and the v0 content translator on its first chunk: on
    # the GUI thread at the first run's start if not imported here.
    "langchain_core.tracers.context",
    "langchain_core.tracers.langchain",
    "langchain_core.tracers.stdout",
    "langchain_core.messages.block_translators.langchain_v0",
)

#: An OpenAI-compatible column's client: imported before "ready" only when the workspace
#: opens with such a column, else when one appears (:meth:`Warmup.want_openai`) or when a run
#: that needs it is pressed (it waits for it, see :meth:`Warmup.must_wait`).
_OPENAI_MODULES = ("langchain_openai",)

#: Seconds between the engine's readiness and the Markdown view's warm-up, so that a run
#: pressed as the engine became ready (queued, or a demo's) has started, and held the
#: Markdown warm-up back, before it.
MARKDOWN_DELAY_S = 0.25


def needs_openai(spec: RunSpec) -> bool:
    """Whether ``spec`` has a column, or a judge, on an OpenAI-compatible server."""
    from gui.core.spec import ProviderKind  # not with the first frame, which draws no spec

    profiles = [*spec.models, *([spec.judge.model] if spec.judge is not None else [])]
    return any(p.provider is ProviderKind.OPENAI for p in profiles)


def _missing(names: Sequence[str]) -> list[str]:
    return [m for m in names if m not in sys.modules]


def _find_keyring() -> None:
    """Let keyring find its backends now, on the warm-up's thread.

    Its entry-point scan is pure Python and holds the GIL long enough to delay a run's start
    visibly (docs/runtime.md), and its backends load native modules (cryptography's); done
    here, the profiles' worker thread finds it done.
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
    """What the engine's first run would otherwise do on the GUI thread, done here: decide
    the engine's library hooks (each reads its library's installed version from the package
    metadata, a few ms each), and let keyring find its backends."""
    from gui.compat import CHUNK_MERGE, DIRECT_STREAM, LCEL_STREAM, enabled
    from gui.compat.hooks import LEAN_INVOKE

    for hook in (LCEL_STREAM, CHUNK_MERGE, DIRECT_STREAM, LEAN_INVOKE):
        enabled(hook)  # decided once per process; the run's chain only reads the answer
    _find_keyring()


def _engine_imports(
    names: Sequence[str], then: Callable[[], object], gate: BusyGate | None
) -> None:
    """The engine's imports, on the worker thread: LangSmith's API types deferred first
    (:mod:`gui.compat.lazy_init`; deciding its hook reads package metadata), then ``names``."""
    from gui.compat import imports
    from gui.compat.lazy_init import defer_package_inits

    defer_package_inits()
    imports.import_in_background(list(names), True, then, gate)


class Warmup:
    """The warm-up imports and the run queued behind them.

    Every background import of the window goes through here, one at a time (see
    :meth:`settled`): the engine's, then the Markdown view's pieces, and an OpenAI-compatible
    client's whenever a column or a run asks for it.

    Args:
        tasks: The owner of the tasks started here (the window's, cancelled at shutdown).
    """

    def __init__(self, tasks: TaskOwner) -> None:
        self._tasks = tasks
        #: The import task started by :meth:`start` (``None`` before it; tests replace it).
        self.task: asyncio.Task[None] | None = None
        #: Set once the engine's own imports are done (the rest of the warm-up may still run).
        self._engine: asyncio.Event | None = None
        self._openai: asyncio.Task[None] | None = None
        self._serial: asyncio.Lock | None = None
        self._queued: asyncio.Task[None] | None = None
        self._markdown_held = False
        #: Set while the Markdown warm-up may go on (made on the loop, by the warm-up).
        self._markdown_go: asyncio.Event | None = None
        #: Whether the GUI thread is busy (asked on the import thread; the window's lag
        #: meter): the imports wait for it before each module. ``None``: they never wait.
        self.gate: BusyGate | None = None

    @property
    def importing(self) -> bool:
        """Whether the engine's warm-up imports are still running (a run waits for them)."""
        if self.task is None or self.task.done():
            return False
        return self._engine is None or not self._engine.is_set()

    def must_wait(self, openai: bool) -> bool:
        """Whether a run must wait for background imports before it starts: the engine's, and
        with ``openai`` (see :func:`needs_openai`) the OpenAI-compatible client's, which
        would otherwise be imported on the GUI thread by the run's first cell (1-2 s)."""
        if self.importing:
            return True
        return openai and self.task is not None and bool(_missing(_OPENAI_MODULES))

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
            openai: Import langchain-openai too before the engine counts as ready: a
                restored workspace has OpenAI columns.
        """
        import asyncio

        from gui.core.markdown_stream import warm_up_done, warm_up_expected

        self._engine = asyncio.Event()  # before the task runs: settled() may be awaited first
        warm_up_expected()  # Markdown views show text raw until the parser is built here
        self.task = self._tasks.spawn(self._warm(openai, self._engine), "fanout-warm-up")
        self.task.add_done_callback(lambda _task: warm_up_done())  # ended, failed or cancelled
        return self.task

    def want_openai(self) -> None:
        """An OpenAI-compatible column appeared: import its client now, not on the first run."""
        if _missing(_OPENAI_MODULES):
            self._openai_import()

    async def settled(self, openai: bool = False) -> None:
        """Wait for the engine's warm-up imports (if any are running), and with ``openai``
        for the OpenAI-compatible client's (started now if nothing asked for it yet).

        The Markdown view's warm-up that follows the engine's (its parser and lexers) is not
        waited for: a run does not need it.

        Imports in two worker threads at once (LangChain's in one, SQLite's or keyring's in
        another) met shiboken's import hook, which inspects every new module, and in a fair
        share of start-ups (docs/performance-notes.md) left pydantic half-imported for the
        whole process ("partially initialized module"): background imports run one after
        another (:meth:`_in_background`), so other imports wait here.
        """
        import asyncio

        task = self.task
        if task is not None and not task.done():
            if self._engine is None:
                await asyncio.wait([task])
            else:
                await _first_of(task, self._engine)
        if openai and self.task is not None and _missing(_OPENAI_MODULES):
            await asyncio.wait([self._openai_import()])

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

    def _openai_import(self) -> asyncio.Task[None]:
        if self._openai is None or self._openai.done():
            self._openai = self._tasks.spawn(self._import_openai(), "fanout-warm-up-openai")
        return self._openai

    async def _import_openai(self) -> None:
        try:
            await self._in_background(_missing([*_ENGINE_MODULES, *_OPENAI_MODULES]))
        except Exception:  # the run that needs it fails with the import's message
            log.exception("importing the OpenAI-compatible client failed")

    async def _in_background(
        self, names: Sequence[str], then: Callable[[], object] | None = None
    ) -> None:
        """Import ``names`` then run ``then`` on a worker thread, after any other background
        import of this warm-up has ended (one at a time, see :meth:`settled`)."""
        import asyncio

        from gui.compat import imports

        if self._serial is None:
            self._serial = asyncio.Lock()
        async with self._serial:
            await asyncio.to_thread(imports.import_in_background, names, True, then, self.gate)

    async def _warm_markdown(self) -> None:
        """Run the Markdown warm-up's pieces one at a time on a worker thread, waiting on the
        loop between two while :meth:`hold_markdown` holds it back."""
        import asyncio

        go = self._markdown_go = asyncio.Event()
        if not self._markdown_held:
            go.set()
        for piece in _markdown_pieces():
            await go.wait()
            await self._in_background((), _quietly(piece))

    async def _warm(self, openai: bool, engine: asyncio.Event) -> None:
        """The engine's imports, then (the engine ready) the Markdown view's warm-up."""
        import asyncio

        # Imported here, not with the window's first frame (importlib's finder machinery).
        from gui.compat.gc_policy import STARTUP, defer_full_collections

        first = [*_ENGINE_MODULES, *(_OPENAI_MODULES if openai else ())]
        try:
            try:
                missing = _missing(first)
                if missing:
                    if self._serial is None:
                        self._serial = asyncio.Lock()
                    async with self._serial:
                        await asyncio.to_thread(
                            _engine_imports, missing, _after_engine_imports, self.gate
                        )
            finally:
                # The heap is frozen now: the start-up's hold on full collections (taken
                # by the app before its first frame) has done its job.
                defer_full_collections(False, STARTUP)
            engine.set()
            # The rest, still off the GUI thread, one import at a time; a moment later, so
            # that a run pressed as the engine became ready has started first.
            await asyncio.sleep(MARKDOWN_DELAY_S)
            await self._warm_markdown()
        except Exception:  # a broken install shows up on the run instead, with its message
            log.exception("warm-up import failed")


async def _first_of(task: asyncio.Task[None], event: asyncio.Event) -> None:
    """Wait for ``event``, or for ``task`` to end without setting it (a failed import)."""
    import asyncio

    waiter = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait([task, waiter], return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
