"""Text that is not clean Unicode, and text a terminal would act on, made safe to keep and show.

Answers come from servers and inputs from files or the command line, so either may hold a
lone surrogate (a JSON ``"\\ud800"`` escape, or an undecodable byte that Python's
``surrogateescape`` turned into ``\\udc80``..``\\udcff``). Such a string cannot be encoded as
UTF-8: SQLite, ``json.dump`` to a UTF-8 file and ``print`` all raise on it. :func:`clean`
replaces each with U+FFFD and says whether it did, so the cell can carry
:data:`REPLACED_NOTICE` and nothing else is lost.

Terminal control characters (ANSI CSI/OSC escapes, bells, backspaces, C1 controls) from a
server would be interpreted by the user's terminal: :func:`escape_controls` shows them as
``\\x1b``-style escapes instead. Newline and tab stay as they are.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

__all__ = ["REPLACED_NOTICE", "clean", "clean_json", "escape_controls"]

#: What a cell says when some of its text had invalid characters.
REPLACED_NOTICE: Final = "text had invalid characters, replaced"

_SURROGATE = re.compile("[\ud800-\udfff]")

# C0 controls except tab and newline, a carriage return not followed by a newline (it would
# send the cursor back over the line), DEL, and the C1 controls (U+0080..U+009F: U+009B is a
# one-character CSI on many terminals).
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]|\r(?!\n)")


def clean(text: str) -> tuple[str, bool]:
    """``text`` with every lone surrogate replaced by U+FFFD, and whether any was."""
    if text.isascii():  # no copy: the window checks every streamed frame with this
        return text, False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", text), True
    return text, False


def clean_json(value: Any) -> tuple[Any, bool]:
    """``value`` (JSON-ready data) with :func:`clean` applied to every string, keys included."""
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, Mapping):
        out: dict[Any, Any] = {}
        changed = False
        for k, v in value.items():
            k2, a = clean_json(k)
            v2, b = clean_json(v)
            out[k2] = v2
            changed = changed or a or b
        return out, changed
    if isinstance(value, list | tuple):
        items = [clean_json(v) for v in value]
        return [v for v, _ in items], any(c for _, c in items)
    return value, False


def _escape(match: re.Match[str]) -> str:
    return f"\\x{ord(match.group()):02x}"


def escape_controls(text: str) -> str:
    """``text`` with terminal control characters written as visible ``\\xNN`` escapes."""
    return _CONTROL.sub(_escape, text)
