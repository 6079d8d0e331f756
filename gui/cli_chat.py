"""``fanout-studio ask``, ``chats``, and ``show``/``export`` of a chat: side-by-side chat in a terminal.

``ask "MESSAGE" -m A -m B`` starts a chat (or, with ``--continue CHAT_ID``, sends the next turn
of a stored one) and sends the message to every column at once through the run engine
(:class:`gui.core.chat_turn.ChatTurn`: the run's limits, retries, timeouts and events). The
answers stream to the terminal one block per column, in column order: the first unfinished
column streams live while the others buffer, and each buffered block is printed (then streams
on) as soon as the one before it ends. Every node is in the history as soon as it exists
(:class:`gui.storage.chats.ChatHistory`). ``--json`` prints one object with ``chat_id`` and
each column's answer, status and metrics.

Chat ids start with ``chat-`` and run ids with a date, so ``show``/``export`` tell them apart
by the id's form, never by guessing. Bad input (an empty message, a file that is not an image
or too large, a binary text file, an unknown ``--continue`` id, an image for a model without
vision) is one line and exit 2.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gui.cli import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    STOP_SIGNALS,
    HistoryFailed,
    UsageError,
    _add_limit_options,
    _add_model_options,
    _date,
    _metrics_json,
    _read_history,
    close_history,
    key_warnings,
    limits_from_args,
    open_history,
    profiles_from_args,
    signal_exit_code,
)
from gui.core import events as ev
from gui.core.chat import (
    Chat,
    ChatError,
    ImageAttachment,
    NodeStatus,
    Role,
    VisionRefused,
    add_user_message,
    context_warning,
    image_attachment,
    noted_metrics,
    text_attachment,
    thread_tokens,
)
from gui.core.chat_turn import ChatTurn
from gui.core.cleantext import clean, clean_json, escape_controls
from gui.core.errors import SpecError
from gui.core.keys import HeldKeys, StreamRedactor, redact
from gui.core.spec import ModelProfile
from gui.storage.chat_export import done_mark

if TYPE_CHECKING:
    from gui.storage.chats import ChatHistory
    from gui.storage.history import History

__all__ = [
    "add_chat_parsers",
    "cmd_ask",
    "cmd_chats",
    "cmd_export_chat",
    "export_chat",
    "show_chat",
]

#: Most bytes read from a file named on the command line before it is checked.
_READ_LIMIT = 64 * 1024 * 1024


def add_chat_parsers(sub: Any) -> None:
    """Add ``ask`` and ``chats`` to the ``fanout-studio`` sub-parsers."""
    ask_p = sub.add_parser(
        "ask",
        help="send one message to several models side by side (a chat; --continue for the next turn)",
        description="Send MESSAGE to every model at once and stream each answer, one block per "
        "model. The chat is stored; continue it with --continue CHAT_ID.",
    )
    ask_p.add_argument("message", metavar="MESSAGE", help="what to say to every model")
    ask_p.add_argument("--system", metavar="TEXT", help="system message of a new chat")
    ask_p.add_argument(
        "--continue",
        dest="continue_id",
        metavar="CHAT_ID",
        help="send the next turn of this stored chat (its models; see `fanout-studio chats`)",
    )
    ask_p.add_argument(
        "--column",
        type=int,
        action="append",
        default=[],
        metavar="N",
        help="with --continue: send only to column N (1-based, repeatable; default: all)",
    )
    ask_p.add_argument(
        "--image",
        action="append",
        default=[],
        metavar="FILE",
        help="attach a PNG, JPEG or WebP image (repeatable; the models must take images)",
    )
    ask_p.add_argument(
        "--file",
        action="append",
        default=[],
        metavar="FILE",
        help="inline a text file, with its name, after the message (repeatable)",
    )
    ask_p.add_argument(
        "--vision",
        action="store_true",
        help="the -m models take images (saved profiles say so themselves)",
    )
    ask_p.add_argument(
        "--context-window",
        type=int,
        metavar="TOKENS",
        help="the -m models' context window: a warning near it, and --trim fits the thread in it",
    )
    ask_p.add_argument(
        "--trim",
        action="store_true",
        help="leave the oldest turns out of a request that would not fit the model's context "
        "window (the system message and the newest turns are kept; the chat keeps everything)",
    )
    _add_model_options(ask_p)
    _add_limit_options(ask_p, strategy=False)
    out = ask_p.add_argument_group("output")
    out.add_argument(
        "--json", action="store_true", help="print one JSON object (chat_id, each answer)"
    )
    out.add_argument("--quiet", "-q", action="store_true", help="no progress line on stderr")
    out.add_argument("--no-history", action="store_true", help="do not store the chat")

    chats_p = sub.add_parser(
        "chats",
        help="list stored chats, newest first",
        description="List the chats stored in the history, newest first "
        "(`fanout-studio show CHAT_ID` prints one).",
    )
    chats_p.add_argument(
        "--search", metavar="TEXT", default="", help="only chats whose title or messages hold TEXT"
    )
    chats_p.add_argument("--limit", type=int, default=50, metavar="N", help="at most N chats")
    chats_p.add_argument("--json", action="store_true", help="print a JSON list")


# ------------------------------------------------------------------ ask


def _read_file(name: str, what: str) -> bytes:
    path = Path(name)
    try:
        with path.open("rb") as f:
            return f.read(_READ_LIMIT + 1)
    except FileNotFoundError:
        raise UsageError(f"{what} {name}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"{what} {name} is a folder: give a file") from None
    except OSError as exc:
        raise UsageError(f"{what} {name} cannot be read ({exc.strerror or exc})") from None


def _attachments(args: argparse.Namespace) -> tuple[str, list[ImageAttachment]]:
    """The message with its text files inlined, and its images."""
    text = args.message
    try:
        images = [image_attachment(Path(n).name, _read_file(n, "image")) for n in args.image]
        inlined = [text_attachment(Path(n).name, _read_file(n, "file")) for n in args.file]
    except ChatError as exc:
        raise UsageError(str(exc)) from None
    if inlined:
        text = "\n\n".join([text, *inlined]) if text.strip() else "\n\n".join(inlined)
    return text, images


def _new_chat(args: argparse.Namespace, held: HeldKeys) -> Chat:
    profiles = profiles_from_args(args, held)
    if args.vision or args.context_window is not None:
        profiles = tuple(_with_capabilities(p, args) for p in profiles)
    for line in key_warnings(profiles, held):
        sys.stderr.write(escape_controls(f"fanout-studio ask: warning: {line}") + "\n")
    return Chat.new(profiles, system=args.system)


def _with_capabilities(profile: ModelProfile, args: argparse.Namespace) -> ModelProfile:
    """``profile`` with what ``--vision`` and ``--context-window`` say of the -m models."""
    from dataclasses import replace

    if args.vision:
        profile = replace(profile, vision=True)
    if args.context_window is not None:
        profile = replace(profile, context_window=args.context_window)
    return profile


def _continued_chat(args: argparse.Namespace, chats: ChatHistory | None, held: HeldKeys) -> Chat:
    given = _column_options_given(args)
    if given:
        raise UsageError(
            f"--continue keeps each column's own model, settings and system message, so "
            f"{', '.join(given)} would change nothing: leave {'it' if len(given) == 1 else 'them'}"
            " out (start a new chat for other settings)"
        )
    if chats is None:
        raise UsageError("--continue needs the history: leave out --no-history")
    from gui.storage.chats import AmbiguousChatId
    from gui.storage.history import HistoryError

    try:
        chat = chats.get(args.continue_id)
    except AmbiguousChatId as exc:
        raise UsageError(str(exc)) from None
    except HistoryError as exc:
        raise HistoryFailed(str(exc)) from None
    if chat is None:
        raise UsageError(
            f"no chat {args.continue_id!r} in the history (list them with: fanout-studio chats)"
        )
    _hold_saved_keys(chat, held)
    if args.api_key_env:
        from gui.core import keys

        keys.allow_env(args.api_key_env)  # the user named it again for the chat's servers
    for line in key_warnings([c.profile for c in chat.columns], held):
        sys.stderr.write(escape_controls(f"fanout-studio ask: warning: {line}") + "\n")
    return chat


#: Options that choose or set up a new chat's columns: a continued chat has its own, stored.
_COLUMN_OPTIONS = (
    ("model", "-m"),
    ("profile", "-P"),
    ("system", "--system"),
    ("vision", "--vision"),
    ("context_window", "--context-window"),
    ("base_url", "--base-url"),
    ("temperature", "--temperature"),
    ("max_tokens", "--max-tokens"),
    ("sim_latency", "--sim-latency"),
    ("sim_ttft", "--sim-ttft"),
    ("sim_tps", "--sim-tps"),
    ("sim_tokens", "--sim-tokens"),
    ("sim_jitter", "--sim-jitter"),
    ("sim_failure_rate", "--sim-failure-rate"),
    ("sim_failure_kind", "--sim-failure-kind"),
    ("seed", "--seed"),
)


def _given(value: object) -> bool:
    # Not "value not in (None, False, ...)": 0 == False, and --seed 0 is given.
    return value is not None and value is not False and value != [] and value != ""


def _column_options_given(args: argparse.Namespace) -> list[str]:
    """The column options on the command line (a continued chat would ignore them)."""
    given = [flag for dest, flag in _COLUMN_OPTIONS if _given(getattr(args, dest, None))]
    if args.provider != "simulated":  # its default: naming it changes nothing either way
        given.insert(0, "--provider")
    return given


def _hold_saved_keys(chat: Chat, held: HeldKeys) -> None:
    """Read from the keyring the keys the chat's saved profiles refer to."""
    refs = {c.profile.key_ref for c in chat.columns if c.profile.key_ref}
    if not refs:
        return
    from gui.storage.secrets import KeyStore, KeyStoreError

    store = KeyStore()
    for ref in sorted(r for r in refs if r):
        try:
            held.hold(ref, store.get(ref))
        except KeyStoreError as exc:
            sys.stderr.write(f"fanout-studio ask: the key of profile {ref!r}: {exc}\n")


class _BlockPrinter:
    """Each column's answer as one block, in column order, streaming where it can."""

    def __init__(self, turn: ChatTurn, enabled: bool) -> None:
        self.turn = turn
        self.enabled = enabled
        self.order = [r.col for r in turn.requests]
        self.buffers: dict[int, list[str]] = {c: [] for c in self.order}
        #: Each column's printed text is masked as it streams (a server may echo a key).
        self.redactors: dict[int, StreamRedactor] = {c: StreamRedactor() for c in self.order}
        self.ended: dict[int, str] = {}
        self.current = 0
        if enabled and self.order:
            self._header(self.order[0])

    def __call__(self, event: ev.Event) -> None:
        if not isinstance(event, ev.CellEvent):
            return
        col = self.turn.column_of(event.cell_id)
        if isinstance(event, ev.TextChunk):
            self.buffers[col].append(event.text)
            if self.enabled and self.current < len(self.order) and self.order[self.current] == col:
                self._write(self.redactors[col].feed(event.text))
        elif isinstance(event, ev.CellFinished):
            self.ended[col] = done_mark(noted_metrics(event.metrics, event.text))
            self._advance()
        elif isinstance(event, ev.CellFailed):
            self.ended[col] = f"{NodeStatus.FAILED}: {event.message}"
            self._advance()
        elif isinstance(event, ev.CellCancelled):
            self.ended[col] = f"{NodeStatus.STOPPED}: {event.reason}"
            self._advance()

    def _advance(self) -> None:
        while self.current < len(self.order) and self.order[self.current] in self.ended:
            col = self.order[self.current]
            if self.enabled:
                self._footer(col)
            self.current += 1
            if self.enabled and self.current < len(self.order):
                nxt = self.order[self.current]
                self._header(nxt)
                self._write(self.redactors[nxt].feed("".join(self.buffers[nxt])))

    def _header(self, col: int) -> None:
        self._write(f"── {self.turn.chat.column_title(col)} ──\n")

    def _footer(self, col: int) -> None:
        self._write(self.redactors[col].end())
        self._write(f"\n[{redact(self.ended[col])}]\n\n")

    def _write(self, text: str) -> None:
        sys.stdout.write(escape_controls(clean(text)[0]))
        sys.stdout.flush()


def _context_notes(turn: ChatTurn, trimming: bool) -> None:
    """One stderr line per column near its context window, or trimmed to fit it."""
    for request in turn.requests:
        col = request.col
        left_out = turn.trimmed.get(col)
        if left_out:
            line = (
                f"column {col + 1} ({turn.chat.column_title(col)}): the {left_out} oldest "
                "messages were left out to fit its context window"
            )
        elif not trimming:
            line = context_warning(turn.chat, col) or ""
        else:
            line = ""
        if line:
            sys.stderr.write(f"fanout-studio ask: warning: {escape_controls(line)}\n")


async def _run_turn(turn: ChatTurn, received: list[int]) -> None:
    loop = asyncio.get_running_loop()

    def stop(signum: int) -> None:
        received.append(signum)
        turn.stop()

    for signum in STOP_SIGNALS:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signum, stop, signum)
    try:
        await turn.wait()
    finally:
        for signum in STOP_SIGNALS:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(signum)


async def cmd_ask(args: argparse.Namespace) -> int:
    """``fanout-studio ask``: one message to every column, answers streamed, the turn stored."""
    from gui.providers.backend import LangChainBackend
    from gui.providers.threads import trim_thread
    from gui.storage.chats import ChatHistory

    held = HeldKeys()
    text, images = _attachments(args)
    try:
        limits = limits_from_args(args)
    except SpecError as exc:
        raise UsageError(str(exc)) from None
    history = open_history(not args.no_history)
    chats = ChatHistory(history) if history is not None else None
    try:
        try:
            if args.continue_id:
                chat = _continued_chat(args, chats, held)
            else:
                if args.column:
                    raise UsageError("--column needs --continue (a new chat sends to every model)")
                chat = _new_chat(args, held)
            columns = [c - 1 for c in args.column] or None
            requests = add_user_message(chat, text, images=images, columns=columns)
        except VisionRefused as exc:
            fix = (
                "this chat's models stay as they are: --column N sends to the ones that take "
                "images, or start a new chat with --vision"
                if args.continue_id
                else "--vision marks the -m models vision-capable"
            )
            raise UsageError(f"{str(exc).rstrip('.')} ({fix}).") from None
        except (ChatError, SpecError) as exc:
            raise UsageError(str(exc)) from None
        if chats is not None:
            chats.save_chat(chat)
            for r in requests:
                chats.save_node(chat, r.col, chat.columns[r.col].nodes[r.user_node])
        backend = LangChainBackend(keys=held)
        turn = ChatTurn(
            chat,
            requests,
            backend,
            limits=limits,
            on_answer=[chats.save_node] if chats is not None else [],
            trim=trim_thread if args.trim else None,
        )
        _context_notes(turn, args.trim)
        turn.subscribe(_BlockPrinter(turn, not args.json))
        received: list[int] = []
        try:
            await _run_turn(turn, received)
        finally:
            await backend.aclose()
        if chats is not None:
            chats.save_chat(chat)  # the title and every column's head, as the turn left them
    finally:
        close_history(history, report=False)
    # Not saved when a write failed, and neither when the file is gone or never was one.
    problem = None
    if history is not None:
        problem = history.file_problem() or (history.last_error or "").rstrip(".") or None
    saved = history is not None and problem is None
    results = [turn.results[r.col] for r in requests if r.col in turn.results]
    if args.json:
        data = {
            "chat_id": chat.id,
            "turn": sum(n.role is Role.USER for n in chat.columns[requests[0].col].path()),
            "results": [
                {
                    "column": r.col + 1,
                    "model": chat.column_title(r.col),
                    "status": str(r.node.status),
                    "answer": redact(r.node.text),
                    "error": None if r.node.error is None else redact(r.node.error),
                    "metrics": _metrics_json(r.node.metrics) if r.node.metrics else None,
                    "context_tokens": str(thread_tokens(chat, r.col)),
                    "trimmed_messages": turn.trimmed.get(r.col, 0),
                }
                for r in results
            ],
            "saved": saved,
        }
        json.dump(clean_json(data)[0], sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
    else:
        where = f"chat {chat.id}" if saved else f"chat {chat.id} (not stored)"
        sys.stdout.write(f'{where} · continue with: fanout-studio ask --continue {chat.id} "..."\n')
    if problem is not None:
        line = f"fanout-studio ask: error: chat {chat.id} could not be saved: {problem}; its answers are above"
        sys.stderr.write(escape_controls(line) + "\n")
        return EXIT_FAILED
    if received:
        return signal_exit_code(received) or EXIT_INTERRUPTED
    if any(r.node.status is not NodeStatus.DONE for r in results):
        return EXIT_FAILED
    return EXIT_OK


# ------------------------------------------------------------------ chats, show, export


def cmd_chats(args: argparse.Namespace) -> int:
    """``fanout-studio chats``: stored chats, newest first."""
    from gui.storage.chats import ChatHistory

    def body(history: History) -> int:
        records = ChatHistory(history).list(args.search, limit=max(1, args.limit))
        if args.json:
            rows = [
                {
                    "id": r.id,
                    "title": r.title,
                    "created_at": r.created_at,
                    "updated_at": r.updated_at,
                    "models": list(r.models),
                    "messages": r.messages,
                    "branches": r.branches,
                }
                for r in records
            ]
            json.dump(clean_json(rows)[0], sys.stdout, ensure_ascii=False, indent=2)
            sys.stdout.write("\n")
            return EXIT_OK
        if not records:
            sys.stdout.write("No chats match.\n" if args.search else "No chats stored yet.\n")
            return EXIT_OK
        for r in records:
            line = (
                f"{r.id}  {_date(r.updated_at)}  {', '.join(r.models)}  "
                f"{r.messages} message{'' if r.messages == 1 else 's'}  {r.title}\n"
            )
            sys.stdout.write(escape_controls(clean(line)[0]))
        return EXIT_OK

    return _read_history(body)


def _find_chat(history: History, chat_id: str) -> Chat:
    from gui.storage.chats import AmbiguousChatId, ChatHistory

    try:
        chat = ChatHistory(history).get(chat_id)
    except AmbiguousChatId as exc:
        raise UsageError(str(exc)) from None
    if chat is None:
        raise UsageError(
            f"no chat {chat_id!r} in the history (list them with: fanout-studio chats)"
        )
    return chat


def show_chat(chat_id: str, as_json: bool) -> int:
    """``fanout-studio show CHAT_ID``: every column's shown thread (``--json``: everything)."""

    def body(history: History) -> int:
        chat = _find_chat(history, chat_id)
        sys.stdout.write(export_chat(chat, "json" if as_json else "md"))
        return EXIT_OK

    return _read_history(body)


def export_chat(chat: Chat, fmt: str) -> str:
    """``chat`` as ``md`` (a section per column), ``md-table`` (a side-by-side table per turn)
    or ``json`` (everything), for a terminal (control characters shown, not run)."""
    from gui.storage.chat_export import export_chat as chat_text

    try:
        text = chat_text(chat, fmt)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return text if fmt == "json" else escape_controls(text)


def cmd_export_chat(chat_id: str, fmt: str, out: Path | None) -> int:
    """``fanout-studio export CHAT_ID --format md|md-table|json [-o FILE]``."""
    from gui.storage.chat_export import CHAT_FORMATS

    if fmt not in CHAT_FORMATS:
        raise UsageError(f"a chat exports as --format {', '.join(CHAT_FORMATS)}, not {fmt}")

    def body(history: History) -> int:
        chat = _find_chat(history, chat_id)
        if out is None:
            sys.stdout.write(export_chat(chat, fmt))
            return EXIT_OK
        from gui.storage.chat_export import save_chat
        from gui.storage.export import ExportRefused

        try:
            save_chat(chat, fmt, out)  # as the window's export: 0600, remembered
        except ExportRefused as exc:
            raise UsageError(str(exc)) from None
        except OSError as exc:
            raise HistoryFailed(f"cannot write {out}: {exc.strerror or exc}") from None
        return EXIT_OK

    return _read_history(body)
