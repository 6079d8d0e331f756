"""Entry point: `fanout-studio` / `python -m gui` hand off to the headless CLI or the window."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Run the command line (`run`, `compare`) or, with no sub-command, the window."""
    from gui.cli import main as cli_main

    return cli_main(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
