"""The registry of library hooks: each hook, the versions it was tested on, and its on/off gate.

A hook is a place where the app relies on something a library does not promise (a private
method, an internal tag, a logger name, CPython's collector), for speed. Every hook asks
:func:`enabled` once, when it is set up: the answer is ``False`` in plain mode
(``FANOUT_PLAIN=1`` or ``--plain-runtime``) and when an installed version is outside the range
the hook was tested on, and then the hook's caller takes the plain, public path instead. A
hook that turns itself off says so in one logged line (``gui.compat`` logger), once per
process: an upgrade costs speed, never correctness.

Qt-free and LangChain-free, so every layer may ask (the import order stays cheap: version
ranges are parsed with ``packaging`` only when a gate is first asked).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from dataclasses import dataclass

__all__ = [
    "CHUNK_MERGE",
    "DIRECT_STREAM",
    "FIFO_LOOP",
    "GC_POLICY",
    "HOOKS",
    "LANGSMITH_LAZY_TYPES",
    "LCEL_STREAM",
    "LEAN_INVOKE",
    "PLAIN_ENV",
    "PYSIDE_IMPORT_SCAN",
    "QASYNC_LOGGER",
    "QT_SERIAL_FILLS",
    "Hook",
    "describe",
    "enabled",
    "installed_version",
    "plain_runtime",
    "reset",
]

log = logging.getLogger("gui.compat")

#: The environment switch for plain mode; ``--plain-runtime`` sets it (children inherit it).
PLAIN_ENV = "FANOUT_PLAIN"

#: The pseudo-distribution name for the interpreter itself (asyncio and gc hooks).
PYTHON = "python"


@dataclass(frozen=True, slots=True)
class Hook:
    """One library hook.

    Attributes:
        name: Short name, used in the log line and in ``describe()``.
        what: What the hook does, in a sentence (what plain mode does instead).
        where: The module that holds it, for a maintainer looking for it.
        tested: ``(distribution, version specifier)`` pairs it was tested on; ``python`` is
            the interpreter. Outside any of them the hook is off.
    """

    name: str
    what: str
    where: str
    tested: tuple[tuple[str, str], ...]


# Ranges: the minor releases installed when each hook was last measured and tested
# (qasync 0.28.0, langchain-core 1.8.3, langsmith 0.15.1, CPython 3.12.1). Widen one after
# running the test suite in both modes and `fanout-studio bench` on the new release.
FIFO_LOOP = Hook(
    "fifo-loop",
    "call_soon callbacks run in order from one deque drained by one Qt timer, instead of one "
    "Qt timer per callback (plain: qasync.QEventLoop as it is)",
    "gui/qt/loop.py",
    (("qasync", ">=0.28,<0.29"), (PYTHON, ">=3.12,<3.13")),
)
LCEL_STREAM = Hook(
    "lcel-stream",
    "streams prompt -> model.astream directly, tracing it as LCEL's RunnableSequence would, "
    "with a text parser that skips the executor hop (plain: (prompt | model | "
    "StrOutputParser()).astream)",
    "gui/compat/lcel.py, used by gui/providers/backend.py",
    (("langchain-core", ">=1.8,<1.9"),),
)
CHUNK_MERGE = Hook(
    "chunk-merge",
    "skips BaseChatModel.astream's end-of-answer merge of every chunk when no callback handler "
    "can receive it (plain: LangChain merges the chunks, a pause that grows with the answer)",
    "gui/compat/lcel.py, used by gui/providers/backend.py",
    (("langchain-core", ">=1.8,<1.9"),),
)
DIRECT_STREAM = Hook(
    "direct-stream",
    "a streamed cell that no callback handler, tracer, LLM cache, rate limiter or v1 output "
    "can hear or change formats its prompt once and reads the chat model's _astream "
    "directly, skipping BaseChatModel.astream's callback manager, invocation parameters and "
    "per-chunk id, metadata, callback and chunk list (plain: model.astream)",
    "gui/compat/lcel.py, used by gui/providers/backend.py",
    (("langchain-core", ">=1.8,<1.9"),),
)
LEAN_INVOKE = Hook(
    "lean-invoke",
    "a judge call that no callback handler or tracer can hear calls the chat model's "
    "_agenerate directly, skipping BaseChatModel.ainvoke's callback manager, invocation "
    "parameters and signature inspection (plain: model.ainvoke)",
    "gui/compat/lcel.py, used by gui/providers/backend.py",
    (("langchain-core", ">=1.8,<1.9"),),
)
GC_POLICY = Hook(
    "gc-policy",
    "freezes the long-lived import heap and holds full collections back during a run "
    "(plain: CPython's collector untouched)",
    "gui/compat/gc_policy.py",
    ((PYTHON, ">=3.12,<3.13"),),
)
QASYNC_LOGGER = Hook(
    "qasync-logger",
    "the asyncio debug panel listens on qasync's logger by name (plain: on the root logger)",
    "gui/compat/loggers.py, used by gui/qt/views/debug_log.py",
    (("qasync", ">=0.28,<0.29"),),
)

PYSIDE_IMPORT_SCAN = Hook(
    "pyside-import-scan",
    "PySide6 reads the whole source of every module imported after it, to see whether it "
    "names PySide6 (for its opt-in __feature__ switches, which the app does not use); the "
    "hook looks at the module's names instead (plain: PySide6 reads every source file)",
    "gui/qt/import_scan.py",
    (("pyside6", ">=6.12,<6.13"),),
)

LANGSMITH_LAZY_TYPES = Hook(
    "langsmith-lazy-types",
    "langsmith.types (160 modules of API models the app never uses) is loaded without its "
    "__init__, which runs at the first lookup of one of its names (plain: the whole package "
    "imports with the tracers every chat model needs)",
    "gui/compat/lazy_init.py, installed by gui/qt/warmup.py",
    (("langsmith", ">=0.15,<0.16"),),
)

QT_SERIAL_FILLS = Hook(
    "qt-serial-fills",
    "Qt's raster engine keeps each fill on the painting thread (QT_NO_GUI_THREADPOOL, an "
    "environment variable Qt reads but does not document) instead of splitting every fill "
    "over 96 lines tall across its GUI thread pool and waiting for the pieces: on two cores "
    "the hand-offs cost more than the fills (plain: Qt's parallel fills)",
    "gui/qt/app.py (serial_fills), before the first paint",
    (("pyside6", ">=6.12,<6.13"),),
)

#: Every hook, for ``describe()`` and the README.
HOOKS = (
    FIFO_LOOP,
    LCEL_STREAM,
    CHUNK_MERGE,
    DIRECT_STREAM,
    LEAN_INVOKE,
    GC_POLICY,
    QASYNC_LOGGER,
    PYSIDE_IMPORT_SCAN,
    LANGSMITH_LAZY_TYPES,
    QT_SERIAL_FILLS,
)

_lock = threading.Lock()
_decided: dict[str, str | None] = {}  # hook name -> why it is off (None: on)
_plain_logged = False


def installed_version(distribution: str) -> str | None:
    """The installed version of ``distribution`` (``python``: the interpreter), or ``None``."""
    if distribution == PYTHON:
        return ".".join(str(part) for part in sys.version_info[:3])
    loaded = getattr(sys.modules.get("PySide6"), "__version__", None)
    if distribution.lower() == "pyside6" and isinstance(loaded, str):
        return loaded  # PySide6 is loaded already: no metadata scan before a first paint
    from importlib import metadata  # ~15 ms of imports: when a gate is asked, not at start-up

    # PySide6 comes as PySide6-Essentials (+ Addons) here, not as the PySide6 meta-package.
    names = (
        [distribution, "PySide6-Essentials"]
        if distribution.lower() == "pyside6"
        else [distribution]
    )
    for name in names:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def plain_runtime() -> bool:
    """Whether plain mode is on (``FANOUT_PLAIN`` set to anything but empty or ``0``)."""
    return os.environ.get(PLAIN_ENV, "").strip() not in ("", "0")


def _numbers(version: str) -> tuple[int, ...] | None:
    parts = version.split(".")
    return tuple(int(p) for p in parts) if all(p.isdigit() for p in parts) else None


def _simple_range(version: str, tested: str) -> bool | None:
    """Whether ``version`` lies in ``tested`` when both are plain (``>=6.12,<6.13`` and
    ``6.12.0``); ``None`` for anything else, which ``packaging`` decides (it costs ~9 ms of
    imports, too much for a gate asked before the window's first paint)."""
    have = _numbers(version)
    if have is None:
        return None
    inside = True
    for clause in tested.split(","):
        clause = clause.strip()
        if clause.startswith(">="):
            bound = _numbers(clause[2:].strip())
            below = False
        elif clause.startswith("<") and not clause.startswith("<="):
            bound = _numbers(clause[1:].strip())
            below = True
        else:
            return None
        if bound is None:
            return None
        inside = inside and (have < bound if below else have >= bound)
    return inside


def _why_off(hook: Hook) -> str | None:
    for distribution, tested in hook.tested:
        version = installed_version(distribution)
        if version is None:
            return f"{distribution} is not installed"
        inside = _simple_range(version, tested)
        if inside is None:
            from packaging.specifiers import InvalidSpecifier, SpecifierSet
            from packaging.version import InvalidVersion

            try:
                inside = SpecifierSet(tested).contains(version, prereleases=True)
            except (InvalidSpecifier, InvalidVersion):
                inside = False
        if not inside:
            return f"{distribution} {version} is outside the range it was tested on ({tested})"
    return None


def enabled(hook: Hook) -> bool:
    """Whether ``hook`` may run: not in plain mode, and every version inside its tested range.

    The version check runs once per hook and process; a hook found out of range is logged
    once, as one line, and stays off.
    """
    global _plain_logged
    if plain_runtime():
        if not _plain_logged:
            _plain_logged = True
            log.info("plain runtime (%s): every library hook is off", PLAIN_ENV)
        return False
    with _lock:
        if hook.name not in _decided:
            why = _why_off(hook)
            _decided[hook.name] = why
            if why is not None:
                log.warning(
                    "%s hook off: %s; running the plain path (slower, same results)",
                    hook.name,
                    why,
                )
        return _decided[hook.name] is None


def describe() -> dict[str, str]:
    """Each hook's state in words: ``on``, ``off (plain runtime)`` or ``off (<why>)``."""
    states = {}
    for hook in HOOKS:
        if plain_runtime():
            states[hook.name] = "off (plain runtime)"
        elif enabled(hook):
            states[hook.name] = "on"
        else:
            states[hook.name] = f"off ({_decided.get(hook.name)})"
    return states


def reset() -> None:
    """Forget every decision (tests that fake a version or switch plain mode call this)."""
    global _plain_logged
    with _lock:
        _decided.clear()
    _plain_logged = False
