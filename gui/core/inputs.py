"""Input rows from text the user pasted or a file they chose: lines, CSV, JSON Lines.

Pure functions on strings so that the window can run them off the GUI thread and the CLI
can share them; every problem is a :class:`~gui.core.errors.SpecError` with a one-line reason.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from gui.core.errors import SpecError

Row = dict[str, str]

#: Refuse files larger than this: a grid of more rows is not a comparison any more.
MAX_INPUT_BYTES = 50 * 1024 * 1024


def rows_from_lines(text: str, variable: str = "topic") -> list[Row]:
    """One row per non-empty line, filling ``variable``."""
    return [{variable: line.strip()} for line in text.splitlines() if line.strip()]


def rows_from_csv(text: str, source: str = "CSV") -> list[Row]:
    """Rows from CSV with a header row; empty lines are skipped, values stripped."""
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(
            text[:4096], delimiters=",;\t"
        )
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    try:
        header = next(reader, None)
        if not header or not any(h.strip() for h in header):
            raise SpecError(
                f"{source} has no header row. The first line must name the columns, e.g. topic."
            )
        names = [h.strip() for h in header]
        rows: list[Row] = []
        for line_no, values in enumerate(reader, start=2):
            if not any(v.strip() for v in values):
                continue
            if len(values) > len(names):
                raise SpecError(
                    f"{source} line {line_no} has {len(values)} values but the header names {len(names)} columns."
                )
            rows.append({n: v.strip() for n, v in zip(names, values, strict=False) if n})
    except csv.Error as exc:
        raise SpecError(f"{source} is not valid CSV: {exc}.") from None
    return rows


def rows_from_jsonl(text: str, source: str = "JSON Lines") -> list[Row]:
    """Rows from JSON Lines: one object per line; values are turned into text."""
    rows: list[Row] = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SpecError(f"{source} line {line_no} is not valid JSON ({exc.msg}).") from None
        if not isinstance(obj, dict):
            raise SpecError(
                f'{source} line {line_no} is not a JSON object like {{"topic": "cats"}}.'
            )
        rows.append({str(k): v if isinstance(v, str) else json.dumps(v) for k, v in obj.items()})
    return rows


def read_rows_file(path: str | Path) -> list[Row]:
    """Rows from a ``.csv`` / ``.tsv`` file or a JSON Lines file (``.jsonl``, ``.ndjson``, ``.json``)."""
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > MAX_INPUT_BYTES:
            raise SpecError(
                f"{p.name} is {size / 1e6:.0f} MB; inputs files are limited to {MAX_INPUT_BYTES // 2**20} MB."
            )
        data = p.read_bytes()
    except FileNotFoundError:
        raise SpecError(f"Inputs file {str(p)!r} does not exist.") from None
    except IsADirectoryError:
        raise SpecError(f"{str(p)!r} is a folder, not an inputs file.") from None
    except OSError as exc:
        raise SpecError(f"Cannot read inputs file {str(p)!r}: {exc.strerror or exc}.") from None
    if b"\x00" in data[:8192]:
        raise SpecError(f"{p.name} is a binary file, not CSV or JSON Lines.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SpecError(
            f"{p.name} is not UTF-8 text. Save it as UTF-8 CSV or JSON Lines."
        ) from None
    if not text.strip():
        raise SpecError(f"{p.name} is empty.")
    if p.suffix.lower() in (".jsonl", ".ndjson", ".json") or text.lstrip().startswith("{"):
        rows = rows_from_jsonl(text, p.name)
    else:
        rows = rows_from_csv(text, p.name)
    if not rows:
        raise SpecError(f"{p.name} has a header but no rows.")
    return rows
