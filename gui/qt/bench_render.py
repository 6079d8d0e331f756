"""The bare reference of the ``render-ceiling`` benchmark: the same answer into a bare editor.

Run as a child process by ``fanout-studio bench --scenario render-ceiling`` (``python -m
gui.qt.bench_render``, offscreen), right after the window's own run, so both see the same
machine state. The ceiling demo's simulated model (same profile, same prompt, so the same
chunks, through the same LangChain ``astream`` and the same collector policy as a run)
streams straight into a bare ``QPlainTextEdit``, its text appended once per frame (a 16 ms
timer) the way the app's bridge hands text to a pane: no engine, no bridge, no Markdown.
Prints one JSON object: ``tokens``, ``streaming_s`` (first chunk to last) and
``tokens_per_s``. The app's rate divided by this one is the scenario's ratio, which holds on
a machine whose speed varies from day to day.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import QApplication, QPlainTextEdit

#: Milliseconds between two appends: one frame, like the bridge's coalescing.
FRAME_MS = 16


async def _stream() -> dict[str, Any]:
    from gui.compat.gc_policy import defer_full_collections, freeze_import_heap
    from gui.providers.models import build_chat_model
    from gui.resources import load_preset

    preset = load_preset("ceiling")
    model = build_chat_model(preset.models[0])
    prompt = preset.template.format(**preset.rows[0])
    editor = QPlainTextEdit()
    editor.setReadOnly(True)
    editor.resize(680, 420)  # about a pane of the window at its default size
    editor.show()
    cursor = QTextCursor(editor.document())
    buffer: list[str] = []

    def on_frame() -> None:
        if buffer:
            cursor.movePosition(QTextCursor.MoveOperation.End)
            cursor.beginEditBlock()
            cursor.insertText("".join(buffer))
            cursor.endEditBlock()
            buffer.clear()
            bar = editor.verticalScrollBar()
            bar.setValue(bar.maximum())

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
    await asyncio.sleep(2 * FRAME_MS / 1000)  # the last frame
    frame.stop()
    on_frame()
    span = last - first
    shown = len(editor.toPlainText())
    editor.close()
    return {
        "tokens": tokens,
        "streaming_s": round(span, 3),
        "tokens_per_s": round(tokens / span) if span else 0,
        "chars_shown": shown,
    }


def main() -> int:
    """Stream once into the bare editor and print one JSON line."""
    from gui.qt.app import install_asyncgen_hooks
    from gui.qt.loop import FanoutEventLoop

    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setQuitOnLastWindowClosed(False)
    loop = FanoutEventLoop(app)
    install_asyncgen_hooks(loop)
    asyncio.set_event_loop(loop)
    try:
        figures = loop.run_until_complete(_stream())
    finally:
        loop.close()
    sys.stdout.write(json.dumps(figures) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
