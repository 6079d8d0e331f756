"""Batch ingest under load: a 100,000-cell batch run written, then its results ingested.

Run as a child process by ``fanout-studio bench --scenario batch-ingest`` (``python -m
gui.qt.bench_batch``, offscreen, with a data folder of its own); prints one JSON object.
On the app's own loop (qasync, as in the window) and with a real history file:

* ``write_s`` / ``request_mb``: building and writing the request files of 50,000 rows x
  2 models (a worker thread, a line at a time), split as the Batch API limits ask;
* ``ingest_s`` / ``lines_per_s``: from the moment the provider says the batches are done to
  the last cell committed to the history: the result files (100,000 lines, made beforehand
  as a provider would) downloaded, read in chunks in a worker thread, each line a cell's
  event, recorded by the history writer;
* ``rss_growth_mb``: the peak resident memory during ingest over the figure before it
  (sampled every 20 ms in a thread);
* ``lag_*``: the lateness of a 10 ms heartbeat on the GUI loop while ingesting;
* ``floor_s`` / ``ingest_over_floor``: the same output files through the least any ingest
  must do (:func:`floor_ingest`), once before the app's ingest and once after it, on this
  machine in this minute; the app's ingest time over the faster of the two is the
  scenario's target, which holds on a day the machine runs at half speed (the lines/s
  figure alone does not); ``cpu_over_floor``: the same in CPU time (the whole process's
  for the app, the floor's thread's for the floor).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sqlite3
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson

from gui.compat.gc_policy import defer_full_collections, freeze_import_heap
from gui.core import events as ev
from gui.core.batch import BatchLimits, BatchRun, BatchState, BatchStatus, write_request_files
from gui.core.lag import LagRecorder, heartbeat
from gui.core.spec import ModelProfile, make_spec

ROWS, MODELS = 50_000, 2


def _rss_mb() -> float:
    with open("/proc/self/statm", encoding="ascii") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


class _Peak:
    """The highest resident memory while it runs, sampled in a thread."""

    def __init__(self) -> None:
        self.peak = _rss_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, _rss_mb())

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak


class _Provider:
    """A provider whose batches are done at once; its result files are made in advance."""

    def __init__(self, results: Path, files: int) -> None:
        self.results = results
        self.sizes: dict[str, int] = {}
        self.done = asyncio.Event()
        self.all_created = asyncio.Event()
        self._files = files

    async def upload(self, path: Path) -> str:
        file_id = f"in-{path.stem}"
        self.sizes[file_id] = await asyncio.to_thread(_lines, path)
        return file_id

    async def create(self, input_file_id: str, metadata: Mapping[str, str]) -> BatchStatus:
        if len(self.sizes) == self._files:
            self.all_created.set()
        return BatchStatus(f"b-{input_file_id}", BatchState.IN_PROGRESS, input_file_id)

    async def retrieve(self, batch_id: str) -> BatchStatus:
        await self.done.wait()
        file_id = batch_id.removeprefix("b-")
        n = self.sizes[file_id]
        return BatchStatus(batch_id, BatchState.COMPLETED, file_id, f"out-{file_id}", None, n, n, 0)

    async def cancel(self, batch_id: str) -> BatchStatus:
        raise NotImplementedError

    async def download(self, file_id: str, dest: Path) -> None:
        source = self.results / f"{file_id.removeprefix('out-in-')}.jsonl"
        await asyncio.to_thread(shutil.copyfile, source, dest)

    async def aclose(self) -> None:
        pass


def _lines(path: Path) -> int:
    with path.open("rb") as f:
        return sum(1 for _ in f)


def _make_results(requests: Path, out: Path) -> None:
    """The output file a provider would return for a request file (not timed)."""
    with requests.open("rb") as src, out.open("w", encoding="utf-8") as dst:
        for n, line in enumerate(src):
            custom_id = json.loads(line)["custom_id"]
            text = f"Answer {n}: " + "lorem ipsum dolor sit amet " * 8
            body = {
                "choices": [
                    {"message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
                ],
                "usage": {"prompt_tokens": 12, "completion_tokens": 42},
            }
            item = {"custom_id": custom_id, "response": {"status_code": 200, "body": body}}
            dst.write(json.dumps(item) + "\n")


def floor_ingest(paths: Sequence[Path], db: Path) -> tuple[int, float, float]:
    """The least any ingest of these result files must do, timed: the scenario's reference.

    Every line is read, parsed (``orjson``, the app's own parser: a slower stdlib ``json``
    would flatter the ratio and hide a return to it) and its cell's id, answer and usage are
    inserted into a bare SQLite table keyed by the cell (the history's key), in a file
    beside the history with the history's journal settings (WAL, ``synchronous=NORMAL``),
    one transaction for all of them. No events, no metrics, no cleaning or masking of the
    text, no subscribers, no loop: what the app adds to that is what the ratio measures.
    The rows stream into ``executemany`` so the reference holds no more than a line in
    memory (the probe's peak RSS figure stays the app's).

    Returns:
        (lines stored, wall seconds, this thread's CPU seconds); the file is removed.
    """

    def rows() -> Iterator[tuple[str, str, str, str]]:
        for path in paths:
            with path.open("rb") as f:
                for line in f:
                    item = orjson.loads(line)
                    body = item["response"]["body"]
                    text = body["choices"][0]["message"]["content"]
                    yield item["custom_id"], text, orjson.dumps(body["usage"]).decode(), "done"

    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(
            "CREATE TABLE cells (cell_id TEXT PRIMARY KEY, text TEXT NOT NULL, "
            "usage_json TEXT NOT NULL, status TEXT NOT NULL)"
        )
        wall, cpu = time.perf_counter(), time.thread_time()
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO cells VALUES (?, ?, ?, ?)", rows())
        conn.execute("COMMIT")
        wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
        stored = int(conn.execute("SELECT count(*) FROM cells").fetchone()[0])
    finally:
        conn.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
    return stored, wall, cpu


async def _measure(quick: bool) -> dict[str, Any]:
    from gui.storage import paths
    from gui.storage.history import History

    rows = 500 if quick else ROWS
    spec = make_spec(
        "Summarise {topic} in one paragraph for a newcomer.",
        [f"topic number {i}" for i in range(rows)],
        [ModelProfile(model=f"sim-{c}") for c in range(MODELS)],
    )
    home = paths.home()
    work, results = home / "work", home / "results"
    results.mkdir(parents=True, exist_ok=True)
    limits = BatchLimits(poll_first=0.001, poll_max=0.001, max_lines=50_000)

    # 1. Build and write the request files (as a submit does, in a worker thread).
    started = time.perf_counter()
    files = await asyncio.to_thread(write_request_files, spec, home / "requests", limits)
    write_s = time.perf_counter() - started
    request_mb = sum(f.size for f in files) / 2**20
    for f in files:  # the provider's answers, made before the clock runs
        await asyncio.to_thread(_make_results, f.path, results / f"{f.path.stem}.jsonl")
    shutil.rmtree(home / "requests")

    # 2. Submit, then ingest every line into the history.
    history = History.open()
    provider = _Provider(results, len(files))
    run = BatchRun(spec, lambda _p: provider, history, work, limits=limits)
    run.subscribe(history.recorder(label="batch"))
    ended = asyncio.get_running_loop().create_future()
    ingest_start: list[float] = []

    def on_event(event: ev.Event) -> None:
        if isinstance(event, ev.RunFinished) and not ended.done():
            ended.set_result(event.summary)

    run.subscribe(on_event)
    task = run.start()
    await provider.all_created.wait()
    await asyncio.to_thread(history.flush, 60)
    await asyncio.sleep(0.1)  # the last batch's record, after its create
    # The reference, just before the app's ingest (and again just after it): same files,
    # same disk, same minute.
    outputs = sorted(results.glob("*.jsonl"))
    floors = [await asyncio.to_thread(floor_ingest, outputs, home / "floor.sqlite")]
    # As the window does while a run is open (the gc-policy hook, gui/compat).
    freeze_import_heap()
    defer_full_collections(True)
    base_rss = _rss_mb()
    peak = _Peak()
    lag, stop = LagRecorder(keep=100_000), asyncio.Event()
    beat = asyncio.ensure_future(heartbeat(lag, stop))
    ingest_start.append(time.perf_counter())
    cpu_start = time.process_time()
    provider.done.set()
    summary = await asyncio.wait_for(ended, 600)
    await asyncio.to_thread(history.flush, 600)
    ingest_s = time.perf_counter() - ingest_start[0]
    ingest_cpu_s = time.process_time() - cpu_start
    stop.set()
    await beat
    peak_rss = peak.stop()
    defer_full_collections(False)
    await task
    stats = lag.stats()
    stored = history.list_runs(limit=1)[0]
    history.close()
    floors.append(await asyncio.to_thread(floor_ingest, outputs, home / "floor.sqlite"))
    # The faster run is the machine's speed in that minute; a slower one met other work.
    floor_s = min(wall for _n, wall, _cpu in floors)
    floor_cpu_s = min(cpu for _n, _wall, cpu in floors)
    return {
        "cells": len(run.cells),
        "request_files": len(files),
        "request_mb": round(request_mb, 1),
        "write_s": round(write_s, 2),
        "ingest_s": round(ingest_s, 2),
        "lines_per_s": round(len(run.cells) / ingest_s),
        "floor_s": round(floor_s, 3),
        "floor_lines_per_s": round(floors[0][0] / floor_s),
        "ingest_over_floor": round(ingest_s / floor_s, 2),
        "ingest_cpu_s": round(ingest_cpu_s, 2),
        "floor_cpu_s": round(floor_cpu_s, 3),
        "cpu_over_floor": round(ingest_cpu_s / floor_cpu_s, 2),
        "floor_runs_s": [round(wall, 3) for _n, wall, _cpu in floors],
        "floor_stored": min(n for n, _wall, _cpu in floors),
        "done": summary.done,
        "stored_done": stored.done,
        "rss_growth_mb": round(peak_rss - base_rss, 1),
        "lag_p99_ms": round(stats.p99_ms, 2),
        "lag_max_ms": round(stats.max_ms, 2),
        "lag_samples": stats.samples,
    }


def main() -> int:
    """Measure and print one JSON line (``--quick``: 500 rows instead of 50,000)."""
    from gui.qt.probe import run_probe

    quick = "--quick" in sys.argv[1:]
    return run_probe(lambda: _measure(quick))


if __name__ == "__main__":
    raise SystemExit(main())
