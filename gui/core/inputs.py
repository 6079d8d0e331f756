"""Input rows from text the user pasted or a file they chose: lines, CSV, JSON Lines.

Pure functions on strings so that the window can run them off the GUI thread and the CLI
can share them; every problem is a :class:`~gui.core.errors.SpecError` with a one-line reason,
and a file is read whole or not at all (nothing is ever half imported).

Encodings: UTF-8 (with or without a BOM) and UTF-16/32 with a BOM are read as such. A file
that is not UTF-8 and has no valid UTF-8 sequence at all is read as Windows-1252, the
superset of Latin-1 that spreadsheet programs on Western-European systems write when they
save "CSV": that is the only common way such a file comes about, and it decodes every
accented letter correctly. The reader then adds a note (shown as a warning, never silently).
A file with more valid UTF-8 sequences than invalid bytes is damaged UTF-8, not Latin-1: it is refused,
naming the line, instead of turning every accent into mojibake. Binary files (images, Excel
workbooks, archives, random bytes) are refused by their signature or their control characters.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from gui.core.errors import SpecError
from gui.core.spec import MAX_ROWS

Row = dict[str, str]

#: Refuse files larger than this: a grid of more rows is not a comparison any more.
MAX_INPUT_BYTES = 50 * 1024 * 1024

#: Most rows one file (or one paste) may add; the same limit a run has.
MAX_INPUT_ROWS = MAX_ROWS

# Signatures of binary files people pick by mistake, with a hint when there is a better way.
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "It looks like an Excel workbook or a ZIP archive: save it as CSV UTF-8."),
    (b"\xd0\xcf\x11\xe0", "It looks like an old Excel workbook: save it as CSV UTF-8."),
    (b"\x89PNG", ""),
    (b"\xff\xd8\xff", ""),
    (b"GIF8", ""),
    (b"%PDF-", ""),
    (b"\x1f\x8b", "It is gzip-compressed: decompress it first."),
    (b"SQLite format 3\x00", ""),
)

# Well-formed multi-byte UTF-8 sequences: their presence in an undecodable file means it
# is damaged UTF-8, not a legacy 8-bit encoding.
_UTF8_MULTIBYTE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}"
)
# Control characters that do not occur in text (tab, newlines and form feeds are fine);
# more than 1 % of them is a binary file.
_CONTROL_BYTES = re.compile(rb"[\x00-\x08\x0e-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class InputsFile:
    """What :func:`load_rows_file` read.

    Attributes:
        rows: The rows, in file order (empty lines skipped, duplicates kept).
        columns: Column names in file order: the CSV header, or the JSON keys as first seen.
        notes: Warnings worth showing the user (e.g. the encoding was guessed); never errors.
    """

    rows: list[Row]
    columns: list[str]
    notes: list[str] = field(default_factory=list)


def rows_from_lines(text: str, variable: str = "topic") -> list[Row]:
    """One row per non-empty line, filling ``variable``."""
    return [{variable: line.strip()} for line in text.splitlines() if line.strip()]


def _read_csv(text: str, source: str) -> tuple[list[Row], list[str]]:
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
        seen: set[str] = set()
        for name in names:
            if name and name in seen:
                raise SpecError(
                    f"{source} names the column {name!r} twice in its header. "
                    "Give each column its own name."
                )
            seen.add(name)
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
    return rows, [n for n in names if n]


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
        rows.append(_text_row(obj))
    return rows


def _text_row(obj: dict[object, object]) -> Row:
    return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in obj.items()}


def _rows_from_json_array(text: str, source: str) -> list[Row] | None:
    """Rows from a JSON array of objects, or ``None`` when ``text`` is not one."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return None
    if not isinstance(data, list):
        return None
    for i, item in enumerate(data, start=1):
        if not isinstance(item, dict):
            raise SpecError(f'{source} item {i} is not a JSON object like {{"topic": "cats"}}.')
    return [_text_row(item) for item in data]


def decode_text(data: bytes, source: str) -> tuple[str, str | None]:
    """The text of a file's bytes and a note when its encoding had to be guessed.

    Raises:
        SpecError: a binary file, or damaged UTF-8 (see the module docstring).
    """
    for bom, codec in (
        (codecs.BOM_UTF32_LE, "utf-32"),
        (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if data.startswith(bom):
            try:
                return data.decode(codec), None
            except UnicodeDecodeError:
                raise SpecError(
                    f"{source} starts like {codec.upper()} text but is not. "
                    "Save it as UTF-8 CSV or JSON Lines."
                ) from None
    for signature, hint in _SIGNATURES:
        if data.startswith(signature):
            raise SpecError(_binary_message(source, hint))
    head = data[:65536].rstrip(b"\x1a")  # an old DOS end-of-file mark is not binary
    if b"\x00" in head[:8192] or len(_CONTROL_BYTES.findall(head)) > len(head) // 100:
        raise SpecError(_binary_message(source, ""))
    note = None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        invalid = data.decode("utf-8", errors="replace").count("\ufffd")
        valid = len(_UTF8_MULTIBYTE.findall(data))
        if valid and valid >= invalid:
            raise SpecError(
                f"{source} is not valid UTF-8: line {line} has a byte (0x{data[exc.start]:02X}) "
                "that is not UTF-8. Save it as UTF-8 and import it again."
            ) from None
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError:
            raise SpecError(_binary_message(source, "")) from None
        note = (
            f"{source} is not UTF-8: read it as Windows-1252 (Latin-1). "
            "If accents look wrong, save it as UTF-8."
        )
    return text.rstrip("\x1a"), note


def _binary_message(source: str, hint: str) -> str:
    message = f"{source} is a binary file, not CSV or JSON Lines."
    return f"{message} {hint}" if hint else message


def load_rows_file(path: str | Path) -> InputsFile:
    """Rows of a ``.csv`` / ``.tsv`` file or a JSON Lines file (``.jsonl``, ``.ndjson``, ``.json``,
    or a JSON array of objects), with its columns and any notes.

    Raises:
        SpecError: the file is missing, unreadable, too large, binary, damaged, empty or
            malformed; one line naming the file and the fix.
    """
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > MAX_INPUT_BYTES:
            raise SpecError(
                f"{p.name} is {size / 2**20:.0f} MB; inputs files are limited to "
                f"{MAX_INPUT_BYTES // 2**20} MB. Split it into smaller files."
            )
        data = p.read_bytes()
    except FileNotFoundError:
        raise SpecError(f"Inputs file {str(p)!r} does not exist.") from None
    except IsADirectoryError:
        raise SpecError(f"{str(p)!r} is a folder, not an inputs file.") from None
    except OSError as exc:
        raise SpecError(f"Cannot read inputs file {str(p)!r}: {exc.strerror or exc}.") from None
    text, note = decode_text(data, p.name)
    if not text.strip():
        raise SpecError(f"{p.name} is empty.")
    head = text.lstrip()
    array = _rows_from_json_array(text, p.name) if head.startswith("[") else None
    if array is not None:
        rows, columns = array, _keys(array)
    elif p.suffix.lower() in (".jsonl", ".ndjson", ".json") or head.startswith("{"):
        rows = rows_from_jsonl(text, p.name)
        columns = _keys(rows)
    else:
        rows, columns = _read_csv(text, p.name)
    if not rows:
        raise SpecError(f"{p.name} has a header but no rows.")
    if len(rows) > MAX_INPUT_ROWS:
        raise SpecError(
            f"{p.name} has {len(rows):,} rows; a run takes at most {MAX_INPUT_ROWS:,}. "
            "Split it into smaller files."
        )
    return InputsFile(rows, columns, [note] if note else [])


def read_rows_file(path: str | Path) -> list[Row]:
    """The rows of :func:`load_rows_file` (without columns and notes)."""
    return load_rows_file(path).rows


def _keys(rows: list[Row]) -> list[str]:
    return list(dict.fromkeys(k for row in rows for k in row))
