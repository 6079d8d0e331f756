"""Deterministic checks of an answer: what a check is, its one-line and JSON forms, the
messages that refuse a bad one, and the evaluation of the kinds that cannot hang.

A run carries a list of :class:`Check` (``RunSpec.checks``); each done cell gets one
:class:`CheckResult` per check. The kinds that may run away on a crafted input (``regex``
backtracking, a ``python`` expression) are evaluated in a separate worker process with a time
limit (:mod:`gui.core.checking`, :mod:`gui.core.check_sandbox`); this module evaluates the
rest and prepares all of them, so a check that cannot work is refused before a run, where it is
typed, with the fix.

One-line syntax (the CLI's ``--check`` and the Checks page's quick entry)::

    [name=NAME;][weight=W;]KIND[/FLAGS][:VALUE]

``FLAGS``: ``i`` ignores case (any text kind); ``m``, ``s``, ``x`` are the regex flags of
Python's ``re``. Values of ``contains``, ``not-contains``, ``equals`` and ``starts-with`` are
templates filled with the row's variables (``contains:{topic}``; ``{{`` is a literal brace); a
``regex`` fills ``{name}`` of a known variable with the escaped value and leaves quantifiers such
as ``{3}`` alone. ``json-schema:@FILE`` reads the schema from a file (the CLI inlines it).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

from gui.core.cleantext import clean_json
from gui.core.errors import SpecError, TemplateError
from gui.core.templates import fill_template, suggest_name, template_variables
from gui.core.text import one_line_label

#: Every kind of check, in the order the Checks page offers them.
KINDS: tuple[str, ...] = (
    "contains",
    "not-contains",
    "equals",
    "starts-with",
    "regex",
    "is-json",
    "json-schema",
    "max-words",
    "min-words",
    "max-chars",
    "python",
)
#: Kinds whose value is a template filled with the row's variables.
TEXT_KINDS = frozenset({"contains", "not-contains", "equals", "starts-with"})
#: Kinds whose value is a whole number (a limit).
LIMIT_KINDS = frozenset({"max-words", "min-words", "max-chars"})
#: Kinds that take no value.
NO_VALUE_KINDS = frozenset({"is-json"})
#: Kinds evaluated in the worker process, with a time limit (they can run away).
WORKER_KINDS = frozenset({"regex", "python"})
#: Regex flags accepted after ``/`` (besides ``i``, which every text kind takes).
REGEX_FLAGS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "x": re.VERBOSE}
#: What the Checks page and ``--help`` show for each kind's value.
VALUE_HINTS: Mapping[str, str] = {
    "contains": "text that must appear, e.g. {topic}",
    "not-contains": "text that must not appear, e.g. As an AI",
    "equals": "the whole answer (spaces around it ignored)",
    "starts-with": "the answer's first characters",
    "regex": r"a Python regular expression, e.g. ^\d",
    "is-json": "(no value)",
    "json-schema": 'a JSON Schema, e.g. {"type": "object", "required": ["name"]}',
    "max-words": "a whole number, e.g. 50",
    "min-words": "a whole number, e.g. 5",
    "max-chars": "a whole number, e.g. 280",
    "python": "an expression over output and the row's variables, e.g. len(output) < 500",
}
#: Longest ``detail`` kept per result (a schema message can quote a whole answer).
DETAIL_LIMIT = 300
#: Largest limit a ``max-*`` / ``min-*`` check takes.
MAX_LIMIT = 1_000_000_000


class CheckError(SpecError):
    """A check that cannot work; ``str()`` is the one-line reason with the fix."""


@dataclass(frozen=True, slots=True)
class Check:
    """One check of a run, as the user wrote it.

    Attributes:
        kind: One of :data:`KINDS`.
        value: The text, pattern, limit, schema (JSON text) or expression; ``""`` for
            ``is-json``.
        name: What the chip shows; ``""`` means a name made from the kind and value.
        weight: Share of this check in the cell's pass rate (> 0).
        ignore_case: Compare text without case (text kinds and ``regex``).
        flags: Extra regex flags among ``m``, ``s``, ``x`` (``regex`` only).
    """

    kind: str
    value: str = ""
    name: str = ""
    weight: float = 1.0
    ignore_case: bool = False
    flags: str = ""

    @property
    def label(self) -> str:
        """The chip's text: the name, else ``kind: value`` on one short line."""
        if self.name:
            return self.name
        if self.kind in NO_VALUE_KINDS or not self.value:
            return self.kind
        if self.kind == "json-schema":
            return "json-schema"
        return f"{self.kind}: {one_line_label(self.value, 28)}"

    def line(self) -> str:
        """The one-line form :func:`parse_check` reads back."""
        options = ""
        if self.name:
            options += f"name={self.name};"
        if self.weight != 1.0:
            options += f"weight={_number(self.weight)};"
        flags = ("i" if self.ignore_case else "") + self.flags
        head = f"{options}{self.kind}{'/' + flags if flags else ''}"
        if self.kind in NO_VALUE_KINDS:
            return head
        value = self.value
        if self.kind == "json-schema":
            try:  # a schema on one line
                value = json.dumps(json.loads(value), ensure_ascii=False)
            except ValueError:
                value = " ".join(value.split())
        return f"{head}:{value}"


@dataclass(frozen=True, slots=True)
class CheckResult:
    """What one check said about one answer.

    Attributes:
        name: The check's label (its name, or kind and value).
        kind: The check's kind.
        passed: Whether the answer passed.
        detail: Why, in one line: the text that was missing, the regex that missed, the
            schema path that failed, the word count against the limit, the expression's value.
        weight: The check's weight (for the pass rate).
    """

    name: str
    kind: str
    passed: bool
    detail: str
    weight: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (``--json``, history, exports)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "passed": self.passed,
            "detail": self.detail,
            "weight": self.weight,
        }


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


# ------------------------------------------------------------------------- parsing

_OPTION = re.compile(r"(name|weight)=([^;]*);")
_HEAD = re.compile(r"([A-Za-z][A-Za-z_-]*)(?:/([A-Za-z]*))?")


def parse_check(text: str) -> Check:
    """The check a one-line definition describes (see the module's docstring for the syntax).

    Only the syntax is checked here; :func:`validate_check` checks the value.

    Raises:
        CheckError: an unknown kind (the kinds are listed), an unknown flag or option, a
            missing value, or a weight that is not a positive number.
    """
    rest = text.strip()
    name, weight = "", 1.0
    while True:
        option = _OPTION.match(rest)
        if option is None:
            break
        key, raw = option.group(1), option.group(2).strip()
        if key == "name":
            name = raw
        else:
            weight = _weight(raw)
        rest = rest[option.end() :].lstrip()
    head = _HEAD.match(rest)
    if head is None or (head.end() < len(rest) and rest[head.end()] != ":"):
        shown = one_line_label(rest, 30) or "(nothing)"
        raise CheckError(
            f"Check {shown!r} is not KIND:VALUE. Write e.g. contains:{{topic}} or max-words:50 "
            f"(kinds: {', '.join(KINDS)})."
        )
    kind = _kind(head.group(1))
    flags = (head.group(2) or "").lower()
    value = rest[head.end() + 1 :] if head.end() < len(rest) else ""
    ignore_case = "i" in flags
    extra = "".join(f for f in dict.fromkeys(flags) if f != "i")
    check = Check(kind, value, name, weight, ignore_case, extra)
    _check_flags(check)
    if kind not in NO_VALUE_KINDS and not value.strip():
        raise CheckError(f"Check {kind!r} needs a value after the colon: {kind}:{_example(kind)}.")
    return check


def _example(kind: str) -> str:
    return {
        "contains": "{topic}",
        "not-contains": "As an AI",
        "equals": "yes",
        "starts-with": "Dear",
        "regex": r"^\d",
        "json-schema": '{"type": "object"}',
        "max-words": "50",
        "min-words": "5",
        "max-chars": "280",
        "python": "len(output) < 500",
    }.get(kind, "VALUE")


def _kind(word: str) -> str:
    kind = word.strip().lower().replace("_", "-")
    if kind in KINDS:
        return kind
    guess = suggest_name(kind, KINDS)
    hint = f"Did you mean {guess}? " if guess else ""
    raise CheckError(f"Unknown check kind {word!r}. {hint}Kinds: {', '.join(KINDS)}.")


def _weight(raw: str) -> float:
    try:
        weight = float(raw)
    except ValueError:
        raise CheckError(f"Weight {raw!r} is not a number. Write e.g. weight=2;") from None
    if not math.isfinite(weight) or weight <= 0 or weight > 1000:
        raise CheckError(f"Weight {raw} is out of range: use a number above 0, at most 1000.")
    return weight


def _check_flags(check: Check) -> None:
    if check.flags and check.kind != "regex":
        raise CheckError(
            f"Flag {check.flags!r} is for regex checks only; {check.kind} takes only /i "
            "(ignore case)."
        )
    bad = [f for f in check.flags if f not in REGEX_FLAGS]
    if bad:
        raise CheckError(
            f"Unknown regex flag {bad[0]!r}. Use i (ignore case), m (multi-line), "
            "s (dot matches newline), x (verbose)."
        )
    if check.ignore_case and check.kind not in TEXT_KINDS | {"regex"}:
        raise CheckError(f"/i (ignore case) does not apply to {check.kind} checks. Remove it.")


def check_to_dict(check: Check) -> dict[str, Any]:
    """``check`` as plain data (``--check-file``, the run's spec, the workspace)."""
    out: dict[str, Any] = {"kind": check.kind, "value": check.value}
    if check.name:
        out["name"] = check.name
    if check.weight != 1.0:
        out["weight"] = check.weight
    if check.ignore_case:
        out["ignore_case"] = True
    if check.flags:
        out["flags"] = check.flags
    return out


def check_from_dict(data: Mapping[str, Any]) -> Check:
    """The check :func:`check_to_dict` wrote (a ``schema`` object is taken for ``value``).

    Raises:
        CheckError: no or an unknown kind, a bad weight or flag.
    """
    if not isinstance(data, Mapping):
        raise CheckError('Each check is an object, e.g. {"kind": "contains", "value": "{topic}"}.')
    if "kind" not in data:
        raise CheckError(f'A check has no "kind". Kinds: {", ".join(KINDS)}.')
    kind = _kind(str(data["kind"]))
    value: Any = data.get("value", data.get("schema", ""))
    if not isinstance(value, str):
        value = json.dumps(value, ensure_ascii=False) if kind == "json-schema" else str(value)
    weight = data.get("weight", 1.0)
    check = Check(
        kind=kind,
        value=value,
        name=str(data.get("name") or ""),
        weight=_weight(str(weight)),
        ignore_case=bool(data.get("ignore_case", False)),
        flags=str(data.get("flags") or ""),
    )
    _check_flags(check)
    return check


def checks_from_json(text: str, source: str = "the check file") -> tuple[Check, ...]:
    """The checks of a JSON list (``--check-file``); one-line strings are accepted as items.

    Raises:
        CheckError: the text is not a JSON list of checks, or one of them is bad (its number
            is named).
    """
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise CheckError(f"{source} is not JSON ({exc}). Write a list of checks.") from None
    if isinstance(data, Mapping) and isinstance(data.get("checks"), list):
        data = data["checks"]
    if not isinstance(data, list):
        raise CheckError(
            f'{source} must hold a JSON list of checks, e.g. [{{"kind": "max-words", "value": 50}}].'
        )
    checks = []
    for n, item in enumerate(data, 1):
        try:
            checks.append(parse_check(item) if isinstance(item, str) else check_from_dict(item))
        except CheckError as exc:
            raise CheckError(f"{source}, check {n}: {exc}") from None
    return tuple(checks)


# ------------------------------------------------------------------------- validation

_VARIABLE_FIELD = re.compile(r"\{([^\W\d]\w*)\}")


def validate_check(check: Check, variables: Sequence[str] | None = None) -> None:
    """Refuse a check that cannot work, with the fix.

    Args:
        check: The check.
        variables: The template's variables (what a value may use); ``None`` skips the
            variable test (no template yet).

    Raises:
        CheckError: an invalid regex (the position is named), an invalid JSON schema (the
            keyword is named), an unknown variable (the close one is offered), a limit that
            is not a whole number, an expression that is not allowed.
    """
    kind, value = check.kind, check.value
    label = check.name or kind
    if kind not in KINDS:
        _kind(kind)
    _check_flags(check)
    if kind not in NO_VALUE_KINDS and not value.strip():
        raise CheckError(f"{label}: the value is empty. Write e.g. {kind}:{_example(kind)}.")
    if kind in TEXT_KINDS:
        try:
            used = template_variables(value)
        except TemplateError as exc:
            raise CheckError(f"{label}: {exc}") from None
        _known_variables(check, used, variables)
    elif kind == "regex":
        _regex(check)
        _known_variables(check, _VARIABLE_FIELD.findall(value), variables, regex=True)
    elif kind in LIMIT_KINDS:
        limit_of(check)
    elif kind == "json-schema":
        schema_validator(value)
    elif kind == "python":
        from gui.core.check_sandbox import SandboxError, validate_expression

        try:
            validate_expression(value, list(variables) if variables is not None else None)
        except SandboxError as exc:
            raise CheckError(f"{label}: {exc}") from None


def validate_checks(checks: Iterable[Check], variables: Sequence[str] | None = None) -> None:
    """:func:`validate_check` on each check; the first bad one's message names its number."""
    for n, check in enumerate(checks, 1):
        try:
            validate_check(check, variables)
        except CheckError as exc:
            raise CheckError(f"Check {n}: {exc}") from None


def _known_variables(
    check: Check, used: Iterable[str], variables: Sequence[str] | None, *, regex: bool = False
) -> None:
    if variables is None:
        return
    for name in used:
        if name in variables:
            continue
        guess = suggest_name(name, variables)
        have = ", ".join(f"{{{v}}}" for v in variables) or "none"
        if guess:
            fix = f"Did you mean {{{guess}}}?"
        elif regex:
            fix = f"Write \\{{{name}\\}} for literal braces."
        else:
            fix = f"Write {{{{{name}}}}} for literal braces."
        raise CheckError(
            f"{check.name or check.kind}: {{{name}}} is not a variable of the template "
            f"(variables: {have}). {fix}"
        )


def regex_flags(check: Check) -> int:
    """The ``re`` flags of a regex check."""
    flags = re.IGNORECASE if check.ignore_case else 0
    for f in check.flags:
        flags |= REGEX_FLAGS[f]
    return flags


def _regex(check: Check) -> re.Pattern[str]:
    try:
        return re.compile(check.value, regex_flags(check))
    except re.error as exc:
        where = f" at position {exc.pos + 1}" if exc.pos is not None else ""
        near = ""
        if exc.pos is not None:
            near = f" (near {one_line_label(check.value[exc.pos : exc.pos + 12], 14)!r})"
        raise CheckError(
            f"Invalid regex{where}{near}: {exc.msg}. Fix the pattern, or escape special "
            "characters with \\."
        ) from None


def limit_of(check: Check) -> int:
    """The whole-number limit of a ``max-words``, ``min-words`` or ``max-chars`` check.

    Raises:
        CheckError: the value is not a whole number from 0 to :data:`MAX_LIMIT`.
    """
    raw = check.value.strip().replace("_", "")
    if not re.fullmatch(r"\d+", raw):
        raise CheckError(
            f"{check.kind} needs a whole number, not {one_line_label(check.value, 20)!r}. "
            f"Write e.g. {check.kind}:{_example(check.kind)}."
        )
    limit = int(raw)
    if limit > MAX_LIMIT:
        raise CheckError(f"{check.kind} {limit} is too large: use at most {MAX_LIMIT}.")
    return limit


def _json_path(parts: Iterable[Any]) -> str:
    path = "/".join(str(p) for p in parts)
    return path or "(top level)"


@lru_cache(maxsize=64)
def schema_validator(text: str) -> Any:
    """A ``jsonschema`` validator for the schema ``text``, checked against its metaschema.

    The metaschema is the one the schema's ``$schema`` names (Draft 2020-12 when it names
    none), so a misspelt type or a wrong keyword value is refused before any answer is. Kept
    per schema text: checking a schema against its metaschema is pure Python, and a run checks
    every cell with the same schema.

    Raises:
        CheckError: the text is not JSON, or the schema is invalid (naming the keyword and
            where it sits).
    """
    import jsonschema

    try:
        schema = json.loads(text)
    except ValueError as exc:
        raise CheckError(
            f"The JSON schema is not JSON ({exc}). Paste a schema such as "
            '{"type": "object", "required": ["name"]}.'
        ) from None
    if not isinstance(schema, dict):
        raise CheckError('A JSON schema is an object, e.g. {"type": "object"}.')
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    try:
        cls.check_schema(schema)
    except jsonschema.SchemaError as exc:
        keyword = next(
            (str(p) for p in reversed(exc.path) if isinstance(p, str)), str(exc.validator)
        )
        where = f" (at {_json_path(exc.path)})" if len(exc.path) > 1 else ""
        raise CheckError(
            f"Invalid JSON schema: keyword {keyword!r}{where}: "
            f"{one_line_label(exc.message, 120)}. Fix that keyword's value."
        ) from None
    return cls(schema)


# ------------------------------------------------------------------------- evaluation


def fill_value(check: Check, row: Mapping[str, str]) -> str:
    """The check's value with the row's variables filled in (text kinds and regex).

    A value holding a lone surrogate is filled in as U+FFFD: that is how it was sent to the
    model (a UTF-8 request cannot carry it) and how the cell stores it.
    """
    row = clean_json(row)[0]
    if check.kind in TEXT_KINDS:
        return fill_template(check.value, row)
    if check.kind == "regex":

        def escaped(match: re.Match[str]) -> str:
            name = match.group(1)
            return re.escape(str(row[name])) if name in row else match.group(0)

        return _VARIABLE_FIELD.sub(escaped, check.value)
    return check.value


def _short(text: str, limit: int = 40) -> str:
    return repr(one_line_label(text, limit))


def _words(text: str) -> int:
    return len(text.split())


_FENCE = re.compile(r"\A\s*```[\w+-]*[ \t]*\n(.*?)\n?```\s*\Z", re.DOTALL)


def _json_of(output: str) -> tuple[Any, str]:
    """The JSON value of an answer (inside one code fence is accepted) and a note saying so.

    Raises:
        ValueError: the answer is not JSON.
    """
    fenced = _FENCE.match(output)
    if fenced is not None:
        return json.loads(fenced.group(1)), " (inside a code fence)"
    return json.loads(output), ""


def answer_json(output: str) -> Any:
    """The JSON value of an answer, as the ``json-schema`` check reads it (one code fence
    around it is accepted).

    Raises:
        ValueError: the answer is not JSON.
    """
    return _json_of(output)[0]


def evaluate_local(check: Check, output: str, row: Mapping[str, str]) -> CheckResult:
    """The result of a check that is not a :data:`WORKER_KINDS` kind, on this thread.

    A check that turns out bad here (for example a schema changed by hand in a stored spec)
    fails with the reason rather than raising.
    """
    passed, detail = False, ""
    try:
        passed, detail = _evaluate(check, output, row)
    except CheckError as exc:
        passed, detail = False, f"check not usable: {exc}"
    except Exception as exc:  # the check's own error (JSON nested too deep, a $ref that
        # cannot be resolved: schemas are never fetched) fails the check, with the reason
        passed, detail = False, f"error: {type(exc).__name__}: {exc}"
    return result_of(check, passed, detail)


def result_of(check: Check, passed: bool, detail: str) -> CheckResult:
    """A :class:`CheckResult` for ``check`` with ``detail`` cut to one short line."""
    return CheckResult(
        check.label, check.kind, passed, one_line_label(detail, DETAIL_LIMIT), check.weight
    )


def _evaluate(check: Check, output: str, row: Mapping[str, str]) -> tuple[bool, str]:
    kind = check.kind
    if kind in TEXT_KINDS:
        want = fill_value(check, row)
        have, need = (output.casefold(), want.casefold()) if check.ignore_case else (output, want)
        if kind == "contains":
            ok = need in have
            return ok, f"{'contains' if ok else 'does not contain'} {_short(want)}"
        if kind == "not-contains":
            ok = need not in have
            return ok, f"{'does not contain' if ok else 'contains'} {_short(want)}"
        if kind == "equals":
            ok = have.strip() == need.strip()
            return ok, ("equals " if ok else "is not ") + _short(want)
        ok = have.lstrip().startswith(need)
        return ok, (
            f"starts with {_short(want)}"
            if ok
            else f"starts with {_short(output.lstrip(), 20)}, not {_short(want)}"
        )
    if kind in LIMIT_KINDS:
        limit = limit_of(check)
        if kind == "max-chars":
            n = len(output)
            return n <= limit, f"{n} characters, limit {limit}"
        n = _words(output)
        ok = n <= limit if kind == "max-words" else n >= limit
        return ok, f"{n} words, {'at most' if kind == 'max-words' else 'at least'} {limit}"
    if kind == "is-json":
        try:
            value, note = _json_of(output)
        except ValueError as exc:
            return False, f"not JSON: {exc}"
        return True, f"valid JSON {type(value).__name__}{note}".replace("dict", "object")
    if kind == "json-schema":
        return _schema_result(check, output)
    raise CheckError(f"{kind} checks run in the worker process")


def _schema_result(check: Check, output: str) -> tuple[bool, str]:
    _value, error, note = match_schema(check.value, output)
    if error is None:
        return True, f"matches the schema{note}"
    return False, error


def match_schema(schema_text: str, output: str) -> tuple[Any, str | None, str]:
    """An answer read as JSON and held against the schema ``schema_text``.

    The one validation the ``json-schema`` check and a structured run
    (:mod:`gui.core.structured`) share.

    Returns:
        ``(value, error, note)``: the parsed JSON (``None`` when it is not JSON), ``None`` or
        one line saying where the answer breaks the schema, and a note when the JSON was
        found inside a code fence.

    Raises:
        CheckError: the schema itself is not a valid JSON schema.
    """
    import jsonschema

    validator = schema_validator(schema_text)
    try:
        value, note = _json_of(output)
    except ValueError as exc:
        return None, f"not JSON: {exc}", ""
    error = jsonschema.exceptions.best_match(validator.iter_errors(value))
    if error is None:
        return value, None, note
    return value, f"at {_json_path(error.absolute_path)}: {error.message}", note


def pass_rate(results: Sequence[CheckResult]) -> float | None:
    """The weighted share of passed checks (0..1), or ``None`` when there are none."""
    total = sum(r.weight for r in results)
    if not results or total <= 0:
        return None
    return sum(r.weight for r in results if r.passed) / total


def results_to_json(results: Sequence[CheckResult]) -> str:
    """The results as the JSON text the history keeps in ``cells.checks_json``."""
    return json.dumps([r.to_dict() for r in results], ensure_ascii=False)


def results_from_json(text: str | None) -> tuple[CheckResult, ...]:
    """The results :func:`results_to_json` wrote; ``()`` for none or unreadable data."""
    if not text:
        return ()
    try:
        data = json.loads(text)
    except ValueError:
        return ()
    if not isinstance(data, list):
        return ()
    out = []
    for item in data:
        if isinstance(item, Mapping):
            out.append(
                CheckResult(
                    name=str(item.get("name", "")),
                    kind=str(item.get("kind", "")),
                    passed=bool(item.get("passed", False)),
                    detail=str(item.get("detail", "")),
                    weight=float(item.get("weight", 1.0) or 1.0),
                )
            )
    return tuple(out)


#: Largest schema file read (a schema is small; this bounds a wrong file's cost).
MAX_SCHEMA_BYTES = 1_000_000


def read_schema_file(path: str) -> str:
    """The text of a JSON-schema file, checked to be a valid schema.

    Raises:
        CheckError: the file cannot be read, is too large, or is not a valid schema.
    """
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_SCHEMA_BYTES + 1)
    except OSError as exc:
        raise CheckError(
            f"Cannot read the schema file {path!r} ({exc.strerror or exc}). Check the path."
        ) from None
    if len(data) > MAX_SCHEMA_BYTES:
        raise CheckError(f"The schema file {path!r} is over 1 MB: is it a schema?")
    text = data.decode("utf-8", errors="replace")
    schema_validator(text)
    return text


def with_inlined_schema(check: Check) -> Check:
    """``check`` with a ``json-schema:@FILE`` value replaced by the file's schema text, so the
    run (and its history) carries the schema itself.

    Raises:
        CheckError: the file cannot be read or holds no valid schema.
    """
    if check.kind != "json-schema" or not check.value.startswith("@"):
        return check
    return replace(check, value=read_schema_file(check.value[1:].strip()))
