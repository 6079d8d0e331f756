"""PySide6's per-import source scan is replaced by a look at the module's names, same answers."""

from __future__ import annotations

import inspect
import sys
import types

import pytest

import gui.core.markdown_stream
import gui.qt.main_window
import gui.qt.widgets.markdown_view
from gui.compat import hooks
from gui.qt import import_scan
from gui.qt.import_scan import skip_source_scan, uses_pyside


def _source_says_pyside(module: types.ModuleType) -> bool:
    """PySide6's own test: does the module's source text name PySide6?"""
    try:
        return "PySide6" in inspect.getsource(module)
    except (TypeError, OSError, SyntaxError):
        return False


def test_the_window_runs_with_the_cheap_check_in_place() -> None:
    feature = sys.modules["shibokensupport.feature"]
    assert feature._mod_uses_pyside is uses_pyside


def test_the_cheap_check_agrees_with_the_source_scan_on_the_apps_modules() -> None:
    assert gui.qt.widgets.markdown_view  # loaded with the window's first-frame modules
    checked = {
        name: module
        for name, module in list(sys.modules.items())
        if name.startswith(("gui.qt.views", "gui.qt.widgets", "gui.core", "markdown_it"))
        and isinstance(module, types.ModuleType)
    }
    assert len(checked) > 20
    differ = [n for n, m in checked.items() if uses_pyside(m) != _source_says_pyside(m)]
    assert differ == []
    assert uses_pyside(gui.qt.main_window) and not uses_pyside(gui.core.markdown_stream)


def test_a_module_with_a_pyside_function_or_module_uses_it() -> None:
    from PySide6 import QtCore
    from PySide6.QtCore import qVersion

    with_module = types.ModuleType("with_module")
    with_module.QtCore = QtCore  # type: ignore[attr-defined]
    with_function = types.ModuleType("with_function")
    with_function.qVersion = qVersion  # type: ignore[attr-defined]
    plain = types.ModuleType("plain")
    plain.text = "PySide6"  # type: ignore[attr-defined]  # a string naming it is not a use
    assert uses_pyside(with_module) and uses_pyside(with_function) and not uses_pyside(plain)


def test_plain_mode_leaves_pyside_scanning_the_source(monkeypatch: pytest.MonkeyPatch) -> None:
    feature = types.ModuleType("fake_feature")
    original = _source_says_pyside
    feature._mod_uses_pyside = original  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, import_scan._FEATURE_MODULE, feature)
    monkeypatch.setenv(hooks.PLAIN_ENV, "1")
    hooks.reset()
    try:
        assert skip_source_scan() is False
        assert feature._mod_uses_pyside is original  # type: ignore[attr-defined]
        monkeypatch.delenv(hooks.PLAIN_ENV)
        hooks.reset()
        assert skip_source_scan() is True
        assert feature._mod_uses_pyside is uses_pyside  # type: ignore[attr-defined]
    finally:
        hooks.reset()
