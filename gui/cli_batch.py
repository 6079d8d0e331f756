"""The command line of batch runs (issue 16): ``run --executor batch``, ``batches``,
``import-batch`` and ``export --format batch-jsonl``.

A batch run is submitted, recorded and left with the provider: ``run --executor batch``
prints the run id and the batch ids and exits 0; ``--wait`` (or ``batches wait RUN_ID``
later, from any process) polls until every batch ended, ingests the results into the same
run and prints it as a live run is printed. ``batches`` lists the batches of the history;
``batches wait`` without a run resumes every unfinished one, and says so once.

What a command says it saved, it saved: ``saved as`` only when every cell this process ended
is on disk (cells an earlier process ended were on disk before it), else one line naming the
cells and the ``fanout-unsaved-*.json`` file their answers went to; a submitted batch the
history could not record is named too, since no later process can collect it. Ctrl+C, SIGTERM
and SIGHUP stop only the waiting: the batches go on running, billed, on the provider's server,
and the one line at exit names them and the commands that collect or cancel them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from gui.cli import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    STOP_SIGNALS,
    HistoryFailed,
    UsageError,
    _date,
    _fmt_cell,
    _positive_float,
    _repeated_rows,
    check_saved,
    close_history,
    execute,
    no_result_item,
    open_history,
    results_json,
    signal_exit_code,
    spec_from_args,
    stored_cell_items,
    summary_json,
)
from gui.core import events as ev
from gui.core.batch import BatchChanged, BatchLimits, BatchRun, request_line
from gui.core.cleantext import escape_controls
from gui.core.keys import HeldKeys
from gui.core.metrics import RunSummary
from gui.core.spec import RunSpec

if TYPE_CHECKING:
    from gui.storage.history import History
    from gui.storage.records import StoredRun

__all__ = [
    "add_batch_parsers",
    "add_batch_run_options",
    "cmd_batches",
    "cmd_import_batch",
    "cmd_run_batch",
    "write_batch_jsonl",
]

#: Seconds before a batch is first polled (then each poll waits longer, up to a minute).
DEFAULT_POLL_S = 3.0


def add_batch_run_options(p: argparse.ArgumentParser) -> None:
    """``--executor``, ``--wait`` and the batch settings of ``run``."""
    group = p.add_argument_group("executor (live streaming, or the provider's Batch API)")
    group.add_argument(
        "--executor",
        choices=["live", "batch"],
        default="live",
        help="live: stream every cell now (default); batch: send the cells to the provider's "
        "Batch API (about half the price, results within 24 h) and print the run id",
    )
    group.add_argument(
        "--wait",
        action="store_true",
        help="with --executor batch: wait for the results and print them as a live run",
    )
    _add_batch_settings(group)


def _add_batch_settings(group: Any) -> None:
    group.add_argument(
        "--poll",
        type=_positive_float,
        default=DEFAULT_POLL_S,
        metavar="S",
        help=f"seconds before the first poll of a batch (default {DEFAULT_POLL_S:g}; each "
        "poll then waits half as long again, up to a minute)",
    )
    group.add_argument(
        "--sim-batch-delay",
        type=_positive_float,
        default=None,
        metavar="S",
        help="seconds the simulated model's batch takes to complete (default 5)",
    )


def add_batch_parsers(sub: Any) -> None:
    """The ``batches`` and ``import-batch`` commands."""
    where = "the history"
    batches_p = sub.add_parser(
        "batches",
        help="list batch runs' batches; wait for or cancel one",
        description=f"List the batches of batch runs in {where} (open ones first). "
        "`batches wait RUN_ID` polls until the run's batches end and prints its results; "
        "without RUN_ID it resumes every unfinished batch run. "
        "`batches cancel RUN_ID` cancels the run's open batches. "
        "`batches retry RUN_ID` runs the run's failed and expired cells again, live, into the "
        "same run; with --batch, as new batches of the same run (collect them with "
        "`batches wait RUN_ID`).",
    )
    batches_p.add_argument(
        "action",
        nargs="?",
        choices=["list", "wait", "cancel", "retry"],
        default="list",
        help="list (default), wait, cancel, or retry (the run's failed and expired cells, live)",
    )
    batches_p.add_argument(
        "run_id", nargs="?", metavar="RUN_ID", help="the run's id or a unique prefix"
    )
    batches_p.add_argument("--json", action="store_true", help="print JSON")
    batches_p.add_argument(
        "--batch",
        action="store_true",
        help="with retry: send the failed and expired cells as new batches of the run "
        "(batch price) instead of live",
    )
    batches_p.add_argument("--quiet", "-q", action="store_true", help="no progress bar on stderr")
    _add_batch_settings(batches_p)
    import_p = sub.add_parser(
        "import-batch",
        help="ingest a batch output file into a recorded run",
        description="Read an output file in the OpenAI batch output format (one JSON object "
        "per line with custom_id and response, as vLLM's run-batch writes it) into the run "
        "whose requests `export --format batch-jsonl` wrote: each line becomes its cell's "
        "answer or failure.",
    )
    import_p.add_argument("run_id", metavar="RUN_ID", help="the run's id or a unique prefix")
    import_p.add_argument("output", metavar="OUTPUT.jsonl", help="the batch output file")


def write_batch_jsonl(spec: RunSpec, out: TextIO) -> int:
    """Write the request line of every cell of ``spec`` to ``out``, one at a time; returns
    the number of lines (the same lines a batch run uploads)."""
    cells = spec.cell_list()
    for cell in cells:
        out.write(json.dumps(request_line(spec, cell), ensure_ascii=False) + "\n")
    return len(cells)


# ------------------------------------------------------------------ shared


def _folders() -> tuple[Path, Path]:
    """The work folder (request and result files while in use) and the simulated
    provider's folder, both in the data folder."""
    from gui.storage import paths

    root = paths.batches_dir()
    return root / "work", root / "simulated"


def _ports(keys: HeldKeys, args: argparse.Namespace) -> Any:
    from gui.providers.batch import SIM_BATCH_DELAY_S, batch_ports

    _work, sim = _folders()
    delay = args.sim_batch_delay if args.sim_batch_delay is not None else SIM_BATCH_DELAY_S
    return batch_ports(keys, sim, delay)


def _limits(args: argparse.Namespace) -> BatchLimits:
    return BatchLimits(poll_first=args.poll, poll_max=max(60.0, args.poll))


class BatchProgress:
    """A progress bar on a terminal's stderr: requests the provider finished, then the
    cells ingested; redrawn at most 10 times a second."""

    WIDTH = 24

    def __init__(self, runs: list[BatchRun], stream: TextIO, enabled: bool) -> None:
        self.runs, self.stream, self.enabled = runs, stream, enabled
        self._last = 0.0

    def __call__(self, event: ev.Event) -> None:
        if not self.enabled:
            return
        if isinstance(event, ev.RunFinished) and all(r.finished for r in self.runs):
            self.stream.write("\r\x1b[2K")
            self.stream.flush()
            return
        now = time.monotonic()
        if now - self._last < 0.1 and not isinstance(event, BatchChanged):
            return
        self._last = now
        total = sum(len(r.cells) for r in self.runs) or 1
        ran = sum(r.requests_done for r in self.runs)
        ended = sum(sum(r.ended_counts().values()) for r in self.runs)
        share = min(1.0, max(ran, ended) / total)
        filled = int(share * self.WIDTH)
        states = sorted({str(b.state) for r in self.runs for b in r.batches.values() if b.open})
        bar = "#" * filled + "-" * (self.WIDTH - filled)
        self.stream.write(
            f"\r\x1b[2K[{bar}] {share:4.0%} · {ran}/{total} requests run · {ended} ingested"
            + (f" · {', '.join(states)}" if states else "")
        )
        self.stream.flush()


class EndedHere:
    """A batch run's subscriber that keeps the events of the cells it ends in this process:
    what is printed for them, and what :func:`gui.cli.check_saved` checks is on disk, even
    when the history could not keep them. Cells an earlier process ended (a batch submitted
    without ``--wait``, a run collected partly before) are not among them: they were on
    disk before this process started."""

    def __init__(self) -> None:
        self.events: list[ev.Event] = []

    def __call__(self, event: ev.Event) -> None:
        if isinstance(event, ev.CellFinished | ev.CellFailed | ev.CellCancelled | ev.CellChecked):
            self.events.append(event)

    def cell_ids(self) -> list[str]:
        """The cells ended here, in the order they ended."""
        return [
            e.cell_id
            for e in self.events
            if isinstance(e, ev.CellFinished | ev.CellFailed | ev.CellCancelled)
        ]

    def items(self, run: BatchRun) -> dict[str, dict[str, Any]]:
        """The cells ended here, as ``run --json`` shows results, by cell id."""
        ended = set(self.cell_ids())
        if not ended:
            return {}
        return {
            item["cell"]: item for item in results_json(run, self.events) if item["cell"] in ended
        }


def collected(
    history: History | None, run: BatchRun, stored: StoredRun | None, here: EndedHere
) -> tuple[list[dict[str, Any]], str | None]:
    """After the history closed: every cell of ``run`` to print, and ``None`` when each cell
    this process ended is on disk, else the one line naming those that are not and where
    their answers were written instead (:func:`gui.cli.check_saved`).

    Cells are printed as recorded; those ended here come from memory when the history does
    not hold them (or not as they ended here), so no answer is shown as missing.
    """
    items = stored_cell_items(stored) if stored is not None else []
    if stored is not None and history is not None:
        ended = here.cell_ids()
        missing, _reason = history.unsaved(run.id, ended)
        known = {item["cell"] for item in items if "cell" in item}
        if not missing and known.issuperset(ended):
            # The common case, and a 100,000-cell run's: printed as recorded, nothing to add.
            return items, None
    mine = here.items(run)
    unsaved = check_saved(history, run, list(mine.values()))
    if stored is None:
        return [mine.get(cell.id) or no_result_item(cell) for cell in run.cells], unsaved
    for i, item in enumerate(items):
        cell_id = item.get("cell") or (run.cells[i].id if i < len(run.cells) else None)
        if cell_id in mine and (unsaved is not None or "cell" not in item):
            items[i] = mine[cell_id]
    return items, unsaved


def unrecorded_line(history: History | None, run: BatchRun) -> str | None:
    """After the history closed: ``None`` when every batch ``run`` submitted is on disk,
    else one line naming those that are not: they run (and are billed) on the provider's
    server, but no later ``batches wait`` can find them."""
    if history is None or not run.batches:
        return None
    lost, reason = history.unsaved_batches(run.id, [r.batch_id for r in run.batches.values()])
    if not lost:
        return None
    many = len(lost) != 1
    they, it = ("they", "them") if many else ("it", "it")
    return (
        f"batch{'es' if many else ''} {', '.join(lost)} of run {run.id} "
        f"{'were' if many else 'was'} submitted but could not be recorded in the history "
        f"({reason}): {they} {'run' if many else 'runs'} on the provider's server (and "
        f"{'are' if many else 'is'} billed), and batches wait cannot collect {it}; cancel "
        f"{it} with the provider if the results are not wanted"
    )


def _print_run(
    stored: StoredRun | None,
    run: BatchRun,
    items: list[dict[str, Any]],
    as_json: bool,
    *,
    saved: bool,
) -> None:
    """The run's cells (``items``) and summary as ``run`` prints a live run (``saved``: the
    run is in the history and every cell this process ended is on disk)."""
    summary = run.summary
    assert summary is not None
    batches = [r.to_dict() for r in run.batches.values()]
    cost = _cost_json(stored, run.spec) if stored is not None else None
    if as_json:
        json.dump(
            {
                "run_id": run.id,
                "executor": "batch",
                "batches": batches,
                "results": items,
                "summary": {**summary_json(summary), **({"cost": cost} if cost else {})},
                "saved": saved,
            },
            sys.stdout,
            ensure_ascii=False,
            indent=2,
        )
        sys.stdout.write("\n")
        return
    repeated = _repeated_rows(items)
    for i, item in enumerate(items):
        sys.stdout.write(_fmt_cell(item, repeated.get(i)) + "\n")
    cost_label = _cost_label(stored) if stored is not None else ""
    sys.stdout.write(_summary_line(run.id, summary, cost_label, saved) + "\n")


def _summary_line(run_id: str, s: RunSummary, cost: str = "", saved: bool = True) -> str:
    spent = f" · {cost} at the batch price" if cost else ""
    return (
        f"{s.done} done, {s.failed} failed, {s.cancelled} cancelled of {s.total} "
        f"(batch){spent}" + (f" · saved as {run_id}" if saved else "")
    )


def _cost_json(stored: StoredRun, spec: RunSpec) -> dict[str, Any]:
    """The run's token and cost totals (at the batch price), in all and per column, from
    its recorded cells: the shape of ``run --json``'s ``summary.cost``."""
    from gui.core.costs import column_totals, run_totals

    per_col = column_totals((c.col, c.metrics) for c in stored.cells)
    columns = [
        {
            "column": column.index,
            "model": column.model.display_name,
            "header": column.header,
            **(per_col[column.index] if column.index in per_col else run_totals(())).to_dict(),
        }
        for column in spec.columns
    ]
    out = {**run_totals(per_col.values()).to_dict(), "columns": columns, "price": "batch"}
    if spec.limits.budget_usd is not None:
        out["budget_usd"] = spec.limits.budget_usd
    return out


def _cost_label(stored: StoredRun) -> str:
    """``$0.42`` (``~`` when estimated), ``""`` for a run that cost nothing to say."""
    from gui.core.costs import CostTotals

    totals = CostTotals()
    for cell in stored.cells:
        if cell.metrics is not None:
            totals.add(cell.metrics)
    return totals.label() if totals.cells and totals.cost is not None else ""


def _exit_code(summary: RunSummary | None) -> int:
    if summary is None:
        return EXIT_FAILED
    if summary.cancelled_by_user:
        return EXIT_INTERRUPTED
    return EXIT_OK if summary.ok else EXIT_FAILED


def _persistent_history() -> History:
    history = open_history(announce=True)
    assert history is not None
    if not history.persistent:
        reason = history.notice or "History is off for this session."
        history.close()
        raise HistoryFailed(reason.removeprefix("History is off for this session: "))
    return history


@contextlib.contextmanager
def stop_on_signals(runs: Sequence[BatchRun], received: list[int]) -> Iterator[None]:
    """While in the block, Ctrl+C, SIGTERM and SIGHUP stop waiting for ``runs`` (their
    batches stay with the provider and in the history, ``submitted``, as when the window
    closes) and are appended to ``received``; the caller says what still runs where."""
    loop = asyncio.get_running_loop()

    def stop(signum: int) -> None:
        received.append(signum)
        for run in runs:
            run.stop()

    for signum in STOP_SIGNALS:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signum, stop, signum)
    try:
        yield
    finally:
        for signum in STOP_SIGNALS:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(signum)


def left_running_line(runs: Sequence[BatchRun], received: Sequence[int]) -> str:
    """The one line said when a signal stopped the wait: which batches still run on the
    provider's server (and are billed), or whose results wait there, and how to collect or
    cancel them."""
    name = signal.Signals(received[0]).name if received else "a signal"
    head = f"stopped by {'Ctrl+C' if name == 'SIGINT' else name}"
    open_runs = [run for run in runs if any(r.open for r in run.batches.values())]
    if not open_runs:
        return f"{head} before any batch was submitted: nothing runs on the provider's server"
    records = [r for run in open_runs for r in run.batches.values() if r.open]
    running = [r.batch_id for r in records if not r.state.terminal]
    shown = running or [r.batch_id for r in records]
    many = len(shown) != 1
    ids = ", ".join(shown[:6]) + (", …" if len(shown) > 6 else "")
    batches = f"batch{'es' if many else ''} {ids}"
    if len(open_runs) == 1:
        run_id = open_runs[0].id
        batches += f" of run {run_id}"
        collect = f"fanout-studio batches wait {run_id}"
        cancel = f"fanout-studio batches cancel {run_id}"
    else:
        batches += f" of {len(open_runs)} runs"
        collect = "fanout-studio batches wait"
        cancel = "fanout-studio batches cancel RUN_ID"
    it = "them" if many else "it"
    if not running:  # ended there: nothing more is billed, the results wait to be collected
        return f"{head}: the results of {batches} wait on the provider's server; collect {it} with: {collect}"
    return (
        f"{head}: {batches} still {'run' if many else 'runs'} on the provider's server "
        f"(and {'are' if many else 'is'} billed); collect {it} with: {collect}, "
        f"or cancel {it} with: {cancel}"
    )


# ------------------------------------------------------------------ commands


async def cmd_run_batch(args: argparse.Namespace) -> int:
    """``fanout-studio run --executor batch [--wait]``."""
    if args.no_history and not args.wait:
        raise UsageError(
            "a batch run is collected later through the history: drop --no-history, or add --wait"
        )
    from gui.providers.tokens import count_tokens

    held = HeldKeys()
    spec = spec_from_args(args, warn=True, keys=held)
    if getattr(args, "estimate", False):
        return _print_batch_estimate(spec, args.json)
    if getattr(args, "cache", False):
        sys.stderr.write(
            "fanout-studio run: warning: batch runs do not use the response cache; "
            "every cell is sent.\n"
        )
    if spec.judge is not None and not args.wait:
        sys.stderr.write(
            "fanout-studio run: note: the judge scores the answers in the process that "
            "collects them (fanout-studio batches wait RUN_ID).\n"
        )
    history = open_history(not args.no_history)
    work, _sim = _folders()
    backend = _JudgeBackend(held)
    run = BatchRun(
        spec,
        _ports(held, args),
        history,
        work,
        limits=_limits(args),
        wait=args.wait,
        backend=backend,
        counter=count_tokens,
    )
    if history is not None:
        run.subscribe(history.recorder(label="batch"))
    here = EndedHere()
    run.subscribe(here)
    show = args.wait and not args.quiet and not args.json and sys.stderr.isatty()
    run.subscribe(BatchProgress([run], sys.stderr, show))
    received: list[int] = []
    stopped = False
    try:
        with stop_on_signals([run], received):
            try:
                summary = await run.wait()
            except asyncio.CancelledError:
                if not received:
                    raise
                stopped, summary = True, None
        if history is not None:
            await asyncio.to_thread(history.flush)
        stored = history.get_run(run.id) if history is not None and run.finished else None
    finally:
        await backend.aclose()
        # What could not be written is said below: each cell and where it went, or each
        # batch no later process can collect.
        close_history(history, report=False)
    if stopped:
        # The batches outlive this process: say so, and how to collect or cancel them (a
        # batch the history could not record cannot be collected: that is said instead).
        if show:
            sys.stderr.write("\r\x1b[2K")
        unrecorded = unrecorded_line(history, run)
        said = f"error: {unrecorded}" if unrecorded else left_running_line([run], received)
        sys.stderr.write(escape_controls(f"fanout-studio run: {said}") + "\n")
        return signal_exit_code(received) or EXIT_INTERRUPTED
    if run.error is not None and not run.batches:
        sys.stderr.write(escape_controls(f"fanout-studio run: error: {run.error}") + "\n")
        return EXIT_USAGE
    if not args.wait:
        ids = [r.batch_id for r in run.batches.values()]
        # Collecting later goes through the history: only a recorded batch can be collected.
        unrecorded = unrecorded_line(history, run)
        if args.json:
            data = {
                "run_id": run.id,
                "status": "submitted",
                "batches": [r.to_dict() for r in run.batches.values()],
                "saved": unrecorded is None,
            }
            json.dump(data, sys.stdout, indent=2)
            sys.stdout.write("\n")
        else:
            n = len(ids)
            sys.stdout.write(
                f"submitted {run.id}: {n} batch{'es' if n != 1 else ''} ({', '.join(ids)}) for "
                f"{len(run.cells)} cells\n"
            )
            if unrecorded is None:
                sys.stdout.write(f"collect the results with: fanout-studio batches wait {run.id}\n")
        if unrecorded is not None:
            sys.stdout.flush()
            sys.stderr.write(escape_controls(f"fanout-studio run: error: {unrecorded}") + "\n")
            return EXIT_FAILED
        return EXIT_OK
    # As for a live run: "saved" only when every ended cell is on disk, else say which are
    # not and where their answers were written instead.
    items, unsaved = collected(history, run, stored, here)
    _print_run(stored, run, items, args.json, saved=history is not None and unsaved is None)
    if unsaved is not None:
        sys.stdout.flush()
        sys.stderr.write(escape_controls(f"fanout-studio run: error: {unsaved}") + "\n")
        return EXIT_FAILED
    return _exit_code(summary)


async def cmd_batches(args: argparse.Namespace) -> int:
    """``fanout-studio batches [list|wait|cancel] [RUN_ID]``."""
    if args.action == "list":
        return _list_batches(args)
    if args.action in ("cancel", "retry") and not args.run_id:
        raise UsageError(f"give the run: fanout-studio batches {args.action} RUN_ID")
    if args.action == "retry":
        return await _retry(args)
    from gui.storage.batch_runs import resumable_runs, resumed_line
    from gui.storage.history import AmbiguousRunId

    history = _persistent_history()
    closed = False
    try:
        run_id = None
        if args.run_id:
            try:
                run_id = history.resolve_id(args.run_id)
            except AmbiguousRunId as exc:
                raise UsageError(str(exc)) from None
            if run_id is None:
                raise UsageError(
                    f"no run {args.run_id!r} in the history (list them with: fanout-studio batches)"
                )
        work, _sim = _folders()
        held = HeldKeys()
        backend = _JudgeBackend(held)
        runs = resumable_runs(
            history,
            _ports(held, args),
            work,
            limits=_limits(args),
            run_id=run_id,
            backend=backend,
        )
        if not runs:
            what = f"run {run_id} has" if run_id else "the history has"
            sys.stdout.write(f"Nothing to wait for: {what} no open batch.\n")
            return EXIT_OK
        show = not args.quiet and not args.json and sys.stderr.isatty()
        progress = BatchProgress(runs, sys.stderr, show)
        ended_here = [EndedHere() for _run in runs]
        for run, here in zip(runs, ended_here, strict=True):
            run.subscribe(here)
            run.subscribe(progress)
        received: list[int] = []
        with stop_on_signals(runs, received):
            # Said once a signal would be answered with what still runs where.
            if run_id is None:
                line = resumed_line(runs)
                if line:
                    sys.stderr.write(f"fanout-studio: {line}\n")
                    sys.stderr.flush()
            tasks = [run.start() for run in runs]
            if args.action == "cancel":
                for run in runs:
                    run.cancel()
            try:
                await asyncio.wait(tasks)
            finally:
                await backend.aclose()
        for task in tasks:
            if not task.cancelled() and (failure := task.exception()) is not None:
                raise failure
        stopped = any(task.cancelled() for task in tasks)
        await asyncio.to_thread(history.flush)
        stored = [history.get_run(run.id) for run in runs]
        # Closed before the check: the writer's last tries of what waited in memory count.
        # What could not be written is said below, cell by cell, with where it went.
        closed = True
        close_history(history, report=False)
    finally:
        if not closed:
            close_history(history)
    if stopped:
        # The batches outlive this process: say so, and how to collect or cancel them.
        if show:
            sys.stderr.write("\r\x1b[2K")
        line = f"fanout-studio batches: {left_running_line(runs, received)}"
        sys.stderr.write(escape_controls(line) + "\n")
        return signal_exit_code(received) or EXIT_INTERRUPTED
    code = EXIT_OK
    unsaved: list[str] = []
    for run, here, record in zip(runs, ended_here, stored, strict=True):
        items, line = collected(history, run, record, here)
        _print_run(record, run, items, args.json, saved=line is None)
        code = max(code, _exit_code(run.summary))
        if line is not None:
            unsaved.append(line)
    if unsaved:
        sys.stdout.flush()
        more = f" (and {len(unsaved) - 1} more runs alike)" if len(unsaved) > 1 else ""
        sys.stderr.write(
            escape_controls(f"fanout-studio batches: error: {unsaved[0]}{more}") + "\n"
        )
        code = max(code, EXIT_FAILED)
    return code


def _print_batch_estimate(spec: RunSpec, as_json: bool) -> int:
    """``run --executor batch --estimate``: the estimate at the batch price; nothing is sent."""
    from gui.core.batch import batch_estimate
    from gui.core.pricing import format_usd
    from gui.providers.tokens import count_tokens, counter_kind

    est = batch_estimate(spec, count_tokens, counter_kind)
    line = f"{est.line()} at the batch price"
    if as_json:
        data = {
            "price": "batch",
            "cells": est.cells,
            "input_tokens": est.input_tokens,
            "output_tokens": est.output_tokens,
            "cost_usd": None if len(est.unpriced) == len(est.columns) else round(est.cost_usd, 8),
            "estimated": est.estimated,
            "unpriced_columns": list(est.unpriced),
            "line": line,
        }
        json.dump({"estimate": data}, sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
        return EXIT_OK
    for c in est.columns:
        cost = format_usd(c.cost_usd, estimated=c.estimated)
        sys.stdout.write(
            escape_controls(
                f"{c.label}: {c.cells} cells · {c.input_tokens:,} in + "
                f"{c.output_tokens:,} out tokens · {cost}"
            )
            + "\n"
        )
    sys.stdout.write(escape_controls(line) + "\n")
    return EXIT_OK


class _JudgeBackend:
    """Makes the live backend a batch run's LLM judge calls go through, once, when a run
    first needs it (importing the providers costs a second or two), and closes it."""

    def __init__(self, keys: HeldKeys) -> None:
        self._keys = keys
        self._backend: Any = None

    def __call__(self) -> Any:
        if self._backend is None:
            from gui.providers.backend import LangChainBackend

            self._backend = LangChainBackend(keys=self._keys)
        return self._backend

    async def aclose(self) -> None:
        if self._backend is not None:
            await self._backend.aclose()


async def _retry_as_batch(args: argparse.Namespace, history: History, stored: StoredRun) -> int:
    """``batches retry RUN_ID --batch``: the failed cells sent as new batches of the run."""
    from gui.storage.batch_runs import retry_batch_run

    work, _sim = _folders()
    held = HeldKeys()
    run = retry_batch_run(
        history, stored, _ports(held, args), work, limits=_limits(args), wait=False
    )
    if run is None:
        sys.stdout.write(f"Nothing to retry: run {stored.id} has no failed cell.\n")
        return EXIT_OK
    received: list[int] = []
    stopped = False
    with stop_on_signals([run], received):
        try:
            await run.wait()
        except asyncio.CancelledError:
            if not received:
                raise
            stopped = True
    await asyncio.to_thread(history.flush)
    # Closed before the check (the writer's last tries count); _retry closes it again, silently.
    close_history(history, report=False)
    unrecorded = unrecorded_line(history, run)
    if unrecorded is not None:
        sys.stderr.write(escape_controls(f"fanout-studio batches: error: {unrecorded}") + "\n")
        return EXIT_FAILED
    if stopped:
        line = f"fanout-studio batches: {left_running_line([run], received)}"
        sys.stderr.write(escape_controls(line) + "\n")
        return signal_exit_code(received) or EXIT_INTERRUPTED
    if run.error is not None:
        sys.stderr.write(escape_controls(f"fanout-studio batches: error: {run.error}") + "\n")
        return EXIT_USAGE if not run.batches else EXIT_FAILED
    ids = [r.batch_id for r in run.batches.values()]
    n, cells = len(ids), len(run.only or ())
    sys.stdout.write(
        f"submitted {cells} failed cell{'s' if cells != 1 else ''} of {stored.id} again as "
        f"{n} batch{'es' if n != 1 else ''} ({', '.join(ids)})\n"
        f"collect the results with: fanout-studio batches wait {stored.id}\n"
    )
    return EXIT_OK


async def _retry(args: argparse.Namespace) -> int:
    """``batches retry RUN_ID [--batch]``: the failed (and expired) cells again, live (or as
    new batches), into the run."""
    from gui.core.batch import retry_specs
    from gui.storage.batch_runs import failed_cells
    from gui.storage.history import AmbiguousRunId

    history = _persistent_history()
    held = HeldKeys()
    try:
        try:
            stored = history.get_run(args.run_id)
        except AmbiguousRunId as exc:
            raise UsageError(str(exc)) from None
        if stored is None:
            raise UsageError(
                f"no run {args.run_id!r} in the history (list them with: fanout-studio batches)"
            )
        if any(r.open for r in history.batches(stored.id)):
            raise UsageError(
                f"run {stored.id} still has open batches: fanout-studio batches wait {stored.id}"
            )
        if args.batch:
            return await _retry_as_batch(args, history, stored)
        failed = failed_cells(stored)
        if not failed:
            sys.stdout.write(f"Nothing to retry: run {stored.id} has no failed cell.\n")
            return EXIT_OK
        done = 0
        received: list[int] = []  # Ctrl+C, SIGTERM, SIGHUP: cells end cancelled, recorded
        retried: list[tuple[Any, list[ev.Event], dict[str, str]]] = []
        progress = not args.quiet and sys.stderr.isatty()
        for spec, cell_map in retry_specs(stored.spec, failed):
            recorder = history.recorder(into_run=stored.id, cell_map=cell_map)
            run, ended = await execute(
                spec, progress=progress, on_event=recorder, received=received, keys=held
            )
            retried.append((run, ended, cell_map))
            done += run.summary.done if run.summary is not None else 0
            if received:
                break
        await asyncio.to_thread(history.flush)
        after = history.get_run(stored.id)
    finally:
        # Said below instead: which cells could not be saved, or (a retry as a batch, which
        # closed it already) which batches could not be recorded.
        close_history(history, report=False)
    unsaved = [
        line
        for run, ended, cell_map in retried
        if (line := check_saved(history, run, results_json(run, ended), into=(stored.id, cell_map)))
    ]
    counts = after.counts_text() if after is not None and not unsaved else "not saved"
    sys.stdout.write(f"retried {len(failed)} cells of {stored.id} live: {done} done · {counts}\n")
    if unsaved:
        sys.stdout.flush()
        more = f" (and {len(unsaved) - 1} more columns alike)" if len(unsaved) > 1 else ""
        sys.stderr.write(
            escape_controls(f"fanout-studio batches: error: {unsaved[0]}{more}") + "\n"
        )
        return EXIT_FAILED
    if received:
        return signal_exit_code(received) or EXIT_INTERRUPTED
    return EXIT_OK if done == len(failed) else EXIT_FAILED


def _list_batches(args: argparse.Namespace) -> int:
    history = _persistent_history()
    try:
        run_id = history.resolve_id(args.run_id) if args.run_id else None
        records = history.batches(run_id, limit=200)
    finally:
        close_history(history)
    records.sort(key=lambda r: (not r.open, -r.created_at, r.run_id, r.file_index))
    if args.json:
        json.dump([r.to_dict() for r in records], sys.stdout, indent=2)
        sys.stdout.write("\n")
        return EXIT_OK
    if not records:
        sys.stdout.write(
            "No batches recorded yet (run one with: fanout-studio run --executor batch).\n"
        )
        return EXIT_OK
    head = ["RUN", "FILE", "BATCH", "STATE", "DONE", "FAILED", "TOTAL", "CREATED", "RESULTS"]
    table = [
        [
            r.run_id,
            str(r.file_index),
            r.batch_id,
            str(r.state),
            str(r.completed),
            str(r.failed),
            str(r.total or r.rows),
            _date(r.created_at),
            "waiting" if r.open else "ingested",
        ]
        for r in records
    ]
    widths = [max(len(row[i]) for row in [head, *table]) for i in range(len(head))]
    for row in [head, *table]:
        line = "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        sys.stdout.write(escape_controls(line) + "\n")
    return EXIT_OK


async def cmd_import_batch(args: argparse.Namespace) -> int:
    """``fanout-studio import-batch RUN_ID OUTPUT.jsonl``."""
    from gui.storage.history import AmbiguousRunId

    source = Path(args.output)
    if not await asyncio.to_thread(source.is_file):
        raise UsageError(f"{source}: no such file")
    history = _persistent_history()
    try:
        try:
            run_id = history.resolve_id(args.run_id)
        except AmbiguousRunId as exc:
            raise UsageError(str(exc)) from None
        found = history.batch_run(run_id) if run_id else None
        if run_id is None or found is None:
            raise UsageError(
                f"no run {args.run_id!r} in the history (list them with: fanout-studio history)"
            )
        spec, started_at, prior = found
        work, _sim = _folders()
        run = BatchRun.resume(
            spec,
            run_id,
            [],
            lambda _p: _no_port(),
            history,
            work,
            started_at=started_at,
            prior=prior,
        )
        run.subscribe(history.recorder(resume_run=run_id))
        here = EndedHere()
        run.subscribe(here)
        used, lines = await run.import_results(source)
        await asyncio.to_thread(history.flush)
        stored = history.get_run(run_id)
    finally:
        close_history(history, report=False)  # what could not be saved is said below
    unsaved = check_saved(history, run, list(here.items(run).values()))
    if unsaved is not None:
        line = f"fanout-studio import-batch: error: {unsaved}"
        sys.stderr.write(escape_controls(line) + "\n")
        return EXIT_FAILED
    if used == 0:
        sys.stderr.write(
            f"fanout-studio import-batch: error: none of the {lines} result lines of {source} "
            f"is a cell of run {run_id}.\n"
        )
        return EXIT_FAILED
    sys.stdout.write(
        f"imported {used} of {lines} lines into {run_id}"
        + (f" · {stored.counts_text()}" if stored is not None else "")
        + "\n"
    )
    return EXIT_OK


def _no_port() -> Any:
    raise RuntimeError("an imported file needs no provider")
