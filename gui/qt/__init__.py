"""The desktop window: the only package that imports PySide6.

PySide6 is imported here first so that its per-import source scan is made cheap
(:mod:`gui.qt.import_scan`) before any module of the window is imported.
"""

from __future__ import annotations

import PySide6  # noqa: F401  (installs the import hook that the next line makes cheap)

from gui.qt.import_scan import skip_source_scan

skip_source_scan()
