"""What every fault test checks after its run: nothing left behind, everything accounted for."""

from __future__ import annotations

import asyncio
import gc
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from gui.core import events as ev
from gui.core.metrics import RunSummary
from gui.storage.records import StoredRun
from tests.support.openai_server import FakeOpenAIServer

STATUS = {ev.CellFinished: "done", ev.CellFailed: "failed", ev.CellCancelled: "cancelled"}


def fanout_tasks() -> list[str]:
    """Names of the engine's tasks (``fanout-...``) still alive on the running loop."""
    return sorted(name for t in asyncio.all_tasks() if (name := t.get_name()).startswith("fanout-"))


async def sockets_closed(server: FakeOpenAIServer, timeout: float = 30.0) -> bool:
    """Whether the server sees every connection closed and nothing in flight (polls a while)."""
    return await server.await_for(
        lambda: server.open_connections == 0 and server.in_flight == 0, timeout=timeout
    )


def terminal(events: list[ev.Event], cell_id: str) -> ev.Event:
    """The one terminal event of a cell (fails if there is not exactly one)."""
    ends = [e for e in events if isinstance(e, ev.TERMINAL) and e.cell_id == cell_id]
    assert len(ends) == 1, (cell_id, ends)
    return ends[0]


def text_of(event: ev.Event) -> str:
    """A terminal event's text: the answer, or the partial text kept."""
    if isinstance(event, ev.CellFinished):
        return event.text
    assert isinstance(event, ev.CellFailed | ev.CellCancelled)
    return event.partial_text


def check_accounted(
    summary: RunSummary, events: list[ev.Event], stored: StoredRun | None, cells: int
) -> None:
    """The summary adds up, every cell ended once, and the history holds each as it ended."""
    assert summary.total == cells
    assert summary.done + summary.failed + summary.cancelled == cells
    ends = [e for e in events if isinstance(e, ev.TERMINAL)]
    assert len(ends) == cells and len({e.cell_id for e in ends}) == cells
    counts = {"done": 0, "failed": 0, "cancelled": 0}
    for e in ends:
        counts[STATUS[type(e)]] += 1
    assert counts == {
        "done": summary.done,
        "failed": summary.failed,
        "cancelled": summary.cancelled,
    }
    assert stored is not None, "the run is not in the history"
    assert (stored.total, stored.done, stored.failed, stored.cancelled) == (
        cells,
        summary.done,
        summary.failed,
        summary.cancelled,
    )
    assert len(stored.cells) == cells
    for e in ends:
        assert isinstance(e, ev.CellEvent)
        cell = stored.cell(e.cell_id)
        assert cell is not None, e.cell_id
        assert cell.status == STATUS[type(e)], e.cell_id
        assert cell.text == text_of(e), e.cell_id
        if isinstance(e, ev.CellFailed):
            assert cell.error_kind == str(e.kind) and cell.error == e.message
        elif isinstance(e, ev.CellCancelled):
            assert cell.error_kind == "cancelled" and cell.error == e.reason


@contextmanager
def loop_problems() -> Iterator[list[dict[str, Any]]]:
    """Collect what the running loop's exception handler sees (e.g. "Task was destroyed but it
    is pending", an exception nobody retrieved) and every warning raised meanwhile, including
    ResourceWarning for an unclosed socket or transport; ``gc.collect()`` runs at the end so
    objects dropped without closing are finalised inside the block."""
    loop = asyncio.get_running_loop()
    seen: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: seen.append(context))
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield seen
            gc.collect()
        seen.extend({"message": f"warning: {w.category.__name__}: {w.message}"} for w in caught)
    finally:
        loop.set_exception_handler(previous)
