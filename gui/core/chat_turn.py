"""One turn of a chat through the run engine: every column answers at once, each streaming.

A turn is a :class:`~gui.core.runner.Run` whose cells are the turn's columns (one row, ``{}``),
and whose spec carries, per column, the whole message list it sends
(:attr:`gui.core.spec.RunSpec.threads`) instead of a template. That is the smallest honest
extension of the engine: the same limiter, rate limiter, timeouts, retries, cancellation,
metrics and events as any run (the provider builds the column's chain from its messages with
``Backend.thread_chain``); nothing chat-specific runs per token. The window subscribes to
:meth:`ChatTurn.subscribe` exactly as to a run (cell ``r0m<i>`` is the turn's ``i``-th
request: :meth:`ChatTurn.column_of` maps it to the chat's column).

When a column's cell ends (done, failed or stopped by the user) its answer joins that
column's tree at once (:func:`gui.core.chat.add_answer`), partial text kept and marked, and
every ``on_answer`` listener hears it (the history writes it then). Stopping one column
cancels only its cell; the others keep streaming.

A turn may trim what a column sends to fit its model's context window (``trim``: the
provider layer's ``gui.providers.threads.trim_thread``, passed in because the core imports no
LangChain): the oldest turns are left out of the request, the system message and the newest
turns kept; the tree itself keeps every turn.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from gui.core import events as ev
from gui.core.chat import (
    Chat,
    ChatNode,
    Message,
    NodeStatus,
    TurnRequest,
    add_answer,
    thread_messages,
    trim_budget,
)
from gui.core.metrics import RunSummary
from gui.core.ports import Backend
from gui.core.runner import Run
from gui.core.spec import CellId, Limits, RunSpec, Strategy

log = logging.getLogger(__name__)

#: Called with the chat, the column and the node when an answer joins a column's tree.
AnswerListener = Callable[[Chat, int, ChatNode], None]
#: Cuts a message list to a token budget (``gui.providers.threads.trim_thread``).
Trimmer = Callable[[Sequence[Message], int], list[Message]]


@dataclass(frozen=True, slots=True)
class ColumnResult:
    """How one column's part of a turn ended.

    Attributes:
        col: The chat's column.
        node: The answer node added to the column's tree.
    """

    col: int
    node: ChatNode


class ChatTurn:
    """The answers of some columns of a chat to their pending user messages.

    Args:
        chat: The chat; answers are added to it as they end.
        requests: Which user message each column answers (from
            :func:`~gui.core.chat.add_user_message`, ``edit_user_message`` or ``regenerate``).
        backend: The provider backend.
        limits: The same limits a run has.
        strategy: ``stream`` (default) streams each answer; ``ainvoke`` waits for whole ones.
        on_answer: Listeners called as each answer joins its column (e.g. the history).
        trim: When given, each column whose profile states a context window sends only the
            newest turns that fit it (see :func:`gui.core.chat.trim_budget`).
    """

    def __init__(
        self,
        chat: Chat,
        requests: Sequence[TurnRequest],
        backend: Backend,
        *,
        limits: Limits | None = None,
        strategy: Strategy = Strategy.STREAM,
        on_answer: Sequence[AnswerListener] = (),
        trim: Trimmer | None = None,
    ) -> None:
        if not requests:
            raise ValueError("a turn needs at least one column")
        self.chat = chat
        self.requests = tuple(requests)
        #: Messages left out of each column's request by trimming (absent: none).
        self.trimmed: dict[int, int] = {}
        threads = tuple(tuple(self._thread(r, trim)) for r in self.requests)
        spec = RunSpec(
            template="",
            rows=({},),
            models=tuple(chat.columns[r.col].profile for r in self.requests),
            strategy=strategy,
            limits=limits or Limits(),
            threads=threads,
        )
        spec.validate()
        self.run = Run(spec, backend)
        self._listeners = list(on_answer)
        #: Answers added so far, by the chat's column.
        self.results: dict[int, ColumnResult] = {}
        self._hooked = False

    # ------------------------------------------------------------------ public API

    def subscribe(self, callback: Callable[[ev.Event], None]) -> Callable[[], None]:
        """The turn's engine events (as a run's); returns an unsubscribe."""
        return self.run.subscribe(callback)

    def cell_id(self, col: int) -> str:
        """The engine's cell id of the chat's column ``col`` in this turn.

        Raises:
            KeyError: the column is not part of this turn.
        """
        for index, request in enumerate(self.requests):
            if request.col == col:
                return CellId.text(0, index)
        raise KeyError(col)

    def column_of(self, cell_id: str) -> int:
        """The chat's column a cell of this turn belongs to."""
        return self.requests[CellId.parse(cell_id).col].col

    def start(self) -> asyncio.Task[RunSummary]:
        """Start every column's request on the running loop."""
        self._hook()
        return self.run.start()

    async def wait(self) -> dict[int, ColumnResult]:
        """Wait for every column to end (starting the turn if needed); answers by column."""
        self._hook()
        await self.run.wait()
        return dict(self.results)

    def stop(self, col: int | None = None) -> None:
        """Stop one column (``col``) or all; a stopped answer keeps its partial text."""
        if col is None:
            self.run.cancel()
        else:
            self.run.cancel_cell(self.cell_id(col))

    def messages(self, col: int) -> list[tuple[str, str]]:
        """The messages column ``col`` sent in this turn, as text (for display)."""
        return self.run.spec.messages(self.cell_id(col))

    # ------------------------------------------------------------------ internals

    def _hook(self) -> None:
        """Hear the run's events after every subscriber so far: a cell's end event reaches
        the window before the answer's node joins the tree (and the listeners hear of it)."""
        if not self._hooked:
            self._hooked = True
            self.run.subscribe(self._on_run_event)

    def _thread(self, request: TurnRequest, trim: Trimmer | None) -> list[Message]:
        messages = thread_messages(self.chat, request.col, request.user_node)
        budget = trim_budget(self.chat.columns[request.col].profile)
        if trim is None or budget is None:
            return messages
        kept = trim(messages, budget)
        if not kept or kept[-1] != messages[-1]:
            # Even the new message alone is over the budget: send it anyway (with the system
            # message), and let the server say if it is too long.
            kept = [m for m in messages[:1] if m[0] == "system"] + [messages[-1]]
        if len(kept) < len(messages):
            self.trimmed[request.col] = len(messages) - len(kept)
        return kept

    def _on_run_event(self, event: ev.Event) -> None:
        if isinstance(event, ev.CellFinished):
            self._answered(event.cell_id, event.text, NodeStatus.DONE, None, event)
        elif isinstance(event, ev.CellFailed):
            self._answered(
                event.cell_id, event.partial_text, NodeStatus.FAILED, event.message, event
            )
        elif isinstance(event, ev.CellCancelled):
            self._answered(
                event.cell_id, event.partial_text, NodeStatus.STOPPED, event.reason, event
            )

    def _answered(
        self,
        cell_id: str,
        text: str,
        status: NodeStatus,
        error: str | None,
        event: ev.CellFinished | ev.CellFailed | ev.CellCancelled,
    ) -> None:
        request = self.requests[CellId.parse(cell_id).col]
        node = add_answer(
            self.chat, request, text, status=status, error=error, metrics=event.metrics
        )
        self.results[request.col] = ColumnResult(request.col, node)
        for listener in tuple(self._listeners):
            try:
                listener(self.chat, request.col, node)
            except Exception:
                log.exception("chat answer listener %r failed", listener)
