"""One chat as the window drives it, without Qt: send, regenerate, edit, stop, switch, store.

A :class:`ChatSession` owns the chat shown and every turn it starts (a
:class:`~gui.core.chat_turn.ChatTurn` each, driven by a task the session owns), writes every
node to the :class:`~gui.core.ports.ChatStore` it is given the moment it exists, and reports
everything through one stream of plain events: the engine's own events of each turn (cells
``r0m<i>``; :attr:`ChatTurnStarted.turn` maps them to columns), plus the chat events below. The
Chat tab subscribes to that stream through ``gui.qt.bridge`` (one signal per frame) and never
polls a turn.

Columns are independent: a follow-up may go to one column while another still answers, but a
column takes one turn at a time (:class:`ColumnBusy` says which, with the fix).
"""

from __future__ import annotations

import contextvars
import dataclasses
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from gui.core import events as ev
from gui.core.cell_context import ASKED_BEFORE
from gui.core.chat import (
    Chat,
    ChatColumn,
    ChatError,
    ChatNode,
    ImageAttachment,
    Role,
    TurnRequest,
    add_user_message,
    edit_user_message,
    new_node_id,
    regenerate,
)
from gui.core.chat_turn import ChatTurn, ColumnResult, Trimmer
from gui.core.ports import Backend, ChatStore
from gui.core.spec import Limits, ModelProfile
from gui.core.tasks import TaskOwner

__all__ = [
    "ChatAnswerAdded",
    "ChatEvent",
    "ChatHeadMoved",
    "ChatOpened",
    "ChatSession",
    "ChatTurnEnded",
    "ChatTurnStarted",
    "ChatUserMessageAdded",
    "ColumnBusy",
]

log = logging.getLogger(__name__)


class ColumnBusy(ChatError):
    """A column asked for a new turn while its answer still streams."""


class ChatEvent:
    """Base of the events a chat session adds to the engine's."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class ChatOpened(ChatEvent):
    """A chat is the one shown (new, or opened from the history)."""

    chat: Chat


@dataclass(frozen=True, slots=True)
class ChatUserMessageAdded(ChatEvent):
    """A user message joined column ``col`` (sent, or an edit starting a branch)."""

    chat_id: str
    col: int
    node: ChatNode


@dataclass(frozen=True, slots=True)
class ChatTurnStarted(ChatEvent):
    """A turn's requests go out; its engine events (cells ``r0m<i>``) follow.

    Attributes:
        turn: The turn; :meth:`ChatTurn.column_of` maps a cell id to the chat's column.
    """

    turn: ChatTurn


@dataclass(frozen=True, slots=True)
class ChatAnswerAdded(ChatEvent):
    """Column ``col``'s answer ended (done, stopped or failed) and joined its tree."""

    chat_id: str
    col: int
    node: ChatNode


@dataclass(frozen=True, slots=True)
class ChatTurnEnded(ChatEvent):
    """Every column of ``turn`` has ended; ``results`` by column."""

    turn: ChatTurn
    results: dict[int, ColumnResult]


@dataclass(frozen=True, slots=True)
class ChatHeadMoved(ChatEvent):
    """Column ``col`` shows another alternative or branch; its path ends at ``head``."""

    chat_id: str
    col: int
    head: str | None


Subscriber = Callable[[ev.Event | ChatEvent], None]


class ChatSession:
    """The chat the window shows and the turns it runs.

    Args:
        backend: The provider backend (the same one runs use).
        store: Where nodes are written (``gui.storage.chats.ChatHistory``), or ``None``.
        limits: The limits of every turn (:meth:`set_limits` changes them for later turns).
        trim: The provider layer's trimmer, used for columns whose profile states a context
            window when :attr:`trim_to_fit` is on.
    """

    def __init__(
        self,
        backend: Backend,
        store: ChatStore | None = None,
        *,
        limits: Limits | None = None,
        trim: Trimmer | None = None,
    ) -> None:
        self._backend = backend
        self._store = store
        self.limits = limits or Limits()
        self._trim = trim
        #: Whether turns trim each column's thread to its context window.
        self.trim_to_fit = False
        self.chat: Chat | None = None
        self._subscribers: list[Subscriber] = []
        self._tasks = TaskOwner()
        #: The running turn of each busy column.
        self._running: dict[int, ChatTurn] = {}

    # ------------------------------------------------------------------ events

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback`` for every engine and chat event; returns an unsubscribe."""
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            if callback in self._subscribers:
                self._subscribers.remove(callback)

        return unsubscribe

    def _emit(self, event: ev.Event | ChatEvent) -> None:
        for callback in tuple(self._subscribers):
            try:
                callback(event)
            except Exception:
                log.exception("chat subscriber %r failed on %s", callback, type(event).__name__)

    # ------------------------------------------------------------------ chats

    def new_chat(self, profiles: Sequence[ModelProfile], *, system: str | None = None) -> Chat:
        """Start a new chat with one column per profile (a profile may repeat).

        Raises:
            ChatError: no profiles or a bad one (``SpecError`` for a bad profile).
            ColumnBusy: a turn of the current chat still runs.
        """
        self._check_idle()
        chat = Chat.new(profiles, system=system)
        self.open(chat)
        return chat

    def open(self, chat: Chat) -> None:
        """Show ``chat`` (e.g. read back from the history); later turns continue it.

        Raises:
            ColumnBusy: a turn of the current chat still runs.
        """
        self._check_idle()
        self.chat = chat
        if self._store is not None:
            self._store.save_chat(chat)
        self._emit(ChatOpened(chat))

    @property
    def busy_columns(self) -> frozenset[int]:
        """Columns whose answer is still coming."""
        return frozenset(self._running)

    # ------------------------------------------------------------------ turns

    def send(
        self,
        text: str,
        *,
        images: Sequence[ImageAttachment] = (),
        columns: Iterable[int] | None = None,
    ) -> ChatTurn:
        """Send the user's message to ``columns`` (default: every column) and start the turn.

        Raises:
            ChatError: no chat, an empty message, images for a column without vision, or a
                column still answering (:class:`ColumnBusy`).
        """
        chat = self._need_chat()
        cols = chat.all_columns(columns)
        self._check_free(cols)
        requests = add_user_message(chat, text, images=images, columns=cols)
        return self._start(chat, requests, announce=True)

    def regenerate(self, col: int) -> ChatTurn:
        """Another answer from column ``col`` to its last question (the old one is kept).

        Raises:
            ChatError: nothing to regenerate, or the column still answers.
        """
        chat = self._need_chat()
        self._check_free([col])
        request = regenerate(chat, col)
        self._emit(ChatHeadMoved(chat.id, col, chat.columns[col].head))
        column = chat.columns[col]
        before = sum(
            1
            for node in column.nodes.values()
            if node.parent == request.user_node and node.role is Role.ASSISTANT
        )
        # The turn's tasks copy this context: the request says it is the question's next
        # answer, so a model drawing per sample (the simulated one) answers anew.
        context = contextvars.copy_context()
        context.run(ASKED_BEFORE.set, before)
        return context.run(self._start, chat, [request], announce=False)

    def edit(
        self,
        col: int,
        node_id: str,
        text: str,
        *,
        images: Sequence[ImageAttachment] | None = None,
    ) -> ChatTurn:
        """Edit an earlier user message of column ``col``: a new branch, answered at once.

        Raises:
            ChatError: not a user message, an empty message, or the column still answers.
        """
        chat = self._need_chat()
        self._check_free([col])
        request = edit_user_message(chat, col, node_id, text, images=images)
        return self._start(chat, [request], announce=True)

    def stop(self, col: int | None = None) -> None:
        """Stop one column's answer (``col``) or every running one; partial text is kept."""
        if col is not None:
            turn = self._running.get(col)
            if turn is not None:
                turn.stop(col)
            return
        for turn in set(self._running.values()):
            turn.stop()

    def switch(self, col: int, node_id: str, step: int) -> str | None:
        """Show the alternative (or branch) ``step`` places from ``node_id`` in column ``col``.

        Raises:
            ColumnBusy: the column is answering (its head is where the answer will land).
        """
        chat = self._need_chat()
        self._check_free([col])
        head = chat.columns[col].switch(node_id, step)
        if self._store is not None:
            self._store.save_chat(chat)
        self._emit(ChatHeadMoved(chat.id, col, head))
        return head

    def set_system(self, text: str | None, col: int | None = None) -> None:
        """Set the chat's system message (``col`` ``None``) or column ``col``'s own; empty
        or ``None`` clears it (a column then sends the chat's). Later turns send it.

        Raises:
            ChatError: no chat, or no such column.
        """
        chat = self._need_chat()
        value = (text or "").strip() or None
        if col is None:
            chat.system = value
        else:
            (col,) = chat.all_columns([col])
            chat.columns[col].system = value
        if self._store is not None:
            self._store.save_chat(chat)

    def duplicate_column(self, col: int, *, temperature: float | None = None) -> int:
        """Add a copy of column ``col`` at the end: the same model (with ``temperature`` when
        given, else a plain repeat) and the same tree, under fresh node ids. Returns its index.

        Raises:
            ChatError: no chat, or no such column.
            ColumnBusy: a turn still runs (the copy would miss the answer under way).
        """
        chat = self._need_chat()
        self._check_idle()
        (col,) = chat.all_columns([col])
        source = chat.columns[col]
        profile = source.profile
        if temperature is not None:
            profile = dataclasses.replace(profile, temperature=temperature)
            profile.validate()
        ids = {old: new_node_id() for old in source.nodes}
        copy = ChatColumn(profile, source.system)
        for node in source.nodes.values():
            parent = ids[node.parent] if node.parent is not None else None
            copy.add(dataclasses.replace(node, id=ids[node.id], parent=parent), move_head=False)
        copy.head = ids[source.head] if source.head is not None else None
        chat.columns.append(copy)
        index = len(chat.columns) - 1
        if self._store is not None:
            self._store.save_chat(chat)
            for node in copy.nodes.values():
                self._store.save_node(chat, index, node)
        self._emit(ChatOpened(chat))  # the window redraws the columns
        return index

    async def wait_idle(self) -> None:
        """Wait until every turn started so far (and started meanwhile) has ended."""
        await self._tasks.wait_idle()

    async def aclose(self) -> None:
        """Stop every turn and wait for them (their partial answers are stored)."""
        self.stop()
        await self._tasks.wait_idle()

    def set_limits(self, **changes: object) -> Limits:
        """Change the limits of turns started from now on.

        Raises:
            SpecError: a value out of its range.
        """
        self.limits = self.limits.changed(**changes)
        return self.limits

    # ------------------------------------------------------------------ internals

    def _need_chat(self) -> Chat:
        if self.chat is None:
            raise ChatError("No chat is open: pick the models and start one.")
        return self.chat

    def _check_free(self, cols: Iterable[int]) -> None:
        chat = self._need_chat()
        for col in cols:
            if col in self._running:
                raise ColumnBusy(
                    f"Column {col + 1} ({chat.column_title(col)}) is still answering: "
                    "wait for it, or stop it (Esc)."
                )

    def _check_idle(self) -> None:
        if self._running:
            raise ColumnBusy("A chat turn is still running: stop it (Esc) first.")

    def _start(self, chat: Chat, requests: Sequence[TurnRequest], *, announce: bool) -> ChatTurn:
        store = self._store
        if store is not None:
            store.save_chat(chat)
        if announce:
            for r in requests:
                node = chat.columns[r.col].nodes[r.user_node]
                if store is not None:
                    store.save_node(chat, r.col, node)
                self._emit(ChatUserMessageAdded(chat.id, r.col, node))
        listeners = [store.save_node] if store is not None else []
        turn = ChatTurn(
            chat,
            requests,
            self._backend,
            limits=self.limits,
            on_answer=[*listeners, self._on_turn_answer],
            trim=self._trim if self.trim_to_fit else None,
        )
        turn.subscribe(self._emit)
        for r in requests:
            self._running[r.col] = turn
        self._emit(ChatTurnStarted(turn))
        self._tasks.spawn(self._drive(turn), f"fanout-chat-turn:{turn.run.id}", group="chat")
        return turn

    def _on_turn_answer(self, chat: Chat, col: int, node: ChatNode) -> None:
        self._running.pop(col, None)
        self._emit(ChatAnswerAdded(chat.id, col, node))

    async def _drive(self, turn: ChatTurn) -> None:
        try:
            results = await turn.wait()
        finally:
            # A turn that ended without an answer for a column (it cannot, but a bug must not
            # leave the column busy for good) frees it here.
            for r in turn.requests:
                if self._running.get(r.col) is turn:
                    del self._running[r.col]
        if self._store is not None:
            self._store.save_chat(turn.chat)  # every column's head, as the turn left it
        self._emit(ChatTurnEnded(turn, results))
