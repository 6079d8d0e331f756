"""The app's garbage-collector policy, in one place: freeze the import heap, hold full
collections back while a run streams.

Both moves target CPython's generational collector (``gc.freeze``, the third threshold), so
the :data:`~gui.compat.hooks.GC_POLICY` hook gates them on the interpreter versions they were
measured on; in plain mode, or on another interpreter, every function here does nothing and
the collector runs as CPython configures it.

Why (measured figures live in ``docs/``): the import heap of LangChain, the OpenAI SDK and
pydantic is a few hundred thousand objects that live as long as the process, and every full
collection scanned them all, a visible pause of the GUI loop; a live run keeps every chunk of
every stream until it ends, which made full collections mid-run pause it too. No function here
ever calls ``gc.collect()``: on the GUI thread a full collection is itself a freeze.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from gui.compat.hooks import GC_POLICY, enabled

__all__ = [
    "SHOWN_RUN",
    "STARTUP",
    "burst_without_collections",
    "defer_full_collections",
    "freeze_import_heap",
    "freeze_now",
    "holders",
    "imports_without_collections",
    "pause_collections",
    "resume_collections",
]

#: The stacks whose import heap :func:`freeze_import_heap` froze (``"openai"``, ...).
_frozen_stacks: set[str] = set()
_frozen_lock = threading.Lock()
#: The window froze its own heap (:func:`freeze_now`, :func:`resume_collections`): its policy
#: stands, and :func:`freeze_import_heap` leaves the heap alone.
_window_froze = False
#: Objects in the permanent generation before anyone froze anything (CPython 3.12 starts with
#: a few hundred of its own), to tell "nothing froze the heap yet" from "the window did".
_FROZEN_AT_IMPORT = gc.get_freeze_count()

_saved_threshold: tuple[int, int, int] | None = None
#: The window's start-up as a holder: from before its first frame until its warm-up has
#: imported the engine and frozen the heap. All it builds and imports meanwhile survives, so a
#: full collection then (18 ms on the GUI thread mid-build, docs/benchmarks.md) frees nothing.
STARTUP = "start-up"

#: A big run's results as a holder: from the end of a run of many cells until the window
#: shows another. Everything such a run leaves (the grid's records, the timeline's rows, the
#: cells' metrics) stays alive while it is shown, and a full collection soon after the run's
#: end scanned all of it in one step, a visible freeze (docs/performance-notes.md); its
#: objects are freed by their reference counts when the next run replaces them.
SHOWN_RUN = "shown-run"

_paused = False  # the collector is off since pause_collections()

#: Who holds full collections back now (see :func:`defer_full_collections`).
_holders: set[str] = set()


def freeze_now() -> bool:
    """Move every object alive now to the permanent generation; ``False`` when the hook is off.

    The window calls this after its warm-up imports, while no run is on (a freeze during a
    run would pin that run's panes and chunks for the life of the process). ``gc.freeze``
    splices lists and costs nothing measurable; the garbage the imports left behind (a few
    dozen objects) is frozen with the rest rather than paying a full collection for it.
    """
    global _window_froze
    if not enabled(GC_POLICY):
        return False
    _window_froze = True
    gc.freeze()
    return True


def pause_collections() -> bool:
    """Turn the collector off until :func:`resume_collections` (the window's way to its first
    frame); ``False`` when the hook is off (then nothing changes).

    The window's modules, its first frame's widgets and the QApplication all survive, and
    the collector ran some thirty young collections among them before the first paint, each
    finding nothing to free.
    """
    global _paused
    if not enabled(GC_POLICY) or not gc.isenabled():
        return False
    gc.disable()
    _paused = True
    return True


def resume_collections() -> None:
    """Turn the collector back on after :func:`pause_collections`, the heap allocated
    meanwhile frozen first: otherwise the first young collection would scan all of it at
    once, on the GUI thread. Does nothing unless :func:`pause_collections` turned it off."""
    global _paused, _window_froze
    if not _paused:
        return
    _paused = False
    _window_froze = True
    gc.freeze()
    gc.enable()


def freeze_import_heap(stack: str = "openai") -> None:
    """Once per process and provider stack, after it is loaded, freeze the heap unless the
    window froze its own.

    The window freezes its heap after its warm-up imports, and then its policy stands;
    this covers the command line, the benchmarks and the tests, where nothing else does.
    Each stack (``"openai"``: the OpenAI SDK and langchain-openai; ``"langchain"``:
    langchain-core and the simulated model) is frozen when its first chain is built, so that
    neither a young run's full collections nor the first OpenAI run after a simulated one
    scan a few hundred thousand import objects again.
    """
    if not enabled(GC_POLICY):
        return
    with _frozen_lock:
        if _window_froze or stack in _frozen_stacks:
            return
        _frozen_stacks.add(stack)
    gc.freeze()


def defer_full_collections(running: bool, holder: str = "run") -> None:
    """Keep full (generation 2) collections out while ``holder`` asks; allow them again once
    no holder does.

    Young collections (generations 0 and 1, which free almost all per-token garbage) keep
    running; the full one happens when nothing holds it back any more. Holders are counted
    apart, so that the window's start-up (``"start-up"``: everything it builds survives, and
    the warm-up freezes it all) and a run (``"run"``) can overlap.

    Args:
        running: ``True`` to hold full collections back, ``False`` to let them go again.
        holder: Who asks; a run's end does not end the start-up's hold, nor the reverse.
    """
    global _saved_threshold
    if running:
        if not enabled(GC_POLICY):
            return
        _holders.add(holder)
        if _saved_threshold is None:
            _saved_threshold = gc.get_threshold()
            gc.set_threshold(_saved_threshold[0], _saved_threshold[1], 1_000_000)
        return
    _holders.discard(holder)
    if not _holders and _saved_threshold is not None:
        gc.set_threshold(*_saved_threshold)
        _saved_threshold = None


def holders() -> frozenset[str]:
    """Who holds full collections back now (see :func:`defer_full_collections`)."""
    return frozenset(_holders)


@contextmanager
def imports_without_collections(freeze: bool = True) -> Iterator[None]:
    """Around a burst of imports on a worker thread: no collection meanwhile, then a freeze
    (unless ``freeze`` is false: a run may be starting, and a freeze would pin its objects).

    Imports allocate hundreds of thousands of objects that all survive, so the collector runs
    again and again during them, full collections included, each holding the GIL (the GUI
    thread's too) while it scans everything imported so far, and finds nothing to free. With
    the hook off this does nothing.
    """
    if not enabled(GC_POLICY):
        yield
        return
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if freeze:
            freeze_now()
        if was_enabled:
            gc.enable()


@contextmanager
def burst_without_collections() -> Iterator[None]:
    """Around one burst of allocation on the GUI thread that all survives (a run's start).

    Starting a 20,000-cell run makes tens of thousands of objects in one step (the spec's
    rows, the grid's ids); the collector ran a hundred young collections during it, each
    finding nothing to free, which made the step longer (docs/performance-notes.md). They are
    held back for the step and happen in later loop iterations. With the hook off this does
    nothing.
    """
    with imports_without_collections(freeze=False):  # the same rule, nothing frozen
        yield
