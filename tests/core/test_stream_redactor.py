"""Secrets in text printed as it streams are masked however the text is split."""

from __future__ import annotations

import pytest

from gui.core import keys
from gui.core.keys import StreamRedactor, redact

SECRET = "opaque-value-98765"
TEXT = (
    "Got Bearer sk-live-0123456789abcdef and\nBasic YWxpY2U6aHVudGVyMnB3 then "
    f"{SECRET} at http://bob:hunter2pw@example.com/v1 and a Basic idea.\n"
)


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 11, len(TEXT)])
def test_every_split_prints_what_masking_the_whole_text_gives(size: int) -> None:
    keys.mask(SECRET)
    redactor = StreamRedactor()
    pieces = [TEXT[i : i + size] for i in range(0, len(TEXT), size)]
    printed = "".join(redactor.feed(p) for p in pieces) + redactor.end()
    assert printed == redact(TEXT)
    assert SECRET not in printed and "sk-live" not in printed and "hunter2pw" not in printed
    assert "a Basic idea." in printed  # not a credential, left as it is
