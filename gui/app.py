"""Composition root of the window: the launch's options, then hands over to ``gui.qt.app``.

Kept free of Qt imports so that ``fanout-studio run`` never pays for loading PySide6. The
runtime check (a known-bad Python and PySide6 pair) is made by :func:`gui.qt.app.run_app`,
which reads PySide6's version from the module it imports anyway instead of scanning the
installed distributions on the way to the first frame.
"""

from __future__ import annotations

import argparse
import os

from gui.compat import PLAIN_ENV


def main(args: argparse.Namespace) -> int:
    """Open the window (options from the top-level command line); returns the exit code."""
    if args.plain_runtime:
        os.environ[PLAIN_ENV] = "1"  # read by every hook's gate, inherited by child processes
    from gui.compat.gc_policy import pause_collections

    pause_collections()  # until the first frame is painted (gui.qt.app resumes them)
    from gui.qt.app import run_app

    return run_app(
        demo=args.demo,
        quit_when_done=args.quit_when_done,
        quit_after=args.quit_after,
        theme=args.theme,
        print_stats=args.print_stats,
        window_size=getattr(args, "window_size", None),
    )
