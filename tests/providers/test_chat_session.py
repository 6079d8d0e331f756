"""The chat session the window will drive: turns owned, events in order, nodes stored, busy columns."""

from __future__ import annotations

import pytest

from gui.core import events as ev
from gui.core.chat import Chat, ChatNode, NodeStatus, Role
from gui.core.chat_session import (
    ChatAnswerAdded,
    ChatEvent,
    ChatHeadMoved,
    ChatSession,
    ChatTurnEnded,
    ColumnBusy,
)
from gui.core.spec import ModelProfile, SimSettings
from gui.providers.backend import LangChainBackend
from tests.support.waiting import until

FAST = SimSettings(ttft=0.0, tokens_per_second=0.0, output_tokens=8, jitter=0.0, seed=3)
SLOW = SimSettings(ttft=0.0, tokens_per_second=30.0, output_tokens=600, jitter=0.0, seed=4)


class MemoryStore:
    """A ChatStore that keeps what it was asked to write, in order."""

    def __init__(self) -> None:
        self.chats: list[str] = []
        self.nodes: list[tuple[int, str, NodeStatus]] = []

    def save_chat(self, chat: Chat) -> None:
        self.chats.append(chat.id)

    def save_node(self, chat: Chat, col: int, node: ChatNode) -> None:
        self.nodes.append((col, str(node.role), node.status))


async def test_a_follow_up_to_every_column_is_stored_as_it_happens() -> None:
    store = MemoryStore()
    session = ChatSession(LangChainBackend(), store)
    seen: list[ev.Event | ChatEvent] = []
    session.subscribe(seen.append)
    session.new_chat([ModelProfile(model="sim-a", sim=FAST), ModelProfile(model="sim-b", sim=FAST)])
    session.send("Tell me about owls")
    await session.wait_idle()
    session.send("And their eyes?")
    await session.wait_idle()
    users = [(0, "user", NodeStatus.DONE), (1, "user", NodeStatus.DONE)]
    answers = [(0, "assistant", NodeStatus.DONE), (1, "assistant", NodeStatus.DONE)]
    # Each turn: the questions first, then the answers in the order they ended.
    assert store.nodes[:2] == users and sorted(store.nodes[2:4]) == answers
    assert store.nodes[4:6] == users and sorted(store.nodes[6:8]) == answers
    assert len(store.nodes) == 8
    kinds = [type(e).__name__ for e in seen if isinstance(e, ChatEvent)]
    assert kinds[:5] == [
        "ChatOpened",
        "ChatUserMessageAdded",
        "ChatUserMessageAdded",
        "ChatTurnStarted",
        "ChatAnswerAdded",
    ]
    assert kinds.count("ChatTurnEnded") == 2
    # Each answer's engine end comes first, then its node joins the tree.
    ends = [e for e in seen if isinstance(e, ev.CellFinished | ChatAnswerAdded)]
    assert [type(e).__name__ for e in ends[:2]] == ["CellFinished", "ChatAnswerAdded"]
    chat = session.chat
    assert chat is not None
    for col in range(2):
        path = chat.columns[col].path()
        assert [n.role for n in path] == [Role.USER, Role.ASSISTANT] * 2
        assert path[-1].text.startswith('Turn 2: you said "And their eyes?".')


async def test_one_column_can_be_stopped_and_asked_again_while_the_other_streams() -> None:
    store = MemoryStore()
    session = ChatSession(LangChainBackend(), store)
    session.new_chat([ModelProfile(model="sim-a", sim=SLOW), ModelProfile(model="sim-b", sim=SLOW)])
    chunks: dict[str, int] = {}
    answers: list[ChatAnswerAdded] = []

    def watch(event: ev.Event | ChatEvent) -> None:
        if isinstance(event, ev.TextChunk):
            chunks[event.cell_id] = chunks.get(event.cell_id, 0) + 1
        elif isinstance(event, ChatAnswerAdded):
            answers.append(event)

    session.subscribe(watch)
    session.send("Tell me about owls")
    await until(lambda: chunks.get("r0m0", 0) >= 3)
    with pytest.raises(ColumnBusy, match=r"Column 1 \(sim-a\) is still answering"):
        session.send("too soon")
    session.stop(0)
    await until(lambda: len(answers) == 1)
    assert answers[0].col == 0 and answers[0].node.status is NodeStatus.STOPPED
    assert session.busy_columns == {1}
    follow_up = session.send("Shorter, please", columns=[0])  # column 2 still streams
    assert [r.col for r in follow_up.requests] == [0]
    assert session.busy_columns == {0, 1}
    session.stop()
    await session.wait_idle()
    assert session.busy_columns == frozenset()
    statuses = [s for col, role, s in store.nodes if role == "assistant"]
    assert statuses == [NodeStatus.STOPPED] * 3


async def test_regenerate_and_switch_move_the_head_and_store_it() -> None:
    store = MemoryStore()
    session = ChatSession(LangChainBackend(), store)
    moved: list[ChatHeadMoved] = []
    session.subscribe(lambda e: moved.append(e) if isinstance(e, ChatHeadMoved) else None)
    chat = session.new_chat([ModelProfile(model="sim-a", sim=FAST)])
    session.send("Tell me about owls")
    await session.wait_idle()
    first = chat.columns[0].head
    session.regenerate(0)
    await session.wait_idle()
    second = chat.columns[0].head
    assert second != first and chat.columns[0].siblings(second or "") == (2, 2)
    saved_before = len(store.chats)
    assert first is not None
    session.switch(0, second or "", -1)
    assert chat.columns[0].head == first and len(store.chats) == saved_before + 1
    assert [m.head for m in moved][-1] == first
    ended: list[ChatTurnEnded] = []
    session.subscribe(lambda e: ended.append(e) if isinstance(e, ChatTurnEnded) else None)
    turn = session.edit(0, chat.columns[0].path()[0].id, "Tell me about larks")
    await session.wait_idle()
    assert ended[0].turn is turn and ended[0].results[0].node.status is NodeStatus.DONE
    assert len(chat.columns[0].nodes) == 5
    assert chat.columns[0].path()[0].text == "Tell me about larks"


async def test_regenerate_asks_the_simulated_model_anew_unless_its_temperature_is_zero() -> None:
    """Regenerate sends the same messages again: like a real model above temperature 0, the
    simulated one answers a repeated question differently (as a further sample of it)."""

    async def answers(profile: ModelProfile) -> list[str]:
        session = ChatSession(LangChainBackend(), MemoryStore())
        chat = session.new_chat([profile])
        session.send("Tell me about owls")
        await session.wait_idle()
        for _ in range(3):
            session.regenerate(0)
            await session.wait_idle()
        column = chat.columns[0]
        return [n.text for n in column.nodes.values() if n.role is Role.ASSISTANT]

    sim = SimSettings(ttft=0.0, tokens_per_second=0.0, output_tokens=80, jitter=0.0)
    warm = await answers(ModelProfile(model="sim-a", sim=sim))
    assert len(warm) == 4 and len(set(warm)) > 1
    assert await answers(ModelProfile(model="sim-a", sim=sim)) == warm  # still deterministic
    cold = await answers(ModelProfile(model="sim-a", sim=sim, temperature=0.0))
    assert len(cold) == 4 and len(set(cold)) == 1
