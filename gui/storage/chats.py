"""Chats in the history file: each node on disk as soon as it exists, read back whole.

:class:`ChatHistory` writes through the history's writer thread (:meth:`History.submit`), so a
chat has the same guarantees as a run: the chat and its columns when it starts, each user
message when it is sent, and each column's answer as soon as that column's answer ends (a
kill -9 mid-turn loses only answers that had not ended). Nothing blocks the caller's loop: a
write is queued, and :meth:`ChatHistory.flush` waits for it when a caller must know (the CLI
before it exits). :meth:`ChatHistory.get` reads a chat back with every branch and
alternative; :meth:`ChatHistory.list` lists chats newest first, searching their text.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from gui.core.chat import (
    Chat,
    ChatColumn,
    ChatNode,
    ImageAttachment,
    NodeStatus,
    Role,
)
from gui.core.cleantext import clean
from gui.core.keys import redact
from gui.core.spec import profile_from_dict, profile_to_dict
from gui.storage.history import History, HistoryError, ids_matching
from gui.storage.records import metrics_from_dict


class AmbiguousChatId(HistoryError):
    """A chat id prefix matches several chats."""


@dataclass(frozen=True, slots=True)
class ChatRecord:
    """One line of the chat list.

    Attributes:
        id: The chat's id.
        title: Its title.
        created_at: Epoch seconds when it began.
        updated_at: Epoch seconds of its last message.
        models: Its columns' titles.
        messages: User messages sent (over every column and branch, counted once per turn).
    """

    id: str
    title: str
    created_at: float
    updated_at: float
    models: tuple[str, ...]
    messages: int


class ChatHistory:
    """The chats of a :class:`History` file.

    Args:
        history: The open history (its writer thread writes the chats too).
    """

    def __init__(self, history: History) -> None:
        self.history = history

    # ------------------------------------------------------------------ writing

    def save_chat(self, chat: Chat) -> None:
        """Write the chat's header and columns (again: titles and heads change)."""
        header = (
            chat.id,
            clean(chat.title)[0],
            chat.system,
            chat.created_at,
            chat.updated_at,
        )
        columns = [
            (chat.id, i, json.dumps(profile_to_dict(c.profile)), c.system, c.head)
            for i, c in enumerate(chat.columns)
        ]

        def apply(conn: sqlite3.Connection) -> None:
            conn.execute(
                """INSERT INTO chats (id, title, system, created_at, updated_at)
                   VALUES (?, ?, ?, ?, ?)
                   ON CONFLICT(id) DO UPDATE SET title = excluded.title,
                       system = excluded.system, updated_at = excluded.updated_at""",
                header,
            )
            conn.executemany(
                """INSERT INTO chat_columns (chat_id, col_index, profile_json, system, head)
                   VALUES (?, ?, ?, ?, ?)
                   ON CONFLICT(chat_id, col_index) DO UPDATE SET
                       profile_json = excluded.profile_json, system = excluded.system,
                       head = excluded.head""",
                columns,
            )

        self.history.submit(f"chat {chat.id}", apply)

    def save_node(self, chat: Chat, col: int, node: ChatNode) -> None:
        """Write one node of column ``col`` (and the column's head, the chat's time)."""
        column = chat.columns[col]
        seq = list(column.nodes).index(node.id)
        row = (
            chat.id,
            node.id,
            col,
            node.parent,
            seq,
            str(node.role),
            clean(node.text)[0],
            str(node.status),
            redact(node.error) if node.error else None,
            json.dumps(asdict(node.metrics)) if node.metrics is not None else None,
            json.dumps(_image_refs(node.images)) if node.images else None,
            node.created_at,
        )
        images = [(chat.id, _sha(i.data), i.mime, i.width, i.height, i.data) for i in node.images]
        head, updated, chat_id = column.head, chat.updated_at, chat.id

        def apply(conn: sqlite3.Connection) -> None:
            conn.execute(
                """INSERT OR REPLACE INTO chat_nodes (chat_id, id, col_index, parent_id, seq,
                       role, text, status, error, metrics_json, images_json, created_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                row,
            )
            if images:
                conn.executemany(
                    "INSERT OR IGNORE INTO chat_images (chat_id, sha256, mime, width, height, "
                    "data) VALUES (?, ?, ?, ?, ?, ?)",
                    images,
                )
            conn.execute(
                "UPDATE chat_columns SET head = ? WHERE chat_id = ? AND col_index = ?",
                (head, chat_id, col),
            )
            conn.execute("UPDATE chats SET updated_at = ? WHERE id = ?", (updated, chat_id))

        self.history.submit(f"chat {chat.id} node {node.id}", apply)

    def delete(self, chat_id: str, *, timeout: float = 10.0) -> bool:
        """Delete a chat (its id or a unique prefix) with its columns, nodes and images.

        Returns ``False`` when no chat matched. Blocks until the writer committed it (after
        every write queued before it): call it off the GUI thread.

        Raises:
            AmbiguousChatId: the prefix matches several chats.
            HistoryError: the history is read-only, or the delete did not complete in time.
        """
        if self.history.read_only:
            raise HistoryError("The history is read-only (written by a newer Fanout Studio).")
        full = self.resolve_id(chat_id)
        if full is None:
            return False

        def apply(conn: sqlite3.Connection) -> None:
            # The columns, nodes and images go with it (ON DELETE CASCADE).
            conn.execute("DELETE FROM chats WHERE id = ?", (full,))

        self.history.submit(f"delete chat {full}", apply)
        if not self.history.flush(timeout):
            raise HistoryError("The history is busy: the chat was not deleted yet.")
        return True

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every chat write queued so far is committed; ``False`` on timeout."""
        return self.history.flush(timeout)

    # ------------------------------------------------------------------ reading

    def resolve_id(self, chat_id: str) -> str | None:
        """The full id of the chat ``chat_id`` names (an id or unique prefix), or ``None``.

        Raises:
            AmbiguousChatId: the prefix matches several chats.
            HistoryError: the database cannot be read.
        """
        if not chat_id:
            return None

        def read(conn: sqlite3.Connection) -> list[str]:
            return ids_matching(conn, "chats", "updated_at", chat_id)

        found: list[str] = self.history.read("find the chat", read)
        if len(found) > 1:
            raise AmbiguousChatId(
                f"{chat_id!r} matches several chats ({', '.join(found[:5])}): give more of the id."
            )
        return found[0] if found else None

    def get(self, chat_id: str) -> Chat | None:
        """The chat ``chat_id`` names (id or unique prefix), every branch and alternative in.

        Raises:
            AmbiguousChatId: the prefix matches several chats.
            HistoryError: the database cannot be read.
        """
        full = self.resolve_id(chat_id)
        if full is None:
            return None

        def read(conn: sqlite3.Connection) -> Chat | None:
            head = conn.execute(
                "SELECT id, title, system, created_at, updated_at FROM chats WHERE id = ?", (full,)
            ).fetchone()
            if head is None:
                return None
            columns = [
                ChatColumn(profile_from_dict(_json(p)), system or None, {}, None)
                for p, system in conn.execute(
                    "SELECT profile_json, system FROM chat_columns WHERE chat_id = ? "
                    "ORDER BY col_index",
                    (full,),
                )
            ]
            heads = dict(
                conn.execute(
                    "SELECT col_index, head FROM chat_columns WHERE chat_id = ?", (full,)
                ).fetchall()
            )
            chat = Chat(head[0], head[1], head[2], columns, head[3], head[4])
            blobs = {
                sha: (mime, width, height, bytes(data))
                for sha, mime, width, height, data in conn.execute(
                    "SELECT sha256, mime, width, height, data FROM chat_images WHERE chat_id = ?",
                    (full,),
                )
            }
            rows = conn.execute(
                """SELECT col_index, id, parent_id, role, text, status, error, metrics_json,
                          images_json, created_at
                   FROM chat_nodes WHERE chat_id = ? ORDER BY col_index, seq""",
                (full,),
            ).fetchall()
            for col, nid, parent, role, text, status, error, metrics, images, created in rows:
                if not 0 <= col < len(columns):
                    continue
                node = ChatNode(
                    nid,
                    parent,
                    Role(role),
                    text,
                    _images(json.loads(images), blobs) if images else (),
                    NodeStatus(status),
                    error,
                    metrics_from_dict(_json(metrics)) if metrics else None,
                    created,
                )
                column = columns[col]
                if parent is not None and parent not in column.nodes:
                    continue  # its parent never reached the disk: unreachable, left out
                column.add(node, move_head=False)
            for col, column in enumerate(columns):
                wanted = heads.get(col)
                # The head written last may name a node whose write came later (or never):
                # fall back on the newest node, which is where the thread had got to.
                column.head = wanted if wanted in column.nodes else _newest(column)
            return chat

        result: Chat | None = self.history.read("read the chat", read)
        return result

    def list(self, query: str = "", *, limit: int = 200) -> list[ChatRecord]:
        """Chats, newest first; ``query`` keeps those whose title or any message contains it.

        Raises:
            HistoryError: the database cannot be read.
        """

        def read(conn: sqlite3.Connection) -> list[ChatRecord]:
            params: list[Any] = []
            where = ""
            if query:
                like = f"%{_escape_like(query)}%"
                where = (
                    "WHERE c.title LIKE ? ESCAPE '\\' OR EXISTS (SELECT 1 FROM chat_nodes n "
                    "WHERE n.chat_id = c.id AND n.text LIKE ? ESCAPE '\\')"
                )
                params += [like, like]
            rows = conn.execute(
                f"""SELECT c.id, c.title, c.created_at, c.updated_at
                    FROM chats c {where} ORDER BY c.updated_at DESC LIMIT ?""",
                [*params, limit],
            ).fetchall()
            out = []
            for chat_id, title, created, updated in rows:
                models = tuple(
                    str(profile_from_dict(_json(p)).display_name)
                    for (p,) in conn.execute(
                        "SELECT profile_json FROM chat_columns WHERE chat_id = ? "
                        "ORDER BY col_index",
                        (chat_id,),
                    )
                )
                (messages,) = conn.execute(
                    "SELECT COUNT(*) FROM chat_nodes WHERE chat_id = ? AND role = 'user' "
                    "AND col_index = 0",
                    (chat_id,),
                ).fetchone()
                out.append(ChatRecord(chat_id, title, created, updated, models, int(messages)))
            return out

        result: list[ChatRecord] = self.history.read("list the chats", read)
        return result


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _image_refs(images: Sequence[ImageAttachment]) -> list[dict[str, Any]]:
    """What a node stores of its images: names and hashes (the bytes go to chat_images)."""
    return [{"name": i.name, "sha256": _sha(i.data)} for i in images]


def _images(
    refs: Any, blobs: Mapping[str, tuple[str, int, int, bytes]]
) -> tuple[ImageAttachment, ...]:
    """A node's images from its references; one whose bytes are missing is left out."""
    out = []
    for ref in refs if isinstance(refs, list) else ():
        blob = blobs.get(str(ref.get("sha256"))) if isinstance(ref, dict) else None
        if blob is None:
            continue
        mime, width, height, data = blob
        out.append(ImageAttachment(str(ref.get("name") or "image"), mime, data, width, height))
    return tuple(out)


def _newest(column: ChatColumn) -> str | None:
    return next(reversed(column.nodes), None) if column.nodes else None


def _json(text: str | None) -> dict[str, Any]:
    try:
        data = json.loads(text or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
