"""Soak: thousands of cells against a server that misbehaves at random, nothing lost or left.

One run of ``FANOUT_SOAK_CELLS`` cells (default 200, the size ``make test`` runs) at max
concurrency 20 against the test server, with ``FANOUT_SOAK_FAULT_RATE`` (default 0.05) of the
prompts given a seeded fault: 429, 500, 503, a dropped stream, a stall, malformed SSE
(`tests.support.openai_server.RandomFaults`). Every run is recorded in the history as the app
records it. It must hold that:

* every cell is accounted for, in the summary and in the history, and each ends as its fault
  says: the faulty ones failed with the fault's kind (429/500/503 after their retry), every
  other one done with the server's exact answer;
* resident memory stays flat: growth from 10 % of the cells to the end <= 50 MB
  (``/proc/self/statm``, so the in-process server and the history writer count too);
* the loop keeps beating: a 10 ms heartbeat on the run's loop records its lateness, printed with
  the figures (the lag target itself is a ``fanout-studio bench`` figure, where it is measured
  against a reference: a test asserts behaviour, never milliseconds);
* nothing is left: no engine task, no socket open at the server.

The full soak, 2,000 cells (about 20 s on a 2-core machine), prints its figures::

    FANOUT_SOAK_CELLS=2000 .venv/bin/python -m pytest tests/faults/test_soak.py -s

``FANOUT_SOAK_FAULT_RATE`` and ``FANOUT_SOAK_SEED`` change the faults,
``FANOUT_SOAK_TOKEN_INTERVAL`` the pace (default 0.02 s: 50 tokens/s per stream, 1,000
tokens/s over the 20 in flight; 0.005 keeps the loop 100 % busy parsing chunks). Normal answers
are 5 to 15 tokens, fixed per prompt. Before the soak a 20-cell warm-up run pays the one-time
costs of the first run in a process (importing the OpenAI stack, the first HTTP client); the
figures are the soak's alone.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from collections import Counter

import pytest

from gui.core import events as ev
from gui.core.errors import ErrorKind
from gui.core.lag import LagRecorder, heartbeat
from gui.core.runner import Run
from gui.core.spec import CellId, Limits, ModelProfile, ProviderKind, RunSpec, Strategy, make_spec
from gui.providers.backend import LangChainBackend
from gui.storage.history import History
from tests.faults.checks import fanout_tasks, loop_problems, sockets_closed
from tests.support.openai_server import Behavior, FakeOpenAIServer, RandomFaults, default_answer

CELLS = int(os.environ.get("FANOUT_SOAK_CELLS", "200"))
FAULT_RATE = float(os.environ.get("FANOUT_SOAK_FAULT_RATE", "0.05"))
SEED = int(os.environ.get("FANOUT_SOAK_SEED", "7"))  # 200 cells: 10 faulty, all six kinds
TOKENS = 10
INTERVAL = float(os.environ.get("FANOUT_SOAK_TOKEN_INTERVAL", "0.02"))
TEMPLATE = "Describe {topic}"

#: How each injected fault must end its cell, and how many requests it makes (retries=1).
ENDS: dict[str, tuple[ErrorKind, int]] = {
    "429": (ErrorKind.RATE_LIMITED, 2),
    "500": (ErrorKind.SERVER_ERROR, 2),
    "503": (ErrorKind.SERVER_ERROR, 2),
    "drop": (ErrorKind.CUT_OFF, 1),  # after 2 tokens: never retried
    "stall": (ErrorKind.TIMEOUT, 1),
    "malformed": (ErrorKind.BAD_RESPONSE, 1),
}

pytestmark = pytest.mark.timeout(max(120, CELLS // 10))

_PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_mb() -> float:
    """Resident set size of this process, from ``/proc/self/statm`` (Linux)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * _PAGE / 2**20


def spec_of(url: str, topics: list[str], timeout: float = 8.0) -> RunSpec:
    model = ModelProfile(
        model="fake-1", provider=ProviderKind.OPENAI, base_url=url, api_key_env="FANOUT_TEST_KEY"
    )
    # The stalled cells need a timeout to end; 8 s is far above a normal answer (5-15 tokens at
    # 50 tokens/s) even on a machine running at a quarter of its speed.
    limits = Limits(
        max_concurrency=20,
        ttft_timeout=timeout,
        idle_timeout=timeout,
        retries=1,
        backoff_base=0.01,
        backoff_max=0.5,
    )
    return make_spec(TEMPLATE, topics, (model,), Strategy.STREAM, limits)


def tokens_for(prompt: str) -> int:
    """Answer length of a normal cell: 5 to 15 tokens, fixed per prompt.

    Answers of one length would start and end in lockstep, 20 at a time: a wave no real
    server makes, whose every turn puts 20 endings and 20 starts in the same loop iteration.
    """
    return random.Random(f"{SEED}:{prompt}").randint(TOKENS // 2, TOKENS * 3 // 2)


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="reads RSS from /proc")
async def test_soak_every_cell_accounted_for_nothing_left(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FANOUT_TEST_KEY", "sk-test")
    topics = [f"item {i}" for i in range(CELLS)]
    with FakeOpenAIServer(models=["fake-1"], tokens=TOKENS, token_interval=INTERVAL) as server:
        history = History.open()
        backend = LangChainBackend()
        # Warm-up: the first run of a process imports the OpenAI stack and opens clients.
        warm = Run(spec_of(server.base_url, [f"warm {i}" for i in range(20)], 120), backend)
        assert (await warm.wait()).done == 20
        faults = RandomFaults(FAULT_RATE, seed=SEED)
        server.behave(lambda req: faults(req) or Behavior(tokens=tokens_for(req.last_user_text)))
        server.reset_stats()

        run = Run(spec_of(server.base_url, topics), backend)
        ends: dict[str, ev.Event] = {}
        warm_rss: list[float] = []

        def on_event(event: ev.Event) -> None:
            if isinstance(event, ev.TERMINAL):
                assert isinstance(event, ev.CellEvent) and event.cell_id not in ends
                ends[event.cell_id] = event
                if len(ends) == max(CELLS // 10, 1):
                    warm_rss.append(rss_mb())

        run.subscribe(on_event)
        run.subscribe(history.recorder())
        lag = LagRecorder(keep=10)
        stop = asyncio.Event()
        with loop_problems() as problems:
            beat = asyncio.get_running_loop().create_task(heartbeat(lag, stop), name="soak-beat")
            started = time.monotonic()
            summary = await run.wait()
            wall = time.monotonic() - started
            stop.set()
            await beat
            end_rss = rss_mb()
            await backend.aclose()
            tasks_left = fanout_tasks()
            closed = await sockets_closed(server)
        assert history.flush(timeout=30)
        stored = history.get_run(run.id)
        history.close()

    stats = lag.stats()
    growth = end_rss - warm_rss[0]
    expected = {t: faults.fault_for(f"Describe {t}") for t in topics}
    figures = {
        "cells": CELLS,
        "faulty_cells": sum(1 for f in expected.values() if f),
        "faulty_by_fault": dict(Counter(f for f in expected.values() if f)),
        "injected_requests": faults.injected,
        "done": summary.done,
        "failed": summary.failed,
        "cancelled": summary.cancelled,
        "failures_by_kind": {str(k): n for k, n in summary.failures_by_kind.items()},
        "wall_s": round(wall, 2),
        "rss_at_10pct_mb": round(warm_rss[0], 1),
        "rss_end_mb": round(end_rss, 1),
        "rss_growth_mb": round(growth, 1),
        "lag_samples": stats.samples,
        "lag_p50_ms": round(stats.p50_ms, 2),
        "lag_p99_ms": round(stats.p99_ms, 2),
        "lag_max_ms": round(stats.max_ms, 2),
        "tasks_left": len(tasks_left),
        "open_connections_left": server.open_connections,
    }
    print(f"\nsoak: {json.dumps(figures)}")

    assert problems == []
    assert summary.total == CELLS and len(ends) == CELLS
    assert summary.done + summary.failed + summary.cancelled == CELLS and summary.cancelled == 0
    for row, topic in enumerate(topics):
        end = ends[CellId.text(row, 0)]
        fault = expected[topic]
        if fault is None:
            assert isinstance(end, ev.CellFinished), (topic, end)
            prompt = f"Describe {topic}"
            assert end.text == default_answer(prompt, "fake-1", tokens_for(prompt))
        else:
            assert isinstance(end, ev.CellFailed), (topic, fault, end)
            assert end.kind is ENDS[fault][0], (topic, fault, end.message)
            assert end.metrics.retries == ENDS[fault][1] - 1, (topic, fault)
    assert summary.failed == figures["faulty_cells"]
    assert len(server.requests) == sum(ENDS[f][1] if f else 1 for f in expected.values())
    assert stored is not None and len(stored.cells) == CELLS
    assert (stored.done, stored.failed, stored.cancelled) == (summary.done, summary.failed, 0)
    assert all(
        c.status == ("done" if expected[c.inputs["topic"]] is None else "failed")
        for c in stored.cells
    )
    assert growth <= 50, f"RSS grew {growth:.1f} MB after warm-up"
    assert stats.samples > 0
    assert tasks_left == [] and closed, (tasks_left, server.open_connections)
