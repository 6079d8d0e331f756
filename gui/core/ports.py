"""What the core needs from the layers around it, as protocols (the core imports none of them).

The engine needs a provider :class:`Backend` (``gui.providers.backend.LangChainBackend``);
the session (:mod:`gui.core.session`) needs a :class:`RunHistory` to record runs in (and the
chat session a :class:`ChatStore` to write chats to) and reads
past runs as :class:`PastRun` (``gui.storage.history.History`` and ``StoredRun``); a scheduling
strategy needs a :class:`CellScheduler` (``gui.core.runner.Run``), so ``gui.core.strategies``
and ``gui.core.runner`` do not import each other; the provider layer resolves a profile's key
reference through a :class:`KeySource` it is given (the window's ``KeyService``, the CLI's
:class:`gui.core.keys.HeldKeys`). Tests pass fakes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from enum import StrEnum
from typing import Any, Protocol

from gui.core.chat import Chat, ChatNode
from gui.core.checks import CheckResult
from gui.core.errors import Failure
from gui.core.events import Event
from gui.core.judging import JudgeVerdict
from gui.core.metrics import CellMetrics
from gui.core.ratings import Rating
from gui.core.spec import Cell, Limits, ModelProfile, RunSpec


class CallMode(StrEnum):
    """How one cell's request is made."""

    INVOKE_THREAD = "invoke_thread"  # chain.invoke in a worker thread (sync strategy)
    INVOKE_BLOCKING = "invoke_blocking"  # chain.invoke on the loop's thread: the freeze demo
    AINVOKE = "ainvoke"
    ASTREAM = "astream"


class ChainLike(Protocol):
    """The LCEL chain of one cell: ``prompt | model | StrOutputParser()``."""

    def invoke(self, input: Mapping[str, Any], config: Any = None) -> Any:
        """Blocking call, used by the sync strategy from a worker thread."""

    async def ainvoke(self, input: Mapping[str, Any], config: Any = None) -> Any:
        """One awaited call returning the whole answer."""

    def astream(self, input: Mapping[str, Any], config: Any = None) -> AsyncIterator[Any]:
        """The answer as text chunks while it is generated."""


class JudgeChainLike(Protocol):
    """The judge model of a run: messages in, the judge's reply out as text.

    With a ``schema`` the provider is asked for structured output where it supports it (the
    reply is then the JSON it produced); either way the reply is text that the judge lane
    reads itself (:func:`gui.core.judging.parse_score`), so an unreadable reply is kept.
    """

    async def ainvoke(self, input: Sequence[tuple[str, str]], config: Any = None) -> str:
        """The judge's whole reply to ``input`` (``(role, text)`` messages)."""


class BatchLike(Protocol):
    """A runnable over cells whose ``abatch`` / ``abatch_as_completed`` the engine drives."""

    async def abatch(
        self, inputs: Sequence[Cell], config: Any = None, *, return_exceptions: bool = False
    ) -> list[Any]:
        """Run every input, at most ``config['max_concurrency']`` at once."""

    def abatch_as_completed(
        self, inputs: Sequence[Cell], config: Any = None, *, return_exceptions: bool = False
    ) -> AsyncIterator[tuple[int, Any]]:
        """Run every input, yielding ``(index, output)`` as each completes."""


class UsageProbe(Protocol):
    """Collects the provider-reported token usage of one request.

    A probe may also carry ``finish_reason`` (why the server said the answer ended),
    ``note`` (how the answer came, when the user should know) and ``input_tokens`` (the
    prompt tokens reported); the engine reads them with ``getattr`` and stores them in the
    cell's metrics, so a probe without them still works.
    """

    @property
    def callbacks(self) -> list[Any]:
        """Callback handlers to pass in the request's config."""

    @property
    def output_tokens(self) -> int | None:
        """Answer tokens the provider reported, or ``None``."""


class KeySource(Protocol):
    """Where the provider layer finds the API key a profile refers to by name.

    A :class:`gui.core.spec.ModelProfile` carries only ``key_ref`` (the name a key was saved
    under), never the key, because specs are stored in the history and the workspace. The
    provider layer is given a source when it is made and asks it when it builds a model.
    """

    def resolve(self, ref: str) -> str | None:
        """The key saved under ``ref``, or ``None`` if none is held.

        Called from the loop's thread and from worker threads (chains are built off the
        loop): it must not block on I/O.
        """


class Backend(Protocol):
    """Builds chains for profiles and explains their errors."""

    def chain(
        self,
        template: str,
        system: str | None,
        profile: ModelProfile,
        *,
        context: Sequence[tuple[str, str]] = (),
    ) -> ChainLike:
        """The chain for one column (may be cached); ``context``: ``(role, text)`` messages
        sent between the system message and the template (a chat's thread), as they are."""

    def thread_chain(self, messages: Sequence[tuple[str, Any]], profile: ModelProfile) -> ChainLike:
        """The chain of one chat column's turn: ``messages`` (``gui.core.chat.Message``
        pairs, image parts included) sent as they are, no template (blocking: may be built
        in a worker thread)."""

    def batch_runnable(self, fn: Callable[[Cell], Awaitable[object]]) -> BatchLike:
        """Wrap ``fn`` so that ``abatch``-style fan-out can drive it."""

    def judge_chain(self, profile: ModelProfile, schema: Mapping[str, Any]) -> JudgeChainLike:
        """The judge model ``profile``, asked for replies of JSON ``schema`` (blocking: the
        judge lane builds it in a worker thread)."""

    def usage_probe(self) -> UsageProbe:
        """A fresh usage probe for one request."""

    def classify(self, exc: BaseException, profile: ModelProfile) -> Failure | None:
        """A :class:`Failure` for ``exc``, or ``None`` to let the engine's fallback decide."""


class CellScheduler(Protocol):
    """What a strategy (``gui.core.strategies``) drives: a run that starts cells on request.

    A strategy only decides when each cell starts; :meth:`spawn` runs it through the run's
    limiter, rate limiter, timeout and retries.
    """

    @property
    def id(self) -> str:
        """The run's id (LangChain's ``run_name`` carries it)."""

    @property
    def cells(self) -> Sequence[Cell]:
        """Every cell of the run, in order."""

    @property
    def limits(self) -> Limits:
        """The limits now in force (they may change mid-run)."""

    @property
    def block_loop(self) -> bool:
        """The freeze demo: the sync strategy calls ``invoke`` on the loop's own thread."""

    @property
    def stopping(self) -> bool:
        """Whether the run is being cancelled (strategies start no new cells)."""

    @property
    def backend(self) -> Backend:
        """The provider backend (the batch strategies wrap cells in its runnable)."""

    def spawn(self, cell: Cell, mode: CallMode) -> asyncio.Task[None]:
        """Create (or return) the owned task that runs ``cell``."""


class ChatStore(Protocol):
    """Where a chat session writes chats (``gui.storage.chats.ChatHistory``)."""

    def save_chat(self, chat: Chat) -> None:
        """Write the chat's header, columns and every column's head (queued, not blocking)."""

    def save_node(self, chat: Chat, col: int, node: ChatNode) -> None:
        """Write one node of column ``col`` (queued, not blocking)."""


class RunHistory(Protocol):
    """Where the session records runs (``gui.storage.history.History``)."""

    def recorder(
        self,
        *,
        label: str | None = None,
        into_run: str | None = None,
        cell_map: Mapping[str, str] | None = None,
    ) -> Callable[[Event], None]:
        """A run subscriber that records it; ``into_run`` files a retry's cells under that run."""

    def flush(self, timeout: float = 5.0) -> bool:
        """Block until everything recorded so far is stored; ``False`` on timeout."""


class PastCell(Protocol):
    """One cell of a past run as it ended (``gui.storage.history.StoredCell``)."""

    @property
    def cell_id(self) -> str:
        """The cell's id (:class:`gui.core.spec.CellId` text)."""

    @property
    def status(self) -> str:
        """``done``, ``failed`` or ``cancelled``."""

    @property
    def text(self) -> str:
        """The answer, or the partial text."""

    @property
    def error(self) -> str | None:
        """The error message or the cancel reason."""

    @property
    def metrics(self) -> CellMetrics | None:
        """Timings and tokens, if recorded."""

    @property
    def notice(self) -> str | None:
        """One line about the stored text (invalid characters were replaced), or ``None``."""

    @property
    def checks(self) -> tuple[CheckResult, ...]:
        """The run's check results on this cell (``()``: not checked)."""

    @property
    def judge(self) -> JudgeVerdict | None:
        """The LLM judge's verdict on the cell, if it was judged."""

    @property
    def rating(self) -> Rating | None:
        """The user's rating of the answer, or ``None``."""


class PastRun(Protocol):
    """A run from the history, shown read-only (``gui.storage.history.StoredRun``)."""

    @property
    def id(self) -> str:
        """The run's id."""

    @property
    def spec(self) -> RunSpec:
        """The plan that ran."""

    @property
    def created_at(self) -> float:
        """Wall-clock epoch seconds when it started."""

    @property
    def status(self) -> str:
        """``finished``, ``cancelled``, ``interrupted`` or ``running``."""

    @property
    def wall(self) -> float | None:
        """Seconds it took, if it ended."""

    @property
    def strategy(self) -> str:
        """How it ran: the live strategy's name, or ``batch`` for a batch run."""

    @property
    def models(self) -> tuple[str, ...]:
        """Column titles."""

    @property
    def cells(self) -> Sequence[PastCell]:
        """The cells that ended (an interrupted run may miss some)."""
