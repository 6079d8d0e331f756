"""Structured output of a run: its JSON schema, how an answer is held against it, what shows.

A run may ask every cell for a JSON answer that follows a schema (``RunSpec.json_schema``).
The provider layer asks the server for it (``response_format``); this module, Qt-free, reads
the answer when the cell ends: the parsed value, or the one-line reason it breaks the schema.
A reply that fails is kept as it came, and its cell is still done (the server did finish),
with a visible "schema ✗" mark. The validation itself is the ``json-schema`` check's
(:func:`gui.core.checks.match_schema`), so both say the same thing about the same answer.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gui.core.checks import CheckError, answer_json, match_schema, schema_validator
from gui.core.errors import SpecError

#: The engine's request config key that carries a structured run's schema to the chain.
JSON_SCHEMA_KEY = "fanout_json_schema"

#: The marks a structured cell's footer shows.
SCHEMA_OK_MARK = "schema ✓"
SCHEMA_BAD_MARK = "schema ✗"

#: Longest schema text accepted (a schema is a page, not a data set).
MAX_SCHEMA_CHARS = 200_000


@dataclass(frozen=True, slots=True)
class SchemaVerdict:
    """What a structured run's cell answered, held against the run's schema.

    Attributes:
        parsed: The answer's JSON value, or ``None`` when it is not JSON.
        error: One line on where the answer breaks the schema (or that it is not JSON), or
            ``None`` when it follows it.
    """

    parsed: Any
    error: str | None

    @property
    def valid(self) -> bool:
        """Whether the answer follows the schema."""
        return self.error is None


def parse_schema(text: str) -> dict[str, Any]:
    """The schema the user pasted or loaded, checked against its metaschema.

    Raises:
        SpecError: the text is empty, too long, not JSON, or not a valid JSON schema; the
            message says what to fix.
    """
    if not text.strip():
        raise SpecError('The JSON schema is empty. Paste a schema such as {"type": "object"}.')
    if len(text) > MAX_SCHEMA_CHARS:
        raise SpecError(
            f"The JSON schema is {len(text):,} characters; at most {MAX_SCHEMA_CHARS:,}."
        )
    try:
        schema_validator(text)
    except CheckError as exc:
        raise SpecError(str(exc)) from None
    value = json.loads(text)
    assert isinstance(value, dict)  # schema_validator refuses anything else
    return value


def response_format_of(schema: Mapping[str, Any]) -> dict[str, Any]:
    """OpenAI's ``response_format`` for ``schema`` (``strict`` off: any valid schema goes):
    what the provider layer binds to a live request and a batch request line carries.

    Given in the ``{"name", "schema"}`` form langchain-openai passes through as it is, so a
    schema without a ``title`` needs no conversion to a function first.
    """
    title = schema.get("title")
    name = "".join(c if c.isalnum() or c in "_-" else "_" for c in str(title or "answer"))[:64]
    return {
        "type": "json_schema",
        "json_schema": {"name": name or "answer", "schema": dict(schema), "strict": False},
    }


def schema_text(schema: Mapping[str, Any]) -> str:
    """One canonical text of ``schema`` (the validator is kept per text)."""
    return json.dumps(schema, sort_keys=True, ensure_ascii=False)


def validate_schema(schema: Mapping[str, Any]) -> None:
    """Raise :class:`SpecError` when ``schema`` is not a valid JSON schema."""
    parse_schema(schema_text(schema))


def check_answer(schema: Mapping[str, Any], text: str) -> SchemaVerdict:
    """The answer ``text`` read as JSON and held against ``schema``.

    A schema that turned bad (edited by hand in a stored run) makes the verdict say so
    rather than raise.
    """
    try:
        parsed, error, _note = match_schema(schema_text(schema), text)
    except CheckError as exc:
        return SchemaVerdict(None, f"schema not usable: {exc}")
    return SchemaVerdict(parsed, _one_line(error) if error is not None else None)


def parsed_answer(text: str) -> tuple[bool, Any]:
    """``(True, value)`` for an answer that is JSON (the tree and table views show it), else
    ``(False, None)``; no schema needed, so a past run's answers read the same."""
    try:
        return True, answer_json(text)
    except (ValueError, RecursionError):
        return False, None


def schema_mark(valid: bool | None) -> str | None:
    """The footer mark of a structured cell, or ``None`` for a cell of a plain run."""
    if valid is None:
        return None
    return SCHEMA_OK_MARK if valid else SCHEMA_BAD_MARK


def valid_share(verdicts: Iterable[bool | None]) -> float | None:
    """The share (0..1) of structured answers that follow the schema, ``None`` for none."""
    known = [v for v in verdicts if v is not None]
    if not known:
        return None
    return sum(1 for v in known if v) / len(known)


def field_columns(values: Iterable[Any]) -> list[str]:
    """The table view's columns: every top-level field of the answers, in first-seen order."""
    seen: dict[str, None] = {}
    for value in values:
        if isinstance(value, Mapping):
            seen.update(dict.fromkeys(str(k) for k in value))
    return list(seen)


def field_text(value: Any, name: str) -> str:
    """One answer's field ``name`` as one line of a table cell (JSON for lists and objects)."""
    if not isinstance(value, Mapping) or name not in value:
        return ""
    field = value[name]
    if isinstance(field, str):
        return _one_line(field)
    return _one_line(json.dumps(field, ensure_ascii=False))


#: Where the schema starts in :func:`schema_instruction` (the simulated model reads it there).
SCHEMA_INSTRUCTION_MARK = "It must follow this JSON Schema:\n"


def schema_instruction(schema: Mapping[str, Any]) -> str:
    """What a server without ``json_schema`` support is told instead (JSON mode).

    JSON mode only promises JSON; the schema must be in the messages (OpenAI's JSON mode even
    refuses a request whose messages do not say "JSON").
    """
    return (
        "Answer with one JSON object and nothing else. "
        + SCHEMA_INSTRUCTION_MARK
        + (json.dumps(dict(schema), ensure_ascii=False))
    )


def instructed_schema(text: str) -> dict[str, Any] | None:
    """The schema a :func:`schema_instruction` in ``text`` carries, or ``None``."""
    at = text.find(SCHEMA_INSTRUCTION_MARK)
    if at < 0:
        return None
    try:
        value, _end = json.JSONDecoder().raw_decode(text, at + len(SCHEMA_INSTRUCTION_MARK))
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _one_line(text: str, limit: int = 300) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
