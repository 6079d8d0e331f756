"""Library hooks in one place, each with the versions it was tested on, and a way back.

The app reaches into asyncio, qasync, LangChain and CPython's collector where their public
APIs were too slow for a window streaming thousands of tokens a second. Each of those places
is a hook registered in :mod:`gui.compat.hooks` with the version range it was tested on; a
hook outside its range, or any hook in plain mode (``FANOUT_PLAIN=1``, or ``--plain-runtime``
on the command line), turns itself off and the plain public path runs instead.

=================  ==============================  ==========================================
hook               lives in                        plain path
=================  ==============================  ==========================================
fifo-loop          ``gui/qt/loop.py``              ``qasync.QEventLoop`` as it is
lcel-stream        ``gui/compat/lcel.py``          ``(prompt | model | StrOutputParser())``
                   (used by providers/backend.py)  ``.astream``
chunk-merge        ``gui/compat/lcel.py``          LangChain merges every chunk at the end
                   (used by providers/backend.py)  of an answer
direct-stream      ``gui/compat/lcel.py``          ``model.astream`` (callback manager, and
                   (used by providers/backend.py)  per chunk an id, metadata, a callback)
gc-policy          ``gui/compat/gc_policy.py``     the collector untouched
qasync-logger      ``gui/compat/loggers.py``       the debug panel listens on the root logger
pyside-import-     ``gui/qt/import_scan.py``       PySide6 reads the source of every module
scan                                               imported after it
langsmith-lazy-    ``gui/compat/lazy_init.py``     ``langsmith.types`` imports whole with the
types              (installed by qt/warmup.py)     tracers every chat model needs
=================  ==============================  ==========================================

Layers. ``gui.compat`` sits beside ``gui.core`` at the bottom: it imports nothing else of
``gui`` and never imports PySide6, so ``gui.providers`` (the LCEL path, the gc freeze) and
``gui.qt`` (the loop, the debug panel) can both use it. The Qt loop hook therefore stays
physically in ``gui/qt/loop.py`` (only ``gui.qt`` imports PySide6) and asks its gate here;
:mod:`gui.compat.lcel` imports langchain-core and is imported only by ``gui.providers``.
This package and :mod:`gui.compat.runtime` import no third-party package at all, so
``gui.app`` can check the runtime before PySide6 loads.
"""

from __future__ import annotations

from gui.compat.hooks import (
    CHUNK_MERGE,
    DIRECT_STREAM,
    FIFO_LOOP,
    GC_POLICY,
    HOOKS,
    LCEL_STREAM,
    PLAIN_ENV,
    PYSIDE_IMPORT_SCAN,
    QASYNC_LOGGER,
    Hook,
    describe,
    enabled,
    installed_version,
    plain_runtime,
)
from gui.compat.runtime import KNOWN_BAD, known_bad_combination, pyside_version

__all__ = [
    "CHUNK_MERGE",
    "DIRECT_STREAM",
    "FIFO_LOOP",
    "GC_POLICY",
    "HOOKS",
    "KNOWN_BAD",
    "LCEL_STREAM",
    "PLAIN_ENV",
    "PYSIDE_IMPORT_SCAN",
    "QASYNC_LOGGER",
    "Hook",
    "describe",
    "enabled",
    "installed_version",
    "known_bad_combination",
    "plain_runtime",
    "pyside_version",
]
