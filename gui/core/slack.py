"""Low-priority work on a busy loop: let it start only while the event loop keeps up.

A run's answers and its judge share one event loop (the GUI thread's). When hundreds of
answers stream at once the loop can fall behind: every stream has a callback waiting in the
ready queue, and anything else queued there (a judge call's start, its events and the
window's work for them) pushes the answers' last tokens later. :class:`SlackGate` holds such
work back while the loop is behind and lets it through, a few at a time, as soon as it keeps
up again, or at once when the work it yields to is over.

How far behind the loop is comes from one look per frame: a callback queued now (an
``await asyncio.sleep(0)``) runs after everything queued before it, so the time it waits is
the ready queue's length in time. One gate looks for all its waiters, and only while it has
some: an idle gate schedules nothing.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

__all__ = ["SlackGate"]

#: The loop keeps up when a callback queued now runs within this (s): about one slice of
#: ready callbacks (gui.qt.loop runs them in 2 ms slices between Qt's events).
SLACK_S = 0.004
#: How long a gate waits before it looks again while the loop is behind (s): one frame.
RECHECK_S = 0.016
#: Waiters let through per look while the work yielded to goes on: their own first steps
#: are then what the next look waits behind, so a crowd let through at once cannot
#: become the backlog it waited out.
PER_LOOK = 4
#: No waiter waits longer than this (s), however busy the loop stays: the low-priority
#: work is late, never starved.
MAX_WAIT_S = 3.0


class SlackGate:
    """Lets low-priority coroutines go first-in first-out while the event loop keeps up.

    Args:
        yielding: Whether the work this gate yields to is still going on (a run's answers
            still streaming); while it is not, every waiter goes at once.
        name: The name of the gate's looking task (tests look for tasks by name).
        slack_s: The ready-queue wait under which the loop counts as keeping up.
        recheck_s: How long to wait before looking again while it does not.
        per_look: Waiters let through per look that found slack.
        max_wait_s: The longest any waiter waits.
    """

    def __init__(
        self,
        yielding: Callable[[], bool],
        name: str = "fanout-slack",
        slack_s: float = SLACK_S,
        recheck_s: float = RECHECK_S,
        per_look: int = PER_LOOK,
        max_wait_s: float = MAX_WAIT_S,
    ) -> None:
        self._yielding = yielding
        self._name = name
        self._slack_s = slack_s
        self._recheck_s = recheck_s
        self._per_look = max(1, per_look)
        self._max_wait_s = max_wait_s
        # (when it began waiting, the future it sleeps on), oldest first.
        self._waiters: deque[tuple[float, asyncio.Future[None]]] = deque()
        self._looker: asyncio.Task[None] | None = None
        #: Waiters that came while the work yielded to went on (each waited one look at
        #: least; while the loop stays behind, until it catches up or that work ends).
        self.held = 0

    @property
    def waiting(self) -> int:
        """Coroutines waiting now."""
        return sum(1 for _, fut in self._waiters if not fut.done())

    async def wait(self) -> None:
        """Return when the caller may start: at once while nothing is yielded to, else once
        a look finds the loop keeping up and the waiters before it have gone."""
        if not self._yielding():
            return
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        self._waiters.append((loop.time(), fut))
        self.held += 1
        if self._looker is None or self._looker.done():
            self._looker = loop.create_task(self._look(), name=self._name)
        await fut

    def close(self) -> None:
        """Stop looking; waiters left are cancelled (their owner is being cancelled too)."""
        looker, self._looker = self._looker, None
        if looker is not None and not looker.done():
            looker.cancel()
        while self._waiters:
            _, fut = self._waiters.popleft()
            fut.cancel()

    def _release(self, count: int) -> None:
        """Let the ``count`` oldest live waiters go."""
        waiters = self._waiters
        while waiters and count > 0:
            _, fut = waiters.popleft()
            if not fut.done():  # a cancelled waiter's owner is gone: skip it
                fut.set_result(None)
                count -= 1

    async def _look(self) -> None:
        loop = asyncio.get_running_loop()
        waiters = self._waiters
        while waiters:
            if not self._yielding():
                self._release(len(waiters))
                break
            # Whoever waited too long goes now, busy loop or not.
            now = loop.time()
            while waiters and (waiters[0][1].done() or now - waiters[0][0] >= self._max_wait_s):
                _, fut = waiters.popleft()
                if not fut.done():
                    fut.set_result(None)
            started = loop.time()
            await asyncio.sleep(0)
            if loop.time() - started <= self._slack_s:
                self._release(self._per_look)
            else:
                await asyncio.sleep(self._recheck_s)
