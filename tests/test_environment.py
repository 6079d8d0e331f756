"""The runtime the tests run on is one the app supports.

The package layers (no Qt in the engine, widgets that know no views, ...) are import-linter
contracts in pyproject.toml, checked by `lint-imports` in `make lint`.
"""

from __future__ import annotations

import pytest

from gui.compat import known_bad_combination, pyside_version


def test_this_python_and_pyside6_are_not_a_known_bad_pair() -> None:
    why = known_bad_combination()
    assert why is None, why


@pytest.mark.parametrize(
    ("qt", "py", "bad"),
    [
        ("6.12.0", (3, 11), True),
        ("6.11.3", (3, 11), False),
        ("6.12.0", (3, 12), False),
        ("6.12.0", (3, 13), False),
    ],
)
def test_known_bad_table(qt: str, py: tuple[int, int], bad: bool) -> None:
    assert (known_bad_combination(qt, py) is not None) is bad


def test_pyside6_is_installed() -> None:
    assert pyside_version() is not None
