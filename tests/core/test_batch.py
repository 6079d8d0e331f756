"""The batch executor's core: request files split at the limits, result lines mapped onto
cell states, usage and the batch price, cancel, and one batch per file."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Mapping
from pathlib import Path

from gui.core import events as ev
from gui.core.batch import (
    BATCH_PRICE_FACTOR,
    BatchLimits,
    BatchRecord,
    BatchRun,
    BatchState,
    BatchStatus,
    BatchUnsupported,
    batch_price,
    parse_result_line,
    read_results,
    write_request_files,
)
from gui.core.errors import ErrorKind
from gui.core.spec import ModelProfile, RunSpec, make_spec

FAST = BatchLimits(poll_first=0.01, poll_max=0.02, ingest_chunk=3)


def two_models(rows: int) -> RunSpec:
    return make_spec(
        "Explain {topic}",
        [f"topic {i}" for i in range(rows)],
        [ModelProfile(model="m-a", temperature=0.2, max_tokens=50), ModelProfile(model="m-b")],
    )


def ok_line(custom_id: str, text: str, prompt: int = 7, completion: int = 3) -> str:
    return json.dumps(
        {
            "id": "req",
            "custom_id": custom_id,
            "response": {
                "status_code": 200,
                "body": {
                    "choices": [
                        {"message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
                    ],
                    "usage": {"prompt_tokens": prompt, "completion_tokens": completion},
                },
            },
            "error": None,
        }
    )


def error_line(custom_id: str, status: int = 500, code: str | None = None) -> str:
    if code is not None:
        return json.dumps(
            {
                "custom_id": custom_id,
                "response": None,
                "error": {"code": code, "message": "window passed"},
            }
        )
    return json.dumps(
        {
            "custom_id": custom_id,
            "response": {"status_code": status, "body": {"error": {"message": "boom"}}},
            "error": None,
        }
    )


class FakePort:
    """An in-memory Batch API: each batch answers with the lines ``answer`` gives."""

    def __init__(
        self, answer: dict[str, str] | None = None, *, errors: Mapping[str, str] | None = None
    ) -> None:
        self.answer = answer or {}
        self.errors = dict(errors or {})
        self.uploaded: list[list[dict[str, object]]] = []
        self.states: dict[str, BatchState] = {}
        self.inputs: dict[str, str] = {}
        self.release = asyncio.Event()
        self.cancelled: list[str] = []
        self.closed = 0

    async def upload(self, path: Path) -> str:
        text = await asyncio.to_thread(path.read_text)
        lines = [json.loads(line) for line in text.splitlines()]
        self.uploaded.append(lines)
        return f"file-{len(self.uploaded)}"

    async def create(self, input_file_id: str, metadata: Mapping[str, str]) -> BatchStatus:
        batch_id = f"batch-{input_file_id}"
        self.states[batch_id] = BatchState.IN_PROGRESS
        self.inputs[batch_id] = input_file_id
        return self._status(batch_id)

    def _status(self, batch_id: str) -> BatchStatus:
        state = self.states[batch_id]
        ended = state.terminal
        return BatchStatus(
            batch_id,
            state,
            self.inputs[batch_id],
            f"{batch_id}-out" if ended else None,
            f"{batch_id}-err" if ended else None,
            total=len(self.uploaded[int(self.inputs[batch_id].split("-")[1]) - 1]),
        )

    async def retrieve(self, batch_id: str) -> BatchStatus:
        if self.release.is_set() and self.states[batch_id] is BatchState.IN_PROGRESS:
            self.states[batch_id] = BatchState.COMPLETED
        if self.states[batch_id] is BatchState.CANCELLING:
            self.states[batch_id] = BatchState.CANCELLED
        return self._status(batch_id)

    async def cancel(self, batch_id: str) -> BatchStatus:
        self.cancelled.append(batch_id)
        self.states[batch_id] = BatchState.CANCELLING
        return self._status(batch_id)

    async def download(self, file_id: str, dest: Path) -> None:
        batch_id, _, which = file_id.rpartition("-")
        ids = [
            str(line["custom_id"])
            for line in self.uploaded[int(self.inputs[batch_id].split("-")[1]) - 1]
        ]
        source = self.answer if which == "out" else self.errors
        await asyncio.to_thread(
            dest.write_text, "".join(source[i] + "\n" for i in ids if i in source)
        )

    async def aclose(self) -> None:
        self.closed += 1


class Store:
    def __init__(self) -> None:
        self.created: list[BatchRecord] = []
        self.updated: list[BatchRecord] = []

    def batch_created(self, record: BatchRecord) -> None:
        self.created.append(record)

    def batch_cells_ended(self, run_id: str, events: object) -> None:
        pass

    def batch_updated(self, record: BatchRecord) -> None:
        self.updated.append(record)


def collect(run: BatchRun) -> dict[str, ev.Event]:
    ended: dict[str, ev.Event] = {}

    def on(event: ev.Event) -> None:
        if isinstance(event, ev.CellFinished | ev.CellFailed | ev.CellCancelled):
            assert event.cell_id not in ended, "a cell ended twice"
            ended[event.cell_id] = event

    run.subscribe(on)
    return ended


# ------------------------------------------------------------------ request files


def test_requests_are_split_per_column_at_the_line_limit(tmp_path: Path) -> None:
    files = write_request_files(two_models(5), tmp_path, BatchLimits(max_lines=2))
    assert [(f.col, f.first_row, f.rows) for f in files] == [
        (0, 0, 2), (0, 2, 2), (0, 4, 1), (1, 0, 2), (1, 2, 2), (1, 4, 1),
    ]  # fmt: skip
    first = [json.loads(x) for x in files[0].path.read_text().splitlines()]
    assert first[0] == {
        "custom_id": "r0m0",
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {
            "model": "m-a",
            "messages": [{"role": "user", "content": "Explain topic 0"}],
            "temperature": 0.2,
            "max_tokens": 50,
        },
    }
    assert [x["custom_id"] for x in first] == ["r0m0", "r1m0"]


def test_requests_are_split_at_the_byte_limit_never_refused(tmp_path: Path) -> None:
    spec = two_models(6)
    (whole,) = [f for f in write_request_files(spec, tmp_path / "a", BatchLimits()) if f.col == 1]
    line = whole.size // 6
    files = write_request_files(spec, tmp_path / "b", BatchLimits(max_bytes=line * 2 + 1))
    col1 = [f for f in files if f.col == 1]
    assert [f.rows for f in col1] == [2, 2, 2]
    assert all(f.size <= line * 2 + 1 for f in col1)
    tiny = write_request_files(spec, tmp_path / "c", BatchLimits(max_bytes=10))
    assert len(tiny) == 12 and all(f.rows == 1 for f in tiny)  # one request a file, not refused


# ------------------------------------------------------------------ result lines


def test_result_lines_map_to_answers_usage_and_error_kinds() -> None:
    done = parse_result_line(ok_line("r0m0", "Hello", 11, 2))
    assert done is not None and done.ok and done.text == "Hello"
    assert (done.input_tokens, done.output_tokens, done.finish_reason) == (11, 2, "stop")
    failed = parse_result_line(error_line("r1m0", 500), "m at host")
    assert failed is not None and failed.kind is ErrorKind.SERVER_ERROR
    assert failed.message.startswith("m at host: batch request failed (HTTP 500): boom")
    limited = parse_result_line(error_line("r1m0", 429))
    assert limited is not None and limited.kind is ErrorKind.RATE_LIMITED
    expired = parse_result_line(error_line("r2m0", code="batch_expired"))
    assert expired is not None and expired.kind is ErrorKind.EXPIRED
    assert parse_result_line(b"not json") is None
    assert parse_result_line(b'{"no": "id"}') is None


def test_a_result_line_with_invalid_utf8_or_a_wrong_type_says_so() -> None:
    # Bytes that are not UTF-8 keep the answer, each bad byte a lone surrogate the history
    # replaces (and notes), instead of dropping the line (the cell then read "expired").
    raw = ok_line("r0m0", "caf@ ok", 3, 2).encode().replace(b"@", b"\xff")
    kept = parse_result_line(raw, "m at host")
    assert kept is not None and kept.ok and kept.text == "caf\udcff ok"
    wrong = json.loads(ok_line("r1m0", "x", 1, 1))
    wrong["response"]["body"]["choices"][0]["message"]["content"] = 12
    bad = parse_result_line(json.dumps(wrong), "m at host")
    assert bad is not None and not bad.ok and bad.kind is ErrorKind.BAD_RESPONSE
    assert bad.message == (
        "m at host: the batch returned an answer of the wrong shape ('content' is not text). "
        "Check that the provider is OpenAI-compatible."
    )


def test_result_lines_past_the_answer_size_cap_fail_too_large_without_reading_them_whole(
    tmp_path: Path,
) -> None:
    path = tmp_path / "output.jsonl"
    huge = ok_line("r1m0", "x" * 3_000_000)  # past 1 MiB + 12 bytes per character of the cap
    with path.open("w", encoding="utf-8") as f:
        f.write(ok_line("r0m0", "short") + "\n")
        f.write(huge + "\n")
        f.write(ok_line("r2m0", "y" * 200) + "\n")  # longer than the cap, a short line
        f.write(ok_line("r3m0", "fine too") + "\n")
    results = [r for chunk in read_results(path, 100, "m at host", max_chars=100) for r in chunk]
    by_id = {r.custom_id: r for r in results}
    assert list(by_id) == ["r0m0", "r1m0", "r2m0", "r3m0"]
    assert by_id["r0m0"].ok and by_id["r3m0"].text == "fine too"  # the line after is read
    for cell, why in (
        ("r1m0", "its result line passed 1,049,776 bytes"),
        ("r2m0", "more than 100 characters"),
    ):
        bad = by_id[cell]
        assert not bad.ok and bad.kind is ErrorKind.TOO_LARGE
        assert bad.message == (
            f"m at host: answer too large: {why}. Raise the answer size cap, or lower max tokens."
        )


def test_the_batch_price_is_half_the_live_price() -> None:
    assert BATCH_PRICE_FACTOR == 0.5
    assert batch_price(2.0) == 1.0


# ------------------------------------------------------------------ the executor


async def test_output_error_and_missing_lines_end_done_failed_and_expired(tmp_path: Path) -> None:
    spec = make_spec("Explain {topic}", ["a", "b", "c", "d"], [ModelProfile(model="m")])
    port = FakePort(
        {"r0m0": ok_line("r0m0", "A!", 5, 2), "r1m0": ok_line("r1m0", "B!")},
        errors={"r2m0": error_line("r2m0", 500)},
    )
    store = Store()
    run = BatchRun(spec, lambda _p: port, store, tmp_path, limits=FAST)
    ended = collect(run)
    task = run.start()
    await asyncio.wait_for(_until(lambda: store.created), 30)
    assert run.batches[0].batch_id == "batch-file-1" and not ended
    port.release.set()
    summary = await asyncio.wait_for(task, 30)
    assert summary is not None
    assert (summary.done, summary.failed, summary.cancelled) == (2, 2, 0)
    a = ended["r0m0"]
    assert isinstance(a, ev.CellFinished) and a.text == "A!"
    assert (a.metrics.input_tokens, a.metrics.output_tokens, a.metrics.batch) == (5, 2, True)
    failed = ended["r2m0"]
    assert isinstance(failed, ev.CellFailed) and failed.kind is ErrorKind.SERVER_ERROR
    expired = ended["r3m0"]
    assert isinstance(expired, ev.CellFailed) and expired.kind is ErrorKind.EXPIRED
    assert "expired" in expired.message
    assert summary.failures_by_kind == {"server_error": 1, "expired": 1}
    assert store.updated[-1].ingested_at is not None
    assert port.closed == 1
    assert not await asyncio.to_thread(lambda: list(tmp_path.iterdir()))  # files removed


async def test_one_batch_per_file_each_recorded_when_created(tmp_path: Path) -> None:
    spec = two_models(3)
    port = FakePort({f"r{r}m{c}": ok_line(f"r{r}m{c}", "x") for r in range(3) for c in range(2)})
    port.release.set()
    store = Store()
    run = BatchRun(
        spec, lambda _p: port, store, tmp_path, limits=BatchLimits(max_lines=2, poll_first=0.01)
    )
    summary = await asyncio.wait_for(run.start(), 30)
    assert summary is not None and summary.done == 6
    assert [(r.file_index, r.col, r.first_row, r.rows) for r in store.created] == [
        (0, 0, 0, 2), (1, 0, 2, 1), (2, 1, 0, 2), (3, 1, 2, 1),
    ]  # fmt: skip
    assert len({r.batch_id for r in store.created}) == 4


async def test_cancel_ends_the_requests_not_run_cancelled(tmp_path: Path) -> None:
    spec = make_spec("Explain {topic}", ["a", "b", "c"], [ModelProfile(model="m")])
    port = FakePort({"r0m0": ok_line("r0m0", "A!")})  # only the first ran before the cancel
    run = BatchRun(spec, lambda _p: port, Store(), tmp_path, limits=FAST)
    ended = collect(run)
    task = run.start()
    await asyncio.wait_for(_until(lambda: run.batches), 30)
    run.cancel()
    summary = await asyncio.wait_for(task, 30)
    assert summary is not None and summary.cancelled_by_user
    assert port.cancelled == ["batch-file-1"]
    assert isinstance(ended["r0m0"], ev.CellFinished)
    assert all(isinstance(ended[c], ev.CellCancelled) for c in ("r1m0", "r2m0"))
    assert run.batches[0].state is BatchState.CANCELLED


async def test_a_cancel_while_the_batch_is_being_recorded_cancels_it_once(
    tmp_path: Path,
) -> None:
    """Seen once under load: the cancel came while the new batch was written to the history;
    it found the batch in the run and cancelled it, and the creating loop, once the record
    was written, cancelled it again (two requests to the provider for one batch)."""
    recorded = threading.Event()

    class SlowStore(Store):
        def batch_created(self, record: BatchRecord) -> None:
            assert recorded.wait(60)  # held until the cancel has been made
            super().batch_created(record)

    spec = make_spec("Explain {topic}", ["a", "b"], [ModelProfile(model="m")])
    port = FakePort()
    run = BatchRun(spec, lambda _p: port, SlowStore(), tmp_path, limits=FAST)
    ended = collect(run)
    task = run.start()
    await asyncio.wait_for(_until(lambda: run.batches), 30)
    run.cancel()  # the batch is in the run; its record is still being written
    await asyncio.sleep(0)
    recorded.set()
    summary = await asyncio.wait_for(task, 30)
    assert summary is not None and summary.cancelled_by_user
    assert port.cancelled == ["batch-file-1"]
    assert all(isinstance(ended[c], ev.CellCancelled) for c in ("r0m0", "r1m0"))


async def test_a_server_without_a_batch_api_fails_the_cells_with_one_line(tmp_path: Path) -> None:
    class NoBatches(FakePort):
        async def upload(self, path: Path) -> str:
            raise BatchUnsupported("host does not offer the Batch API (404 on /files).")

    spec = make_spec("Explain {topic}", ["a"], [ModelProfile(model="m")])
    run = BatchRun(spec, lambda _p: NoBatches(), Store(), tmp_path, limits=FAST)
    ended = collect(run)
    summary = await asyncio.wait_for(run.start(), 30)
    assert summary is not None and summary.failed == 1
    assert run.error == "host does not offer the Batch API (404 on /files)."
    assert isinstance(ended["r0m0"], ev.CellFailed)


async def test_without_wait_the_run_stops_once_submitted(tmp_path: Path) -> None:
    spec = make_spec("Explain {topic}", ["a"], [ModelProfile(model="m")])
    events: list[ev.Event] = []
    run = BatchRun(spec, lambda _p: FakePort(), Store(), tmp_path, limits=FAST, wait=False)
    run.subscribe(events.append)
    assert await asyncio.wait_for(run.start(), 30) is None
    assert [type(e).__name__ for e in events] == ["RunStarted", "BatchChanged"]
    assert not run.finished


async def _until(predicate: Callable[[], object]) -> None:
    while not predicate():
        await asyncio.sleep(0.005)


async def test_a_poll_that_fails_is_tried_again(tmp_path: Path) -> None:
    class Flaky(FakePort):
        failures = 1

        async def retrieve(self, batch_id: str) -> BatchStatus:
            if self.failures:
                self.failures -= 1
                raise ConnectionError("connection reset")
            return await super().retrieve(batch_id)

    spec = make_spec("Explain {topic}", ["a"], [ModelProfile(model="m")])
    port = Flaky({"r0m0": ok_line("r0m0", "A!")})
    port.release.set()
    run = BatchRun(spec, lambda _p: port, Store(), tmp_path, limits=FAST)
    summary = await asyncio.wait_for(run.start(), 30)
    assert summary is not None and summary.done == 1 and port.failures == 0


async def test_a_cancel_while_submitting_cancels_what_was_created_and_the_rest(
    tmp_path: Path,
) -> None:
    class Slow(FakePort):
        entered = asyncio.Event()

        async def upload(self, path: Path) -> str:
            self.entered.set()
            await self.release.wait()  # the cancel comes while the first file uploads
            return await super().upload(path)

    spec = make_spec("Explain {topic}", ["a", "b"], [ModelProfile(model="m")])
    port = Slow()
    run = BatchRun(
        spec, lambda _p: port, Store(), tmp_path, limits=BatchLimits(max_lines=1, poll_first=0.01)
    )
    ended = collect(run)
    task = run.start()
    await asyncio.wait_for(port.entered.wait(), 30)
    run.cancel()
    port.release.set()
    summary = await asyncio.wait_for(task, 30)
    assert summary is not None and summary.cancelled == 2 and summary.cancelled_by_user
    assert port.cancelled == ["batch-file-1"]  # the one created, then no other upload
    assert len(port.uploaded) == 1
    assert all(isinstance(e, ev.CellCancelled) for e in ended.values())
