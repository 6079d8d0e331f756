"""The three paths a streamed answer can take through the chain, for tests that run each.

- ``direct``: nobody hears the call, so the chain reads the chat model's ``_astream`` itself
  (the ``direct-stream`` hook, :func:`gui.compat.lcel.direct_stream`);
- ``heard``: a tracer listens (LangChain's ``collect_runs``, a handler added the way
  LangSmith's is, from the context), so the chain reads the model's ``astream`` with its
  callbacks (the lean path);
- ``plain``: plain mode, ``(prompt | model | StrOutputParser()).astream``.

The first is what the app does; the other two are what it did before and does whenever
somebody listens or a hook is off, so they are the reference the first must match.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from langchain_core.tracers.context import collect_runs

from gui.compat import hooks
from gui.compat.lcel import DirectStream

PATHS = ("direct", "heard", "plain")


@contextmanager
def stream_path(path: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Streams started inside take ``path``; yields a list that gets one item per direct
    read of a model's ``_astream`` (so a test can check the path it asked for was taken)."""
    if path == "plain":
        monkeypatch.setenv(hooks.PLAIN_ENV, "1")
    else:
        monkeypatch.delenv(hooks.PLAIN_ENV, raising=False)
    hooks.reset()
    opened: list[int] = []
    real = DirectStream.open

    def counting(self: DirectStream, messages: Any, **extra: Any) -> Any:
        opened.append(1)
        return real(self, messages, **extra)

    monkeypatch.setattr(DirectStream, "open", counting)
    try:
        if path == "heard":
            with collect_runs() as tracer:
                yield opened
            assert tracer.traced_runs, "the tracer heard nothing: the path was not taken"
        else:
            yield opened
    finally:
        monkeypatch.setattr(DirectStream, "open", real)
        monkeypatch.delenv(hooks.PLAIN_ENV, raising=False)
        hooks.reset()
