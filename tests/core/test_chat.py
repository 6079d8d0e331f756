"""The chat model: trees of turns per column, the messages each column sends, attachments."""

from __future__ import annotations

import base64
import struct
import zlib

import pytest

from gui.core.chat import (
    Chat,
    ChatError,
    NodeStatus,
    Role,
    add_answer,
    add_user_message,
    context_warning,
    edit_user_message,
    image_attachment,
    is_chat_id,
    regenerate,
    run_context,
    sniff_image,
    text_attachment,
    thread_messages,
    thread_tokens,
    trim_budget,
)
from gui.core.errors import SpecError
from gui.core.metrics import CellMetrics
from gui.core.spec import (
    ModelProfile,
    make_spec,
    profile_from_dict,
    profile_to_dict,
    spec_from_dict,
    spec_to_dict,
)


def png(width: int, height: int) -> bytes:
    """A real (tiny) PNG of ``width`` x ``height`` black pixels."""
    raw = b"".join(b"\x00" + b"\x00" * width * 3 for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def jpeg_header(width: int, height: int) -> bytes:
    """The start of a JPEG: SOI, an APP0 segment, then a baseline start-of-frame."""
    app0 = (
        b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00" + b"\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    )
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app0 + sof + b"\xff\xd9"


def two_columns() -> Chat:
    return Chat.new([ModelProfile(model="a"), ModelProfile(model="b")], system="Be brief.")


def answer_all(chat: Chat, requests: list, prefix: str) -> None:
    for r in requests:
        add_answer(chat, r, f"{prefix} from column {r.col}")


def test_each_column_sends_its_own_earlier_answers() -> None:
    chat = two_columns()
    answer_all(chat, add_user_message(chat, "Hello"), "first")
    add_user_message(chat, "And then?")
    assert thread_messages(chat, 0) == [
        ("system", "Be brief."),
        ("user", "Hello"),
        ("assistant", "first from column 0"),
        ("user", "And then?"),
    ]
    assert thread_messages(chat, 1)[2] == ("assistant", "first from column 1")


def test_a_column_system_message_replaces_the_chats() -> None:
    chat = two_columns()
    chat.columns[1].system = "Answer in French."
    add_user_message(chat, "Hi")
    assert thread_messages(chat, 0)[0] == ("system", "Be brief.")
    assert thread_messages(chat, 1)[0] == ("system", "Answer in French.")


def test_regenerate_keeps_the_old_answer_as_an_alternative() -> None:
    chat = two_columns()
    (req, _) = add_user_message(chat, "Q1")
    first = add_answer(chat, req, "one")
    again = regenerate(chat, 0)
    assert again.user_node == req.user_node
    # While the new answer is pending, the column sends the thread up to the question.
    assert thread_messages(chat, 0, again.user_node)[-1] == ("user", "Q1")
    second = add_answer(chat, again, "two")
    column = chat.columns[0]
    assert column.siblings(second.id) == (2, 2)
    assert thread_messages(chat, 0)[-1] == ("assistant", "two")
    column.switch(second.id, -1)
    assert column.head == first.id and column.siblings(first.id) == (1, 2)
    assert thread_messages(chat, 0)[-1] == ("assistant", "one")


def test_editing_an_earlier_message_starts_a_branch_and_keeps_the_old_one() -> None:
    chat = two_columns()
    (r1, _) = add_user_message(chat, "Q1")
    add_answer(chat, r1, "A1")
    (r2, _) = add_user_message(chat, "Q2")
    add_answer(chat, r2, "A2")
    edited = edit_user_message(chat, 0, r1.user_node, "Q1 edited")
    assert thread_messages(chat, 0, edited.user_node) == [
        ("system", "Be brief."),
        ("user", "Q1 edited"),
    ]
    add_answer(chat, edited, "A1'")
    column = chat.columns[0]
    assert len(column.nodes) == 6  # nothing deleted
    assert column.siblings(edited.user_node) == (2, 2)
    column.switch(edited.user_node, -1)  # back to the old branch, at its end
    assert [t for _, t in thread_messages(chat, 0)[1:]] == ["Q1", "A1", "Q2", "A2"]
    # The other column never saw the edit.
    assert [t for _, t in thread_messages(chat, 1)[1:]] == ["Q1", "Q2"]


def test_a_stopped_answer_is_kept_and_marked_and_an_empty_failed_one_is_not_sent() -> None:
    chat = two_columns()
    (r0, r1) = add_user_message(chat, "Q")
    stopped = add_answer(chat, r0, "partial", status=NodeStatus.STOPPED, error="Cancelled")
    add_answer(chat, r1, "", status=NodeStatus.FAILED, error="503")
    assert stopped.status is NodeStatus.STOPPED and chat.columns[0].head == stopped.id
    add_user_message(chat, "Next")
    assert thread_messages(chat, 0)[-2] == ("assistant", "partial")
    assert [role for role, _ in thread_messages(chat, 1)] == ["system", "user", "user"]


def test_empty_messages_and_unknown_columns_are_refused() -> None:
    chat = two_columns()
    with pytest.raises(ChatError, match="empty"):
        add_user_message(chat, "   ")
    with pytest.raises(ChatError, match="no column 3"):
        add_user_message(chat, "hi", columns=[2])
    with pytest.raises(ChatError, match="nothing to regenerate"):
        regenerate(chat, 0)


def test_images_are_sniffed_by_their_bytes_and_sent_as_data_url_parts() -> None:
    data = png(7, 5)
    assert sniff_image(data) == ("image/png", 7, 5)
    assert sniff_image(jpeg_header(640, 480)) == ("image/jpeg", 640, 480)
    assert sniff_image(b"RIFF\x00\x00\x00\x00WEBPVP8X" + b"\x00" * 8 + b"\x0f\x00\x00\x07\x00\x00")[
        :3
    ] == (
        "image/webp",
        16,
        8,
    )
    image = image_attachment("dot.png", data)
    chat = Chat.new([ModelProfile(model="eyes", vision=True)])
    add_user_message(chat, "What is this?", images=[image])
    (_, content) = thread_messages(chat, 0)[-1]
    assert isinstance(content, list)
    assert content[0] == {"type": "text", "text": "What is this?"}
    url = content[1]["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    assert base64.b64decode(url.split(",", 1)[1]) == data


def test_images_are_refused_for_a_column_without_vision_naming_it() -> None:
    chat = Chat.new([ModelProfile(model="eyes", vision=True), ModelProfile(model="blind")])
    image = image_attachment("dot.png", png(2, 2))
    with pytest.raises(ChatError, match=r"Column 2 \(blind\) cannot take images"):
        add_user_message(chat, "look", images=[image])
    assert all(not c.nodes for c in chat.columns)  # nothing half-added
    add_user_message(chat, "look", images=[image], columns=[0])


def test_bad_attachments_are_refused_with_the_fix() -> None:
    with pytest.raises(ChatError, match="not a PNG, JPEG or WebP"):
        image_attachment("notes.png", b"hello, I am text")
    with pytest.raises(ChatError, match="at most"):
        image_attachment("huge.png", png(1, 1) + b"\x00" * (9 * 1024 * 1024))
    with pytest.raises(ChatError, match="binary file"):
        text_attachment("a.bin", b"\x00\x01\x02 data")
    with pytest.raises(ChatError, match="binary file"):
        text_attachment("latin.txt", "caf\xe9".encode("latin-1"))
    inlined = text_attachment("notes.md", b"line one\nline two\n")
    assert inlined == "notes.md:\n```\nline one\nline two\n```"


def test_token_count_uses_server_usage_and_marks_estimates() -> None:
    chat = Chat.new([ModelProfile(model="a")])
    (r,) = add_user_message(chat, "x" * 40)
    metrics = CellMetrics(0, 0, None, 1, 0, None, 1, 123, False, None, 0)
    add_answer(chat, r, "answer", metrics=metrics)
    count = thread_tokens(chat, 0)
    assert count.tokens == 10 + 123 and count.approximate
    assert str(count) == "~133"


def test_vision_round_trips_in_profile_dicts_and_chat_ids_are_told_from_run_ids() -> None:
    profile = ModelProfile(model="eyes", vision=True, context_window=8192)
    assert profile_from_dict(profile_to_dict(profile)) == profile
    assert profile_from_dict({"model": "old"}).vision is False
    chat = two_columns()
    assert is_chat_id(chat.id) and not is_chat_id("20260101-120000-abcdef")


def test_duplicate_models_are_separate_numbered_columns() -> None:
    chat = Chat.new([ModelProfile(model="a"), ModelProfile(model="a", temperature=1.5)])
    assert [chat.column_title(i) for i in range(2)] == ["a #1", "a #2"]
    (r0, r1) = add_user_message(chat, "Q")
    add_answer(chat, r0, "cold")
    add_answer(chat, r1, "hot")
    assert chat.columns[0].path()[-1].role is Role.ASSISTANT
    assert thread_messages(chat, 1)[-1] == ("assistant", "hot")


def test_a_column_near_its_context_window_is_warned() -> None:
    roomy = ModelProfile(model="roomy", context_window=10_000)
    tight = ModelProfile(model="tight", context_window=100, max_tokens=20)
    chat = Chat.new([roomy, tight, ModelProfile(model="unknown")])
    add_user_message(chat, "x" * 200)  # ~50 tokens, plus 20 kept for the answer
    assert context_warning(chat, 0) is None and context_warning(chat, 2) is None
    assert context_warning(chat, 1) is None
    add_user_message(chat, "y" * 80)  # ~70 + 20 >= 90% of 100
    warning = context_warning(chat, 1)
    assert warning == (
        "Column 2 (tight) uses ~70 of its 100-token context: trim the oldest turns (--trim) "
        "or start a new chat."
    )
    assert trim_budget(tight) == 80 and trim_budget(roomy) == 7_500


def test_a_message_run_over_inputs_sends_each_columns_own_thread_before_the_template() -> None:
    import dataclasses

    chat = Chat.new(
        [ModelProfile(model="a", vision=True), ModelProfile(model="b")], system="Be brief."
    )
    chat.columns[1].system = "Answer in French."
    dot = image_attachment("dot.png", png(2, 2))
    (ra,) = add_user_message(chat, "Look", images=[dot], columns=[0])
    add_answer(chat, ra, "A dot {not a variable}")
    (rb,) = add_user_message(chat, "Hello", columns=[1])
    add_answer(chat, rb, "Bonjour")

    context = run_context(chat)
    assert context == (
        (("system", "Be brief."), ("user", "Look [image dot.png]"), ("assistant", "A dot {not a variable}")),
        (("system", "Answer in French."), ("user", "Hello"), ("assistant", "Bonjour")),
    )  # fmt: skip
    spec = make_spec("Now {city}", ["Paris", "Oslo"], [c.profile for c in chat.columns])
    spec = dataclasses.replace(spec, context=context)
    spec.validate()
    assert spec.messages("r1m1") == [*context[1], ("user", "Now Oslo")]
    assert spec.variables == ["city"]  # the thread's braces are not variables
    # Stored with the run and read back.
    assert spec_from_dict(spec_to_dict(spec)).context == context
    with pytest.raises(SpecError, match="one thread per model column"):
        dataclasses.replace(spec, context=context[:1]).validate()
