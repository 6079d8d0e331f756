"""Evaluating a run's checks on its done cells, off the event loop's thread.

:class:`CheckRunner` is what the engine (:class:`gui.core.runner.Run`) uses: one per run,
``await runner.evaluate(output, row)`` per done cell. The cheap kinds run on one dedicated
thread (a JSON-schema over a 2 MB answer is pure Python there, and the loop keeps turning); the
kinds that can run away (``regex``, ``python``) go from that thread to one worker process
(:mod:`gui.core.check_sandbox`), started on first use and reused, which replies check by
check and is killed and restarted when one check takes longer than
:data:`~gui.core.check_sandbox.TIME_LIMIT_S`: that check fails with that reason, and the
cell's other checks still run (in the fresh worker), so one runaway pattern does not fail the
checks written beside it.

Failed and cancelled cells are not checked: their answer is not an answer (the grid shows
"not checked").
"""

from __future__ import annotations

import asyncio
import atexit
import json
import logging
import queue
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from gui.core.check_sandbox import TIME_LIMIT_S
from gui.core.checks import (
    WORKER_KINDS,
    Check,
    CheckError,
    CheckResult,
    evaluate_local,
    fill_value,
    regex_flags,
    result_of,
)

log = logging.getLogger(__name__)

#: Seconds a new worker may take to start (an interpreter on a loaded machine), outside the
#: checks' own time limit.
STARTUP_TIMEOUT_S = 30.0
#: Reply when the worker process cannot be started or ended mid-answer.
WORKER_GONE = "the check worker process ended unexpectedly; the next cell starts a new one"


class _Worker:
    """One ``python -m gui.core.check_sandbox`` process, spoken to in JSON lines.

    One request at a time (the engine asks from its checks thread; a lock keeps any other
    caller out of a request in progress); a reader thread turns its stdout into a queue so
    that a reply can be awaited with a time limit.
    """

    def __init__(self) -> None:
        self._proc: subprocess.Popen[str] | None = None
        self._replies: queue.Queue[str | None] = queue.Queue()
        self._lock = threading.Lock()

    def _start(self) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gui.core.check_sandbox"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            encoding="utf-8",
            errors="replace",
        )
        replies: queue.Queue[str | None] = queue.Queue()
        self._replies = replies
        stdout = proc.stdout
        assert stdout is not None

        def read() -> None:
            for line in stdout:
                replies.put(line)
            replies.put(None)  # end of the process

        threading.Thread(target=read, name="fanout-check-reader", daemon=True).start()
        self._proc = proc
        try:
            ready = replies.get(timeout=STARTUP_TIMEOUT_S)
        except queue.Empty:
            ready = None
        if ready is None:
            self.close()
            raise RuntimeError(f"the check worker did not start within {STARTUP_TIMEOUT_S:g} s")
        return proc

    def ask(self, request: Mapping[str, Any], timeout: float) -> list[tuple[bool, str] | None]:
        """The worker's result for each of ``request``'s items; ``None`` for an item that took
        longer than ``timeout`` seconds (the worker was killed, and the items after it were
        asked of a new one).

        Raises:
            RuntimeError: the worker could not be started, ended without replying, or could
                not read the request.
        """
        items = list(request.get("items", ()))
        results: list[tuple[bool, str] | None] = []
        with self._lock:
            while len(results) < len(items):
                rest = {**request, "items": items[len(results) :]}
                results.extend(self._ask(rest, len(rest["items"]), timeout))
        return results

    def _ask(
        self, request: Mapping[str, Any], count: int, timeout: float
    ) -> list[tuple[bool, str] | None]:
        """Results for the request's ``count`` items, up to and including the first one that
        ran out of time (``None``; the worker is killed then)."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            try:
                proc = self._start()
            except OSError as exc:
                raise RuntimeError(f"the check worker could not start ({exc})") from None
        assert proc.stdin is not None
        try:
            proc.stdin.write(json.dumps(request) + "\n")
            proc.stdin.flush()
        except OSError:
            self.close()
            raise RuntimeError(WORKER_GONE) from None
        results: list[tuple[bool, str] | None] = []
        while len(results) < count:
            # Each check's time counts from the previous one's reply: a check is timed alone.
            try:
                line = self._replies.get(timeout=timeout)
            except queue.Empty:
                self.close()
                results.append(None)
                return results
            if line is None:
                self.close()
                raise RuntimeError(WORKER_GONE)
            reply = json.loads(line)
            if "error" in reply:
                raise RuntimeError(str(reply["error"]))
            passed, detail = reply["result"]
            results.append((bool(passed), str(detail)))
        return results

    def close(self) -> None:
        """Kill the process (a runaway check, or the app's exit)."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                log.warning("check worker %d did not end after kill", proc.pid)


_worker = _Worker()
_thread: ThreadPoolExecutor | None = None
_thread_lock = threading.Lock()


def _checks_thread() -> ThreadPoolExecutor:
    global _thread
    with _thread_lock:
        if _thread is None:
            _thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fanout-checks")
        return _thread


@atexit.register
def _shutdown() -> None:
    _worker.close()


def evaluate_checks(
    checks: Sequence[Check],
    output: str,
    row: Mapping[str, str],
    time_limit: float = TIME_LIMIT_S,
) -> tuple[CheckResult, ...]:
    """Every check's result on one answer, in the checks' order (blocking: run it off the loop).

    Args:
        checks: The run's checks (validated).
        output: The cell's answer.
        row: The row's variables.
        time_limit: Seconds each regex or python check may take.
    """
    return _evaluate(checks, output, row, time_limit, {})[0]


def _evaluate(
    checks: Sequence[Check],
    output: str,
    row: Mapping[str, str],
    time_limit: float,
    skip: Mapping[int, str],
) -> tuple[tuple[CheckResult, ...], list[int]]:
    """The results, and the indices of the checks that ran out of time; ``skip`` maps the
    index of a worker check to the reason it fails without being asked of the worker."""
    results: list[CheckResult | None] = []
    remote: list[tuple[int, Check]] = []
    items: list[dict[str, Any]] = []
    for index, check in enumerate(checks):
        if check.kind in WORKER_KINDS:
            if index in skip:
                results.append(result_of(check, False, skip[index]))
                continue
            remote.append((index, check))
            if check.kind == "regex":
                items.append(
                    {
                        "kind": "regex",
                        "pattern": fill_value(check, row),
                        "flags": regex_flags(check),
                    }
                )
            else:
                items.append({"kind": "python", "expr": check.value})
            results.append(None)
        else:
            results.append(evaluate_local(check, output, row))
    timed_out: list[int] = []
    if remote:
        answers: list[tuple[bool, str] | None]
        try:
            answers = _worker.ask({"output": output, "row": dict(row), "items": items}, time_limit)
        except (RuntimeError, ValueError, KeyError) as exc:
            answers = [(False, f"not evaluated: {exc}")] * len(remote)
        for (index, check), answer in zip(remote, answers, strict=False):
            if answer is None:
                timed_out.append(index)
                answer = (False, f"stopped: this check took over {time_limit:g} s")
            results[index] = result_of(check, *answer)
    return tuple(r for r in results if r is not None), timed_out


class CheckRunner:
    """A run's checks, evaluated per done cell without blocking the event loop.

    A regex or python check that ran out of time on :data:`MAX_TIMEOUTS` answers is skipped
    on the rest of the run's answers (failed, saying why): each timeout holds the checks
    thread for the whole time limit, and a run ends only once every done cell is checked, so
    a runaway pattern would otherwise keep a 200-cell run going for minutes. The run's other
    checks go on.

    Args:
        checks: The run's checks (validated with the spec).
        time_limit: Seconds each regex or python check may take on one answer.
    """

    #: Answers on which one check may run out of time before the run skips it.
    MAX_TIMEOUTS = 3

    def __init__(self, checks: Sequence[Check], time_limit: float = TIME_LIMIT_S) -> None:
        self.checks = tuple(checks)
        self.time_limit = time_limit
        self._timeouts: dict[int, int] = {}  # check index -> answers; on the checks thread

    async def evaluate(self, output: str, row: Mapping[str, str]) -> tuple[CheckResult, ...]:
        """The checks' results on ``output`` (evaluated on the checks thread)."""
        future = _checks_thread().submit(self._evaluate, output, dict(row))
        return await asyncio.wrap_future(future)

    def _evaluate(self, output: str, row: Mapping[str, str]) -> tuple[CheckResult, ...]:
        skip = {
            index: (
                f"skipped: this check took over {self.time_limit:g} s on {count} earlier "
                "answers of this run"
            )
            for index, count in self._timeouts.items()
            if count >= self.MAX_TIMEOUTS
        }
        results, timed_out = _evaluate(self.checks, output, row, self.time_limit, skip)
        for index in timed_out:
            self._timeouts[index] = self._timeouts.get(index, 0) + 1
        return results


__all__ = ["CheckError", "CheckRunner", "evaluate_checks"]
