"""Functions a worker process runs to fail the way a real one can (imported by the child)."""

from __future__ import annotations

import multiprocessing
import os


def die_in_a_worker_process(request: str) -> str:
    """End the worker process abruptly (as the OOM killer would); on a thread, echo."""
    if multiprocessing.parent_process() is not None:
        os._exit(1)
    return f"computed on a thread: {request}"
