"""Known-bad runtime combinations, checked before the window starts and by the test suite.

Kept free of any Qt import so the check can run before PySide6 is loaded.
"""

from __future__ import annotations

import sys

#: (Qt binding version prefix, Python versions it breaks, what happens).
KNOWN_BAD = (
    (
        "6.12.0",
        ((3, 11),),
        'PySide6 6.12.0 on Python 3.11 aborts the interpreter ("Fatal Python error: none_dealloc") '
        "after a few thousand Qt timer events; qasync fires one per callback. "
        "Use Python 3.12+ or PySide6 6.11.x.",
    ),
)


def pyside_version() -> str | None:
    """Installed PySide6 version, without importing it."""
    from importlib import metadata  # ~15 ms of imports: only when the version is asked

    for dist in ("PySide6-Essentials", "PySide6"):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return None


def known_bad_combination(
    qt_version: str | None = None, python: tuple[int, int] | None = None
) -> str | None:
    """Why this Python + PySide6 pair must not run the app, or ``None`` when it is fine."""
    qt = qt_version if qt_version is not None else pyside_version()
    py = python or (sys.version_info.major, sys.version_info.minor)
    if qt is None:
        return None
    for prefix, pythons, why in KNOWN_BAD:
        if qt.startswith(prefix) and py in pythons:
            return why
    return None
