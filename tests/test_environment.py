"""The runtime the tests run on is one the app supports, and the package layers hold."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from gui.compat import known_bad_combination, pyside_version

ROOT = Path(__file__).resolve().parents[1] / "gui"


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


def _imports(package: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in (ROOT / package).rglob("*.py"):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(
                    node.module.split(".")[0]
                    if not node.module.startswith("gui.")
                    else ".".join(node.module.split(".")[:2])
                )
        found[str(path.relative_to(ROOT))] = names
    return found


@pytest.mark.parametrize("package", ["core", "providers", "storage"])
def test_engine_layers_never_import_qt(package: str) -> None:
    offenders = {
        f: n
        for f, n in _imports(package).items()
        if n & {"PySide6", "qasync", "shiboken6", "gui.qt", "gui.app"}
    }
    assert not offenders


def test_core_imports_no_langchain_or_provider_package() -> None:
    banned = {"langchain_openai", "openai", "httpx", "langchain_core", "langchain", "gui.providers"}
    offenders = {f: n & banned for f, n in _imports("core").items() if n & banned}
    assert not offenders


def test_only_gui_qt_and_app_import_pyside6() -> None:
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT)
        if rel.parts[0] == "qt":
            continue
        text = path.read_text(encoding="utf-8")
        assert "import PySide6" not in text and "from PySide6" not in text, rel
