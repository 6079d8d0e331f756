"""Entry point: `fanout-studio` / `python -m gui` hand off to the headless CLI or the window.

Opening the window takes the fast path (:mod:`gui.launch`): the whole command line's modules
are not imported on the way to the window's first frame.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Run the command line (`run`, `compare`, ...) or, with no sub-command, the window."""
    args = sys.argv[1:] if argv is None else argv
    from gui.launch import window_launch

    window = window_launch(args)
    if window is not None:
        from gui.app import main as app_main

        return app_main(window)
    from gui.cli import main as cli_main

    return cli_main(args)


if __name__ == "__main__":
    sys.exit(main())
