"""The app's log file, with every known API key masked before a line is written.

``logs/fanout-studio.log`` in the data directory (rotating, 1 MB x 3). Warnings, errors and
unexpected exceptions go there with their tracebacks, so a user sees one line and a
developer still has the details. A :class:`RedactingFilter` runs every record through
:func:`gui.core.keys.redact` first: an exception message that quotes a key (some
servers echo it) never reaches the disk.
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
import traceback
from pathlib import Path
from types import TracebackType
from typing import Any

from gui.core.private import private_dirs, private_opener
from gui.storage import paths

__all__ = [
    "LOG_NAME",
    "OneLineWarnings",
    "RedactingFilter",
    "install_excepthook",
    "setup_logging",
    "warn_on_stderr",
]

LOG_NAME = "fanout-studio.log"


class RedactingFilter(logging.Filter):
    """Masks every key the process knows in a record's message and traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        from gui.core.keys import redact

        message = record.getMessage()
        if record.exc_info:
            message += "\n" + "".join(traceback.format_exception(*record.exc_info)).rstrip()
            record.exc_info = None
            record.exc_text = None
        record.msg = redact(message)
        record.args = None
        return True


class _PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A rotating log whose every file (the first and each one after a rollover) is created
    0600, in a ``logs`` folder made again 0700 if the data folder was removed meanwhile."""

    def _open(self) -> Any:
        path = Path(self.baseFilename)
        private_dirs(path.parent)
        return open(
            path, self.mode, encoding=self.encoding, errors=self.errors, opener=private_opener
        )


def setup_logging(level: int = logging.INFO) -> Path | None:
    """Send the app's log to the data directory's log file; returns its path.

    Never raises: with an unwritable data directory the app runs without a log file.
    """
    try:
        path = paths.logs_dir() / LOG_NAME
        handler = _PrivateRotatingFileHandler(
            path, maxBytes=1_000_000, backupCount=3, encoding="utf-8"
        )
    except OSError:
        return None
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    handler.setLevel(level)
    root = logging.getLogger()
    root.addHandler(handler)
    if root.level > level or root.level == logging.NOTSET:
        root.setLevel(level)
    # Our own modules' INFO; third parties' only from WARNING (httpx logs every request).
    for noisy in ("httpx", "httpcore", "openai", "langchain", "langchain_core", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return path


class OneLineWarnings(logging.Handler):
    """A command's warnings on stderr as one line each: never a traceback, every known key
    masked, terminal controls escaped, and a line said once however often it is logged (a
    damaged cache fails every cell's lookup alike).

    Without a handler of its own, a command's ``log.warning(..., exc_info=True)`` went to
    Python's last-resort handler, which prints the whole traceback, unmasked.
    """

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self._said: set[str] = set()

    def forget(self) -> None:
        """Say every line again (a new command in the same process)."""
        self._said.clear()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            from gui.core.cleantext import clean, escape_controls
            from gui.core.keys import redact

            line = record.getMessage()
            exc = record.exc_info[1] if record.exc_info else None
            if exc is not None:
                line = f"{line}: {type(exc).__name__}: {exc}"
            line = " ".join(line.split())  # one line, whatever the exception said
            line = escape_controls(redact(clean(line)[0]))
            if line in self._said:
                return
            self._said.add(line)
            sys.stderr.write(f"fanout-studio: warning: {line}\n")
        except Exception:
            self.handleError(record)


_stderr_handler: OneLineWarnings | None = None


def warn_on_stderr() -> None:
    """Show a command's warnings as :class:`OneLineWarnings` (once per process; a later call
    starts its lines afresh)."""
    global _stderr_handler
    if _stderr_handler is None:
        _stderr_handler = OneLineWarnings()
        logging.getLogger().addHandler(_stderr_handler)
    _stderr_handler.forget()


def install_excepthook(on_error: object = None) -> None:
    """Unexpected exceptions go to the log file with their traceback, and one line to stderr.

    Args:
        on_error: Optional ``callable(str)`` that shows the one line to the user as well
            (the window's status bar).
    """

    def hook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt):
            sys.__excepthook__(kind, exc, tb)
            return
        logging.getLogger("fanout.crash").error("unexpected error", exc_info=(kind, exc, tb))
        from gui.core.keys import redact

        line = redact(f"Unexpected error: {kind.__name__}: {exc}".splitlines()[0])
        sys.stderr.write(f"fanout-studio: {line} (details in the log file)\n")
        if callable(on_error):
            try:
                on_error(line)
            except Exception:
                pass

    sys.excepthook = hook
