"""What a chat is: columns of models, each with its own tree of turns, and its thread's messages.

A :class:`Chat` holds one :class:`ChatColumn` per model (the same model may appear twice, e.g.
with another temperature). Each column keeps a **tree** of :class:`ChatNode` s: a user message
or an assistant answer, linked to its parent. Nothing is ever deleted:

* *regenerate* adds another answer under the same user message (a sibling: "2/3 < >");
* *editing* an earlier user message adds a sibling user message, so the turns after the old
  one stay on their branch;
* each column shows one path from the root to its :attr:`ChatColumn.head`; switching an
  alternative or a branch moves the head.

The message list a column sends next (:func:`thread_messages`) is the chat's system message
(or the column's own), then that column's own path: its user messages and **its own**
answers, never another column's. Messages are plain ``(role, content)`` pairs, where content
is text or a list of OpenAI-style content parts (``text`` and ``image_url`` with a data URL);
the provider layer turns them into LangChain messages (and trims them, see
``gui.providers.threads``): this module imports neither Qt nor LangChain.

Attachments are checked here (magic bytes, size, text vs binary); images are downscaled by the
window (Qt) before they get here, so the core only refuses what is too large.
"""

from __future__ import annotations

import base64
import struct
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from gui.core.errors import SpecError
from gui.core.metrics import CellMetrics
from gui.core.spec import ModelProfile

#: Largest image accepted, in bytes (the window downscales bigger ones before this check).
MAX_IMAGE_BYTES = 8 * 1024 * 1024
#: Images above this many bytes or pixels on a side are downscaled by the window first.
DOWNSCALE_ABOVE_BYTES = 2 * 1024 * 1024
DOWNSCALE_ABOVE_PIXELS = 2048
#: Largest text file inlined into a message, in bytes.
MAX_TEXT_FILE_BYTES = 512 * 1024
#: Characters per token of the estimate used when a server reports no usage.
CHARS_PER_TOKEN = 4

#: A message as the provider layer receives it: ``(role, content)``, role ``system``,
#: ``user`` or ``assistant``; content text or a list of OpenAI-style content parts.
Content = str | list[dict[str, Any]]
Message = tuple[str, Content]


class ChatError(SpecError):
    """A chat input that cannot be sent; ``str()`` is one line with the fix."""


class VisionRefused(ChatError):
    """Images for a column whose profile is not vision-capable (the caller adds its own fix)."""


class Role(StrEnum):
    """Who wrote a node."""

    USER = "user"
    ASSISTANT = "assistant"


class NodeStatus(StrEnum):
    """How a node ended: user messages are ``done``; answers may be stopped or failed."""

    DONE = "done"
    STOPPED = "stopped"  # the user stopped it: the partial text is kept
    FAILED = "failed"  # an error ended it: the partial text (if any) is kept


# ------------------------------------------------------------------------- attachments


@dataclass(frozen=True, slots=True)
class ImageAttachment:
    """An image sent with a user message.

    Attributes:
        name: File name shown to the user.
        mime: ``image/png``, ``image/jpeg`` or ``image/webp``.
        data: The encoded image.
        width: Pixels across, when the header says (else 0).
        height: Pixels down, when the header says (else 0).
    """

    name: str
    mime: str
    data: bytes
    width: int = 0
    height: int = 0

    @property
    def format(self) -> str:
        """``PNG``, ``JPEG`` or ``WebP``."""
        return _FORMAT_NAMES[self.mime]

    def data_url(self) -> str:
        """The image as a ``data:`` URL (what an ``image_url`` content part carries)."""
        return f"data:{self.mime};base64,{base64.b64encode(self.data).decode('ascii')}"

    def part(self) -> dict[str, Any]:
        """The OpenAI-style ``image_url`` content part."""
        return {"type": "image_url", "image_url": {"url": self.data_url()}}

    @property
    def needs_downscale(self) -> bool:
        """Whether the window should downscale it before sending."""
        side = max(self.width, self.height)
        return len(self.data) > DOWNSCALE_ABOVE_BYTES or side > DOWNSCALE_ABOVE_PIXELS


_FORMAT_NAMES = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WebP"}


def sniff_image(data: bytes) -> tuple[str, int, int] | None:
    """``(mime, width, height)`` of a PNG, JPEG or WebP by its magic bytes, else ``None``.

    Width and height are 0 when the header does not hold them where expected.
    """
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        if len(data) >= 24 and data[12:16] == b"IHDR":
            width, height = struct.unpack(">II", data[16:24])
            return "image/png", width, height
        return "image/png", 0, 0
    if data.startswith(b"\xff\xd8\xff"):
        return ("image/jpeg", *_jpeg_size(data))
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ("image/webp", *_webp_size(data))
    return None


def _jpeg_size(data: bytes) -> tuple[int, int]:
    """Width and height from a JPEG's first start-of-frame marker, else ``(0, 0)``."""
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            return 0, 0
        marker = data[i + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # no length field
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return width, height
        i += 2 + length
    return 0, 0


def _webp_size(data: bytes) -> tuple[int, int]:
    """Width and height from a WebP's first chunk (VP8, VP8L or VP8X), else ``(0, 0)``."""
    chunk = data[12:16]
    if chunk == b"VP8 " and len(data) >= 30:
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X" and len(data) >= 30:
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return width, height
    return 0, 0


def image_attachment(name: str, data: bytes) -> ImageAttachment:
    """An image checked by its magic bytes and size.

    Raises:
        ChatError: not a PNG, JPEG or WebP, or larger than :data:`MAX_IMAGE_BYTES`.
    """
    sniffed = sniff_image(data)
    if sniffed is None:
        raise ChatError(f"{name} is not a PNG, JPEG or WebP image: attach one of those.")
    if len(data) > MAX_IMAGE_BYTES:
        raise ChatError(
            f"{name} is {len(data) / 1e6:.1f} MB; images may be at most "
            f"{MAX_IMAGE_BYTES / 1e6:.0f} MB: shrink it first."
        )
    mime, width, height = sniffed
    return ImageAttachment(name, mime, data, width, height)


def text_attachment(name: str, data: bytes) -> str:
    """A text file's content, inlined with its name, to append to a message.

    Raises:
        ChatError: the file is binary (not UTF-8 text, or holds NUL bytes) or too large.
    """
    if len(data) > MAX_TEXT_FILE_BYTES:
        raise ChatError(
            f"{name} is {len(data) / 1e3:.0f} kB; text files may be at most "
            f"{MAX_TEXT_FILE_BYTES // 1024} kB: attach a shorter excerpt."
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = ""
        binary = True
    else:
        binary = "\x00" in text
    if binary:
        raise ChatError(f"{name} is a binary file, not text: attach a text file or an image.")
    fence = "````" if "```" in text else "```"
    return f"{name}:\n{fence}\n{text.rstrip()}\n{fence}"


# ------------------------------------------------------------------------- the tree


def new_node_id() -> str:
    """A fresh node id (unique within a chat)."""
    return uuid.uuid4().hex[:12]


def new_chat_id() -> str:
    """A fresh chat id; the ``chat-`` prefix tells it from a run id wherever both are taken."""
    return f"{CHAT_ID_PREFIX}{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"


#: Every chat id starts with this; run ids never do (they start with a date).
CHAT_ID_PREFIX = "chat-"


def is_chat_id(text: str) -> bool:
    """Whether ``text`` names a chat (its id or a prefix of one), not a run."""
    return text.startswith(CHAT_ID_PREFIX)


@dataclass(frozen=True, slots=True)
class ChatNode:
    """One message of a column's tree.

    Attributes:
        id: Unique within the chat.
        parent: The node this one follows, or ``None`` for a first user message.
        role: User message or assistant answer.
        text: The message text (for an answer: the text so far when it was stopped or failed).
        images: Images sent with a user message.
        status: ``done``, or for an answer ``stopped`` / ``failed``.
        error: Why an answer failed or was stopped (one line), else ``None``.
        metrics: The answer's timings and tokens, when it has some.
        created_at: Wall-clock epoch seconds.
    """

    id: str
    parent: str | None
    role: Role
    text: str
    images: tuple[ImageAttachment, ...] = ()
    status: NodeStatus = NodeStatus.DONE
    error: str | None = None
    metrics: CellMetrics | None = None
    created_at: float = field(default_factory=time.time)

    def content(self) -> Content:
        """The content this node sends: its text, or text and image parts."""
        if not self.images:
            return self.text
        parts: list[dict[str, Any]] = [{"type": "text", "text": self.text}] if self.text else []
        parts.extend(image.part() for image in self.images)
        return parts


@dataclass(slots=True)
class ChatColumn:
    """One model of a chat with its own tree of turns.

    Attributes:
        profile: The model (parameters included); duplicates of a model are separate columns.
        system: This column's own system message, or ``None`` for the chat's.
        nodes: Every node of the column's tree, by id, in the order they were added.
        head: The last node of the path shown (``None``: nothing said yet).
    """

    profile: ModelProfile
    system: str | None = None
    nodes: dict[str, ChatNode] = field(default_factory=dict)
    head: str | None = None

    def path(self, upto: str | None = None) -> list[ChatNode]:
        """The nodes from the root to ``upto`` (default: the head), oldest first."""
        out: list[ChatNode] = []
        cur = self.head if upto is None else upto
        while cur is not None:
            node = self.nodes[cur]
            out.append(node)
            cur = node.parent
        out.reverse()
        return out

    def children(self, parent: str | None) -> list[ChatNode]:
        """The nodes that follow ``parent`` (``None``: the first user messages), oldest first."""
        return [n for n in self.nodes.values() if n.parent == parent]

    def siblings(self, node_id: str) -> tuple[int, int]:
        """``(position, count)`` of ``node_id`` among its alternatives, 1-based: ``(2, 3)``."""
        node = self.nodes[node_id]
        kin = self.children(node.parent)
        return kin.index(node) + 1, len(kin)

    def add(self, node: ChatNode, *, move_head: bool = True) -> ChatNode:
        """Add ``node`` to the tree (its parent must be in it) and, by default, show it."""
        if node.parent is not None and node.parent not in self.nodes:
            raise KeyError(node.parent)
        self.nodes[node.id] = node
        if move_head:
            self.head = node.id
        return node

    def latest_leaf(self, node_id: str) -> str:
        """The end of the branch under ``node_id``, following the newest child each step."""
        cur = node_id
        while True:
            kids = self.children(cur)
            if not kids:
                return cur
            cur = kids[-1].id

    def switch(self, node_id: str, step: int) -> str:
        """Show the alternative ``step`` places from ``node_id`` (-1: previous, +1: next).

        The head moves to the end of that alternative's branch; returns the new head.
        Steps past either end stop at the first or last alternative.
        """
        node = self.nodes[node_id]
        kin = self.children(node.parent)
        index = max(0, min(len(kin) - 1, kin.index(node) + step))
        self.head = self.latest_leaf(kin[index].id)
        return self.head

    def select(self, node_id: str) -> None:
        """Show the branch through ``node_id`` (its newest continuation)."""
        if node_id not in self.nodes:
            raise KeyError(node_id)
        self.head = self.latest_leaf(node_id)


@dataclass(slots=True)
class Chat:
    """A side-by-side chat: one message to every column, a thread per column.

    Mutable: turns are added as they happen. The engine (:mod:`gui.core.chat_turn`) adds the
    answers; storage (``gui.storage.chats``) writes each node as soon as it exists.

    Attributes:
        id: The chat's id (:func:`new_chat_id`).
        title: What lists show; the first message by default.
        system: The chat's system message, or ``None``.
        columns: One per model, in display order.
        created_at: Wall-clock epoch seconds.
        updated_at: When the last node was added.
    """

    id: str
    title: str
    system: str | None
    columns: list[ChatColumn]
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)

    @classmethod
    def new(
        cls,
        profiles: Sequence[ModelProfile],
        *,
        system: str | None = None,
        title: str = "",
        chat_id: str | None = None,
    ) -> Chat:
        """A chat with one column per profile (a profile may repeat).

        Raises:
            ChatError: no profiles, or a profile that cannot work.
        """
        if not profiles:
            raise ChatError("No model selected. Add at least one model (-m NAME).")
        for profile in profiles:
            profile.validate()
        return cls(
            chat_id or new_chat_id(), title, system or None, [ChatColumn(p) for p in profiles]
        )

    def column_title(self, col: int) -> str:
        """Column ``col``'s header: the model's name, numbered when the model repeats."""
        name = self.columns[col].profile.display_name
        same = [i for i, c in enumerate(self.columns) if c.profile.display_name == name]
        return name if len(same) == 1 else f"{name} #{same.index(col) + 1}"

    def system_for(self, col: int) -> str | None:
        """The system message column ``col`` sends: its own, else the chat's."""
        return self.columns[col].system or self.system

    def all_columns(self, columns: Iterable[int] | None) -> list[int]:
        """``columns`` checked against the chat (``None``: every column).

        Raises:
            ChatError: a column the chat does not have.
        """
        if columns is None:
            return list(range(len(self.columns)))
        out = list(dict.fromkeys(columns))
        for col in out:
            if not 0 <= col < len(self.columns):
                raise ChatError(
                    f"The chat has no column {col + 1}: it has {len(self.columns)} columns."
                )
        return out

    def touch(self) -> None:
        """Note that the chat changed now."""
        self.updated_at = max(time.time(), self.updated_at)


# ------------------------------------------------------------------------- turns


@dataclass(frozen=True, slots=True)
class TurnRequest:
    """One column's part of a turn: answer the user message ``user_node`` of column ``col``."""

    col: int
    user_node: str


def vision_refusal(
    chat: Chat, columns: Iterable[int], images: Sequence[ImageAttachment]
) -> str | None:
    """Why ``images`` cannot go to ``columns`` (the first column without vision), or ``None``."""
    if not images:
        return None
    for col in columns:
        if not chat.columns[col].profile.vision:
            return (
                f"Column {col + 1} ({chat.column_title(col)}) cannot take images: its profile is "
                "not marked vision-capable. Send without the image, or to a vision-capable model."
            )
    return None


def add_user_message(
    chat: Chat,
    text: str,
    *,
    images: Sequence[ImageAttachment] = (),
    columns: Iterable[int] | None = None,
) -> list[TurnRequest]:
    """Add the user's next message to the end of each column's shown path.

    Returns the turn's requests, one per column, for :class:`gui.core.chat_turn.ChatTurn`.

    Raises:
        ChatError: empty message, an unknown column, or images for a column without vision.
    """
    cols = chat.all_columns(columns)
    _check_message(text, images)
    refusal = vision_refusal(chat, cols, images)
    if refusal:
        raise VisionRefused(refusal)
    if not chat.title:
        chat.title = " ".join(text.split())[:80] or (images[0].name if images else "chat")
    out = []
    for col in cols:
        column = chat.columns[col]
        node = column.add(ChatNode(new_node_id(), column.head, Role.USER, text, tuple(images)))
        out.append(TurnRequest(col, node.id))
    chat.touch()
    return out


def edit_user_message(
    chat: Chat,
    col: int,
    node_id: str,
    text: str,
    *,
    images: Sequence[ImageAttachment] | None = None,
) -> TurnRequest:
    """Replace an earlier user message of column ``col`` by a new branch from the same point.

    The old message and every turn after it stay in the tree (a branch the user can switch
    back to); the new message becomes the head. Images are kept unless ``images`` is given.

    Raises:
        ChatError: empty message, or ``node_id`` is not a user message of the column.
    """
    column = chat.columns[chat.all_columns([col])[0]]
    old = column.nodes.get(node_id)
    if old is None or old.role is not Role.USER:
        raise ChatError("Only a user message of this column can be edited.")
    kept = old.images if images is None else tuple(images)
    _check_message(text, kept)
    refusal = vision_refusal(chat, [col], kept)
    if refusal:
        raise VisionRefused(refusal)
    node = column.add(ChatNode(new_node_id(), old.parent, Role.USER, text, kept))
    chat.touch()
    return TurnRequest(col, node.id)


def regenerate(chat: Chat, col: int) -> TurnRequest:
    """Ask column ``col`` for another answer to the user message its shown path ends on.

    The answer shown now stays as an alternative; the new one becomes its sibling.

    Raises:
        ChatError: the column has no message to answer yet.
    """
    column = chat.columns[chat.all_columns([col])[0]]
    head = column.nodes.get(column.head) if column.head else None
    if head is None:
        raise ChatError(f"Column {col + 1} has nothing to regenerate yet: send a message first.")
    user = head if head.role is Role.USER else column.nodes[head.parent or ""]
    column.head = user.id
    return TurnRequest(col, user.id)


def add_answer(
    chat: Chat,
    request: TurnRequest,
    text: str,
    *,
    status: NodeStatus = NodeStatus.DONE,
    error: str | None = None,
    metrics: CellMetrics | None = None,
) -> ChatNode:
    """Record the answer to ``request``; it becomes the head if the user message still is.

    (The head may have moved meanwhile, e.g. the user switched to another branch: the answer
    is kept on its own branch without pulling the view away.)
    """
    column = chat.columns[request.col]
    move = column.head == request.user_node
    node = ChatNode(
        new_node_id(), request.user_node, Role.ASSISTANT, text, (), status, error, metrics
    )
    column.add(node, move_head=move)
    chat.touch()
    return node


def _check_message(text: str, images: Sequence[ImageAttachment]) -> None:
    if not text.strip() and not images:
        raise ChatError("The message is empty: type something (or attach an image).")


# ------------------------------------------------------------------------- messages


def thread_messages(chat: Chat, col: int, upto: str | None = None) -> list[Message]:
    """What column ``col`` sends to answer the user message ``upto`` (default: its head).

    The system message (the column's own, else the chat's), then the column's own path: its
    user messages (text and image parts) and its own answers. An answer with no text (failed
    before any) is left out; a stopped or failed one with text is kept, as the user saw it.
    """
    column = chat.columns[col]
    out: list[Message] = []
    system = chat.system_for(col)
    if system:
        out.append(("system", system))
    for node in column.path(upto):
        if node.role is Role.USER:
            out.append(("user", node.content()))
        elif node.text:
            out.append(("assistant", node.text))
    return out


def text_of(content: Content) -> str:
    """The text of a message's content (image parts left out)."""
    if isinstance(content, str):
        return content
    return "".join(str(p.get("text", "")) for p in content if p.get("type") == "text")


def estimate_message_tokens(content: Content) -> int:
    """A rough token count: characters / :data:`CHARS_PER_TOKEN` (images: a flat 85 each,
    OpenAI's low-detail price)."""
    images = 0 if isinstance(content, str) else sum(p.get("type") == "image_url" for p in content)
    return -(-len(text_of(content)) // CHARS_PER_TOKEN) + 85 * images


@dataclass(frozen=True, slots=True)
class TokenCount:
    """Tokens a column's thread takes.

    Attributes:
        tokens: The count.
        approximate: Whether some of it is estimated (shown with "~").
    """

    tokens: int
    approximate: bool

    def __str__(self) -> str:
        return f"{'~' if self.approximate else ''}{self.tokens:,}"


def thread_tokens(chat: Chat, col: int) -> TokenCount:
    """Tokens of column ``col``'s shown thread: server-reported answer tokens where known,
    else the estimate (then the count is approximate)."""
    total = 0
    approximate = False
    system = chat.system_for(col)
    if system:
        total += estimate_message_tokens(system)
        approximate = True
    for node in chat.columns[col].path():
        metrics = node.metrics
        if node.role is Role.ASSISTANT and metrics is not None and not metrics.tokens_estimated:
            total += metrics.output_tokens
        else:
            total += estimate_message_tokens(node.content())
            approximate = True
    return TokenCount(total, approximate)


#: Share of a column's context window from which the user is warned.
CONTEXT_WARN_SHARE = 0.9


def answer_reserve(profile: ModelProfile) -> int:
    """Tokens kept free in the context window for the answer: ``max_tokens``, else a quarter."""
    window = profile.context_window or 0
    return profile.max_tokens or window // 4


def trim_budget(profile: ModelProfile) -> int | None:
    """Tokens the messages of a turn may take in ``profile``'s window (``None``: unknown)."""
    if profile.context_window is None:
        return None
    return max(1, profile.context_window - answer_reserve(profile))


def context_warning(chat: Chat, col: int) -> str | None:
    """One line when column ``col``'s thread (plus room for the answer) is near its model's
    context window, else ``None`` (also when the window is not known)."""
    profile = chat.columns[col].profile
    window = profile.context_window
    if window is None:
        return None
    count = thread_tokens(chat, col)
    if count.tokens + answer_reserve(profile) < CONTEXT_WARN_SHARE * window:
        return None
    return (
        f"Column {col + 1} ({chat.column_title(col)}) uses {count} of its {window:,}-token "
        "context: trim the oldest turns (--trim) or start a new chat."
    )


# ------------------------------------------------------------------------- fan out


def run_context(chat: Chat) -> tuple[tuple[tuple[str, str], ...], ...]:
    """Each column's thread as the context of a run over inputs (``RunSpec.context``).

    Per column: its system message and its shown path (its own answers), as plain text: an
    image of an earlier turn is named (``[image dot.png]``), not sent, since a run's messages
    are text and are stored with the run.
    """
    out = []
    for col, column in enumerate(chat.columns):
        thread: list[tuple[str, str]] = []
        system = chat.system_for(col)
        if system:
            thread.append(("system", system))
        for node in column.path():
            if node.role is Role.USER:
                names = "".join(f" [image {image.name}]" for image in node.images)
                thread.append(("user", f"{node.text}{names}".strip()))
            elif node.text:
                thread.append(("assistant", node.text))
        out.append(tuple(thread))
    return tuple(out)
