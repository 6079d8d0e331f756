"""Chat turns through the engine: per-column context at the server, stop one column, images, trim."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any, cast

import pytest
from langchain_core.prompts import ChatPromptTemplate

from gui.core import events as ev
from gui.core.chat import (
    Chat,
    NodeStatus,
    add_answer,
    add_user_message,
    edit_user_message,
    image_attachment,
    regenerate,
    thread_messages,
)
from gui.core.chat_turn import ChatTurn
from gui.core.spec import Limits, ModelProfile, ProviderKind, SimSettings
from gui.providers.backend import LangChainBackend
from gui.providers.threads import trim_thread
from tests.core.test_chat import png
from tests.support.openai_server import Behavior, FakeOpenAIServer
from tests.support.waiting import until

FAST = SimSettings(ttft=0.0, tokens_per_second=0.0, output_tokens=12, jitter=0.0, seed=1)
LIMITS = Limits(retries=0, ttft_timeout=60, idle_timeout=60)


@pytest.fixture
def srv() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(models=["fake-1", "fake-2"], tokens=6) as server:
        yield server


def served(srv: FakeOpenAIServer, model: str) -> ModelProfile:
    return ModelProfile(model=model, provider=ProviderKind.OPENAI, base_url=srv.base_url)


async def turn(chat: Chat, requests: list, backend: LangChainBackend) -> dict:
    return await ChatTurn(chat, requests, backend, limits=LIMITS).wait()


async def test_the_second_turn_carries_exactly_each_columns_own_answer(
    srv: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    chat = Chat.new([served(srv, "fake-1"), served(srv, "fake-2")], system="Be brief.")
    backend = LangChainBackend()
    try:
        first = await turn(chat, add_user_message(chat, "Name a colour"), backend)
        assert {r.node.status for r in first.values()} == {NodeStatus.DONE}
        srv.reset_stats()
        await turn(chat, add_user_message(chat, "Why that one?"), backend)
    finally:
        await backend.aclose()
    by_model = {r.model: r.messages for r in srv.requests}
    for col, model in enumerate(("fake-1", "fake-2")):
        own = first[col].node.text
        assert by_model[model] == [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Name a colour"},
            {"role": "assistant", "content": own},
            {"role": "user", "content": "Why that one?"},
        ]
    assert first[0].node.text != first[1].node.text  # each saw its own, not the other's


async def test_a_thread_is_sent_as_built_the_same_messages_its_formatted_prompt_sends(
    srv: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    chat = Chat.new([served(srv, "fake-1")], system='Reply as {json}: {"a": 1}')
    for n in range(3):
        for r in add_user_message(chat, f"Turn {n}: fill {{name}} and {{{{x}}}}"):
            add_answer(chat, r, f"Answer {n} with {{braces}} }} {{ and {{{{more}}}}")
    add_user_message(chat, "Last {question}?")
    messages = thread_messages(chat, 0)
    formatted = 0
    real = ChatPromptTemplate.ainvoke

    async def counted(self: ChatPromptTemplate, *args: Any, **kwargs: Any) -> Any:
        nonlocal formatted
        formatted += 1
        return await real(self, *args, **kwargs)

    monkeypatch.setattr(ChatPromptTemplate, "ainvoke", counted)
    backend = LangChainBackend()
    try:
        chain = backend.thread_chain(messages, chat.columns[0].profile)
        assert [t async for t in chain.astream({})]
        assert formatted == 0  # streamed as built: no prompt formatted on the loop
        as_built = srv.requests[-1].messages
        srv.reset_stats()
        assert [t async for t in cast(Any, chain).lcel.astream({})]  # the prompt formatted
        assert formatted == 1
        as_formatted = srv.requests[-1].messages
    finally:
        await backend.aclose()
    assert as_built == as_formatted == [{"role": r, "content": c} for r, c in messages]
    assert len(as_built) == 8 and "{{more}}" in as_built[6]["content"]


async def test_regenerate_and_edit_send_the_right_message_lists(
    srv: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    chat = Chat.new([served(srv, "fake-1")])
    backend = LangChainBackend()
    try:
        first = await turn(chat, add_user_message(chat, "Q1"), backend)
        await turn(chat, add_user_message(chat, "Q2"), backend)
        srv.reset_stats()
        await turn(chat, [regenerate(chat, 0)], backend)
        regenerated = srv.requests[0].messages
        user_q1 = chat.columns[0].path()[0].id
        srv.reset_stats()
        await turn(chat, [edit_user_message(chat, 0, user_q1, "Q1 again")], backend)
        edited = srv.requests[0].messages
    finally:
        await backend.aclose()
    assert [m["content"] for m in regenerated] == ["Q1", first[0].node.text, "Q2"]
    assert [m["content"] for m in edited] == ["Q1 again"]
    column = chat.columns[0]
    assert len(column.nodes) == 7  # Q1 A1 Q2 A2 A2' Q1' A1'': nothing deleted


async def test_a_server_error_fails_one_column_and_leaves_the_other_and_the_thread(
    srv: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    srv.behave(
        lambda info: (
            Behavior(status=500, error_message="model overloaded")
            if info.model == "fake-2"
            else None
        )
    )
    chat = Chat.new([served(srv, "fake-1"), served(srv, "fake-2")])
    backend = LangChainBackend()
    try:
        results = await turn(chat, add_user_message(chat, "Hi"), backend)
    finally:
        await backend.aclose()
    assert results[0].node.status is NodeStatus.DONE
    failed = results[1].node
    assert failed.status is NodeStatus.FAILED and "overloaded" in (failed.error or "")
    # The failed column's thread still holds the question; the next turn can go on.
    add_user_message(chat, "Again")
    assert [n.text for n in chat.columns[1].path()] == ["Hi", "", "Again"]


async def test_stopping_one_column_leaves_the_others_streaming() -> None:
    slow = SimSettings(ttft=0.0, tokens_per_second=40.0, output_tokens=400, jitter=0.0, seed=2)
    chat = Chat.new([ModelProfile(model="sim-a", sim=slow), ModelProfile(model="sim-b", sim=slow)])
    backend = LangChainBackend()
    chunks: dict[str, int] = {}
    turn_ = ChatTurn(chat, add_user_message(chat, "Tell me about rivers"), backend, limits=LIMITS)

    def count(event: ev.Event) -> None:
        if isinstance(event, ev.TextChunk):
            chunks[event.cell_id] = chunks.get(event.cell_id, 0) + 1

    turn_.subscribe(count)
    turn_.start()
    await until(lambda: chunks.get("r0m0", 0) >= 3 and chunks.get("r0m1", 0) >= 3)
    turn_.stop(0)
    await until(lambda: 0 in turn_.results)
    at_stop = chunks["r0m1"]
    await until(lambda: chunks["r0m1"] >= at_stop + 5)  # column 2 still streams
    assert 1 not in turn_.results
    turn_.stop()
    results = await turn_.wait()
    stopped = results[0].node
    assert stopped.status is NodeStatus.STOPPED and stopped.text  # partial text kept
    assert chat.columns[0].head == stopped.id


async def test_the_simulated_model_answers_with_the_turn_and_the_image() -> None:
    eyes = ModelProfile(model="sim-eyes", sim=FAST, vision=True)
    chat = Chat.new([eyes])
    backend = LangChainBackend()
    await turn(chat, add_user_message(chat, "Hello there"), backend)
    image = image_attachment("dot.png", png(7, 5))
    results = await turn(chat, add_user_message(chat, "What is this?", images=[image]), backend)
    text = results[0].node.text
    assert text.startswith('Turn 2: you said "What is this?".')
    assert f"I see a PNG image, 7x5 pixels, {len(image.data):,} bytes." in text


async def test_image_parts_reach_a_vision_profile_at_the_server(
    srv: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    profile = ModelProfile(
        model="fake-1", provider=ProviderKind.OPENAI, base_url=srv.base_url, vision=True
    )
    chat = Chat.new([profile])
    backend = LangChainBackend()
    image = image_attachment("dot.png", png(3, 3))
    try:
        await turn(chat, add_user_message(chat, "Look", images=[image]), backend)
    finally:
        await backend.aclose()
    (content,) = [m["content"] for m in srv.requests[0].messages]
    assert content[0] == {"type": "text", "text": "Look"}
    assert content[1]["type"] == "image_url"
    assert content[1]["image_url"]["url"] == image.data_url()


def test_trim_keeps_the_system_message_and_the_newest_turns() -> None:
    thread = [("system", "S" * 40)]
    for n in range(10):
        thread += [("user", f"question {n} " + "q" * 30), ("assistant", f"answer {n} " + "a" * 30)]
    thread.append(("user", "last question"))
    kept = trim_thread(thread, max_tokens=60)
    assert kept[0] == ("system", "S" * 40)
    assert kept[-1] == ("user", "last question")
    assert kept[1][0] == "user"  # never opens on an answer whose question was cut
    assert len(kept) < len(thread)
    assert kept[1:] == thread[len(thread) - len(kept) + 1 :]  # the newest, in order


async def test_a_turn_obeys_the_runs_limit_across_columns() -> None:
    paced = SimSettings(ttft=0.05, tokens_per_second=200.0, output_tokens=20, jitter=0.0)
    chat = Chat.new([ModelProfile(model=f"sim-{i}", sim=paced) for i in range(4)])
    turn_ = ChatTurn(
        chat, add_user_message(chat, "hi"), LangChainBackend(), limits=Limits(max_concurrency=2)
    )
    await turn_.wait()
    assert turn_.run.peak_in_flight <= 2
    assert len(turn_.results) == 4
    await asyncio.sleep(0)


async def test_a_trimmed_turn_sends_the_system_message_and_the_newest_turns(
    srv: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    small = ModelProfile(
        model="fake-1",
        provider=ProviderKind.OPENAI,
        base_url=srv.base_url,
        context_window=120,
        max_tokens=20,
    )
    chat = Chat.new([small], system="Be brief.")
    for n in range(6):
        (request,) = add_user_message(chat, f"question {n} " + "q" * 60)
        add_answer(chat, request, f"answer {n} " + "a" * 60)
    backend = LangChainBackend()
    try:
        turn_ = ChatTurn(
            chat, add_user_message(chat, "last one"), backend, limits=LIMITS, trim=trim_thread
        )
        await turn_.wait()
    finally:
        await backend.aclose()
    sent = [(m["role"], m["content"]) for m in srv.requests[0].messages]
    assert sent[0] == ("system", "Be brief.") and sent[-1] == ("user", "last one")
    assert sent[1][0] == "user" and 3 <= len(sent) < 14
    assert turn_.trimmed[0] == 14 - len(sent)
    assert len(chat.columns[0].nodes) == 14  # the chat keeps every turn
