"""The letters that name prompt variants (A, B, ... Z, AA, ...): one function, no imports.

Kept apart from :mod:`gui.core.columns` (which re-exports it) so that the window's first frame,
whose prompt tab is labelled "A", does not import the columns' dataclasses to name it.
"""

from __future__ import annotations

__all__ = ["variant_id"]


def variant_id(index: int) -> str:
    """The letter of variant ``index``: A, B, ... Z, AA, AB, ..."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters
