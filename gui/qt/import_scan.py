"""Makes PySide6's per-import source scan cheap: the library hook ``pyside-import-scan``.

Importing PySide6 replaces ``builtins.__import__``; after every module imported from then on,
PySide6 reads and tokenizes that module's whole source file (``inspect.getsource``) to learn
whether the text says "PySide6", which decides the default of its opt-in ``from __feature__
import snake_case, true_property`` switches. The app uses neither switch, and the scan made
every import after PySide6 about a quarter slower, on the GUI thread while the window is
built and on the warm-up thread while LangChain loads (docs/performance-notes.md).

:func:`skip_source_scan` puts a check of the module's names in its place: a module that
holds a PySide6 module, class or function uses PySide6. PySide6 itself answers "no" for
every module whose source it cannot read (bytecode-only installs), so an answer of "no" is
one it already copes with. With the hook off (plain mode, another PySide6 minor) nothing is
replaced.
"""

from __future__ import annotations

import sys
from types import BuiltinFunctionType, FunctionType, ModuleType

from gui.compat import PYSIDE_IMPORT_SCAN, enabled

__all__ = ["skip_source_scan", "uses_pyside"]

#: Where shiboken keeps the scan (its embedded support package; ``PySide6.support.feature``).
_FEATURE_MODULE = "shibokensupport.feature"
_OWNERS = ("PySide6", "shiboken6")


def uses_pyside(module: ModuleType) -> bool:
    """Whether ``module`` uses PySide6: it is part of it, or one of its globals is a PySide6
    module, class or function (what ``import PySide6...`` and ``from PySide6... import``
    leave there). Only modules, classes and functions are looked at, never other objects,
    whose attribute access could run code."""
    if module.__name__.startswith(_OWNERS):
        return True
    for value in list(vars(module).values()):
        if isinstance(value, ModuleType):
            owner: object = value.__name__
        elif isinstance(value, (type, FunctionType, BuiltinFunctionType)):
            owner = getattr(value, "__module__", None)
        else:
            continue
        if isinstance(owner, str) and owner.startswith(_OWNERS):
            return True
    return False


def skip_source_scan() -> bool:
    """Replace PySide6's source scan with :func:`uses_pyside`; ``True`` if it was replaced.

    Call right after PySide6 is imported (``gui.qt`` does, before any of its modules).
    """
    feature = sys.modules.get(_FEATURE_MODULE)
    if feature is None or not callable(getattr(feature, "_mod_uses_pyside", None)):
        return False
    if not enabled(PYSIDE_IMPORT_SCAN):
        return False
    setattr(feature, "_mod_uses_pyside", uses_pyside)  # noqa: B010  (a private name)
    return True
