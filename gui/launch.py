"""The window's options and the launch's fast path: ``fanout-studio`` with no command.

Opening the window is what most launches do, and everything imported before the first frame
delays it. This module parses the window's own options with nothing but ``argparse`` (which
PySide6 imports anyway) and the list of demo files; a command line it does not fully
understand (a sub-command, ``--help``, ``--version``, a bad value) goes to :mod:`gui.cli`,
which parses it again with the whole parser and reports any mistake there. The window's
options are declared once, here, and :func:`gui.cli.build_parser` adds the same ones.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any, NoReturn

__all__ = ["add_window_options", "positive_float", "window_launch", "window_size"]


def positive_float(text: str) -> float:
    """An argparse type: a number greater than 0, with a one-line reason."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be greater than 0")
    return value


def window_size(text: str) -> tuple[int, int]:
    """An argparse type: ``WIDTHxHEIGHT`` in pixels, each at least 320."""
    width, sep, height = text.lower().partition("x")
    if not sep or not width.isdigit() or not height.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not WIDTHxHEIGHT (for example 1920x1080)")
    size = int(width), int(height)
    if min(size) < 320:
        raise argparse.ArgumentTypeError(f"{text!r} is too small: at least 320x320")
    return size


def add_window_options(parser: argparse.ArgumentParser, demos: Sequence[str] | None) -> None:
    """The options that shape the window (used when no command is given).

    Args:
        parser: The parser to add them to (the fast path's or the whole CLI's).
        demos: The bundled demo presets (``--demo`` choices); ``None``: any name is taken
            here and checked by the caller (the fast path, which does not list the
            resources folder unless a demo is asked for).
    """
    parser.add_argument(
        "--plain-runtime",
        action="store_true",
        help="turn every library hook off (the FIFO loop, the lean LCEL stream, the gc policy): "
        "slower, same results; same as FANOUT_PLAIN=1",
    )
    window = parser.add_argument_group("window (when no command is given)")
    window.add_argument(
        "--demo",
        choices=None if demos is None else list(demos),
        help="open preloaded with a demo and run it: seed (3 jokes at 1.5 s), stress (50 panes x 300 tokens)",
    )
    window.add_argument(
        "--quit-when-done",
        action="store_true",
        help="close the window cleanly when the demo run finishes",
    )
    window.add_argument(
        "--quit-after",
        type=positive_float,
        metavar="S",
        help="close the window S seconds after it opens (unattended recordings and tests)",
    )
    window.add_argument(
        "--theme",
        choices=["system", "light", "dark"],
        default=None,
        help="palette (default: the one last chosen in View > Theme, else the system's)",
    )
    window.add_argument(
        "--window-size",
        type=window_size,
        metavar="WxH",
        help="open the window at this size in pixels, e.g. 1920x1080 (benchmarks, screenshots)",
    )
    window.add_argument(
        "--print-stats",
        action="store_true",
        help="print start-up time, run summary and loop lag as JSON on exit",
    )


class _NotAWindowLaunch(Exception):
    """The command line is not (only) the window's options."""


class _WindowParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _NotAWindowLaunch(message)

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        raise _NotAWindowLaunch(message or "")


def window_launch(argv: Sequence[str]) -> argparse.Namespace | None:
    """The window's options when ``argv`` holds nothing else, else ``None`` (use the CLI).

    Args:
        argv: The command line without the program name.
    """
    parser = _WindowParser(prog="fanout-studio", add_help=False, allow_abbrev=False)
    add_window_options(parser, None)
    try:
        args: Any = parser.parse_args(list(argv))
    except _NotAWindowLaunch:
        return None
    if args.demo is not None:
        from gui.resources import demo_names  # lists the resources folder: only for a demo

        if args.demo not in demo_names():
            return None  # the whole parser names the choices
    args.command = None
    return args  # type: ignore[no-any-return]
