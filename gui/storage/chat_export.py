"""Exports of a chat: JSON (every tree) and Markdown in two layouts, for the CLI and the window.

* ``json``: the whole chat: every column's tree (branches and alternatives), which node each
  column shows (its head), every answer's status, error and metrics; images by name, type
  and size (their bytes stay in the history).
* ``md``: each column's shown thread as a section, answers marked with their alternatives
  (``2/3``) and with how they ended when not done.
* ``md-table``: one side-by-side table per turn, a column per model; a turn whose message
  differs between columns (sent to one column, or an edited branch) gets a "You" row.

:func:`save_chat` writes a file the way :func:`gui.storage.export.save` writes a run's: never
over the app's own files, created private (0600), remembered as an export.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from gui.core.chat import Chat, ChatColumn, ChatNode, NodeStatus, Role, thread_tokens
from gui.core.cleantext import clean, clean_json
from gui.core.metrics import CellMetrics
from gui.core.spec import profile_to_dict
from gui.storage import paths
from gui.storage.export import ExportRefused, md_cell, refusal

__all__ = [
    "CHAT_FORMATS",
    "chat_to_dict",
    "chat_to_markdown",
    "chat_to_table_markdown",
    "default_chat_filename",
    "export_chat",
    "node_mark",
    "save_chat",
]

#: Chat export formats and their file extensions.
CHAT_FORMATS: Mapping[str, str] = {"json": "json", "md": "md", "md-table": "md"}

_ALIASES = {"markdown": "md", "table": "md-table"}


def _fmt_name(fmt: str) -> str:
    name = _ALIASES.get(fmt.lower(), fmt.lower())
    if name not in CHAT_FORMATS:
        raise ValueError(f"a chat exports as {', '.join(CHAT_FORMATS)}, not {fmt!r}")
    return name


def _date(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(epoch))


def done_mark(metrics: CellMetrics | None) -> str:
    """``done · 1.20 s · 60 tokens`` (tokens estimated: ``~60``)."""
    parts = ["done"]
    if metrics is not None:
        if metrics.latency is not None:
            parts.append(f"{metrics.latency:.2f} s")
        parts.append(f"{'~' if metrics.tokens_estimated else ''}{metrics.output_tokens} tokens")
    return " · ".join(parts)


def node_mark(node: ChatNode) -> str:
    """``done · 1.20 s · 60 tokens``, ``stopped: reason`` or ``failed: message``."""
    if node.status is NodeStatus.DONE:
        return done_mark(node.metrics)
    return f"{node.status}: {node.error or 'no reason given'}"


def export_chat(chat: Chat, fmt: str) -> str:
    """``chat`` as text in ``fmt`` (``json``, ``md`` or ``md-table``).

    Raises:
        ValueError: unknown format.
    """
    name = _fmt_name(fmt)
    if name == "json":
        return json.dumps(clean_json(chat_to_dict(chat))[0], ensure_ascii=False, indent=2) + "\n"
    text = chat_to_markdown(chat) if name == "md" else chat_to_table_markdown(chat)
    return clean(text)[0]


def save_chat(chat: Chat, fmt: str, target: Path) -> Path:
    """Write ``chat`` as ``fmt`` to the file ``target`` (a new file is created 0600).

    Raises:
        ExportRefused: ``target`` is one of the app's own files.
        ValueError: unknown format.
        OSError: the file cannot be written.
    """
    text = export_chat(chat, fmt)
    refused = refusal(target)
    if refused:
        raise ExportRefused(refused)
    with open(target, "w", encoding="utf-8", newline="", opener=paths.private_file_opener) as f:
        f.write(text)
    paths.record_export(target)
    return target


def default_chat_filename(chat: Chat, fmt: str) -> str:
    """``fanout-<chat id>-<first words of the title>[-table].<ext>``."""
    name = _fmt_name(fmt)
    chat_id = re.sub(r"[^A-Za-z0-9_.-]+", "_", chat.id).strip("._") or "chat"
    words = re.findall(r"[A-Za-z0-9]+", chat.title.lower())[:5]
    slug = "-".join(words)[:40].strip("-")
    table = "-table" if name == "md-table" else ""
    return f"fanout-{chat_id}{'-' + slug if slug else ''}{table}.{CHAT_FORMATS[name]}"


# ------------------------------------------------------------------------- Markdown


def _head_lines(chat: Chat) -> list[str]:
    lines = [f"# {chat.title or 'Chat'}", "", f"`{chat.id}` · {_date(chat.created_at)}", ""]
    if chat.system:
        lines += [f"**System:** {chat.system}", ""]
    return lines


def _alt(column: ChatColumn, node: ChatNode) -> str:
    position, count = column.siblings(node.id)
    return f" ({position}/{count})" if count > 1 else ""


def _other_branches(column: ChatColumn) -> int:
    """User messages of the column's tree that are not on its shown path."""
    shown = sum(1 for n in column.path() if n.role is Role.USER)
    return sum(1 for n in column.nodes.values() if n.role is Role.USER) - shown


def chat_to_markdown(chat: Chat) -> str:
    """Each column as a section: its shown path, answers marked with their alternatives."""
    lines = _head_lines(chat)
    for col, column in enumerate(chat.columns):
        lines += [f"## {chat.column_title(col)}", ""]
        if column.system:
            lines += [f"**System (this column):** {column.system}", ""]
        for node in column.path():
            alt = _alt(column, node)
            if node.role is Role.USER:
                lines.append(f"**You{alt}:** {node.text}")
                for image in node.images:
                    lines.append(
                        f"*[image {image.name}: {image.format}, {len(image.data):,} bytes]*"
                    )
            else:
                lines.append(f"**{chat.column_title(col)}{alt}:** {node.text}")
                if node.status is not NodeStatus.DONE:
                    lines.append(f"*[{node_mark(node)}]*")
            lines.append("")
        branches = _other_branches(column)
        extra = f" · {branches} message(s) on other branches" if branches > 0 else ""
        lines += [f"*{thread_tokens(chat, col)} tokens in this thread{extra}*", ""]
    return "\n".join(lines)


def _turns(column: ChatColumn) -> list[tuple[ChatNode, ChatNode | None]]:
    """The column's shown path as (user message, its answer or ``None``) pairs."""
    out: list[tuple[ChatNode, ChatNode | None]] = []
    for node in column.path():
        if node.role is Role.USER:
            out.append((node, None))
        elif out:
            out[-1] = (out[-1][0], node)
    return out


def _user_text(node: ChatNode) -> str:
    images = "".join(f" [image {i.name}]" for i in node.images)
    return f"{node.text}{images}"


def _answer_cell(column: ChatColumn, node: ChatNode | None) -> str:
    if node is None:
        return "*(no answer)*"
    text = md_cell(node.text) if node.text else ""
    marks = []
    position, count = column.siblings(node.id)
    if count > 1:
        marks.append(f"{position}/{count}")
    if node.status is not NodeStatus.DONE:
        marks.append(md_cell(node_mark(node)))
    mark = f"*[{' · '.join(marks)}]*" if marks else ""
    return "<br>".join(p for p in (text, mark) if p) or " "


def chat_to_table_markdown(chat: Chat) -> str:
    """One side-by-side table per turn: a column per model, each its answer to that turn.

    Turn *k* is each column's *k*-th message on its shown path; when those messages are not
    all the same (one column was asked alone, or a branch was edited) a "You" row shows each
    column's own.
    """
    lines = _head_lines(chat)
    turns = [_turns(column) for column in chat.columns]
    titles = [md_cell(chat.column_title(col)) for col in range(len(chat.columns))]
    for k in range(max((len(t) for t in turns), default=0)):
        users = [t[k][0] if k < len(t) else None for t in turns]
        texts = {_user_text(u) for u in users if u is not None}
        lines += [f"## Turn {k + 1}", ""]
        same = len(texts) == 1 and None not in users
        if same:
            lines += ["\n".join(f"> {line}" if line else ">" for line in texts.pop().splitlines())]
            lines.append("")
        lines.append("| " + " | ".join(([""] if not same else []) + titles) + " |")
        lines.append("|" + "---|" * (len(titles) + (0 if same else 1)))
        if not same:
            row = [md_cell(_user_text(u)) if u is not None else "" for u in users]
            lines.append("| **You** | " + " | ".join(row) + " |")
        answers = [
            _answer_cell(chat.columns[col], t[k][1]) if k < len(t) else ""
            for col, t in enumerate(turns)
        ]
        lead = [] if same else ["**Answer**"]
        lines.append("| " + " | ".join(lead + answers) + " |")
        lines.append("")
    tokens = " · ".join(
        f"{chat.column_title(col)}: {thread_tokens(chat, col)}" for col in range(len(chat.columns))
    )
    if tokens:
        lines += [f"*Tokens per thread: {tokens}*", ""]
    return "\n".join(lines)


# ------------------------------------------------------------------------- JSON


def chat_to_dict(chat: Chat) -> dict[str, Any]:
    """The whole chat: every column's tree (branches and alternatives), heads and metrics."""
    return {
        "format": "fanout-studio-chat",
        "id": chat.id,
        "title": chat.title,
        "system": chat.system,
        "created_at": chat.created_at,
        "updated_at": chat.updated_at,
        "columns": [
            {
                "title": chat.column_title(col),
                "profile": profile_to_dict(column.profile),
                "system": column.system,
                "head": column.head,
                "tokens": str(thread_tokens(chat, col)),
                "nodes": [
                    {
                        "id": n.id,
                        "parent": n.parent,
                        "role": str(n.role),
                        "text": n.text,
                        "status": str(n.status),
                        "error": n.error,
                        "images": [
                            {"name": i.name, "mime": i.mime, "bytes": len(i.data)} for i in n.images
                        ],
                        "metrics": asdict(n.metrics) if n.metrics is not None else None,
                        "created_at": n.created_at,
                    }
                    for n in column.nodes.values()
                ],
            }
            for col, column in enumerate(chat.columns)
        ],
    }
