"""Chats in the history: every node written as it exists, read back with branches; v4 -> v5."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from gui.core.chat import (
    Chat,
    NodeStatus,
    TurnRequest,
    add_answer,
    add_user_message,
    edit_user_message,
    image_attachment,
    regenerate,
    thread_messages,
)
from gui.core.spec import ModelProfile
from gui.storage import schema
from gui.storage.chat_export import save_chat as save_chat_file
from gui.storage.chats import ChatHistory
from gui.storage.history import History
from tests.core.test_chat import png


def test_a_chat_reads_back_with_every_branch_and_alternative(tmp_path: Path) -> None:
    chat = Chat.new(
        [ModelProfile(model="a", vision=True), ModelProfile(model="a", temperature=1.2)],
        system="Be brief.",
    )
    image = image_attachment("dot.png", png(4, 4))
    with History.open(tmp_path / "h.sqlite3") as history:
        chats = ChatHistory(history)
        chats.save_chat(chat)
        requests = add_user_message(chat, "Describe rivers", images=[image], columns=[0])
        requests += add_user_message(chat, "Describe rivers", columns=[1])
        for r in requests:
            chats.save_node(chat, r.col, chat.columns[r.col].nodes[r.user_node])
            chats.save_node(chat, r.col, add_answer(chat, r, f"rivers {r.col}"))
        again = regenerate(chat, 0)
        chats.save_node(chat, 0, add_answer(chat, again, "rivers again", status=NodeStatus.STOPPED))
        edited = edit_user_message(chat, 1, requests[1].user_node, "Describe lakes")
        chats.save_node(chat, 1, chat.columns[1].nodes[edited.user_node])
        chats.save_chat(chat)
        assert chats.flush()
        back = chats.get(chat.id)
    assert back is not None
    assert (back.title, back.system) == ("Describe rivers", "Be brief.")
    assert [c.profile for c in back.columns] == [c.profile for c in chat.columns]
    for col in range(2):
        assert back.columns[col].head == chat.columns[col].head
        assert list(back.columns[col].nodes) == list(chat.columns[col].nodes)
        assert thread_messages(back, col) == thread_messages(chat, col)
    (stopped,) = [n for n in back.columns[0].nodes.values() if n.status is NodeStatus.STOPPED]
    assert back.columns[0].siblings(stopped.id) == (2, 2)
    assert back.columns[0].path()[0].images == (image,)


def test_an_image_sent_to_several_columns_is_stored_once(tmp_path: Path) -> None:
    chat = Chat.new([ModelProfile(model=f"m{i}", vision=True) for i in range(4)])
    image = image_attachment("big.png", png(64, 64))
    db = tmp_path / "h.sqlite3"
    with History.open(db) as history:
        chats = ChatHistory(history)
        chats.save_chat(chat)
        for r in add_user_message(chat, "Look", images=[image]):
            chats.save_node(chat, r.col, chat.columns[r.col].nodes[r.user_node])
        assert chats.flush()
        back = chats.get(chat.id)
    assert back is not None
    assert all(c.path()[0].images == (image,) for c in back.columns)
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*), SUM(LENGTH(data)) FROM chat_images").fetchone() == (
            1,
            len(image.data),
        )


def test_chats_are_listed_newest_first_and_searched_by_their_text(tmp_path: Path) -> None:
    with History.open(tmp_path / "h.sqlite3") as history:
        chats = ChatHistory(history)
        made = []
        for n, word in enumerate(("volcanoes", "glaciers")):
            chat = Chat.new([ModelProfile(model="sim-1")])
            chat.created_at = chat.updated_at = 1000.0 + n
            chats.save_chat(chat)
            (r,) = add_user_message(chat, f"Tell me about {word}")
            chat.updated_at = 1000.0 + n
            chats.save_node(chat, 0, chat.columns[0].nodes[r.user_node])
            chats.save_node(chat, 0, add_answer(chat, r, f"Answer with magma {n}"))
            made.append(chat)
        assert chats.flush()
        listed = chats.list()
        assert [c.id for c in listed] == [made[1].id, made[0].id]
        assert listed[0].models == ("sim-1",) and listed[0].messages == 1
        assert [c.id for c in chats.list("GLACIERS")] == [made[1].id]
        assert [c.id for c in chats.list("magma 0")] == [made[0].id]
        assert chats.get("chat-nonexistent") is None


def test_the_listed_turns_are_the_shown_branch_s_and_the_branches_are_counted(
    tmp_path: Path,
) -> None:
    chat = Chat.new([ModelProfile(model="sim-1")])
    with History.open(tmp_path / "h.sqlite3") as history:
        chats = ChatHistory(history)
        chats.save_chat(chat)

        def answered(requests: list[TurnRequest], text: str) -> None:
            for r in requests:
                chats.save_node(chat, r.col, chat.columns[r.col].nodes[r.user_node])
                chats.save_node(chat, r.col, add_answer(chat, r, text))

        answered(add_user_message(chat, "one"), "1")
        second = add_user_message(chat, "two")
        answered(second, "2")
        answered(add_user_message(chat, "three"), "3")
        chats.save_chat(chat)
        assert chats.flush()
        assert (chats.list()[0].messages, chats.list()[0].branches) == (3, 1)

        # Edit "two": the shown branch is "one", "two (edited)"; "three" is on the other one.
        answered([edit_user_message(chat, 0, second[0].user_node, "two, edited")], "2b")
        chats.save_chat(chat)
        assert chats.flush()
        (listed,) = chats.list()
        assert (listed.messages, listed.branches) == (2, 2)

        # An alternative answer is no branch; a message after it continues the shown one.
        answered([regenerate(chat, 0)], "2c")
        chats.save_chat(chat)
        assert chats.flush()
        assert (chats.list()[0].messages, chats.list()[0].branches) == (2, 2)
        answered(add_user_message(chat, "four"), "4")
        chats.save_chat(chat)
        assert chats.flush()
        (listed,) = chats.list()
    assert (listed.messages, listed.branches) == (3, 2)
    assert len(thread_messages(chat, 0)) == 6


def test_deleting_a_chat_removes_its_columns_nodes_and_images_only(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite3"
    image = image_attachment("dot.png", png(3, 3))
    with History.open(db) as history:
        chats = ChatHistory(history)
        kept, gone = (Chat.new([ModelProfile(model="m", vision=True)]) for _ in range(2))
        for chat in (kept, gone):
            chats.save_chat(chat)
            (r,) = add_user_message(chat, "Look", images=[image])
            chats.save_node(chat, 0, chat.columns[0].nodes[r.user_node])
            chats.save_node(chat, 0, add_answer(chat, r, "A dot"))
        assert chats.flush()
        assert chats.delete(gone.id) is True
        assert chats.delete(gone.id) is False  # already gone
        assert chats.get(gone.id) is None and [c.id for c in chats.list()] == [kept.id]
        back = chats.get(kept.id)
        assert back is not None and back.columns[0].path()[0].images == (image,)
    with sqlite3.connect(db) as conn:
        for table in ("chat_columns", "chat_nodes", "chat_images"):
            ids = {r[0] for r in conn.execute(f"SELECT chat_id FROM {table}")}
            assert ids == {kept.id}, table


def test_a_version_4_history_keeps_its_runs_and_gains_the_chat_tables(tmp_path: Path) -> None:
    db = tmp_path / "history.sqlite3"
    with History.open(db):
        pass
    with sqlite3.connect(db) as conn:  # back to the version-4 layout, as main left it
        for table in ("batches", "chat_images", "chat_nodes", "chat_columns", "chats"):
            conn.execute(f"DROP TABLE {table}")
        conn.execute(
            "INSERT INTO runs (id, created_at, status, template, strategy, spec_json) "
            "VALUES ('old-run', 1.0, 'finished', 't', 'stream', '{}')"
        )
        conn.execute("PRAGMA user_version = 4")
    with History.open(db) as history:
        assert history.resolve_id("old-run") == "old-run"
        chats = ChatHistory(history)
        chat = Chat.new([ModelProfile()])
        chats.save_chat(chat)
        assert chats.flush()
        assert chats.get(chat.id) is not None
    with sqlite3.connect(db) as conn:
        assert schema.user_version(conn) == schema.SCHEMA_VERSION
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


@pytest.mark.parametrize("fmt", ["json", "md", "md-table"])
def test_a_chat_exported_from_memory_holds_no_secret_and_no_lone_surrogate(
    tmp_path: Path, fmt: str
) -> None:
    # The window exports the chat it holds, not the stored (masked, cleaned) copy: the export
    # masks and cleans too (issue 10 §2-§3).
    profile = ModelProfile(model="a", base_url="https://team:hunter2-pass@llm.example.com/v1")
    chat = Chat.new([profile], system="Be brief.")
    (request,) = add_user_message(chat, "my key is Bearer sk-live-0123456789abcdef")
    add_answer(chat, request, "Echo: Bearer sk-live-0123456789abcdef, half \ud800 answer")
    target = save_chat_file(chat, fmt, tmp_path / f"chat.{fmt}")
    text = target.read_text(encoding="utf-8")
    assert "sk-live-0123456789abcdef" not in text and "hunter2-pass" not in text
    assert "\ufffd" in text
