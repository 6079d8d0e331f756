"""Packages whose ``__init__`` runs only when one of its own names is first looked up.

``langchain_core.tracers`` (which every chat model needs) imports ``langsmith.run_trees``,
which imports one small module of ``langsmith.types``, a package generated from LangSmith's
API whose ``__init__`` imports all of its 160 modules of pydantic models: about a fifth of
the engine's warm-up (docs/performance-notes.md), for types the app never uses (LangSmith
tracing is off; its client imports them when it runs). :func:`defer_package_inits` puts a
finder in front of ``sys.meta_path`` that loads the packages of :data:`DEFERRED` without
running their ``__init__``: their submodules import as usual (``__path__`` is set), and the
first lookup of a name the package does not have yet runs the real ``__init__`` in the
package's own namespace, once, under a lock, so every caller then sees the whole package.

The hook is ``langsmith-lazy-types`` (:mod:`gui.compat.hooks`): off in plain mode and outside
its tested langsmith versions, and then ``langsmith.types`` imports whole, as it always did.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import threading
from collections.abc import Sequence
from types import ModuleType
from typing import Any

from gui.compat.hooks import LANGSMITH_LAZY_TYPES, enabled

__all__ = ["DEFERRED", "defer_package_inits", "deferred"]

#: The packages whose ``__init__`` waits for the first lookup of a name it defines.
DEFERRED = ("langsmith.types",)


class _DeferredInit(importlib.abc.Loader):
    """Loads a package without running its ``__init__``; the first missing name runs it."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self._loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        loader, lock = self._loader, threading.RLock()
        state = {"ran": False}
        name = module.__name__

        def __getattr__(attr: str) -> Any:  # PEP 562: a module's lookup of a missing name
            with lock:  # another thread asking meanwhile waits for the whole package
                if not state["ran"]:
                    state["ran"] = True  # a lookup made by the __init__ itself fails as usual
                    loader.exec_module(module)
            try:
                return module.__dict__[attr]
            except KeyError:
                raise AttributeError(f"module {name!r} has no attribute {attr!r}") from None

        module.__dict__["__getattr__"] = __getattr__
        module.__dict__["__deferred_init__"] = state

    def __getattr__(self, attr: str) -> Any:
        # Resource readers, is_package, get_code...: the real loader's.
        return getattr(self._loader, attr)


class _DeferringFinder(importlib.abc.MetaPathFinder):
    """Finds the packages of ``names`` as the path finder does, with a deferring loader."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = frozenset(names)

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in self.names:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None or spec.submodule_search_locations is None:
            return None  # not a package on the path: imported the ordinary way
        spec.loader = _DeferredInit(spec.loader)
        return spec


_installed: _DeferringFinder | None = None
_install_lock = threading.Lock()


def defer_package_inits() -> bool:
    """Install the deferring finder (once per process) unless the hook is off; whether it is
    installed. Packages of :data:`DEFERRED` imported before this are left as they are."""
    global _installed
    if not enabled(LANGSMITH_LAZY_TYPES):
        return False
    with _install_lock:
        if _installed is None:
            _installed = _DeferringFinder(DEFERRED)
            sys.meta_path.insert(0, _installed)
    return True


def deferred(name: str) -> bool:
    """Whether package ``name`` is loaded with its ``__init__`` not run yet."""
    module = sys.modules.get(name)
    state = getattr(module, "__dict__", {}).get("__deferred_init__")
    return isinstance(state, dict) and not state["ran"]
