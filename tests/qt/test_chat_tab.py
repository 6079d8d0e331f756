"""The Chat tab as a user drives it: send to all or one column, stop, regenerate, edit, reopen, images.

The page runs on the real qasync loop with the simulated model; what each column sent is read
from the turn (the exact message list the engine got), never from timings.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from PySide6.QtCore import QMimeData, Qt, QUrl
from PySide6.QtGui import QColor, QImage, QTextDocument
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot

from gui.core.chat import (
    Chat,
    NodeStatus,
    Role,
    TurnRequest,
    add_answer,
    add_user_message,
    edit_user_message,
    regenerate,
)
from gui.core.chat_session import ChatSession, ChatTurnStarted
from gui.core.chat_turn import ChatTurn
from gui.core.metrics import CellMetrics
from gui.core.spec import ModelProfile, SimSettings
from gui.providers.backend import LangChainBackend
from gui.providers.threads import trim_thread
from gui.qt.views.chat_page import ChatPage, encode_image, thread_markdown
from gui.storage.chats import ChatHistory
from gui.storage.history import History
from tests.qt.conftest import SESSION_LOOP, signal_future, until

pytestmark = SESSION_LOOP

FAST = SimSettings(ttft=0.0, tokens_per_second=0.0, output_tokens=8, jitter=0.0, seed=3)
#: Long enough to still be streaming when the test acts on it.
SLOW = SimSettings(ttft=0.0, tokens_per_second=20.0, output_tokens=2000, jitter=0.0, seed=4)


class Rig:
    """A Chat tab on its own with a stored history, and the turns it started."""

    def __init__(self, page: ChatPage, history: History) -> None:
        self.page = page
        self.history = history
        self.turns: list[ChatTurn] = []

        def on_event(event: object) -> None:
            if isinstance(event, ChatTurnStarted):
                self.turns.append(event.turn)

        page.session.subscribe(on_event)

    @property
    def chat(self) -> Chat:
        chat = self.page.session.chat
        assert chat is not None
        return chat

    async def idle(self) -> None:
        await self.page.session.wait_idle()
        self.page._bridge.flush()  # the frame that would come next, now


@pytest.fixture
def history(tmp_path: Path) -> Iterator[History]:
    with History.open(tmp_path / "h.sqlite3") as opened:
        yield opened


@pytest_asyncio.fixture(loop_scope="session")
async def rig(qtbot: QtBot, history: History) -> AsyncIterator[Rig]:
    store = ChatHistory(history)
    session = ChatSession(LangChainBackend(), store, trim=trim_thread)
    models = [ModelProfile(model="sim-a", sim=FAST), ModelProfile(model="sim-b", sim=FAST)]
    page = ChatPage(session, lambda: list(models), lambda: store)
    page.resize(1200, 700)
    page.show()
    r = Rig(page, history)
    yield r
    await session.aclose()
    await page.wait_idle()
    page.shutdown()
    page.close()
    page.deleteLater()


def _type_and_press(page: ChatPage, text: str, modifier: Qt.KeyboardModifier | None = None) -> None:
    page.box.setPlainText(text)
    mods = modifier if modifier is not None else Qt.KeyboardModifier.NoModifier
    QTest.keyClick(page.box, Qt.Key.Key_Return, mods)


def _answers(rig: Rig, col: int) -> list[str]:
    return [n.text for n in rig.chat.columns[col].path() if n.role is Role.ASSISTANT]


async def test_enter_sends_to_every_column_and_each_follow_up_carries_its_own_thread(
    rig: Rig,
) -> None:
    page = rig.page
    _type_and_press(page, "Tell me about owls")
    assert page.box.toPlainText() == ""  # sent, box emptied
    await rig.idle()
    assert len(page.columns) == 2
    first = [_answers(rig, col) for col in range(2)]
    assert all(len(a) == 1 and a[0] for a in first)
    for col, column_view in enumerate(page.columns):
        # The streamed answer reached the column's one view, under the question.
        assert first[col][0].split()[0] in column_view.view.source()
        assert "Tell me about owls" in column_view.view.source()
        assert column_view.tokens.text().endswith("tokens")
    _type_and_press(page, "And their eyes?")
    await rig.idle()
    follow_up = rig.turns[-1]
    for col in range(2):
        sent = follow_up.messages(col)
        # Exactly this column's own earlier answer, then the new question.
        assert sent == [
            ("user", "Tell me about owls"),
            ("assistant", first[col][0]),
            ("user", "And their eyes?"),
        ]
    # Shift+Enter is a new line, not a send.
    page.box.setPlainText("line one")
    QTest.keyClick(page.box, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    assert page.box.toPlainText().count("\n") == 1
    assert len(rig.turns) == 2


async def test_a_message_to_one_column_leaves_the_others_alone(rig: Rig) -> None:
    page = rig.page
    _type_and_press(page, "Hello both")
    await rig.idle()
    page.columns[1].input.setText("Only you, b")
    QTest.keyClick(page.columns[1].input, Qt.Key.Key_Return)
    await rig.idle()
    assert [r.col for r in rig.turns[-1].requests] == [1]
    assert len(_answers(rig, 0)) == 1 and len(_answers(rig, 1)) == 2
    assert "Only you, b" in page.columns[1].view.source()
    assert "Only you, b" not in page.columns[0].view.source()
    # Alt+Enter goes to the focused column (column 0 here).
    page._on_column_focused(0)
    _type_and_press(page, "Just a", Qt.KeyboardModifier.AltModifier)
    await rig.idle()
    assert [r.col for r in rig.turns[-1].requests] == [0]
    assert len(_answers(rig, 0)) == 2


async def test_stopping_one_column_leaves_the_other_streaming(rig: Rig) -> None:
    page = rig.page
    slow = [ModelProfile(model="sim-a", sim=SLOW), ModelProfile(model="sim-b", sim=SLOW)]
    assert page.new_chat(slow) is not None
    rig.page._bridge.flush()
    _type_and_press(page, "Write at length")
    rig.page._bridge.flush()  # the questions and the answers' headers are drawn: text follows
    start = [len(v.view.source()) for v in page.columns]
    await until(
        lambda: all(len(v.view.source()) > n + 20 for v, n in zip(page.columns, start, strict=True))
    )
    answering = page.columns[1]
    # While answering, Stop stands in Regenerate's place.
    assert answering.stop_button.isVisibleTo(answering)
    assert not answering.regenerate_button.isVisibleTo(answering)
    page.duplicate_column(0)  # not while answering: the copy would miss the answer
    assert "still running" in page.error.text() and len(page.columns) == 2
    page.columns[0].stop_button.click()
    await until(lambda: 0 not in page.session.busy_columns)
    assert 1 in page.session.busy_columns
    before = len(page.columns[1].view.source())
    await until(lambda: len(page.columns[1].view.source()) > before + 20)  # still streaming
    stopped = rig.chat.columns[0].path()[-1]
    assert stopped.status is NodeStatus.STOPPED and stopped.text  # partial text kept
    rig.page._bridge.flush()
    assert "[stopped" in page.columns[0].view.source()
    # Esc stops all.
    QTest.keyClick(page.box, Qt.Key.Key_Escape)
    await rig.idle()
    assert rig.chat.columns[1].path()[-1].status is NodeStatus.STOPPED


async def test_an_answer_left_inside_a_code_block_does_not_swallow_the_next_question() -> None:
    from gui.core.chat import Chat, add_answer, add_user_message

    chat = Chat.new([ModelProfile(model="sim-a")])
    [request] = add_user_message(chat, "Show code")
    add_answer(chat, request, "Here:\n```python\nx = 1\n")
    add_user_message(chat, "Thanks")
    text = thread_markdown(chat, 0)
    assert text.count("```") % 2 == 0
    assert text.index("x = 1") < text.rindex("```") < text.index("Thanks")


async def test_a_server_error_fails_that_column_only_and_the_thread_goes_on(rig: Rig) -> None:
    page = rig.page
    broken = SimSettings(
        ttft=0.0, tokens_per_second=0.0, output_tokens=8, jitter=0.0, seed=3, failure_rate=1.0
    )
    page.session.set_limits(retries=0)
    page.new_chat(
        [ModelProfile(model="sim-broken", sim=broken), ModelProfile(model="sim-b", sim=FAST)]
    )
    page._bridge.flush()
    _type_and_press(page, "Hello")
    await rig.idle()
    failed = rig.chat.columns[0].path()[-1]
    assert failed.status is NodeStatus.FAILED and failed.error
    assert "[failed: " in page.columns[0].view.source()
    assert rig.chat.columns[1].path()[-1].status is NodeStatus.DONE
    # The next message still goes to both; the failed column's thread carries its question.
    _type_and_press(page, "Again?")
    await rig.idle()
    assert rig.turns[-1].messages(1)[-1] == ("user", "Again?")


async def test_regenerate_shows_two_of_two_and_switching_goes_back(rig: Rig) -> None:
    page = rig.page
    _type_and_press(page, "Name a bird")
    await rig.idle()
    first = _answers(rig, 0)[-1]
    column = page.columns[0]
    assert column.alt_label.text() == ""
    renders = 0
    clear = column.view.clear

    def counted_clear() -> None:
        nonlocal renders
        renders += 1
        clear()

    column.view.clear = counted_clear  # type: ignore[method-assign]
    column.regenerate_button.click()
    await rig.idle()
    assert column.alt_label.text() == "2/2"
    assert "*answer* · [‹](chat:prev/" in column.view.source()  # under the new answer
    # The thread was drawn anew once, when it went back to the question; the new answer's
    # end (its 2/2 under it) was appended to what streamed, not rendered again.
    assert renders == 1
    assert thread_markdown(rig.chat, 0) == column.view.source()
    second = _answers(rig, 0)[-1]
    assert rig.turns[-1].messages(0) == [("user", "Name a bird")]  # the same question again
    assert column.prev_button.isEnabled() and not column.next_button.isEnabled()
    column.prev_button.click()
    rig.page._bridge.flush()
    assert column.alt_label.text() == "1/2"
    assert _answers(rig, 0)[-1] == first
    assert thread_markdown(rig.chat, 0) == column.view.source()
    if first != second:
        assert second not in column.view.source()
    # The next follow-up continues from the answer shown.
    column.input.setText("Why that one?")
    QTest.keyClick(column.input, Qt.Key.Key_Return)
    await rig.idle()
    assert rig.turns[-1].messages(0)[1] == ("assistant", first)


async def test_editing_an_earlier_message_makes_a_branch_that_can_be_switched(rig: Rig) -> None:
    page = rig.page
    _type_and_press(page, "Tell me about owls")
    await rig.idle()
    _type_and_press(page, "And their eyes?")
    await rig.idle()
    first_question = rig.chat.columns[0].path()[0]
    page.begin_edit(0, first_question.id)
    assert page.box.toPlainText() == "Tell me about owls"
    _type_and_press(page, "Tell me about hawks")
    await rig.idle()
    path = rig.chat.columns[0].path()
    assert [n.text for n in path if n.role is Role.USER] == ["Tell me about hawks"]
    assert rig.turns[-1].messages(0) == [("user", "Tell me about hawks")]
    assert len(rig.chat.columns[1].path()) == 4  # the other column is untouched
    source = page.columns[0].view.source()
    assert "1/2" not in source and "2/2" in source  # the branch is navigable
    new_question = path[0]
    page.columns[0].switch_requested.emit(0, new_question.id, -1)
    rig.page._bridge.flush()
    users = [n.text for n in rig.chat.columns[0].path() if n.role is Role.USER]
    assert users == ["Tell me about owls", "And their eyes?"]  # nothing was deleted
    assert "1/2" in page.columns[0].view.source()


async def test_a_stored_chat_reopens_and_continues(rig: Rig, qtbot: QtBot) -> None:
    page = rig.page
    _type_and_press(page, "Tell me about owls")
    await rig.idle()
    chat_id = rig.chat.id
    answers = [_answers(rig, col)[0] for col in range(2)]
    await page.wait_idle()  # the first turn's end lists the chat
    page.new_chat()
    await rig.idle()
    index = page.chats_box.findData(chat_id)
    assert index > 0
    page.chats_box.activated.emit(index)
    await page.wait_idle()
    await rig.idle()
    assert rig.chat.id == chat_id
    assert "Tell me about owls" in page.columns[0].view.source()
    _type_and_press(page, "And their eyes?")
    await rig.idle()
    for col in range(2):
        assert rig.turns[-1].messages(col)[1] == ("assistant", answers[col])


def _long_stored_chat(store: ChatHistory, turns: int = 12) -> Chat:
    """A stored chat of two columns whose threads are long enough to open a step per frame
    (about 48,000 characters each), column 0 with a branch (its third question edited, the
    original branch shown) and an alternative (its last answer regenerated)."""
    profiles = [ModelProfile(model="sim-a", sim=FAST), ModelProfile(model="sim-b", sim=FAST)]
    chat = Chat.new(profiles)
    store.save_chat(chat)

    def answer(request: TurnRequest, text: str) -> None:
        column = chat.columns[request.col]
        store.save_node(chat, request.col, column.nodes[request.user_node])
        store.save_node(chat, request.col, add_answer(chat, request, text))

    for turn in range(turns):
        for request in add_user_message(chat, f"question {turn} " + "why so? " * 250):
            answer(request, f"answer {turn} of {request.col} " + "*because* it is. " * 120)
    original = chat.columns[0].path()[4]
    edited = edit_user_message(chat, 0, original.id, "question 2, edited")
    answer(edited, "the edited answer")
    chat.columns[0].switch(edited.user_node, -1)  # back to the original branch
    answer(regenerate(chat, 0), "the regenerated last answer")
    store.save_chat(chat)  # the heads, where the threads got to
    return chat


async def test_a_long_chat_reopened_shows_every_turn_continues_and_keeps_its_branches(
    rig: Rig,
) -> None:
    page = rig.page
    store = ChatHistory(rig.history)
    stored = _long_stored_chat(store)
    assert store.flush(60)
    page.refresh_chats()
    await page.wait_idle()
    opened = signal_future(page.chat_opened)
    page.chats_box.activated.emit(page.chats_box.findData(stored.id))
    assert await asyncio.wait_for(opened, 60) == (stored.id,)
    chat = rig.chat
    assert len(page.columns) == 2 and all(c.isVisibleTo(page) for c in page.columns)
    # Each column's whole thread, every turn of it, once its frame has come.
    await until(
        lambda: all(
            v.view.source() == thread_markdown(chat, col) for col, v in enumerate(page.columns)
        )
    )
    for view in page.columns:
        assert all(f"question {turn} " in view.view.source() for turn in range(12))
    column = page.columns[0]
    assert column.alt_label.text() == "2/2"  # the regenerated answer, its alternative kept
    assert "the regenerated last answer" in column.view.source()
    assert " 1/2 [›](chat:next/" in column.view.source()  # the edited question's branches
    # It continues where it was: each column's next turn carries its own last answer.
    _type_and_press(page, "One more?")
    await rig.idle()
    for col in range(2):
        sent = rig.turns[-1].messages(col)
        assert sent[-1] == ("user", "One more?")
        assert sent[-2] == ("assistant", chat.columns[col].path()[-3].text)
    assert sent[-2][1].startswith("answer 11 of 1 ")
    assert rig.turns[-1].messages(0)[-2] == ("assistant", "the regenerated last answer")
    # The other branch is still there, and shown when picked.
    original = chat.columns[0].path()[4]
    column.switch_requested.emit(0, original.id, 1)
    page._bridge.flush()
    users = [n.text for n in chat.columns[0].path() if n.role is Role.USER]
    assert users == [
        "question 0 " + "why so? " * 250,
        "question 1 " + "why so? " * 250,
        "question 2, edited",
    ]
    assert column.view.source() == thread_markdown(chat, 0)
    assert "the edited answer" in column.view.source()


async def test_a_message_sent_while_a_long_chat_opens_reaches_every_column(rig: Rig) -> None:
    page = rig.page
    chat = _long_stored_chat(ChatHistory(rig.history))
    assert page.open_chat(chat)
    page._bridge.flush()  # the open drawn: its first step only, the rest a frame apart
    assert len(page.columns) == 1 and not page.columns[0].isVisibleTo(page)
    assert page.send(text="Straight away?")  # before the open's next frame
    await rig.idle()
    assert len(page.columns) == 2
    for col, view in enumerate(page.columns):
        assert view.isVisibleTo(page)
        assert view.view.source() == thread_markdown(chat, col)
        assert "Straight away?" in view.view.source()
        assert rig.turns[-1].messages(col)[-1] == ("user", "Straight away?")


async def test_near_the_context_window_the_column_warns_and_trim_drops_the_oldest_turns(
    rig: Rig,
) -> None:
    page = rig.page
    small = ModelProfile(model="sim-a", context_window=300, max_tokens=40, sim=FAST)
    page.new_chat([small, ModelProfile(model="sim-b", sim=FAST)])
    rig.page._bridge.flush()
    _type_and_press(page, "owls " * 100)
    await rig.idle()
    assert not page.columns[0].warning.isVisibleTo(page)
    _type_and_press(page, "hawk " * 100)
    await rig.idle()
    column = page.columns[0]
    assert column.warning.isVisibleTo(page) and "context" in column.warning.text()
    assert not page.columns[1].warning.isVisibleTo(page)  # no window stated: no warning
    assert column.tokens.text().startswith("~")  # the simulated model's tokens are estimated
    column.trim_button.click()
    _type_and_press(page, "And eagles?")
    await rig.idle()
    sent = rig.turns[-1].messages(0)
    assert rig.turns[-1].trimmed.get(0, 0) > 0
    assert sent[-1] == ("user", "And eagles?")
    assert all("owls" not in text for _role, text in sent)  # the oldest turn left out
    assert len(rig.chat.columns[0].path()) == 6  # the thread itself keeps every turn


async def test_a_system_message_for_the_chat_and_one_for_a_column(rig: Rig) -> None:
    page = rig.page
    page.new_chat()
    page._bridge.flush()
    page.system_edit.setText("Answer briefly.")
    page.system_edit.editingFinished.emit()
    column = page.columns[1]
    await until(column.isVisible)  # the layout shows a new column on the next turn
    assert not column.system_edit.isVisible()
    column.system_button.click()
    assert column.system_edit.isVisible()
    column.system_edit.setText("Answer in French.")
    column.system_edit.editingFinished.emit()
    _type_and_press(page, "Hello")
    await rig.idle()
    assert rig.turns[-1].messages(0)[0] == ("system", "Answer briefly.")
    assert rig.turns[-1].messages(1)[0] == ("system", "Answer in French.")
    store = ChatHistory(rig.history)
    assert store.flush()
    stored = store.get(rig.chat.id)
    assert stored is not None
    assert stored.system == "Answer briefly." and stored.columns[1].system == "Answer in French."


async def test_duplicate_a_column_with_another_temperature(rig: Rig) -> None:
    page = rig.page
    assert page.new_chat([]) is None
    assert page.error.text() == (
        "No model to chat with: add one in the Models panel, then New chat."
    )
    assert page.new_chat([ModelProfile(model=" ")]) is None  # a profile that cannot work
    assert "Model name is empty" in page.error.text()
    _type_and_press(page, "Hi")
    await rig.idle()
    menu = page.columns[1].duplicate_button.menu()
    assert menu is not None
    [action] = [a for a in menu.actions() if a.text() == "With temperature 1.5"]
    action.trigger()
    rig.page._bridge.flush()
    assert len(page.columns) == 3
    assert rig.chat.columns[2].profile.temperature == 1.5
    assert "t=1.5" in page.columns[2].title.full_text()
    assert _answers(rig, 2) == _answers(rig, 1)  # the same thread to go on from
    _type_and_press(page, "Again")
    await rig.idle()
    assert len(rig.turns[-1].requests) == 3


def _png(width: int, height: int) -> bytes:
    image = QImage(width, height, QImage.Format.Format_RGB32)
    image.fill(QColor("#3366cc"))
    return encode_image(image, "PNG")


async def test_an_image_goes_to_a_vision_column_and_is_refused_for_the_others(
    rig: Rig, tmp_path: Path
) -> None:
    page = rig.page
    vision = ModelProfile(model="sim-eye", vision=True, sim=FAST)
    page.new_chat([vision, ModelProfile(model="sim-a", sim=FAST)])
    rig.page._bridge.flush()
    # Pasting an image attaches it (a chip), it is not typed.
    mime = QMimeData()
    image = QImage(3000, 1500, QImage.Format.Format_RGB32)
    image.fill(QColor("#cc3366"))
    mime.setImageData(image)
    page.box.insertFromMimeData(mime)
    assert len(page.images) == 1
    assert max(page.images[0].width, page.images[0].height) == 2048  # downscaled
    # To both columns: refused with the fix, nothing sent.
    _type_and_press(page, "What is this?")
    assert "cannot take images" in page.error.text() and page.error.isVisible()
    assert rig.turns == []
    # To the vision column alone: sent, and the simulated model describes the image.
    page._on_column_focused(0)
    _type_and_press(page, "What is this?", Qt.KeyboardModifier.AltModifier)
    await rig.idle()
    answer = _answers(rig, 0)[-1]
    assert "JPEG" in answer and "2048x1024" in answer  # downscaled, re-encoded (opaque)
    assert page.images == [] and not page.error.isVisible()
    # The thread shows its thumbnail, and still does after a full re-render (a theme
    # change clears the document, and with it the resources it was given).
    (sent,) = [n for n in rig.chat.columns[0].path() if n.images]
    url = QUrl(f"chatimg:{sent.id}/0")
    view = page.columns[0].view
    for _ in range(2):
        thumb = view.document().resource(QTextDocument.ResourceType.ImageResource, url)
        assert isinstance(thumb, QImage) and thumb.width() == 160
        view.set_text("A thread that does not continue what is shown", final=True)
        view.set_text(thread_markdown(rig.chat, 0), final=True)
    # A dropped file that is not an image is refused inline.
    bogus = tmp_path / "notes.png"
    bogus.write_bytes(b"not an image at all")
    dropped = QMimeData()
    dropped.setUrls([QUrl.fromLocalFile(str(bogus))])
    page.box.insertFromMimeData(dropped)
    assert page.images == [] and "not a PNG" in page.error.text()
    # A text file is inlined with its name; a binary one is refused.
    notes = tmp_path / "notes.md"
    notes.write_text("# Owls\nThey hunt at night.\n", encoding="utf-8")
    page.box.setPlainText("Summarise this")
    dropped.setUrls([QUrl.fromLocalFile(str(notes))])
    page.box.insertFromMimeData(dropped)
    assert page.box.toPlainText().startswith("Summarise this\n\nnotes.md:\n```")
    assert "They hunt at night." in page.box.toPlainText()
    blob = tmp_path / "data.bin"
    blob.write_bytes(b"\x00\x01\x02binary")
    dropped.setUrls([QUrl.fromLocalFile(str(blob))])
    page.box.insertFromMimeData(dropped)
    assert "binary file" in page.error.text()
    small = tmp_path / "dot.png"
    small.write_bytes(_png(8, 8))
    dropped.setUrls([QUrl.fromLocalFile(str(small))])
    page.box.insertFromMimeData(dropped)
    assert len(page.images) == 1 and page.images[0].width == 8


async def test_the_window_has_a_chat_tab_on_the_models_panel(window: object) -> None:
    from gui.qt.main_window import MainWindow

    assert isinstance(window, MainWindow)
    tabs = window.tabs
    index = tabs.indexOf(window.chat_page)
    assert index >= 0 and tabs.tabText(index) == "Chat"
    models = window.models.profiles()
    page = window.chat_page
    chat = page.new_chat()
    assert chat is not None
    assert [c.profile for c in chat.columns] == models
    window.chat_session.stop()
    await window.chat_session.wait_idle()
    page._bridge.flush()
    # The chat's model set is remembered in the workspace, and New chat offers it back.
    assert list(window.workspace.snapshot().chat_models) == models
    remembered = [ModelProfile(model="sim-eye", vision=True, sim=FAST)]
    restored = dataclasses.replace(window.workspace.snapshot(), chat_models=tuple(remembered))
    window.workspace.restore(restored)
    assert page.chat_models() == remembered
    [last] = [a for a in page.new_menu.actions() if "last chat" in a.text()]
    last.trigger()
    page._bridge.flush()
    assert page.session.chat is not None and len(page.columns) == 1
    assert page.columns[0].title.full_text() == "sim-eye"


async def test_the_history_tab_lists_searches_reopens_exports_and_deletes_chats(
    window: object, tmp_path: Path
) -> None:
    import json

    from gui.qt.main_window import MainWindow

    assert isinstance(window, MainWindow)
    page, panel, session = window.chat_page, window.history_panel, window.chat_session
    profiles = [ModelProfile(model="sim-a", sim=FAST), ModelProfile(model="sim-b", sim=FAST)]

    async def idle() -> None:
        await session.wait_idle()
        page._bridge.flush()

    chat = page.new_chat(profiles)
    assert chat is not None and page.send(text="Tell me about herons")
    await idle()
    # The ended turn lists the chat beside the runs, as a chat row.
    await until(lambda: chat.id in [c.id for c in panel.chats()])
    panel.select(chat.id)
    (item,) = panel.tree.selectedItems()
    assert [item.text(i) for i in (1, 2, 3)] == ["chat", "1 turn", "sim-a, sim-b"]
    assert item.text(6) == "Tell me about herons"
    assert panel.open_button.isEnabled() and panel.delete_button.isEnabled()
    assert not panel.load_button.isEnabled() and not panel.rerun_button.isEnabled()

    # The search covers the chat's answers, not only its title.
    answer = chat.columns[1].path()[-1].text
    word = next(w for w in answer.split() if w.isalpha() and len(w) > 5 and w != "herons")
    panel.search_edit.setText(word)
    await until(lambda: [c.id for c in panel.chats()] == [chat.id])
    panel.search_edit.setText("volcanoes")
    await until(lambda: panel.chats() == [])
    panel.search_edit.setText("")
    await until(lambda: chat.id in [c.id for c in panel.chats()])
    # The model filter offers the chats' models, and keeps the chats that used one.
    await until(lambda: panel.model_combo.findData("sim-b") >= 0)
    panel.model_combo.setCurrentIndex(panel.model_combo.findData("sim-b"))
    await until(lambda: [c.id for c in panel.chats()] == [chat.id])
    panel.model_combo.setCurrentIndex(0)
    await until(lambda: chat.id in [c.id for c in panel.chats()])

    # Open it from the History tab while another chat is shown: it continues where it was.
    other = page.new_chat(profiles)
    assert other is not None and page.session.chat is other
    panel.select(chat.id)
    panel.open_button.click()
    await until(lambda: page.session.chat is not None and page.session.chat.id == chat.id)
    assert window.tabs.currentWidget() is page
    assert page.send(text="And their nests?")
    await idle()
    reopened = page.session.chat
    assert reopened is not None
    assert reopened is session.chat
    for col in range(2):  # the second turn follows each column's own first answer
        roles = [n.role for n in reopened.columns[col].path()]
        assert roles == [Role.USER, Role.ASSISTANT, Role.USER, Role.ASSISTANT]
        assert reopened.columns[col].path()[1].text == chat.columns[col].path()[1].text

    # Export from the Chat tab (or File > Export current chat, the same menu): the
    # side-by-side table, through the History tab's dialog.
    file_menu = window.menuBar().actions()[0].menu()
    assert page.export_menu.menuAction() in file_menu.actions()
    (table,) = [a for a in page.export_menu.actions() if a.data() == "md-table"]
    table.trigger()
    dialog = panel._dialog
    assert dialog is not None and chat.id in dialog.windowTitle()
    target = tmp_path / "herons.md"
    dialog.fileSelected.emit(str(target))
    dialog.reject()
    await panel.wait_idle()
    text = target.read_text(encoding="utf-8")
    assert "## Turn 2" in text and "| sim-a | sim-b |" in text and "> And their nests?" in text
    assert panel.status() == f"Exported chat {chat.id} to {target}."
    # ... and JSON from the History tab, with every node and its metrics.
    stored = await window.services.history.get_chat(chat.id)
    assert stored is not None
    await panel.export_chat_to(stored, "json", tmp_path / "herons.json")
    data = json.loads((tmp_path / "herons.json").read_text(encoding="utf-8"))
    assert [len(c["nodes"]) for c in data["columns"]] == [4, 4]
    assert all(n["metrics"] for c in data["columns"] for n in c["nodes"] if n["role"] != "user")

    # An edited message starts a branch: the row counts the turns of the branch shown.
    session.edit(0, reopened.columns[0].path()[2].id, "And their eggs?")
    await idle()
    assert await window.services.history.flush(60)
    panel.refresh()
    await panel.wait_idle()
    panel.select(chat.id)
    (item,) = panel.tree.selectedItems()
    assert item.text(2) == "2 turns, 2 branches"

    # The chat the Chat tab shows is not deleted from under it; once it is not shown, it is.
    panel.select(chat.id)
    panel.delete_button.click()
    assert "open in the Chat tab" in panel.status() and not panel.confirm_button.isVisible()
    assert page.new_chat(profiles) is not None
    panel.delete_button.click()
    panel.confirm_button.click()
    await panel.wait_idle()
    await until(lambda: chat.id not in [c.id for c in panel.chats()])
    assert panel.status() == "Chat deleted."
    assert await window.services.history.get_chat(chat.id) is None


async def test_run_this_message_over_inputs_sends_each_columns_thread_before_the_template(
    window: object,
) -> None:
    from gui.core.spec import CellId
    from gui.qt.main_window import MainWindow

    assert isinstance(window, MainWindow)
    page, session = window.chat_page, window.chat_session
    profiles = [ModelProfile(model="sim-a", sim=FAST), ModelProfile(model="sim-b", sim=FAST)]
    window.inputs.set_table(["city", "note"], [["Paris", "x"], ["", "only a note"], ["Oslo", ""]])
    chat = page.new_chat(profiles)
    assert chat is not None and page.send(text="Tell me about herons")
    await session.wait_idle()
    page._bridge.flush()

    # Its {variables} are checked as any run's: one without a column is refused inline.
    page.box.setPlainText("Now for {town}")
    page.fan_out_button.click()
    assert "Cannot run over the inputs" in page.error.text() and "{town}" in page.error.text()
    assert window.session.current_run is None
    page.box.setPlainText("")
    page.fan_out_button.click()
    assert "The message is empty" in page.error.text()

    page.box.setPlainText("Now for {city}")
    page.fan_out_button.click()
    await until(lambda: window.session.current_run is not None)
    run = window.session.current_run
    assert run is not None
    await until(lambda: run.finished)
    assert page.error.isHidden() and window.tabs.currentWidget() is window.results
    assert run.spec.models == tuple(profiles)
    assert run.spec.rows == ({"city": "Paris"}, {"city": "Oslo"})  # the blank city left out
    for row, city in enumerate(("Paris", "Oslo")):
        for col in range(2):
            cell = CellId.text(row, col)
            own = chat.columns[col].path()[1].text
            assert run.spec.messages(cell) == [
                ("user", "Tell me about herons"),
                ("assistant", own),
                ("user", f"Now for {city}"),
            ]
            # The model got the thread: its answer counts this as the second turn (the grid
            # shows it on the bridge's next frame).
            said = f'Turn 2: you said "Now for {city}".'
            await until(lambda c=cell, t=said: window.grid.cell_text(c).startswith(t))
    # The chat itself is unchanged: the run is beside it, not a turn of it.
    assert [len(c.path()) for c in chat.columns] == [2, 2]
    # Stored with its threads; Run again in History sends them again.
    await window.services.history.flush()
    stored = await window.services.history.get_run(run.id)
    assert stored is not None and stored.spec.context == run.spec.context
    assert window.commands.rerun(stored)
    await until(lambda: window.session.current_run is not run)
    again = window.session.current_run
    assert again is not None
    await until(lambda: again.finished)
    assert again.spec.messages("r1m0") == run.spec.messages("r1m0")


async def test_a_done_answer_shows_cut_at_max_tokens_and_replaced_characters_in_its_thread() -> (
    None
):
    # Issue 10 in the Chat tab: a done answer the reader must not take as whole (cut at max
    # tokens) or as sent (invalid characters replaced) says so under it; a plain one does not.
    chat = Chat.new([ModelProfile(model="a"), ModelProfile(model="b"), ModelProfile(model="c")])
    capped, replaced, plain = add_user_message(chat, "Hi")
    metrics = CellMetrics(
        queued_at=0.0,
        started_at=0.0,
        first_token_at=0.5,
        ended_at=1.0,
        waited=0.0,
        ttft=0.5,
        latency=1.0,
        output_tokens=5,
        tokens_estimated=False,
        tokens_per_second=5.0,
        retries=0,
        finish_reason="stop",
    )
    add_answer(chat, capped, "Short", metrics=dataclasses.replace(metrics, finish_reason="length"))
    add_answer(chat, replaced, "half \ud800 an answer", metrics=metrics)
    add_answer(chat, plain, "Whole", metrics=metrics)
    assert "*[cut at max tokens]*" in thread_markdown(chat, 0)
    assert "*[text had invalid characters, replaced]*" in thread_markdown(chat, 1)
    assert "*[" not in thread_markdown(chat, 2)
