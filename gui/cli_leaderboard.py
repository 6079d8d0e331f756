"""``fanout-studio leaderboard``: the personal leaderboard of models, from blind ratings.

Every input row rated in the window's blind arena, across every recorded run, becomes Elo
games (:mod:`gui.core.ratings` says how, with K and the base rating); ``--template`` keeps
runs whose template contains a text, ``--since``/``--until`` runs started in a date range.
A bad date is one line on stderr and exit 2; an empty result says why in one line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, TypeVar

from gui.cli import EXIT_OK, UsageError, _read_history
from gui.core.cleantext import escape_controls
from gui.core.ratings import ELO_BASE, ELO_K, leaderboard

if TYPE_CHECKING:
    from gui.storage.history import History

__all__ = ["add_leaderboard_parser", "cmd_leaderboard", "parse_when"]

_P = TypeVar("_P", bound=argparse.ArgumentParser)


def parse_when(text: str, *, end: bool = False) -> float:
    """``YYYY-MM-DD`` or ``YYYY-MM-DDTHH:MM[:SS]`` in local time, as epoch seconds.

    With ``end=True`` a bare date means the end of that day (``--until 2026-12-01`` keeps
    the runs of December 1st).

    Raises:
        UsageError: not a date of either form (one line, with an example).
    """
    value = text.strip()
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(
            f"{text!r} is not a date: give YYYY-MM-DD or YYYY-MM-DDTHH:MM, e.g. 2026-12-01"
        ) from None
    if end and len(value) == 10:  # a bare date: up to the next midnight
        moment += timedelta(days=1)
    return moment.timestamp() if moment.tzinfo else time.mktime(moment.timetuple())


def add_leaderboard_parser(sub: argparse._SubParsersAction[_P]) -> None:
    """The ``leaderboard`` command's arguments."""
    p = sub.add_parser(
        "leaderboard",
        help="rank models by Elo over your blind-mode ratings",
        description=(
            "Rank models by Elo over the answers you rated in the window's blind mode, across "
            f"every recorded run (K={ELO_K:g}, base {ELO_BASE:g}; a row's best pick beats its "
            "other answers, starred answers play by stars)."
        ),
    )
    p.add_argument(
        "--template", metavar="TEXT", default="", help="only runs whose template contains TEXT"
    )
    p.add_argument(
        "--since", metavar="DATE", help="only runs started on or after DATE (YYYY-MM-DD)"
    )
    p.add_argument(
        "--until", metavar="DATE", help="only runs started on or before DATE (YYYY-MM-DD)"
    )
    p.add_argument("--json", action="store_true", help="print a JSON list")


def cmd_leaderboard(args: argparse.Namespace) -> int:
    """``fanout-studio leaderboard``: models by Elo over blind ratings."""
    since = parse_when(args.since) if args.since else None
    until = parse_when(args.until, end=True) if args.until else None
    if since is not None and until is not None and until <= since:
        raise UsageError("--until is before --since: no run can match")

    def body(history: History) -> int:
        rows = history.leaderboard_rows(args.template, since=since, until=until)
        table = leaderboard(rows)
        if args.json:
            data = [{"rank": i, **e.to_dict()} for i, e in enumerate(table, start=1)]
            json.dump(data, sys.stdout, ensure_ascii=False, indent=2)
            sys.stdout.write("\n")
            return EXIT_OK
        if not table:
            filtered = args.template or since is not None or until is not None
            sys.stdout.write(
                "No blind ratings match these filters.\n"
                if filtered
                else "No blind ratings yet: turn on Blind mode in the window's Results tab and "
                "rate some answers.\n"
            )
            return EXIT_OK
        head = ["RANK", "MODEL", "ELO", "GAMES", "WINS", "LOSSES", "TIES"]
        lines = [
            [
                str(i),
                e.model,
                f"{e.rating:.0f}",
                str(e.games),
                str(e.wins),
                str(e.losses),
                str(e.ties),
            ]
            for i, e in enumerate(table, start=1)
        ]
        widths = [max(len(r[i]) for r in [head, *lines]) for i in range(len(head))]
        for r in [head, *lines]:
            cells = [
                c.ljust(w) if i == 1 else c.rjust(w)
                for i, (c, w) in enumerate(zip(r, widths, strict=True))
            ]
            sys.stdout.write(escape_controls("  ".join(cells).rstrip()) + "\n")
        games = sum(e.games for e in table) // 2
        sys.stdout.write(
            f"\n{games} games from {len(rows)} rated rows (Elo K={ELO_K:g}, base {ELO_BASE:g}).\n"
        )
        return EXIT_OK

    return _read_history(body)
