"""``fanout-studio diff`` and ``fanout-studio show --agreement``: where recorded answers differ.

``diff`` prints a word diff of two cells of a run (git's ``[-old-]{+new+}`` marks, coloured
instead when standard output is a terminal); ``show --agreement ROW`` prints each answer of
one input row with every sentence tagged as shared by all answers, by some, or unique. Both
read the history through :mod:`gui.cli`'s helpers, so a bad run id, cell id or row is one
line on stderr and exit 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

from gui.cli import EXIT_OK, UsageError, _find_run, _read_history
from gui.core.agreement import Share, agreement
from gui.core.cleantext import escape_controls
from gui.core.spec import CellId
from gui.core.textdiff import word_diff

if TYPE_CHECKING:
    from gui.storage.history import History
    from gui.storage.records import StoredRun

__all__ = ["ANSI", "cmd_agreement", "cmd_diff", "use_color"]

#: Terminal colours: deletions red and struck through, insertions green and underlined (the
#: marks stay readable without colour, for the colour-blind, as git's do).
ANSI = {"delete": "\x1b[31;9m", "insert": "\x1b[32;4m", "reset": "\x1b[0m"}

_TAG_WIDTH = max(len(s.value) for s in Share) + 2


def use_color(choice: str) -> bool:
    """``--color auto`` colours only a terminal, and never when ``NO_COLOR`` is set."""
    if choice != "auto":
        return choice == "always"
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def _grid(run: StoredRun) -> tuple[int, int]:
    """Rows and columns of the run's grid (its plan, plus any stored cell beyond it)."""
    rows = cols = 0
    for cell in run.spec.cells():
        rows, cols = max(rows, cell.row + 1), max(cols, cell.col + 1)
    for stored in run.cells:
        rows, cols = max(rows, stored.row + 1), max(cols, stored.col + 1)
    return rows, cols


def _titles(run: StoredRun) -> dict[tuple[int, int], str]:
    """``inputs × model`` per (row, column), as ``show`` titles its cells."""
    titles = {
        (c.row, c.col): f"{' / '.join(c.inputs.values()) or 'prompt'} × {c.header}"
        for c in run.spec.cells()
    }
    for s in run.cells:
        titles[(s.row, s.col)] = f"{' / '.join(s.inputs.values()) or 'prompt'} × {s.model}"
    return titles


def _cell_text(run: StoredRun, text: str) -> tuple[str, str]:
    """The stored answer of the cell ``text`` names, and its title.

    Raises:
        UsageError: not a cell id, not in this run's grid, or never recorded.
    """
    try:
        cell_id = CellId.parse(text.strip())
    except ValueError:
        raise UsageError(
            f"{text!r} is not a cell id: give r<row>m<column> as `fanout-studio show "
            f"{run.id}` prints it (0-based, e.g. r0m1)"
        ) from None
    rows, cols = _grid(run)
    if not (cell_id.row < rows and cell_id.col < cols):
        raise UsageError(
            f"no cell {cell_id} in run {run.id}: its cells are r0m0 to r{rows - 1}m{cols - 1} "
            f"(listed by `fanout-studio show {run.id}`)"
        )
    stored = run.cell(str(cell_id))
    if stored is None:
        raise UsageError(
            f"cell {cell_id} of run {run.id} has no recorded answer (the run ended before "
            "it did); pick another with `fanout-studio show`"
        )
    return stored.text, _titles(run).get((cell_id.row, cell_id.col), str(cell_id))


def cmd_diff(args: argparse.Namespace) -> int:
    """``fanout-studio diff RUN_ID CELL_A CELL_B``: a word diff of two stored answers."""
    color = use_color(args.color)

    def mark(kind: str, text: str) -> str:
        return f"{ANSI[kind]}{text}{ANSI['reset']}"

    def body(history: History) -> int:
        run = _find_run(history, args.run_id)
        a, a_title = _cell_text(run, args.cell_a)
        b, b_title = _cell_text(run, args.cell_b)
        diff = word_diff(a, b)
        out = sys.stdout
        out.write(escape_controls(f"--- {CellId.parse(args.cell_a.strip())} · {a_title}\n"))
        out.write(escape_controls(f"+++ {CellId.parse(args.cell_b.strip())} · {b_title}\n"))
        changed = sum(op.tag != "equal" for op in diff.ops)
        plural = "" if changed == 1 else "s"
        out.write(f"similarity {diff.similarity:.0f} % · {changed} change{plural}\n\n")
        out.write(diff.unified(mark if color else None, escape_controls))
        out.write("\n")
        return EXIT_OK

    return _read_history(body)


def _indented(text: str, width: int) -> str:
    return text.replace("\n", "\n" + " " * width)


def cmd_agreement(args: argparse.Namespace) -> int:
    """``fanout-studio show RUN_ID --agreement ROW``: one row's answers, sentences tagged."""
    threshold = args.threshold / 100

    def body(history: History) -> int:
        run = _find_run(history, args.run_id)
        rows, cols = _grid(run)
        row = args.agreement - 1
        if not 0 <= row < rows:
            raise UsageError(
                f"run {run.id} has rows 1 to {rows}; give --agreement one of them "
                f"(row N holds cells r{{N-1}}m*)"
            )
        titles = _titles(run)
        texts = []
        for col in range(cols):
            stored = run.cell(CellId.text(row, col))
            texts.append(stored.text if stored is not None else "")
        result = agreement(texts, threshold)
        out = sys.stdout
        legend = " · ".join(f"{share.value} {n}" for share, n in result.counts().items())
        out.write(
            f"run {run.id} · row {row + 1} · sentences shared with every answer (all), with "
            f"some (some) or none (unique) at {args.threshold:g} % token overlap\n"
        )
        out.write(f"legend: {legend}\n")
        for col, sentences in enumerate(result.answers):
            cell = CellId.text(row, col)
            counts = " · ".join(f"{s.value} {n}" for s, n in result.counts(col).items())
            title = titles.get((row, col), cell)
            out.write(escape_controls(f"\n── {title} · {cell} · {counts}\n"))
            if run.cell(cell) is None:
                out.write("(no answer recorded)\n")
            elif not sentences:
                out.write("(no text)\n")
            for sentence in sentences:
                tag = f"[{sentence.share.value}]".ljust(_TAG_WIDTH + 1)
                out.write(tag + escape_controls(_indented(sentence.text, len(tag))) + "\n")
        return EXIT_OK

    return _read_history(body)
