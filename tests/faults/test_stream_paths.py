"""The streamed fault cases on each path through the chain (``tests/support/stream_paths.py``).

The engine's streamed cells read the chat model's ``_astream`` directly when nobody hears the
call (``direct``); what the server did must end the cell the same way as through LangChain's
``astream`` (``heard``) and plain LCEL (``plain``): a cell is done only when the server said it
finished, a wrong chunk fails it with the same one-line message, a whole JSON answer is kept
with its note, and an answer holding lone surrogates is kept as it came and marked where it is
stored.
"""

from __future__ import annotations

import pytest

from gui.core import events as ev
from gui.core.cleantext import REPLACED_NOTICE
from gui.core.runner import Run
from gui.core.spec import ErrorPolicy, Strategy, make_spec
from gui.providers.backend import LangChainBackend
from gui.storage.history import History
from tests.core.fakes import Recorder
from tests.faults.cases import FAULTS, INTERVAL, TEMPLATE, TOKENS, Fault, answer
from tests.faults.checks import terminal
from tests.faults.test_engine_faults import (
    check_faulty_cell,
    profile,
    run_fault,
    sibling_topics_and_models,
)
from tests.support.openai_server import Behavior, FakeOpenAIServer
from tests.support.stream_paths import PATHS, stream_path

pytestmark = pytest.mark.timeout(120)

#: The faults about what a stream holds and how it ends.
STREAM_SHAPES = {
    "drop-mid-stream",
    "malformed-sse",
    "error-event-mid-stream",
    "empty-stream",
    "clean-end-without-finish",
    "clean-end-before-text-then-ok",
    "done-without-finish-reason",
    "finish-length",
    "finish-content-filter",
    "json-answer-to-a-stream",
    "wrong-field-types",
    "invalid-utf8",
    "429-then-ok",
}
SHAPE_FAULTS = [f for f in FAULTS if f.id in STREAM_SHAPES]


def test_every_chosen_fault_exists() -> None:
    assert {f.id for f in SHAPE_FAULTS} == STREAM_SHAPES


def _cases() -> list[object]:
    return [
        pytest.param(fault, path, id=f"{fault.id}-{path}")
        for fault in SHAPE_FAULTS
        for path in PATHS
    ]


@pytest.mark.parametrize(("fault", "path"), _cases())
async def test_a_streamed_fault_ends_the_cell_the_same_on_every_path(
    server: FakeOpenAIServer, fault: Fault, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with stream_path(path, monkeypatch) as opened:
        _run, rec, bad_url = await run_fault(server, fault, Strategy.STREAM, ErrorPolicy.ISOLATE)
    assert bool(opened) == (path == "direct")
    check_faulty_cell(fault, Strategy.STREAM, rec, server, bad_url)
    for cell_id, topic, model in sibling_topics_and_models(fault):
        end = terminal(rec.events, cell_id)
        assert isinstance(end, ev.CellFinished), (cell_id, end)
        assert end.text == answer(topic, model)


#: Faults whose last event comes in the same write as ``data: [DONE]``: with ``Connection:
#: close`` framing (no chunk boundaries) the client reads both at once, and the SDK stops at
#: ``[DONE]`` before the wire watch can raise what it found in that read.
CLOSE_FRAMED = ["error-sse-event", "error-event-mid-stream", "malformed-sse", "wrong-field-types"]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("fault_id", CLOSE_FRAMED)
async def test_a_fault_read_with_done_in_one_read_still_ends_the_cell(
    fault_id: str, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fault = next(f for f in FAULTS if f.id == fault_id)
    with FakeOpenAIServer(
        models=["fake-1", "fake-2"], tokens=TOKENS, token_interval=INTERVAL, stream_framing="close"
    ) as server:
        with stream_path(path, monkeypatch):
            _run, rec, bad_url = await run_fault(
                server, fault, Strategy.STREAM, ErrorPolicy.ISOLATE
            )
        check_faulty_cell(fault, Strategy.STREAM, rec, server, bad_url)
        assert server.errors == []


@pytest.mark.parametrize("path", PATHS)
async def test_lone_surrogates_are_kept_as_they_came_and_marked_where_stored(
    server: FakeOpenAIServer, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = "half \ud800 an answer"
    server.behave(lambda _req: Behavior(text=bad))
    spec = make_spec(TEMPLATE, ["cats"], (profile(server.base_url, "fake-1"),), Strategy.STREAM)
    history = History.open()
    backend = LangChainBackend()
    rec = Recorder()
    with stream_path(path, monkeypatch):
        run = Run(spec, backend)
        run.subscribe(rec)
        run.subscribe(history.recorder())
        try:
            await run.wait()
        finally:
            await backend.aclose()
    end = rec.last("r0m0")
    assert isinstance(end, ev.CellFinished) and end.text == bad, end
    assert end.metrics.finish_reason == "stop"
    assert history.flush()
    stored = history.get_run(run.id)
    history.close()
    assert stored is not None
    (cell,) = stored.cells
    assert cell.text == "half \ufffd an answer" and cell.notice == REPLACED_NOTICE
