"""Engine events for history tests, without running an engine: exact texts, times and ids."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from gui.core import events as ev
from gui.core.errors import ErrorKind
from gui.core.metrics import CellMetrics, RunSummary
from gui.core.spec import ModelProfile, RunSpec, Strategy, make_spec


def metrics(ended_at: float = 1.0, **changes: Any) -> CellMetrics:
    """Plausible metrics for a cell that ended ``ended_at`` seconds into its run."""
    values: dict[str, Any] = {
        "queued_at": 0.0,
        "started_at": 0.1,
        "first_token_at": 0.3,
        "ended_at": ended_at,
        "waited": 0.1,
        "ttft": 0.2,
        "latency": ended_at - 0.1,
        "output_tokens": 12,
        "tokens_estimated": False,
        "tokens_per_second": 12 / (ended_at - 0.3),
        "retries": 0,
    }
    values.update(changes)
    return CellMetrics(**values)


def spec(
    template: str = "Tell me a joke about {topic}",
    topics: Sequence[str] = ("cats", "dogs"),
    models: Sequence[str | ModelProfile] = ("sim-a", "sim-b"),
    strategy: Strategy = Strategy.STREAM,
) -> RunSpec:
    profiles = [m if isinstance(m, ModelProfile) else ModelProfile(model=m) for m in models]
    return make_spec(template, list(topics), profiles, strategy)


def feed_run(
    record: Callable[[ev.Event], None],
    run_spec: RunSpec,
    *,
    run_id: str,
    started_at: float = 1_800_000_000.0,
    outcomes: Mapping[str, tuple[Any, ...]] | None = None,
    finish: bool = True,
    cancelled_by_user: bool = False,
    chunks: int = 3,
) -> dict[str, str]:
    """Send a whole run's events to ``record``; returns each cell's final text.

    ``outcomes[cell_id]`` is ``("done", text)``, ``("failed", kind, message, partial)`` or
    ``("cancelled", reason, partial)``; cells not named end done with ``"answer <id>"``.
    With ``finish=False`` only the named cells end and no ``RunFinished`` is sent.
    """
    outcomes = dict(outcomes or {})
    cells = tuple(run_spec.cells())
    record(ev.RunStarted(run_id, 0.0, run_spec, cells, started_at))
    texts: dict[str, str] = {}
    done = failed = cancelled = 0
    kinds: dict[str, int] = {}
    t = 0.0
    for cell in cells:
        if not finish and cell.id not in outcomes:
            continue
        outcome = outcomes.get(cell.id, ("done", f"answer {cell.id}"))
        t += 0.25
        record(ev.CellQueued(run_id, 0.0, cell.id))
        record(ev.CellStarted(run_id, t - 0.2, cell.id, 1, 0.0))
        text = outcome[1] if outcome[0] == "done" else outcome[-1]
        for i in range(chunks):
            record(ev.TextChunk(run_id, t - 0.1, cell.id, text[i::chunks]))
        m = metrics(t)
        if outcome[0] == "done":
            record(ev.CellFinished(run_id, t, cell.id, text, m))
            done += 1
        elif outcome[0] == "failed":
            record(ev.CellFailed(run_id, t, cell.id, ErrorKind(outcome[1]), outcome[2], text, m))
            failed += 1
            kinds[outcome[1]] = kinds.get(outcome[1], 0) + 1
        else:
            record(ev.CellCancelled(run_id, t, cell.id, outcome[1], text, m))
            cancelled += 1
        texts[cell.id] = text
    if finish:
        summary = RunSummary(
            total=len(cells),
            done=done,
            failed=failed,
            cancelled=cancelled,
            wall=t,
            strategy=str(run_spec.strategy),
            peak_in_flight=2,
            failures_by_kind=kinds,
            cancelled_by_user=cancelled_by_user,
        )
        record(ev.RunFinished(run_id, t, summary))
    return texts
