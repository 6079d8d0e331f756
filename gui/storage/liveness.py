"""Is the process that wrote a run still alive? (So a crashed run shows "interrupted", and a
run another live process is writing is left alone.)

On Linux a pid plus its start time from ``/proc`` tells a reused pid from the original; on
Windows ``OpenProcess`` is asked; elsewhere the pid alone decides.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def _linux_stat(pid: int) -> tuple[str, str] | None:
    """(state, start time in clock ticks since boot) from ``/proc``, or ``None`` if gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except FileNotFoundError:
        return None
    fields = text[text.rfind(")") + 2 :].split()  # fields[0] is field 3 of proc(5)
    return fields[0], fields[19]


def process_start(pid: int) -> str | None:
    """A token that differs between two processes that had the same pid, where available."""
    if sys.platform.startswith("linux"):
        stat = _linux_stat(pid)
        return stat[1] if stat else None
    return None


SELF_PID = os.getpid()
SELF_START = process_start(SELF_PID)


if sys.platform == "win32":  # pragma: no cover - checked by mypy only on Windows

    def _win_alive(pid: int) -> bool:
        import ctypes

        kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
        handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return bool(ctypes.get_last_error() == 5)  # ERROR_ACCESS_DENIED: it exists
        try:
            code = ctypes.c_ulong()
            kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
            return bool(code.value == 259)  # STILL_ACTIVE
        finally:
            kernel32.CloseHandle(handle)


def process_alive(pid: int | None, start: str | None) -> bool:
    """Whether the process that wrote a run (``pid`` started at ``start``) still runs.

    On Linux the start time from ``/proc`` tells a reused pid from the original, and a
    zombie counts as gone. Elsewhere the pid alone decides (a reused pid keeps a dead run
    ``running`` until that process ends too: wrong in the safe direction). On Windows
    ``os.kill(pid, 0)`` would terminate the process, so it asks ``OpenProcess`` instead.
    """
    if pid is None:
        return False
    if pid == SELF_PID:
        return start is None or SELF_START is None or start == SELF_START
    if sys.platform.startswith("linux"):
        stat = _linux_stat(pid)
        if stat is None or stat[0] in ("Z", "X", "x"):
            return False
        return start is None or stat[1] == start
    if sys.platform == "win32":  # pragma: no cover
        return _win_alive(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: someone else's live process
        return True
    return True
