"""Where the event loop's slow-callback warnings are logged, for the asyncio debug panel.

asyncio's own loop logs them under ``asyncio``; qasync's loop under ``qasync._SimpleTimer``, a
child of ``qasync`` (read in ``qasync/__init__.py``, ``_SimpleTimer.timerEvent``). That name is
qasync's internal choice, so it is a hook (:data:`~gui.compat.hooks.QASYNC_LOGGER`): on a
qasync outside the tested range, or in plain mode, the panel listens on the root logger
instead, which every logger propagates to whatever it is called (it then shows other
libraries' warnings too).
"""

from __future__ import annotations

from gui.compat.hooks import QASYNC_LOGGER, enabled

__all__ = ["ASYNCIO_LOGGERS", "ROOT_LOGGER", "loop_loggers"]

#: asyncio's logger and qasync's (its slow-callback warnings propagate to ``qasync``).
ASYNCIO_LOGGERS = ("asyncio", "qasync")

#: The root logger's name for ``logging.getLogger``.
ROOT_LOGGER = ""


def loop_loggers() -> tuple[str, ...]:
    """The loggers to listen on for the loop's warnings (no logger twice up one chain)."""
    return ASYNCIO_LOGGERS if enabled(QASYNC_LOGGER) else (ROOT_LOGGER,)
