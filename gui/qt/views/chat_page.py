"""The Chat tab: one column per model, a thread per column, one message box for them all.

:class:`ChatPage` drives a Qt-free :class:`~gui.core.chat_session.ChatSession` and draws its
events. Streamed text goes through the same per-frame :class:`~gui.qt.bridge.RunBridge` as a
run: the page's subscriber only renames each token's cell to its chat column (a turn's cells
are ``r0m<i>`` in every turn, and turns of different columns may overlap), so each column's
view is touched once per frame whatever the token rate.

Each column shows its whole shown thread in one :class:`ChatThreadView` (one widget per column,
however long the thread; a long one renders its older turns lazily): user messages as quotes
with an *edit* link, answers rendered as Markdown, alternatives (under the answer) and branches
(beside the message) as ``‹ 1/2 ›`` links. The header carries the column's token count ("~"
when estimated), Stop, Regenerate, Duplicate and the last answer's alternatives; a warning with
Trim / Stop appears when the thread nears the model's context
window. Images pasted or dropped into the message box are attached as chips (downscaled with
``QImage`` above the size limit) and refused inline for a column without vision.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import functools
import logging
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from PySide6.QtCore import (
    QBuffer,
    QByteArray,
    QIODevice,
    QMimeData,
    QPoint,
    Qt,
    QTimer,
    QUrl,
    Signal,
)
from PySide6.QtGui import (
    QAction,
    QImage,
    QKeyEvent,
    QKeySequence,
    QPixmap,
    QResizeEvent,
    QShortcut,
    QTextDocument,
)
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from gui.core import events as ev
from gui.core.chat import (
    DOWNSCALE_ABOVE_BYTES,
    DOWNSCALE_ABOVE_PIXELS,
    Chat,
    ChatColumn,
    ChatError,
    ChatNode,
    ImageAttachment,
    NodeStatus,
    Role,
    context_warning,
    image_attachment,
    sniff_image,
    text_attachment,
    thread_tokens,
)
from gui.core.chat_session import (
    ChatAnswerAdded,
    ChatEvent,
    ChatHeadMoved,
    ChatOpened,
    ChatSession,
    ChatTurnEnded,
    ChatTurnStarted,
    ChatUserMessageAdded,
)
from gui.core.chat_turn import ChatTurn
from gui.core.errors import SpecError
from gui.core.spec import ModelProfile
from gui.core.tasks import TaskOwner
from gui.qt.bridge import RunBridge
from gui.qt.widgets.chat_thread import ChatThreadView
from gui.qt.widgets.elided_label import ElidedLabel

__all__ = [
    "ChatColumnView",
    "ChatList",
    "ChatPage",
    "MessageBox",
    "ThreadParts",
    "downscaled",
    "encode_image",
    "thread_markdown",
    "thread_parts",
]

log = logging.getLogger(__name__)

#: The scheme of the links a thread carries for its own actions (edit, switch).
CHAT_SCHEME = "chat"

#: The scheme of a sent image's thumbnail in a thread (a resource of the column's document).
IMAGE_SCHEME = "chatimg"

#: The Export menu's entries: label and format (``gui.storage.chat_export``).
CHAT_EXPORTS = (
    ("JSON (every branch and alternative, with metrics)…", "json"),
    ("Markdown (a section per model)…", "md"),
    ("Markdown (a side-by-side table per turn)…", "md-table"),
)

#: The chat's system message box is never narrower than this (it gives way last).
SYSTEM_EDIT_MIN_PX = 110

#: The temperatures the Duplicate menu offers for the copy.
DUPLICATE_TEMPERATURES = (0.0, 0.7, 1.0, 1.5)

#: Below this page height the columns' own inputs hide (Alt+Enter still sends to one
#: column), leaving the room to the threads.
COMPACT_BELOW_PX = 420

#: File names taken for images even when their bytes say otherwise (then refused with why).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")

#: Longest side of a sent image in a thread, in pixels.
THREAD_IMAGE_PX = 160

#: Side of the thumbnail shown on an attached image's chip, in pixels.
THUMB_PX = 40

#: A chat with a column's thread longer than this opens a step per frame (_rebuild_columns).
LONG_THREAD_CHARS = 20_000

#: One frame, in milliseconds.
FRAME_MS = 16


class ChatList(Protocol):
    """What the Chat tab needs of the stored chats (``gui.storage.chats.ChatHistory``)."""

    def list(self, query: str = "", *, limit: int = 200) -> Sequence[Any]:
        """Chats newest first (records with ``id`` and ``title``)."""
        ...

    def get(self, chat_id: str) -> Chat | None:
        """One chat read back whole."""
        ...

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every write queued so far is on disk."""
        ...


# ------------------------------------------------------------------------- the thread


def _quote(text: str) -> str:
    return "\n".join(f"> {line}" if line else ">" for line in text.splitlines()) or ">"


def _nav(column: ChatColumn, node: ChatNode, kin: dict[str | None, list[str]] | None = None) -> str:
    """``‹ 1/2 ›`` links when ``node`` has alternatives, else nothing (``kin``: each parent's
    children's ids, for a caller that draws a whole thread)."""
    if kin is None:
        position, count = column.siblings(node.id)
    else:
        siblings = kin[node.parent]
        position, count = siblings.index(node.id) + 1, len(siblings)
    if count < 2:
        return ""
    return (
        f" · [‹]({CHAT_SCHEME}:prev/{node.id}) {position}/{count} [›]({CHAT_SCHEME}:next/{node.id})"
    )


def _user_block(
    column: ChatColumn, node: ChatNode, kin: dict[str | None, list[str]] | None = None
) -> str:
    head = f"**You** · [edit]({CHAT_SCHEME}:edit/{node.id}){_nav(column, node, kin)}"
    images = "".join(
        f"![{image.name}]({IMAGE_SCHEME}:{node.id}/{i}) " for i, image in enumerate(node.images)
    )
    return f"{head}\n\n{_quote(node.text)}\n\n" + (f"{images}\n\n" if images else "")


def _answer_head(chat: Chat, col: int) -> str:
    # The same while the answer streams and once it has ended, so that the ended thread
    # continues what is shown (appended, not rendered again): anything that is only known at
    # the end (how it ended, its alternatives) goes in the tail.
    return f"**{chat.column_title(col)}**\n\n"


def _answer_tail(
    column: ChatColumn, node: ChatNode, kin: dict[str | None, list[str]] | None = None
) -> str:
    # An answer may end inside a code block (stopped, or a model that never closed it): close
    # it, else the next question of the thread would show as code.
    fence = "\n```" if node.text.count("```") % 2 else ""
    marks = []
    if node.status is not NodeStatus.DONE:
        mark = "stopped" if node.status is NodeStatus.STOPPED else "failed"
        why = f": {node.error}" if node.error else ""
        marks.append(f"*[{mark}{why}]*")
    elif node.metrics is not None:
        # A done answer the reader must not take as whole or as sent: cut at max tokens,
        # stopped by the content filter, invalid characters replaced (issue 10).
        shown = [m for m in (node.metrics.finish_mark, node.metrics.note) if m]
        if shown:
            marks.append(f"*[{' · '.join(shown)}]*")
    nav = _nav(column, node, kin)
    if nav:  # under the answer: a regenerated answer ends by adding it, nothing re-rendered
        marks.append(f"*answer*{nav}")
    return f"{fence}\n\n" + ("".join(f"{m}\n\n" for m in marks))


def thread_parts(chat: Chat, col: int) -> list[str]:
    """Column ``col``'s shown thread as Markdown, one text per turn (a question and its
    answer): what its view renders turn by turn."""
    return ThreadParts().parts(chat, col)


class ThreadParts:
    """A column's :func:`thread_parts`, each node's Markdown made once and reused while it
    reads the same.

    A column is drawn again at every turn's start and end: rebuilding a long thread's
    Markdown each time (quoting every question, scanning every answer for code fences) cost
    six columns' worth in the frame a turn starts (docs/performance-notes.md). Nodes never change
    (:class:`~gui.core.chat.ChatNode` is frozen), so a node's piece is kept with the node and
    what else it shows (its place among its alternatives, the column's title) and made again
    only when one of those differs. Only the shown path's pieces are kept.
    """

    def __init__(self) -> None:
        # node id -> (the node, what else its piece shows, its piece)
        self._pieces: dict[str, tuple[ChatNode, tuple[Any, ...], str]] = {}

    def parts(self, chat: Chat, col: int) -> list[str]:
        """Column ``col``'s shown thread as Markdown, one text per turn."""
        column = chat.columns[col]
        # Each node's alternatives, found once: asking the column per node costs a scan of
        # every node each, which a thread of hundreds of turns feels on every redraw.
        kin: dict[str | None, list[str]] = {}
        for node in column.nodes.values():
            kin.setdefault(node.parent, []).append(node.id)
        title = chat.column_title(col)
        kept = self._pieces
        pieces: dict[str, tuple[ChatNode, tuple[Any, ...], str]] = {}
        parts: list[str] = []
        for node in column.path():
            siblings = kin[node.parent]
            place = (siblings.index(node.id), len(siblings)) if len(siblings) > 1 else None
            context = (place,) if node.role is Role.USER else (place, title)
            old = kept.get(node.id)
            if old is not None and old[0] is node and old[1] == context:
                piece = old[2]
            elif node.role is Role.USER:
                piece = _user_block(column, node, kin)
            else:
                piece = _answer_head(chat, col) + node.text + _answer_tail(column, node, kin)
            pieces[node.id] = (node, context, piece)
            if node.role is Role.USER:
                # A rule between turns: where each question starts.
                parts.append(("---\n\n" if parts else "") + piece)
            elif parts:
                parts[-1] += piece
            else:
                parts.append(piece)
        self._pieces = pieces
        return parts


def _thread_chars(column: ChatColumn) -> int:
    return sum(len(node.text) for node in column.path())


def thread_markdown(chat: Chat, col: int) -> str:
    """Column ``col``'s shown thread as one Markdown text (what its view shows)."""
    return "".join(thread_parts(chat, col))


# ------------------------------------------------------------------------- a column


class _ThreadView(ChatThreadView):
    """A column's thread view, which keeps the thumbnails of the images sent in it.

    A document forgets its resources whenever it is cleared, and a thread's document is
    cleared on every full re-render (a theme change, a thread that does not continue what is
    shown): the thumbnails live here and are handed back when the document asks again.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        #: Thumbnails by ``<node id>/<index>`` (the path of their ``chatimg:`` URL).
        self.images: dict[str, QImage] = {}

    def loadResource(self, type: int, name: QUrl | str) -> Any:
        """A thumbnail the document lost; anything else as the browser loads it."""
        url = QUrl(name) if isinstance(name, str) else name
        if url.scheme() == IMAGE_SCHEME and url.path() in self.images:
            return self.images[url.path()]
        return super().loadResource(type, url)


class ChatColumnView(QFrame):
    """One model's column: header, actions, its thread, its own input.

    Signals:
        send_requested(int, str): the column's own input asked to send to this column only.
        stop_requested(int), regenerate_requested(int), trim_requested(int): the header's
            buttons.
        duplicate_requested(int, object): repeat the column, with another temperature
            (``float``) or as it is (``None``).
        switch_requested(int, str, int): show the alternative ``step`` from a node.
        edit_requested(int, str): edit a user message of this column.
        system_changed(int, str): the column's own system message was edited.
        focused(int): the reader clicked or typed in this column (Alt+Enter's target).
    """

    send_requested = Signal(int, str)
    stop_requested = Signal(int)
    regenerate_requested = Signal(int)
    duplicate_requested = Signal(int, object)
    trim_requested = Signal(int)
    switch_requested = Signal(int, str, int)
    system_changed = Signal(int, str)
    edit_requested = Signal(int, str)
    focused = Signal(int)

    def __init__(self, col: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.col = col
        self._last_answer: str | None = None
        self._parts = ThreadParts()
        self._build_ui()

    def _build_ui(self) -> None:
        self.setObjectName("chatColumn")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(3)
        top = QHBoxLayout()
        self.title = ElidedLabel(min_chars=8)  # cut in the middle: "sim-f…t=1.2"
        self.title.setObjectName("chatColumnTitle")
        self.title.setStyleSheet("font-weight: bold")
        self.tokens = QLabel()
        self.tokens.setToolTip("Tokens of this column's thread (~: estimated)")
        self.prev_button = self._tool("‹", "Previous alternative of the last answer")
        self.alt_label = QLabel()
        self.next_button = self._tool("›", "Next alternative of the last answer")
        top.addWidget(self.title, 1)
        for part in (self.prev_button, self.alt_label, self.next_button):
            # Hidden without alternatives, but keeping their room: every header is as tall.
            policy = part.sizePolicy()
            policy.setRetainSizeWhenHidden(True)
            part.setSizePolicy(policy)
            top.addWidget(part)
        top.addWidget(self.tokens)
        layout.addLayout(top)
        bar = QHBoxLayout()
        bar.setSpacing(0)
        self.stop_button = self._tool(
            "Stop", "Stop this column's answer (the partial text is kept)"
        )
        self.regenerate_button = self._tool("Regenerate", "Another answer to the last question")
        self.duplicate_button = self._tool("Duplicate", "Another column with this model")
        self.duplicate_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.duplicate_button)
        menu.addAction("Plain repeat (same settings)", functools.partial(self._duplicate, None))
        for temperature in DUPLICATE_TEMPERATURES:
            menu.addAction(
                f"With temperature {temperature:g}", functools.partial(self._duplicate, temperature)
            )
        self.duplicate_button.setMenu(menu)
        self.stop_button.hide()  # shown while the column answers, in Regenerate's place
        # One width for both: the column's width must not change when a turn starts or ends
        # (a new width has Qt lay out the whole thread again, a long freeze on a long chat).
        both = max(self.stop_button.sizeHint().width(), self.regenerate_button.sizeHint().width())
        for button in (self.stop_button, self.regenerate_button):
            button.setMinimumWidth(both)
        self.system_button = self._tool("System", "This column's own system message")
        self.system_button.setCheckable(True)
        for button in (
            self.stop_button,
            self.regenerate_button,
            self.duplicate_button,
            self.system_button,
        ):
            bar.addWidget(button)
        bar.addStretch(1)
        layout.addLayout(bar)
        self.system_edit = QLineEdit()
        self.system_edit.setPlaceholderText("This column's system message (empty: the chat's)")
        self.system_edit.hide()
        self.system_edit.editingFinished.connect(
            lambda: self.system_changed.emit(self.col, self.system_edit.text())
        )
        self.system_button.toggled.connect(self.system_edit.setVisible)
        layout.addWidget(self.system_edit)
        warn = QHBoxLayout()
        self.warning = QLabel()
        self.warning.setWordWrap(True)
        self.warning.setStyleSheet("color: #b06000")
        self.trim_button = self._tool("Trim", "Send only the newest turns that fit the context")
        self.warn_stop_button = self._tool("Stop", "Stop this column's answer")
        warn.addWidget(self.warning, 1)
        warn.addWidget(self.trim_button)
        warn.addWidget(self.warn_stop_button)
        self._warn_row = (self.warning, self.trim_button, self.warn_stop_button)
        layout.addLayout(warn)
        self.view = _ThreadView()
        self.view.anchorClicked.connect(self._on_view_anchor_clicked)
        layout.addWidget(self.view, 1)
        self.input = QLineEdit()
        self.input.setPlaceholderText("Ask only this model… (Enter)")
        self.input.returnPressed.connect(self._on_input_return_pressed)
        layout.addWidget(self.input)
        self.stop_button.clicked.connect(lambda: self.stop_requested.emit(self.col))
        self.warn_stop_button.clicked.connect(lambda: self.stop_requested.emit(self.col))
        self.regenerate_button.clicked.connect(lambda: self.regenerate_requested.emit(self.col))
        self.trim_button.clicked.connect(lambda: self.trim_requested.emit(self.col))
        self.prev_button.clicked.connect(lambda: self._switch_last(-1))
        self.next_button.clicked.connect(lambda: self._switch_last(+1))
        self.view.installEventFilter(self)
        self.input.installEventFilter(self)
        # The column's minimum width, fixed now: a header whose text grows (a token count's
        # extra digit) must not narrow the other columns, since a new width has Qt lay out each
        # whole thread again (a long freeze on a long chat).
        self.setMinimumWidth(
            self.minimumSizeHint().width() + 3 * self.fontMetrics().averageCharWidth()
        )

    def _tool(self, text: str, tip: str) -> QToolButton:
        button = QToolButton()
        button.setText(text)
        button.setToolTip(tip)
        button.setAutoRaise(True)
        # Four actions share a column's width: tight padding lets four columns fit 1360 px
        # with their labels whole (the style's default padding needs ~30 px more each).
        button.setStyleSheet(
            "QToolButton { padding: 1px 2px; } QToolButton::menu-indicator { image: none; }"
        )
        # Never narrower than the label: the column's minimum width follows its actions, and
        # the columns scroll sideways instead of cutting them.
        button.setSizePolicy(QSizePolicy.Policy.Minimum, QSizePolicy.Policy.Fixed)
        return button

    def eventFilter(self, watched: Any, event: Any) -> bool:
        """Note the column the reader works in (Alt+Enter sends there)."""
        if event.type() in (event.Type.FocusIn, event.Type.MouseButtonPress):
            self.focused.emit(self.col)
        return super().eventFilter(watched, event)

    # ------------------------------------------------------------------ drawing

    def show_chat(self, chat: Chat, *, busy: bool) -> None:
        """Draw the column's header and its whole shown thread (appended when it continues)."""
        # A replaced document forgets its images: the view hands its thumbnails back.
        self._add_thumbnails(chat.columns[self.col])
        self.view.set_thread(self._parts.parts(chat, self.col))
        self.show_state(chat, busy=busy)

    def show_state(self, chat: Chat, *, busy: bool) -> None:
        """The header only: title, tokens, buttons, alternatives, the context warning."""
        column = chat.columns[self.col]
        profile = column.profile
        temp = f" · t={profile.temperature:g}" if profile.temperature is not None else ""
        self.title.set_full_text(
            f"{chat.column_title(self.col)}{temp}", f"{profile.display_name} ({profile.provider})"
        )
        self.tokens.setText(f"{thread_tokens(chat, self.col)} tokens")
        if not self.system_edit.hasFocus():
            self.system_edit.setText(column.system or "")
        self.system_button.setChecked(self.system_button.isChecked() or bool(column.system))
        path = column.path()
        last = path[-1] if path and path[-1].role is Role.ASSISTANT else None
        self._last_answer = last.id if last is not None else None
        position, count = column.siblings(last.id) if last is not None else (0, 0)
        self.alt_label.setText(f"{position}/{count}" if count > 1 else "")
        for button in (self.prev_button, self.next_button):
            button.setVisible(count > 1)
            button.setEnabled(not busy)
        self.prev_button.setEnabled(not busy and position > 1)
        self.next_button.setEnabled(not busy and position < count)
        # One place for both: a column answering can be stopped, an idle one asked again.
        self.stop_button.setVisible(busy)
        self.regenerate_button.setVisible(not busy)
        self.regenerate_button.setEnabled(last is not None)
        warning = context_warning(chat, self.col)
        self.warning.setText(warning or "")
        for w in self._warn_row:
            w.setVisible(warning is not None)

    def _add_thumbnails(self, column: ChatColumn) -> None:
        """Each sent image of the thread as a thumbnail the document can show (made once)."""
        document = self.view.document()
        for node in column.path():
            for i, image in enumerate(node.images):
                key = f"{node.id}/{i}"
                if key in self.view.images:
                    continue
                picture = QImage.fromData(QByteArray(image.data))
                if not picture.isNull():
                    picture = picture.scaled(
                        THREAD_IMAGE_PX,
                        THREAD_IMAGE_PX,
                        Qt.AspectRatioMode.KeepAspectRatio,
                        Qt.TransformationMode.SmoothTransformation,
                    )
                document.addResource(
                    QTextDocument.ResourceType.ImageResource,
                    QUrl(f"{IMAGE_SCHEME}:{key}"),
                    picture,
                )
                self.view.images[key] = picture

    def begin_answer(self, chat: Chat) -> None:
        """An answer starts streaming: the model's name under the question."""
        self.view.append(_answer_head(chat, self.col))

    def append(self, text: str) -> None:
        """Streamed text of the running answer (one call per frame)."""
        self.view.append(text)

    # ------------------------------------------------------------------ slots

    def _duplicate(self, temperature: float | None) -> None:
        self.duplicate_requested.emit(self.col, temperature)

    def _switch_last(self, step: int) -> None:
        if self._last_answer is not None:
            self.switch_requested.emit(self.col, self._last_answer, step)

    def _on_input_return_pressed(self) -> None:
        text = self.input.text()
        if text.strip():
            self.send_requested.emit(self.col, text)

    def _on_view_anchor_clicked(self, url: QUrl) -> None:
        if url.scheme() != CHAT_SCHEME:
            return
        action, _, node_id = url.path().partition("/")
        if action == "edit":
            self.edit_requested.emit(self.col, node_id)
        elif action in ("prev", "next"):
            self.switch_requested.emit(self.col, node_id, -1 if action == "prev" else 1)


# ------------------------------------------------------------------------- message box


def downscaled(name: str, data: bytes) -> bytes:
    """``data`` re-encoded smaller with ``QImage`` when it is over the size limits, else as is.

    The longer side is brought to :data:`DOWNSCALE_ABOVE_PIXELS`; a picture with transparency
    stays PNG, others become JPEG (what keeps a photo small).
    """
    image = QImage.fromData(QByteArray(data))
    if image.isNull():
        return data  # not an image Qt reads: image_attachment says what is wrong with it
    too_big = max(image.width(), image.height()) > DOWNSCALE_ABOVE_PIXELS
    if not too_big and len(data) <= DOWNSCALE_ABOVE_BYTES:
        return data
    if too_big:
        image = image.scaled(
            DOWNSCALE_ABOVE_PIXELS,
            DOWNSCALE_ABOVE_PIXELS,
            Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.SmoothTransformation,
        )
    out = encode_image(image, "PNG" if image.hasAlphaChannel() else "JPEG", 85)
    log.debug("downscaled %s from %d to %d bytes", name, len(data), len(out))
    return out


def encode_image(image: QImage, fmt: str, quality: int = -1) -> bytes:
    """``image`` encoded as ``fmt`` (``PNG``, ``JPEG``) in memory."""
    out = QByteArray()
    buffer = QBuffer(out)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    # PySide6 6.x takes the format as a str at run time; its stubs say bytes (which it refuses).
    image.save(buffer, fmt, quality)  # type: ignore[call-overload]
    buffer.close()
    return bytes(out.data())


class MessageBox(QPlainTextEdit):
    """The message box: Enter sends to all, Shift+Enter a new line, Alt+Enter one column.

    Images pasted or dropped into it are attached (not inserted as text).

    Signals:
        send_requested(bool): Enter (``False``) or Alt+Enter (``True``: the focused column).
        escape_pressed(): Esc, which stops every column.
        image_dropped(str, bytes): an image was pasted (name, encoded bytes).
        file_dropped(str, bytes): a local file was dropped or pasted (name, its bytes).
    """

    send_requested = Signal(bool)
    escape_pressed = Signal()
    image_dropped = Signal(str, bytes)
    file_dropped = Signal(str, bytes)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("chatMessageBox")
        self.setPlaceholderText(
            "Message every model… Enter sends to all, Alt+Enter to the focused column, "
            "Shift+Enter new line; paste or drop an image"
        )
        self.setTabChangesFocus(True)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        """Enter, Alt+Enter and Esc are the box's own; everything else types."""
        key, mods = event.key(), event.modifiers()
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            if mods & Qt.KeyboardModifier.ShiftModifier:
                self.insertPlainText("\n")
            else:
                self.send_requested.emit(bool(mods & Qt.KeyboardModifier.AltModifier))
            return
        if key == Qt.Key.Key_Escape:
            self.escape_pressed.emit()
            return
        super().keyPressEvent(event)

    def canInsertFromMimeData(self, source: QMimeData) -> bool:
        """Images and image files are accepted as attachments."""
        return source.hasImage() or source.hasUrls() or super().canInsertFromMimeData(source)

    def insertFromMimeData(self, source: QMimeData) -> None:
        """An image (pasted, or dropped as a file) becomes an attachment, text is typed."""
        if source.hasUrls():
            for url in source.urls():
                if url.isLocalFile():
                    self.file_dropped.emit(url.fileName(), _read_file(url.toLocalFile()))
            return
        if source.hasImage():
            image = QImage(source.imageData())
            self.image_dropped.emit("pasted.png", encode_image(image, "PNG"))
            return
        super().insertFromMimeData(source)


def _read_file(path: str) -> bytes:
    # A dropped file is read at once: the drop is a user's gesture on a local file, and the
    # size is checked right after (image_attachment) before anything else happens.
    try:
        with open(path, "rb") as handle:
            return handle.read(DOWNSCALE_ABOVE_BYTES * 8 + 1)
    except OSError:
        return b""


class _Chip(QFrame):
    """An attached image: thumbnail, name, remove."""

    removed = Signal(object)

    def __init__(self, image: ImageAttachment, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.image = image
        self.setObjectName("chatImageChip")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        thumb = QLabel()
        pixmap = QPixmap()
        pixmap.loadFromData(image.data)
        if not pixmap.isNull():
            thumb.setPixmap(
                pixmap.scaled(
                    THUMB_PX,
                    THUMB_PX,
                    Qt.AspectRatioMode.KeepAspectRatio,
                    Qt.TransformationMode.SmoothTransformation,
                )
            )
        size = f" {image.width}×{image.height}" if image.width else ""
        name = QLabel(f"{image.name}{size}")
        remove = QToolButton()
        remove.setText("×")
        remove.setToolTip("Remove this image")
        remove.setAutoRaise(True)
        remove.clicked.connect(lambda: self.removed.emit(self))
        for w in (thumb, name, remove):
            layout.addWidget(w)


# ------------------------------------------------------------------------- the page


class ChatPage(QWidget):
    """The Chat tab.

    Args:
        session: The chat session it drives (its events are drawn here).
        profiles: The models a new chat gets (the Models panel's columns).
        chats: The stored chats (to reopen one), or ``None``.

    Signals:
        chat_opened(str): a chat (new or reopened) is shown; its id.
        models_changed(list): the chat's model set changed (the workspace remembers it).
        turn_ended(str): a turn of the chat ended (its answers are being stored); its id.
        export_requested(Chat, str): save the chat shown as ``json``, ``md`` or ``md-table``.
        run_over_inputs_requested(Chat, str): run this message over the Inputs table, each
            column with its thread as context (the window starts the run in Results).
    """

    chat_opened = Signal(str)
    models_changed = Signal(list)
    turn_ended = Signal(str)
    export_requested = Signal(object, str)
    run_over_inputs_requested = Signal(object, str)

    def __init__(
        self,
        session: ChatSession,
        profiles: Callable[[], list[ModelProfile]],
        chats: Callable[[], ChatList | None] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.session = session
        self._profiles = profiles
        self._chats = chats
        self._tasks = TaskOwner()
        self.columns: list[ChatColumnView] = []
        self.images: list[ImageAttachment] = []
        self._focused = 0
        self._chat_models: list[ModelProfile] = []  # the last chat's columns
        self._editing: tuple[int, str] | None = None
        self._turns: dict[str, ChatTurn] = {}
        self._bridge = RunBridge(self)
        # A long chat's open, a step per frame (_rebuild_columns).
        self._open_steps: collections.deque[Callable[[], object]] = collections.deque()
        self._open_timer = QTimer(self)
        self._open_timer.setSingleShot(True)
        self._open_timer.setInterval(FRAME_MS)
        self._open_timer.timeout.connect(self._on_open_timer_timeout)
        self._bridge.frame_flushed.connect(self._on_bridge_frame_flushed)
        feed: Callable[[Any], None] = self._bridge.subscriber()
        turns = self._turns
        text_chunk = ev.TextChunk
        replace = dataclasses.replace

        def on_event(event: ev.Event | ChatEvent) -> None:
            # Runs for every token: rename the cell to its chat column and buffer it.
            if type(event) is text_chunk:
                turn = turns.get(event.run_id)
                if turn is not None:
                    feed(replace(event, cell_id=str(turn.column_of(event.cell_id))))
                return
            if isinstance(event, ChatTurnStarted):
                turns[event.turn.run.id] = event.turn
            feed(event)

        self._unsubscribe = session.subscribe(on_event)
        self._build_ui()

    def _build_ui(self) -> None:
        self.setObjectName("chatPage")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        top = QHBoxLayout()
        self.new_button = QToolButton()
        self.new_button.setText("New chat")
        self.new_button.setToolTip("A new chat with the Models panel's models")
        self.new_button.setPopupMode(QToolButton.ToolButtonPopupMode.MenuButtonPopup)
        self.new_button.clicked.connect(self._on_new_button_clicked)
        self.new_menu = QMenu(self.new_button)
        self.new_button.setMenu(self.new_menu)
        self._update_new_menu()
        self.system_edit = QLineEdit()
        self.system_edit.setPlaceholderText("System message for the chat (optional)")
        self.system_edit.editingFinished.connect(self._on_system_edit_editing_finished)
        self.chats_box = QComboBox()
        # Narrow, and no "Chats:" label (its first item says what it is): at 900 px the top
        # row holds New chat, the system message, the list, Export and Run over inputs.
        self.chats_box.setMinimumContentsLength(10)
        self.chats_box.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.chats_box.setToolTip("Reopen a stored chat: it continues where it was")
        self.chats_box.activated.connect(self._on_chats_box_activated)
        self.refresh_button = QToolButton()
        self.refresh_button.setText("⟳")
        self.refresh_button.setToolTip("Reload the list of stored chats")
        self.refresh_button.clicked.connect(self.refresh_chats)
        self.export_menu = QMenu("Export current chat", self)  # also in the File menu
        for text, fmt in CHAT_EXPORTS:
            action = self.export_menu.addAction(text)
            action.setData(fmt)
        self.export_menu.triggered.connect(self._on_export_menu_triggered)
        self.export_button = QToolButton()
        self.export_button.setText("Export ▾")
        self.export_button.setToolTip("Save this chat as JSON or Markdown")
        # popup(), not setMenu(): QToolButton opens its menu with exec(), a nested loop.
        self.export_button.clicked.connect(self._on_export_button_clicked)
        self.fan_out_button = QToolButton()
        self.fan_out_button.setText("Run over inputs…")
        self.fan_out_button.setToolTip(
            "Run the message in the box as a template over the Inputs table, a column per "
            "model of this chat, each with its thread as context (in Results)"
        )
        self.fan_out_button.clicked.connect(self.run_over_inputs)
        top.addWidget(self.new_button)
        self.system_edit.setMinimumWidth(SYSTEM_EDIT_MIN_PX)
        top.addWidget(self.system_edit, 1)
        top.addWidget(self.chats_box)
        top.addWidget(self.refresh_button)
        top.addWidget(self.export_button)
        top.addWidget(self.fan_out_button)
        layout.addLayout(top)
        self.area = QScrollArea()
        self.area.setWidgetResizable(True)
        self.area.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.strip = QWidget()
        self.strip_layout = QHBoxLayout(self.strip)
        self.strip_layout.setContentsMargins(0, 0, 0, 0)
        self.strip_layout.setSpacing(4)
        self.empty = QLabel(
            "Pick models in the Models panel, then New chat (or type a message: the chat "
            "starts with them)."
        )
        self.empty.setWordWrap(True)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.strip_layout.addWidget(self.empty)
        self.area.setWidget(self.strip)
        layout.addWidget(self.area, 1)
        self.error = QLabel()
        self.error.setObjectName("chatError")
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #c62828")
        self.error.hide()
        layout.addWidget(self.error)
        self.editing_label = QLabel()
        self.editing_label.hide()
        layout.addWidget(self.editing_label)
        self.chips = QHBoxLayout()
        self.chips.addStretch(1)
        layout.addLayout(self.chips)
        bottom = QHBoxLayout()
        self.box = MessageBox()
        self.box.setFixedHeight(56)
        self.box.send_requested.connect(self._on_box_send_requested)
        self.box.escape_pressed.connect(self.stop_all)
        self.box.image_dropped.connect(self.attach_image)
        self.box.file_dropped.connect(self.attach_file)
        self.send_button = QPushButton("Send")
        self.send_button.setToolTip("Send to every column (Enter)")
        self.send_button.clicked.connect(lambda: self._on_box_send_requested(False))
        self.stop_button = QPushButton("Stop all")
        self.stop_button.setToolTip("Stop every column (Esc); partial answers are kept")
        self.stop_button.clicked.connect(self.stop_all)
        buttons = QVBoxLayout()
        buttons.addWidget(self.send_button)
        buttons.addWidget(self.stop_button)
        bottom.addWidget(self.box, 1)
        bottom.addLayout(buttons)
        layout.addLayout(bottom)
        self._escape = QShortcut(QKeySequence(Qt.Key.Key_Escape), self)
        self._escape.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self._escape.activated.connect(self.stop_all)

    # ------------------------------------------------------------------ commands

    def new_chat(self, profiles: Sequence[ModelProfile] | None = None) -> Chat | None:
        """Start a chat with ``profiles`` (default: the Models panel's); ``None`` if refused."""
        chosen = list(profiles) if profiles is not None else self._profiles()
        if not chosen:
            self.show_error("No model to chat with: add one in the Models panel, then New chat.")
            return None
        try:
            chat = self.session.new_chat(chosen, system=self.system_edit.text().strip() or None)
        except SpecError as exc:  # a ChatError, or a profile that cannot work
            self.show_error(str(exc))
            return None
        self.show_error("")
        return chat

    def open_chat(self, chat: Chat) -> bool:
        """Show a stored chat; the next message continues it."""
        try:
            self.session.open(chat)
        except ChatError as exc:
            self.show_error(str(exc))
            return False
        return True

    def send(self, columns: Sequence[int] | None = None, text: str | None = None) -> bool:
        """Send the box's message (or ``text``) with its images to ``columns`` (default all).

        An edit in progress (an *edit* link was clicked) sends the new branch instead.
        """
        message = self.box.toPlainText() if text is None else text
        if self.session.chat is None and self.new_chat(self._chat_models or None) is None:
            return False
        try:
            if self._editing is not None and text is None:
                col, node_id = self._editing
                self.session.edit(col, node_id, message, images=tuple(self.images) or None)
            else:
                self.session.send(message, images=tuple(self.images), columns=columns)
        except ChatError as exc:
            self.show_error(str(exc))
            return False
        self.show_error("")
        self._clear_images()  # they went with this message
        if text is None:
            self.box.clear()
            self._set_editing(None)
        return True

    def run_over_inputs(self) -> bool:
        """Ask for the box's message to run over the Inputs table (see
        :attr:`run_over_inputs_requested`); ``False``, and why inline, when it cannot."""
        message = self.box.toPlainText()
        if not message.strip():
            self.show_error(
                "The message is empty: type the template to run over the inputs, "
                "e.g. Now answer for {city}."
            )
            return False
        if self.session.chat is None and self.new_chat(self._chat_models or None) is None:
            return False
        chat = self.session.chat
        if chat is None:
            return False
        if self.session.busy_columns:
            self.show_error("A turn is still running: let it end (or Esc), then run over inputs.")
            return False
        self.show_error("")
        self.run_over_inputs_requested.emit(chat, message)
        return True

    def chat_models(self) -> list[ModelProfile]:
        """The model set of the last chat (what the workspace remembers)."""
        return list(self._chat_models)

    def set_chat_models(self, profiles: list[ModelProfile]) -> None:
        """The remembered model set (from the workspace): New chat offers it."""
        self._chat_models = list(profiles)
        self._update_new_menu()

    def begin_edit(self, col: int, node_id: str) -> None:
        """Put column ``col``'s user message ``node_id`` in the box: Enter sends a branch."""
        chat = self.session.chat
        if chat is None or node_id not in chat.columns[col].nodes:
            return
        self._set_editing((col, node_id))
        self.box.setPlainText(chat.columns[col].nodes[node_id].text)
        self.box.setFocus()

    def stop_all(self) -> None:
        """Stop every column (Esc), or cancel an edit in progress."""
        if self._editing is not None and not self.session.busy_columns:
            self._set_editing(None)
            self.box.clear()
            return
        self.session.stop()

    def attach_image(self, name: str, data: bytes) -> bool:
        """Attach an image (downscaled above the limit); a bad one is refused inline."""
        try:
            image = image_attachment(name, downscaled(name, data))
        except ChatError as exc:
            self.show_error(str(exc))
            return False
        self.images.append(image)
        chip = _Chip(image)
        chip.removed.connect(self._on_chip_removed)
        self.chips.insertWidget(self.chips.count() - 1, chip)
        self.show_error("")
        return True

    def attach_file(self, name: str, data: bytes) -> bool:
        """A dropped file: an image is attached, a text file inlined in the message with its
        name; anything else is refused inline with the fix."""
        if sniff_image(data) is not None or name.lower().endswith(IMAGE_SUFFIXES):
            return self.attach_image(name, data)
        try:
            text = text_attachment(name, data)
        except ChatError as exc:
            self.show_error(str(exc))
            return False
        typed = self.box.toPlainText().rstrip()
        self.box.setPlainText(f"{typed}\n\n{text}" if typed else text)
        self.show_error("")
        return True

    def duplicate_column(self, col: int, temperature: float | None = None) -> None:
        """Add a copy of column ``col`` (``temperature``: another value for it, else as is).

        The chat's threads carry on unchanged; the copy starts with the same thread.
        """
        chat = self.session.chat
        if chat is None:
            return
        try:
            self.session.duplicate_column(col, temperature=temperature)
        except SpecError as exc:
            self.show_error(str(exc))

    def show_error(self, text: str) -> None:
        """One line under the columns (empty: hide it)."""
        self.error.setText(text)
        self.error.setVisible(bool(text))

    def refresh_chats(self) -> None:
        """Reload the stored chats' list off the GUI thread."""
        store = self._chats() if self._chats is not None else None
        if store is None:
            return
        self._tasks.spawn(self._load_chats(store), "fanout-chat-list")

    async def wait_idle(self) -> None:
        """Wait for the page's own tasks (the chat list loads)."""
        await self._tasks.wait_idle()

    def shutdown(self) -> None:
        """Stop drawing: the window is closing (turns are stopped by the session)."""
        self._open_timer.stop()
        self._open_steps.clear()
        self._unsubscribe()
        self._bridge.close()
        for task in self._tasks.pending():
            task.cancel()

    def resizeEvent(self, event: QResizeEvent) -> None:
        """A short page (a small window) gives the columns' inputs' room to the threads."""
        super().resizeEvent(event)
        self._apply_compact()

    def _apply_compact(self) -> None:
        compact = self.height() < COMPACT_BELOW_PX
        for view in self.columns:
            view.input.setVisible(not compact)

    # ------------------------------------------------------------------ internals

    async def _load_chats(self, store: ChatList) -> None:
        def read() -> Sequence[Any]:
            store.flush()  # the turn that just ended is listed too
            return store.list()

        records = await asyncio.to_thread(read)
        self.chats_box.clear()
        self.chats_box.addItem("Open chat…", None)
        for record in records:
            title = record.title or "(untitled)"
            self.chats_box.addItem(f"{title[:40]} · {record.id}", record.id)

    async def _open_stored(self, store: ChatList, chat_id: str) -> None:
        chat = await asyncio.to_thread(store.get, chat_id)
        if chat is None:
            self.show_error(f"Chat {chat_id} is no longer stored: refresh the list.")
            return
        self.open_chat(chat)

    def _update_new_menu(self) -> None:
        menu = self.new_menu
        menu.clear()
        menu.addAction("With the Models panel's models", self._on_new_button_clicked)
        if self._chat_models:
            names = ", ".join(p.display_name for p in self._chat_models)
            action = menu.addAction(
                f"With the last chat's models ({len(self._chat_models)})",
                self._on_new_last_action_triggered,
            )
            action.setToolTip(names)
        menu.setToolTipsVisible(True)

    def _set_editing(self, editing: tuple[int, str] | None) -> None:
        self._editing = editing
        if editing is None:
            self.editing_label.hide()
            return
        chat = self.session.chat
        title = chat.column_title(editing[0]) if chat is not None else ""
        self.editing_label.setText(
            f"Editing a message of {title}: Enter sends it as a new branch, Esc cancels."
        )
        self.editing_label.show()

    def _clear_images(self) -> None:
        self.images.clear()
        for i in reversed(range(self.chips.count())):
            item = self.chips.itemAt(i)
            widget = item.widget() if item is not None else None
            if isinstance(widget, _Chip):
                widget.deleteLater()
                self.chips.removeWidget(widget)

    def _rebuild_columns(self, chat: Chat) -> None:
        """Replace the columns with ``chat``'s, then say so (``chat_opened``).

        A long chat is built a step per frame, each step queued once the previous one has
        ended (so a frame, the heartbeat and input come between two): each column's widgets
        (hidden), then all of them shown at once and ``chat_opened``, then each column's
        thread (its Markdown and placeholders, at the column's final width). Built at once,
        six columns and their threads were one long frame, and the threads drawn at the
        columns' first width were sized again at their real one (docs/performance-notes.md).
        A short chat is built at once.
        """
        self._open_steps.clear()
        self._open_timer.stop()
        for view in self.columns:
            self.strip_layout.removeWidget(view)
            view.deleteLater()
        self.columns = []
        self.empty.setVisible(not chat.columns)
        count = len(chat.columns)
        if not any(_thread_chars(column) > LONG_THREAD_CHARS for column in chat.columns):
            for col in range(count):
                self._add_column(chat, col, hidden=False).show_chat(chat, busy=False)
            self._columns_built(chat)
            return
        self._open_steps.extend(
            functools.partial(self._add_column, chat, col, hidden=True) for col in range(count)
        )
        self._open_steps.append(functools.partial(self._columns_built, chat))
        self._open_steps.extend(functools.partial(self._redraw, col) for col in range(count))
        self._on_open_timer_timeout()  # the first step in this frame

    def _add_column(self, chat: Chat, col: int, *, hidden: bool) -> ChatColumnView:
        """Add column ``col``'s view, its header drawn (``hidden``: shown later)."""
        view = ChatColumnView(col)
        view.send_requested.connect(self._on_column_send_requested)
        view.stop_requested.connect(self._on_column_stop_requested)
        view.regenerate_requested.connect(self._on_column_regenerate_requested)
        view.duplicate_requested.connect(self._on_column_duplicate_requested)
        view.trim_requested.connect(self._on_column_trim_requested)
        view.switch_requested.connect(self._on_column_switch_requested)
        view.edit_requested.connect(self.begin_edit)
        view.system_changed.connect(self._on_column_system_changed)
        view.focused.connect(self._on_column_focused)
        if hidden:
            # Hidden until every column is there: a column shown as it comes would narrow
            # the others each frame (a new width relays out a thread's document).
            view.setVisible(False)
        self.strip_layout.addWidget(view, 1)
        self.columns.append(view)
        view.show_state(chat, busy=False)
        return view

    def _columns_built(self, chat: Chat) -> None:
        for view in self.columns:
            view.setVisible(True)
        self._focused = 0
        self._apply_compact()
        self.chat_opened.emit(chat.id)

    def _finish_open(self) -> None:
        """Run what is left of a staged open now: an event or text for the chat needs every
        column and its thread (a rare long frame: the user acted within the open's frames)."""
        self._open_timer.stop()
        while self._open_steps:
            self._open_steps.popleft()()

    def _redraw(self, col: int) -> None:
        chat = self.session.chat
        if chat is not None and col < len(self.columns):
            self.columns[col].show_chat(chat, busy=col in self.session.busy_columns)

    # ------------------------------------------------------------------ slots

    def _on_open_timer_timeout(self) -> None:
        if self._open_steps:
            self._open_steps.popleft()()
        if self._open_steps:
            self._open_timer.start()  # a frame from this step's end, not from its start

    def _on_bridge_frame_flushed(
        self, texts: dict[str, str], events: list[ev.Event | ChatEvent]
    ) -> None:
        # A frame's text comes after the events that start its answers (a turn's first token
        # follows its ChatTurnStarted) and before those that end them (an answer's node joins
        # the tree after its last token): the bridge keeps the text apart, so the events are
        # drawn in two passes around it. Each redraw reads the chat as it is now, so a rare
        # frame with an answer ending and its column's next turn starting still ends right.
        ends = (ChatAnswerAdded, ChatTurnEnded)
        # A turn's start redraws its columns: a message added to one of them in the same frame
        # needs no redraw of its own (a column of a long thread costs milliseconds a redraw,
        # and a new turn reaches every column at once).
        starting = {
            request.col
            for event in events
            if isinstance(event, ChatTurnStarted) and event.turn.chat is self.session.chat
            for request in event.turn.requests
        }
        for event in events:
            if isinstance(event, ChatUserMessageAdded) and event.col in starting:
                continue
            if not isinstance(event, ends):
                self._draw_event(event)
        if texts:
            self._finish_open()
        for key, text in texts.items():
            col = int(key)
            if col < len(self.columns):
                self.columns[col].append(text)
        for event in events:
            if isinstance(event, ends):
                self._draw_event(event)

    def _draw_event(self, event: ev.Event | ChatEvent) -> None:
        if isinstance(event, ChatOpened):
            self.system_edit.setText(event.chat.system or "")
            self._set_editing(None)
            profiles = [c.profile for c in event.chat.columns]
            if profiles != self._chat_models:
                self._chat_models = profiles
                self._update_new_menu()
                self.models_changed.emit(profiles)
            self._rebuild_columns(event.chat)  # chat_opened once its columns are there
            return
        chat = self.session.chat
        if chat is None or getattr(event, "chat_id", chat.id) != chat.id:
            return
        self._finish_open()
        if isinstance(event, ChatUserMessageAdded | ChatAnswerAdded | ChatHeadMoved):
            self._redraw(event.col)
        elif isinstance(event, ChatTurnStarted):
            if event.turn.chat is not chat:
                return
            for request in event.turn.requests:
                if request.col < len(self.columns):
                    self._redraw(request.col)
                    self.columns[request.col].begin_answer(chat)
        elif isinstance(event, ChatTurnEnded):
            self._turns.pop(event.turn.run.id, None)
            for col in event.results:
                self._redraw(col)
            if self.chats_box.findData(chat.id) < 0:
                self.refresh_chats()  # a new chat's first turn: list it for reopening
            self.turn_ended.emit(chat.id)

    def _on_box_send_requested(self, one: bool) -> None:
        self.send([self._focused] if one and self.columns else None)

    def _on_column_send_requested(self, col: int, text: str) -> None:
        if self.send([col], text):
            self.columns[col].input.clear()

    def _on_column_stop_requested(self, col: int) -> None:
        self.session.stop(col)

    def _on_column_regenerate_requested(self, col: int) -> None:
        try:
            self.session.regenerate(col)
        except ChatError as exc:
            self.show_error(str(exc))

    def _on_column_duplicate_requested(self, col: int, temperature: float | None) -> None:
        self.duplicate_column(col, temperature)

    def _on_column_trim_requested(self, _col: int) -> None:
        self.session.trim_to_fit = True
        self.show_error("")

    def _on_column_switch_requested(self, col: int, node_id: str, step: int) -> None:
        try:
            self.session.switch(col, node_id, step)
        except ChatError as exc:
            self.show_error(str(exc))

    def _on_column_focused(self, col: int) -> None:
        self._focused = col

    def _on_chip_removed(self, chip: _Chip) -> None:
        if chip.image in self.images:
            self.images.remove(chip.image)
        self.chips.removeWidget(chip)
        chip.deleteLater()

    def _on_new_button_clicked(self) -> None:
        self.new_chat()

    def _on_new_last_action_triggered(self) -> None:
        self.new_chat(self._chat_models)

    def _on_system_edit_editing_finished(self) -> None:
        self._set_system(self.system_edit.text(), None)

    def _on_column_system_changed(self, col: int, text: str) -> None:
        self._set_system(text, col)

    def _set_system(self, text: str, col: int | None) -> None:
        chat = self.session.chat
        if chat is None:
            return  # the chat-wide one is read when the chat starts
        current = chat.system if col is None else chat.columns[col].system
        if (text.strip() or None) == current:
            return
        self.session.set_system(text, col)
        for index, view in enumerate(self.columns):
            view.show_state(chat, busy=index in self.session.busy_columns)

    def _on_export_button_clicked(self) -> None:
        below = self.export_button.mapToGlobal(QPoint(0, self.export_button.height()))
        self.export_menu.popup(below)

    def _on_export_menu_triggered(self, action: QAction) -> None:
        self.export_chat(str(action.data()))

    def export_chat(self, fmt: str) -> bool:
        """Ask to save the chat shown as ``fmt`` (``json``, ``md``, ``md-table``); ``False``
        (and why, inline) when there is nothing to save yet."""
        chat = self.session.chat
        if chat is None or not any(c.nodes for c in chat.columns):
            self.show_error("Nothing to export yet: send a message first.")
            return False
        self.show_error("")
        self.export_requested.emit(chat, fmt)
        return True

    def _on_chats_box_activated(self, index: int) -> None:
        chat_id = self.chats_box.itemData(index)
        store = self._chats() if self._chats is not None else None
        if chat_id and store is not None:
            self._tasks.spawn(self._open_stored(store, str(chat_id)), "fanout-chat-open")
