"""PySide6's widget classes made ahead of their first use, a slice per turn of the loop.

PySide6 creates each Qt class, and the Python enums it holds, the first time the class is
used. The first call that hands back a widget pointer (``QAbstractScrollArea.viewport()``,
made by the Results page's views) has shiboken find the pointer's most derived class among
the widget classes, which creates some forty of them with their enums at once: ~10 ms in the
one build turn that made the call, a late frame after every start (docs/performance-notes.md).
:class:`WidgetTypes` creates them beforehand, a few per turn; it relies on nothing but
attribute access, so a PySide6 that creates its classes up front only makes it a no-op.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from PySide6 import QtWidgets

__all__ = ["SLICE_S", "WidgetTypes"]

#: Longest stretch of class creation per :meth:`WidgetTypes.step` (seconds).
SLICE_S = 0.003


class WidgetTypes:
    """Creates every class of ``PySide6.QtWidgets``, a slice per :meth:`step`."""

    def __init__(self) -> None:
        self._names: Iterator[str] = iter([n for n in dir(QtWidgets) if n.startswith("Q")])
        self._done = False

    @property
    def done(self) -> bool:
        """Whether every class has been created."""
        return self._done

    def step(self, budget_s: float = SLICE_S) -> bool:
        """Create classes until ``budget_s`` seconds have passed; whether all exist now."""
        deadline = time.perf_counter() + budget_s
        for name in self._names:
            getattr(QtWidgets, name)
            if time.perf_counter() >= deadline:
                return False
        self._done = True
        return True
