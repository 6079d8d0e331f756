"""Import modules on a worker thread without starving the GUI thread of the GIL.

A worker thread importing LangChain holds the GIL for most of a second. The GUI thread gets
it back only when it asks and the interpreter's switch interval runs out, and not at all
during the longer C steps of an import, so the window stutters while the engine warms up.
:func:`import_in_background` imports module by module and hands the GIL over between two
modules: a finder at the front of ``sys.meta_path`` (it finds nothing, every import passes
through it) sleeps for zero seconds on the importing thread before each module is looked
up, nested imports included; other threads' imports pass through untouched. The collector
is held off meanwhile, since its full collections during an import burst were the longest
pauses of all.

Handing the GIL over is not enough while the GUI thread has work of its own (building a
demo's editors, laying out and painting a window's first frames): each of its Python calls
then waits for the importer's switch interval, so a 30 ms step took 80-200 ms. With a
:class:`BusyGate` (the window's heartbeat), the importer waits before each module while the
GUI thread is busy, blocked on the gate without the GIL (no polling: each wake-up of a
thread that wants the GIL is a forced switch, and on a loaded machine a switch waits for the
scheduler), within :data:`MAX_WAIT_S` per module and :data:`MAX_WAIT_TOTAL_S` per call, so a
GUI thread that stays busy only slows the imports down.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import threading
import time
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Protocol

from gui.compat.gc_policy import imports_without_collections

__all__ = [
    "MAX_WAIT_S",
    "MAX_WAIT_TOTAL_S",
    "SWITCH_INTERVAL_S",
    "BusyGate",
    "GuiYield",
    "import_in_background",
]

#: The interpreter's switch interval while importing in the background (the default is 5 ms).
SWITCH_INTERVAL_S = 0.001

#: Longest wait for a busy GUI thread before one module (seconds), then the module goes on.
MAX_WAIT_S = 0.05

#: Longest wait for a busy GUI thread over one :func:`import_in_background` call (seconds):
#: past it, the importer only hands the GIL over between modules, as without a gate.
MAX_WAIT_TOTAL_S = 0.3


class BusyGate(Protocol):
    """Whether the GUI thread is busy, asked from the importing thread."""

    def busy(self) -> bool:
        """Whether the GUI thread is busy now (called on the importing thread)."""
        ...

    def wait_free(self, timeout: float) -> bool:
        """Block the calling thread, without the GIL, until the GUI thread is free again or
        ``timeout`` seconds have passed; whether it is free."""
        ...


class GuiYield:
    """Called now and then by a worker thread's pure-Python loop: gives the GUI thread the GIL.

    While ``gate`` says the GUI thread is busy, the worker waits for it, blocked without the
    GIL, within ``max_wait`` seconds per call and ``max_total`` over its life (a GUI thread
    that stays busy only slows the worker down); otherwise ``time.sleep(0)`` releases the
    GIL and takes it back at once unless another thread is waiting for it, so it costs
    nothing when the GUI thread is idle. Without a gate, only the ``sleep(0)``.

    Args:
        gate: Whether the GUI thread is busy (the window's heartbeat), or ``None``.
        max_wait: Longest wait for a busy GUI thread in one call (seconds); default
            :data:`MAX_WAIT_S`.
        max_total: Longest wait over all calls (seconds); default :data:`MAX_WAIT_TOTAL_S`.
    """

    def __init__(
        self,
        gate: BusyGate | None = None,
        max_wait: float | None = None,
        max_total: float | None = None,
    ) -> None:
        self.gate = gate
        self.max_wait = MAX_WAIT_S if max_wait is None else max_wait
        self.max_total = MAX_WAIT_TOTAL_S if max_total is None else max_total
        #: Seconds spent waiting for a busy GUI thread so far (bounded by ``max_total``).
        self.waited = 0.0

    def __call__(self) -> None:
        gate = self.gate
        if gate is not None and self.waited < self.max_total and gate.busy():
            started = time.perf_counter()
            gate.wait_free(min(self.max_wait, self.max_total - self.waited))
            self.waited += time.perf_counter() - started
        else:
            time.sleep(0)


class _YieldingFinder(importlib.abc.MetaPathFinder):
    """Finds nothing; makes the importing thread give up the GIL before each module (with a
    :class:`GuiYield`)."""

    def __init__(self, thread: int, gate: BusyGate | None = None) -> None:
        self.thread = thread
        self.yield_gil = GuiYield(gate)

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if threading.get_ident() == self.thread:
            self.yield_gil()
        return None


def import_in_background(
    names: Sequence[str],
    freeze: bool = True,
    then: Callable[[], object] | None = None,
    gate: BusyGate | None = None,
) -> None:
    """Import ``names`` (and everything they import) on this thread, yielding between modules.

    Call it from a worker thread. During the imports the interpreter's switch interval is
    1 ms instead of 5 (a GUI thread that wants the GIL asks for it sooner), this thread gives
    the GIL up before each module, and the collector stays out (see
    :func:`gui.compat.gc_policy.imports_without_collections`), freezing what was imported
    once it is done unless ``freeze`` is false. ``then`` runs after the imports, under the
    same rules (for start-up work that imports as it goes, such as a plugin discovery).
    ``gate``, asked on this thread before each module, tells whether the GUI thread is busy
    now; the importer then waits for it (see the module's docstring).
    """
    finder = _YieldingFinder(threading.get_ident(), gate)
    old_interval = sys.getswitchinterval()
    sys.setswitchinterval(min(old_interval, SWITCH_INTERVAL_S))
    sys.meta_path.insert(0, finder)
    try:
        with imports_without_collections(freeze):
            for name in names:
                importlib.import_module(name)
            if then is not None:
                then()
    finally:
        sys.meta_path.remove(finder)
        sys.setswitchinterval(old_interval)
