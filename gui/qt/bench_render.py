"""The bare reference of the ``render-ceiling`` benchmark: the same answer into a bare editor.

Run as a child process by ``fanout-studio bench --scenario render-ceiling`` (``python -m
gui.qt.bench_render``, offscreen), right after the window's own run, so both see the same
machine state. The ceiling demo's simulated model (same profile, same prompt, so the same
chunks, through the same LangChain ``astream`` and the same collector policy as a run)
streams straight into a bare ``QPlainTextEdit``, its text appended once per frame (a 16 ms
timer) the way the app's bridge hands text to a pane: no engine, no bridge, no Markdown.
Then the same again into the app's Markdown view alone, timed until it has rendered all of
it (a view can fall behind a stream this fast and catch up after it): ``markdown``.
Prints one JSON object: ``tokens``, ``streaming_s`` (first chunk to last), ``tokens_per_s``
and ``shown_tokens_per_s`` (first chunk to all of it shown). Rates divided by the bare
editor's are the scenario's ratios, which hold on a machine whose speed varies by day.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import QPlainTextEdit

#: Milliseconds between two appends: one frame, like the bridge's coalescing.
FRAME_MS = 16


class _Bare:
    """A bare, read-only ``QPlainTextEdit`` that appends and follows the end."""

    def __init__(self) -> None:
        self.widget = QPlainTextEdit()
        self.widget.setReadOnly(True)
        self._cursor = QTextCursor(self.widget.document())

    def append(self, text: str) -> None:
        self._cursor.movePosition(QTextCursor.MoveOperation.End)
        self._cursor.beginEditBlock()
        self._cursor.insertText(text)
        self._cursor.endEditBlock()
        bar = self.widget.verticalScrollBar()
        bar.setValue(bar.maximum())

    def finish(self) -> None:
        """Nothing left to show once the last append is in."""

    def shown(self) -> int:
        return len(self.widget.toPlainText())


class _Markdown:
    """The app's Markdown view alone (no window, no engine)."""

    def __init__(self) -> None:
        from gui.qt.widgets.markdown_view import MarkdownView

        self.widget = MarkdownView()
        # The reference renders every character, as it did before long answers were elided:
        # its rate stays comparable from one day's figures to another's.
        self.widget.show_all()
        self.append = self.widget.append
        self.finish = self.widget.finish
        self.rendering = self.widget.is_rendering

    def shown(self) -> int:
        return len(self.widget.document().toPlainText())


async def _stream(sink: _Bare | _Markdown) -> dict[str, Any]:
    """Stream the ceiling demo's answer into ``sink`` once per frame; the figures."""
    from gui.compat.gc_policy import defer_full_collections, freeze_import_heap
    from gui.providers.models import build_chat_model
    from gui.resources import load_preset

    preset = load_preset("ceiling")
    model = build_chat_model(preset.models[0])
    prompt = preset.template.format(**preset.rows[0])
    sink.widget.resize(680, 420)  # about a pane of the window at its default size
    sink.widget.show()
    buffer: list[str] = []

    def on_frame() -> None:
        if buffer:
            sink.append("".join(buffer))
            buffer.clear()

    frame = QTimer()
    frame.setInterval(FRAME_MS)
    frame.timeout.connect(on_frame)
    frame.start()
    tokens = 0
    first = last = 0.0
    # As the app does: the imports' heap frozen, no full collection while an answer streams.
    freeze_import_heap()
    defer_full_collections(True)
    async for chunk in model.astream(prompt):
        text = chunk.content
        if not isinstance(text, str) or not text:
            continue
        last = time.perf_counter()
        if not tokens:
            first = last
        tokens += 1
        buffer.append(text)
    defer_full_collections(False)
    frame.stop()
    on_frame()  # the last frame's text
    sink.finish()
    if isinstance(sink, _Markdown) and sink.rendering():
        # A view that fell behind catches up, frame by frame.
        caught_up = asyncio.Event()
        sink.widget.caught_up.connect(caught_up.set)
        await caught_up.wait()
    done = time.perf_counter()
    figures = {
        "tokens": tokens,
        "streaming_s": round(last - first, 3),
        "tokens_per_s": round(tokens / (last - first)) if last > first else 0,
        "shown_s": round(done - first, 3),
        "shown_tokens_per_s": round(tokens / (done - first)) if done > first else 0,
        "chars_shown": sink.shown(),
    }
    sink.widget.close()
    return figures


async def _both() -> dict[str, Any]:
    bare = await _stream(_Bare())
    markdown = await _stream(_Markdown())
    return {**bare, "markdown": markdown}


def main() -> int:
    """Stream once into the bare editor, once into the Markdown view; print one JSON line."""
    from gui.qt.probe import run_probe

    return run_probe(_both)


if __name__ == "__main__":
    sys.exit(main())
