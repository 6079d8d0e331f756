"""Composition root of the window: checks the runtime, then hands over to ``gui.qt.app``.

Kept free of Qt imports so that ``fanout-studio run`` never pays for loading PySide6.
"""

from __future__ import annotations

import argparse
import sys

from gui.compat import known_bad_combination


def main(args: argparse.Namespace) -> int:
    """Open the window (options from the top-level command line); returns the exit code."""
    why = known_bad_combination()
    if why is not None:
        sys.stderr.write(f"fanout-studio: cannot start the window: {why}\n")
        return 2
    from gui.qt.app import run_app

    return run_app(
        demo=args.demo,
        quit_when_done=args.quit_when_done,
        quit_after=args.quit_after,
        theme=args.theme,
        print_stats=args.print_stats,
        window_size=getattr(args, "window_size", None),
    )
