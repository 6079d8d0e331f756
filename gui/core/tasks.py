"""An owner for background tasks: named, strongly referenced until done, cancelled together.

asyncio keeps only weak references to tasks, so a task nobody holds can vanish mid-way;
and a widget that starts work must be able to stop it when it goes away. Every task the
window and its views start belongs to a :class:`TaskOwner`. Tasks may share a group, and
``exclusive=True`` makes "the newest request wins" a choice (as Textual's
``@work(exclusive=True)`` does): starting a task cancels the group's earlier ones.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:  # imported when a task starts: the window's first frame owns tasks, no loop
    import asyncio

__all__ = ["TaskOwner"]

_T = TypeVar("_T")


class TaskOwner:
    """The tasks one object started."""

    def __init__(self) -> None:
        self._tasks: dict[asyncio.Task[Any], str | None] = {}

    def spawn(
        self,
        coro: Coroutine[Any, Any, _T],
        name: str,
        *,
        group: str | None = None,
        exclusive: bool = False,
    ) -> asyncio.Task[_T]:
        """Start ``coro`` as a task named ``name`` on the running loop and keep it.

        Args:
            coro: The work.
            name: The task's name (``fanout-...``; shows in debug views and leak checks).
            group: Tasks doing the same job (e.g. ``test-connection``), to cancel together.
            exclusive: Cancel the group's tasks still running before this one starts.
        """
        import asyncio

        if exclusive:
            self.cancel_group(group)
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks[task] = group
        task.add_done_callback(self._forget)
        return task

    def _forget(self, task: asyncio.Task[Any]) -> None:
        self._tasks.pop(task, None)

    def pending(self, group: str | None = None) -> list[asyncio.Task[Any]]:
        """Tasks not done yet (of ``group`` only, when given)."""
        return [t for t, g in self._tasks.items() if not t.done() and (group is None or g == group)]

    async def wait_idle(self) -> None:
        """Wait until every task, including ones started meanwhile, is done."""
        import asyncio

        while pending := self.pending():
            await asyncio.wait(pending)

    def cancel_group(self, group: str | None) -> None:
        """Cancel the tasks of ``group`` still running (``None``: those without a group)."""
        for task, g in list(self._tasks.items()):
            if g == group and not task.done():
                task.cancel()

    def cancel_all(self) -> None:
        """Cancel every task still running."""
        for task in self.pending():
            task.cancel()

    def __len__(self) -> int:
        return len(self.pending())
