"""An owner for background tasks: named, strongly referenced until done, cancelled together.

asyncio keeps only weak references to tasks, so a task nobody holds can vanish mid-way;
and a widget that starts work must be able to stop it when it goes away. Every task the
window and its panels start belongs to a :class:`TaskOwner`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["TaskOwner"]

_T = TypeVar("_T")


class TaskOwner:
    """The tasks one object started."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, _T], name: str) -> asyncio.Task[_T]:
        """Start ``coro`` as a task named ``name`` on the running loop and keep it."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def pending(self) -> list[asyncio.Task[Any]]:
        """Tasks not done yet."""
        return [t for t in self._tasks if not t.done()]

    async def wait_idle(self) -> None:
        """Wait until every task, including ones started meanwhile, is done."""
        while pending := self.pending():
            await asyncio.wait(pending)

    def cancel_all(self) -> None:
        """Cancel every task still running."""
        for task in self.pending():
            task.cancel()

    def __len__(self) -> int:
        return len(self.pending())
