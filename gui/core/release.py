"""Letting go of a big structure a slice per loop iteration instead of in one step.

A shown run's rows, states and segments are freed by their reference counts the moment the
next run replaces them: for a 20,000-cell run that is tens of milliseconds of deallocation
inside the press of Run (docs/performance-notes.md). :func:`release_later` takes the
containers over and empties them :data:`RELEASE_SLICE` items per iteration of the running
asyncio loop, so the press only pays for what it builds.
"""

from __future__ import annotations

from typing import Any

#: Items let go per loop iteration (a few hundred microseconds of deallocation).
RELEASE_SLICE = 2000


def release_later(*doomed: list[Any] | dict[Any, Any] | set[Any]) -> None:
    """Empty each of ``doomed`` :data:`RELEASE_SLICE` items per iteration of the running
    asyncio loop; at once when no loop runs (or it is closed).

    The caller hands the containers over: it keeps no reference and adds nothing to them.
    """
    pending = [container for container in doomed if container]
    if not pending:
        return
    import asyncio  # not at import: the window's first frame needs no asyncio

    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    if loop is None or loop.is_closed():
        for container in pending:
            container.clear()
        return

    def release_slice() -> None:
        budget = RELEASE_SLICE
        while pending and budget > 0:
            container = pending[-1]
            take = min(budget, len(container))
            if isinstance(container, list):
                del container[-take:]
            elif isinstance(container, dict):
                for _ in range(take):
                    container.popitem()
            else:
                for _ in range(take):
                    container.pop()
            budget -= take
            if not container:
                pending.pop()
        if pending:
            if loop.is_closed():
                for container in pending:
                    container.clear()
            else:
                loop.call_soon(release_slice)

    loop.call_soon(release_slice)


__all__ = ["RELEASE_SLICE", "release_later"]
