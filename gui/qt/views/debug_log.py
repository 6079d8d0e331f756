"""asyncio debug mode on a checkbox, and a log of what it reports (slow callbacks first).

With debug mode on, the running loop times every callback and logs the slow ones
("Executing <Handle ...> took 0.120 seconds") through the logging module: asyncio's own
loop under the ``asyncio`` logger, qasync's loop under a logger of qasync's own. Which loggers
to listen on is the ``qasync-logger`` library hook (:func:`gui.compat.loggers.loop_loggers`);
each of them gets one :class:`_BufferHandler` while the mode is on.

Why a buffer: ``logging`` calls ``emit`` on whatever thread logged (asyncio logs from worker
threads too), and Qt widgets may only be touched on the GUI thread. ``emit`` therefore only
appends to a deque; a 4 Hz :class:`QTimer` on the GUI thread moves the entries into the view.

Where "created at" points: asyncio writes where a handle was created, but under qasync the
innermost frame is always qasync's own ``call_later`` (asyncio trims its own frame there,
qasync does not). While the warning is logged the loop still holds the slow handle as
``_current_handle``, so the handler looks up the innermost frame outside asyncio and qasync
and shows that instead; the original text stays in the tooltip.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import re
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QEvent, QObject, QTimer, Signal
from PySide6.QtGui import QFontDatabase, QHelpEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from gui.compat.loggers import loop_loggers

__all__ = ["FLUSH_MS", "MAX_LINES", "SLOW_CALLBACK_S", "AsyncioDebugPanel"]

#: A callback running at least this long is reported (asyncio's default is 0.1 s).
SLOW_CALLBACK_S = 0.05

#: Lines kept in the view; older ones scroll away.
MAX_LINES = 2000

#: How often buffered entries are moved into the view (4 Hz).
FLUSH_MS = 250

#: A display line longer than this is shortened in the middle (full text in the tooltip).
LINE_LIMIT = 180

_CREATED_AT_RE = re.compile(r" created at (?P<where>\S+?:\d+)")
_INTERNAL_DIRS = tuple(
    os.path.dirname(path) + os.sep for path in (asyncio.__file__, logging.__file__) if path
)


def _internal(filename: str) -> bool:
    """Whether a frame belongs to the loop machinery rather than to the code being timed."""
    if filename.startswith(_INTERNAL_DIRS):
        return True
    return f"{os.sep}qasync{os.sep}" in filename


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One log record, formatted on the thread that logged it.

    Attributes:
        when: ``time.time()`` of the record.
        level: Level name (``WARNING``, ``ERROR``).
        logger: Logger name.
        message: The message as logged, possibly several lines.
        source: ``file:line`` of the code that scheduled a slow callback, when known.
        stack: That code's stack (innermost last), when known.
    """

    when: float
    level: str
    logger: str
    message: str
    source: str | None = None
    stack: tuple[str, ...] = ()

    @property
    def stamp(self) -> str:
        """Local wall-clock time with milliseconds."""
        return (
            time.strftime("%H:%M:%S", time.localtime(self.when))
            + f".{int(self.when * 1000) % 1000:03d}"
        )

    def line(self, limit: int = LINE_LIMIT) -> str:
        """One display line: time, level if not a warning, message with the real source."""
        first, _, rest = self.message.partition("\n")
        text = first
        if self.source is not None:
            match = _CREATED_AT_RE.search(text)
            if match is not None:
                text = f"{text[: match.start('where')]}{self.source}{text[match.end('where') :]}"
            else:
                text = f"{text} (from {self.source})"
        if rest:
            text += " …"
        level = "" if self.level == "WARNING" else f"{self.level} "
        return f"{self.stamp}  {level}{shorten(text, limit)}"

    def full_text(self) -> str:
        """Everything known about the record, for the tooltip."""
        parts = [f"{self.stamp}  {self.level}  {self.logger}", self.message]
        if self.stack:
            parts.append("Scheduled from (innermost last):")
            parts.extend(f"  {frame}" for frame in self.stack)
        return "\n".join(parts)


def shorten(text: str, limit: int = LINE_LIMIT) -> str:
    """``text`` in at most ``limit`` characters, cut in the middle of the callback's repr.

    The end ("created at file:line> took 0.120 seconds") is what a reader scans for, so a long
    line loses the middle of the handle's repr first, then its head.
    """
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    match = _CREATED_AT_RE.search(text)
    keep_tail = len(text) - match.start() if match else min(limit // 3, 60)
    keep_tail = min(keep_tail, limit - 20)
    head = limit - keep_tail - 1
    return f"{text[:head]}…{text[len(text) - keep_tail :]}"


class _BufferHandler(logging.Handler):
    """Formats records into :class:`LogEntry` and appends them to a deque. Touches no widget.

    Args:
        loop: The loop in debug mode; its ``_current_handle`` names the slow callback.
        loop_thread: Ident of the loop's thread (only there is ``_current_handle`` ours).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, loop_thread: int) -> None:
        super().__init__(logging.WARNING)
        self.buffer: collections.deque[LogEntry] = collections.deque(maxlen=MAX_LINES)
        self._loop = loop
        self._loop_thread = loop_thread

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            if record.exc_info:
                message += "\n" + "".join(traceback.format_exception(*record.exc_info)).rstrip()
            source: str | None = None
            stack: tuple[str, ...] = ()
            if record.thread == self._loop_thread and message.startswith("Executing "):
                source, stack = _scheduled_from(getattr(self._loop, "_current_handle", None))
            self.buffer.append(
                LogEntry(record.created, record.levelname, record.name, message, source, stack)
            )
        except Exception:
            self.handleError(record)


def _scheduled_from(handle: Any) -> tuple[str | None, tuple[str, ...]]:
    """Innermost non-loop frame where ``handle`` was created, and that part of the stack."""
    frames: Iterable[Any] = getattr(handle, "_source_traceback", None) or ()
    outside = [f for f in frames if not _internal(str(getattr(f, "filename", "")))]
    if not outside:
        return None, ()
    last = outside[-1]
    stack = tuple(f"{f.filename}:{f.lineno} in {f.name}" for f in outside)
    return f"{last.filename}:{last.lineno}", stack


class _DebugSession:
    """Debug mode on one loop: the handler attached, and what to restore when it ends.

    Plain Python (no Qt), so the panel's ``destroyed`` signal can end it after the widget
    itself is gone. :meth:`close` is idempotent.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.handler = _BufferHandler(loop, threading.get_ident())
        self._was_debug = loop.get_debug()
        self._was_slow = loop.slow_callback_duration
        self._levels: list[tuple[logging.Logger, int]] = []
        self._closed = False
        #: The loggers listened on (asyncio's and qasync's, or the root logger: gui.compat).
        self.loggers = loop_loggers()
        for name in self.loggers:
            logger = logging.getLogger(name)
            if logger.getEffectiveLevel() > logging.WARNING:
                # An app that logs only errors would otherwise drop the warnings before us.
                self._levels.append((logger, logger.level))
                logger.setLevel(logging.WARNING)
            logger.addHandler(self.handler)
        loop.slow_callback_duration = SLOW_CALLBACK_S
        loop.set_debug(True)

    def close(self) -> None:
        """Turn debug mode off and detach the handler (entries already buffered stay)."""
        if self._closed:
            return
        self._closed = True
        for name in self.loggers:
            logging.getLogger(name).removeHandler(self.handler)
        for logger, level in self._levels:
            logger.setLevel(level)
        try:
            self.loop.set_debug(False)
            self.loop.slow_callback_duration = self._was_slow
        except RuntimeError:  # the loop is already closed
            pass


class AsyncioDebugPanel(QWidget):
    """A checkbox for asyncio's debug mode and a read-only log of its warnings.

    Args:
        loop: The loop to put in debug mode; by default the loop running when the checkbox
            is ticked (under qasync, the GUI thread's loop).
        parent: Parent widget.

    Signals:
        debug_toggled: Debug mode went on (``True``) or off (``False``).
    """

    debug_toggled = Signal(bool)

    def __init__(
        self, parent: QWidget | None = None, loop: asyncio.AbstractEventLoop | None = None
    ) -> None:
        super().__init__(parent)
        self._loop = loop
        self._holder = _SessionHolder()
        self._entries: collections.deque[LogEntry] = collections.deque(maxlen=MAX_LINES)
        self._flush_timer = QTimer(self)
        self._flush_timer.setInterval(FLUSH_MS)
        self._flush_timer.timeout.connect(self._on_flush_timer_timeout)
        self._build_ui()
        self.destroyed.connect(_closer(self._holder))

    def _build_ui(self) -> None:
        self._checkbox = QCheckBox("asyncio debug mode")
        self._checkbox.setToolTip(
            f"Times every callback on the event loop and logs those over "
            f"{SLOW_CALLBACK_S * 1000:g} ms, with where they were scheduled. "
            "Slows the app down while on."
        )
        self._checkbox.toggled.connect(self._on_checkbox_toggled)
        self._clear_button = QPushButton("Clear")
        self._clear_button.clicked.connect(self.clear)
        self._hint = QLabel()
        self._hint.setObjectName("debugHint")

        self._log = QPlainTextEdit()
        self._log.setObjectName("asyncioLog")
        self._log.setReadOnly(True)
        self._log.setMaximumBlockCount(MAX_LINES)
        self._log.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self._log.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self._log.setPlaceholderText(
            "Tick “asyncio debug mode” to log callbacks that hold the event loop for "
            f"{SLOW_CALLBACK_S * 1000:g} ms or more. Hover a line for the full text."
        )
        self._log.viewport().installEventFilter(self)

        top = QHBoxLayout()
        top.addWidget(self._checkbox)
        top.addWidget(self._hint, 1)
        top.addWidget(self._clear_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self._log, 1)

    # ---- API ---------------------------------------------------------------------------------

    def set_enabled_debug(self, flag: bool) -> None:
        """Turn the loop's debug mode on or off (same as ticking the checkbox).

        Raises:
            RuntimeError: turning it on with no loop given and none running.
        """
        if flag == self.is_debug():
            self._checkbox.setChecked(flag)
            return
        if flag:
            loop = self._loop or _current_loop()
            self._holder.session = _DebugSession(loop)
            self._flush_timer.start()
            self._hint.setText(f"Reporting callbacks over {SLOW_CALLBACK_S * 1000:g} ms")
        else:
            session, self._holder.session = self._holder.session, None
            if session is not None:
                session.close()
                self._flush(session)
            self._flush_timer.stop()
            self._hint.setText("")
        self._checkbox.blockSignals(True)
        self._checkbox.setChecked(flag)
        self._checkbox.blockSignals(False)
        self.debug_toggled.emit(flag)

    def is_debug(self) -> bool:
        """Whether this panel has debug mode on."""
        return self._holder.session is not None

    def entries(self) -> list[str]:
        """Full text of every entry in the log, oldest first (pending ones flushed first)."""
        self._flush(self._holder.session)
        return [entry.full_text() for entry in self._entries]

    def clear(self) -> None:
        """Empty the log (and drop entries not shown yet)."""
        if self._holder.session is not None:
            self._holder.session.handler.buffer.clear()
        self._entries.clear()
        self._log.clear()

    def log_text(self) -> str:
        """The lines as shown."""
        return self._log.toPlainText()

    # ---- internals ---------------------------------------------------------------------------

    def _on_checkbox_toggled(self, checked: bool) -> None:
        try:
            self.set_enabled_debug(checked)
        except RuntimeError as exc:
            self._checkbox.blockSignals(True)
            self._checkbox.setChecked(False)
            self._checkbox.blockSignals(False)
            self._hint.setText(f"No event loop to debug: {exc}")

    def _on_flush_timer_timeout(self) -> None:
        self._flush(self._holder.session)

    def _flush(self, session: _DebugSession | None) -> None:
        if session is None:
            return
        buffer = session.handler.buffer
        if not buffer:
            return
        new: list[LogEntry] = []
        while buffer:
            try:
                new.append(buffer.popleft())
            except IndexError:  # emptied by another thread's clear(): nothing is lost
                break
        self._entries.extend(new)
        bar = self._log.verticalScrollBar()
        at_bottom = bar.value() >= bar.maximum() - 2
        self._log.appendPlainText("\n".join(entry.line() for entry in new))
        if at_bottom:
            bar.setValue(bar.maximum())

    def _entry_at(self, block_number: int) -> LogEntry | None:
        # Each entry is exactly one block and the document keeps the newest MAX_LINES
        # blocks, like the deque keeps the newest entries: count from the end.
        from_end = self._log.document().blockCount() - 1 - block_number
        index = len(self._entries) - 1 - from_end
        return self._entries[index] if 0 <= index < len(self._entries) else None

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip and watched is self._log.viewport():
            assert isinstance(event, QHelpEvent)
            block = self._log.cursorForPosition(event.pos()).block()
            entry = self._entry_at(block.blockNumber())
            if entry is not None:
                QToolTip.showText(event.globalPos(), entry.full_text(), self._log)
            else:
                QToolTip.hideText()
            return True
        return super().eventFilter(watched, event)

    def tooltip_for_line(self, line: int) -> str | None:
        """The tooltip text of display line ``line`` (0-based), or ``None``."""
        entry = self._entry_at(line)
        return entry.full_text() if entry is not None else None


class _SessionHolder:
    """The panel's current session, reachable without the panel (see ``_closer``)."""

    def __init__(self) -> None:
        self.session: _DebugSession | None = None


def _closer(holder: _SessionHolder) -> Callable[..., None]:
    """A ``destroyed`` slot that ends the debug session without touching the panel.

    When ``destroyed`` fires the C++ widget is being deleted, so the slot may not reach the
    panel; a plain function holding only the holder keeps the connection (and the holder)
    alive until then.
    """

    def end(*_args: object) -> None:
        session, holder.session = holder.session, None
        if session is not None:
            session.close()

    return end


def _current_loop() -> asyncio.AbstractEventLoop:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        raise RuntimeError("no asyncio event loop is running") from None
