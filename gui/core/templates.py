"""Template checks: which ``{variables}`` a prompt template uses, and messages that say how to
fix one that is wrong (a stray brace, JSON in braces, a typo of a column's name); and the
messages a run sends, as templates (:func:`prompt_messages`, which the providers build their
prompt from) and filled for one input row (:func:`rendered_messages`, which the Focus view
shows).

The engine refuses a bad template before a run with these messages, and the prompt editor
shows the same ones inline, highlighting with the same token pattern.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence

from gui.core.errors import TemplateError
from gui.core.text import one_line_label

# ------------------------------------------------------------------------- template checks
#
# A template is f-string style, as LangChain's PromptTemplate reads it, restricted to what a
# prompt needs: ``{name}`` fills a variable (a Python identifier) and ``{{`` / ``}}`` are literal
# braces. Anything else in braces (JSON, code, format specs) is refused before a run, with a
# message that says how to write it, instead of failing inside every cell.

# One token, scanned left to right the way string.Formatter does: escaped braces first, then
# a replacement field, then a stray brace. The prompt editor highlights with the same pattern.
TEMPLATE_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
# Text and escaped braces up to the next token that is not an escape: what TEMPLATE_TOKEN
# would step over one match at a time (possessive: it never gives an escape back).
_PLAIN_RUN = re.compile(r"(?:[^{}]+|\{\{|\}\})*+")


def unescaped_tokens(text: str) -> Iterator[re.Match[str]]:
    """The :data:`TEMPLATE_TOKEN` matches of ``text`` that are not ``{{`` or ``}}``, in order.

    The same matches as ``TEMPLATE_TOKEN.finditer`` without its escapes, found without a
    Python step per escape: a 100 KB paragraph with 2,800 escaped braces, highlighted again
    at every key, took 1.4 ms that way and 0.5 ms this way.
    """
    skip, token, end = _PLAIN_RUN.match, TEMPLATE_TOKEN.match, len(text)
    pos = 0
    while True:
        run = skip(text, pos)
        pos = run.end() if run is not None else pos
        if pos >= end:
            return
        match = token(text, pos)
        if match is None:  # not reached: a brace always makes a token
            return
        yield match
        pos = match.end()


_FIELD_ACCESS = re.compile(r"[^\W\d]\w*(?:\.\w+|\[[^\]]*\])+")
_IDENTIFIER_END = re.compile(r"[^\W\d]\w*\Z")
_IDENTIFIER_START = re.compile(r"[^\W\d]\w*")


def _where(template: str, index: int) -> str:
    """``column 7`` or, in a template of several lines, ``line 3, column 7`` (1-based)."""
    line_start = template.rfind("\n", 0, index) + 1
    column = index - line_start + 1
    if "\n" in template:
        return f"line {template.count(chr(10), 0, index) + 1}, column {column}"
    return f"column {column}"


def _quote(snippet: str, limit: int = 40) -> str:
    return one_line_label(snippet, limit)


def _doubled(snippet: str) -> str:
    return snippet.replace("{", "{{").replace("}", "}}")


def _matching_brace(template: str, start: int) -> int | None:
    """Index of the ``}`` closing the ``{`` at ``start``, counting nested braces; else ``None``."""
    depth = 0
    for i in range(start, len(template)):
        c = template[i]
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i
    return None


def _literal_braces_error(snippet: str) -> TemplateError:
    doubled = _doubled(snippet)
    if len(doubled) <= 60 and "\n" not in snippet:
        fix = f"double them: {doubled}"
    else:
        fix = "double each one: {{ and }}"
    return TemplateError(f"{_quote(snippet)} is not a {{variable}}. To send braces as text, {fix}.")


def _field_error(template: str, start: int, field: str) -> TemplateError:
    """The reason the field ``{field}`` at ``start`` is not a variable, and the fix."""
    snippet = "{" + field + "}"
    stripped = field.strip()
    if stripped == "":
        return TemplateError(
            "Empty {} in the template. Name the variable, e.g. {topic}, "
            "or write {{}} for literal braces."
        )
    if stripped.isdigit():
        return TemplateError(
            f"{snippet} is a numbered field, not a variable. Name it, e.g. {{topic}}, "
            f"or write {_doubled(snippet)} for literal braces."
        )
    if stripped.isidentifier():  # only whitespace around a good name
        return TemplateError(
            f"{_quote(snippet)} has spaces inside the braces. Write {{{stripped}}}."
        )
    if _FIELD_ACCESS.fullmatch(stripped):
        return TemplateError(
            f"{_quote(snippet)} is not a plain variable name. Use letters, digits and _ "
            "(write {{ and }} for literal braces)."
        )
    name = re.split(r"[!:]", field, maxsplit=1)[0]
    if name.isidentifier() and not re.search(r"[\"'\s,]", field):
        # {topic!r} or {topic:>10}: valid Python, but inputs are text and a prompt needs none.
        return TemplateError(
            f"{_quote(snippet)} is not a plain {{variable}}: conversions and format specs are "
            f"not supported. Write {{{name}}}, or {_doubled(snippet)} for literal braces."
        )
    return _literal_braces_error(snippet)


def _stray_brace_error(template: str, index: int) -> TemplateError:
    """A ``{`` that is never closed or a ``}`` never opened, with where it is and the fix."""
    where = _where(template, index)
    if template[index] == "{":
        end = _matching_brace(template, index)
        if end is not None:  # closed after nested braces: JSON or code written as is
            return _literal_braces_error(template[index : end + 1])
        after = _IDENTIFIER_START.match(template, index + 1)
        context = _quote(template[index : index + 20], 24)
        fix = f"Write {{{after.group(0)}}}" if after else "Close it with }"
        return TemplateError(
            f"Unbalanced braces: the '{{' at {where} ({context!r}) is never closed. "
            f"{fix}, or write {{{{ for a literal brace."
        )
    before = _IDENTIFIER_END.search(template, max(0, index - 64), index)
    context = _quote(template[max(0, index - 19) : index + 1], 24)
    fix = f"Write {{{before.group(0)}}}" if before else "Add the {"
    return TemplateError(
        f"Unbalanced braces: the '}}' at {where} ({context!r}) has no opening '{{'. "
        f"{fix}, or write }}}} for a literal brace."
    )


def template_variables(template: str) -> list[str]:
    """Variables of an f-string style template, in order of first use.

    ``{name}`` is a variable when ``name`` is an identifier; ``{{`` and ``}}`` are literal
    braces.

    Raises:
        TemplateError: an empty template, an unbalanced brace, an empty ``{}``, JSON or other
            text in single braces, or a field that is not a plain name; each with a one-line
            reason saying where and how to fix it.
    """
    if not template.strip():
        raise TemplateError(
            "The template is empty. Type a prompt, e.g. 'Tell me a joke about {topic}'."
        )
    names: list[str] = []
    seen: set[str] = set()
    for match in unescaped_tokens(template):
        field = match.group(1)
        if field is None:
            raise _stray_brace_error(template, match.start())
        if not field.isidentifier():
            raise _field_error(template, match.start(), field)
        if field not in seen:
            seen.add(field)
            names.append(field)
    return names


def suggest_name(name: str, choices: Iterable[str]) -> str | None:
    """The choice ``name`` was probably meant to be (``{topc}`` -> ``topic``), or ``None``."""
    options = [c for c in choices if c]
    for choice in options:
        if choice.casefold() == name.casefold():
            return choice
    import difflib  # a typo's hint only: the window's first frame parses without it

    close = difflib.get_close_matches(name, options, n=1, cutoff=0.7)
    return close[0] if close else None


def missing_column_message(
    variable: str, columns: Sequence[str], source: str = "the inputs"
) -> str:
    """One line: ``source`` has no column for ``{variable}``; its columns; the likely fix."""
    have = ", ".join(columns) or "none"
    guess = suggest_name(variable, columns)
    fix = (
        f"Did you mean {{{guess}}}?"
        if guess
        else f"Add a column {variable!r} or change {{{variable}}} in the template."
    )
    verb = "have" if source == "the inputs" else "has"
    return (
        f"The template uses {{{variable}}} but {source} {verb} no column {variable!r} "
        f"(columns: {have}). {fix}"
    )


def empty_column_message(
    variable: str, variables: Sequence[str], rows: Sequence[Mapping[str, str]]
) -> str:
    """One line: ``variable`` is blank in every row; a filled column it may be a typo of."""
    others: dict[str, None] = {}
    for row in rows:
        others.update((k, None) for k, v in row.items() if k not in variables and str(v).strip())
    guess = suggest_name(variable, list(others))
    if guess is not None:
        return (
            f"Column {variable!r} is empty in every row, but {guess!r} has values: "
            f"did you mean {{{guess}}}? Rename the variable in the template."
        )
    return (
        f"Column {variable!r} is empty in every row, so {{{variable}}} has nothing to fill "
        f"it. Fill in the {variable} values or remove {{{variable}}} from the template."
    )


# ------------------------------------------------------------------------- the sent messages

#: The role of the optional system message, as the chat API names it.
SYSTEM_ROLE = "system"
#: The role of the template's message (LangChain calls it "human"; the wire says "user").
USER_ROLE = "user"


def prompt_messages(template: str, system: str | None = None) -> list[tuple[str, str]]:
    """The messages of a run as ``(role, template)`` pairs: an optional system message, then
    the template as the user turn. The providers build their chat prompt from these, so
    what :func:`rendered_messages` shows is what was sent."""
    messages: list[tuple[str, str]] = []
    if system:
        messages.append((SYSTEM_ROLE, system))
    messages.append((USER_ROLE, template))
    return messages


def fill_template(template: str, values: Mapping[str, str]) -> str:
    """``template`` with each ``{name}`` replaced by ``values[name]`` and ``{{`` / ``}}`` by
    one brace: what LangChain's f-string prompt formatting makes of a template that
    :func:`template_variables` accepts. A field without a value, or a stray brace (the system
    message is not checked before a run), stays as written."""

    def fill(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "{{":
            return "{"
        if token == "}}":
            return "}"
        name = match.group(1)
        if name is not None and name in values:
            return str(values[name])
        return token

    return TEMPLATE_TOKEN.sub(fill, template)


def rendered_messages(
    template: str, system: str | None, values: Mapping[str, str]
) -> list[tuple[str, str]]:
    """The ``(role, text)`` messages sent for one input row (see :func:`prompt_messages`)."""
    return [(role, fill_template(text, values)) for role, text in prompt_messages(template, system)]
