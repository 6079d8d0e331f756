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

from gui.compat.gc_policy import imports_without_collections

__all__ = ["SWITCH_INTERVAL_S", "import_in_background"]

#: The interpreter's switch interval while importing in the background (the default is 5 ms).
SWITCH_INTERVAL_S = 0.001


class _YieldingFinder(importlib.abc.MetaPathFinder):
    """Finds nothing; makes the importing thread give up the GIL before each module.

    ``time.sleep(0)`` releases the GIL and takes it back at once unless another thread is
    waiting for it, so it costs nothing when the GUI thread is idle.
    """

    def __init__(self, thread: int, pause: float) -> None:
        self.thread = thread
        self.pause = pause

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if threading.get_ident() == self.thread:
            time.sleep(self.pause)
        return None


def import_in_background(
    names: Sequence[str], freeze: bool = True, then: Callable[[], object] | None = None
) -> None:
    """Import ``names`` (and everything they import) on this thread, yielding between modules.

    Call it from a worker thread. During the imports the interpreter's switch interval is
    1 ms instead of 5 (a GUI thread that wants the GIL asks for it sooner), this thread gives
    the GIL up before each module, and the collector stays out (see
    :func:`gui.compat.gc_policy.imports_without_collections`), freezing what was imported
    once it is done unless ``freeze`` is false. ``then`` runs after the imports, under the
    same rules (for start-up work that imports as it goes, such as a plugin discovery).
    """
    finder = _YieldingFinder(threading.get_ident(), 0.0)
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
