"""What ``fanout-studio --version`` prints and Help > About shows: versions and the data folder.

Qt-free (versions come from the installed packages' metadata, not from importing them), so
the command line answers without loading PySide6 or LangChain; the window passes the Qt
library's own version in.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

#: The distribution this app is installed as (pyproject.toml's ``project.name``).
DIST_NAME = "fanout-studio"

#: (label, distributions to try in order) for the libraries a bug report needs.
LIBRARIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("PySide6", ("PySide6-Essentials", "PySide6")),
    ("qasync", ("qasync",)),
    ("langchain-core", ("langchain-core",)),
    ("langchain-openai", ("langchain-openai",)),
)

NOT_INSTALLED = "not installed"


def dist_version(*names: str) -> str | None:
    """The installed version of the first of ``names`` that is installed, else ``None``."""
    for name in names:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def app_version() -> str:
    """Fanout Studio's own version (``0+unknown`` when run from a tree that was never installed)."""
    return dist_version(DIST_NAME) or "0+unknown"


@dataclass(frozen=True, slots=True)
class AboutInfo:
    """Everything the About box and ``--version`` report."""

    app: str
    #: (label, version) of Python, the Qt binding (and Qt itself when known) and LangChain.
    versions: tuple[tuple[str, str], ...]
    data_folder: Path

    def lines(self) -> list[str]:
        """Plain text, one fact a line: for ``--version`` and for pasting into a bug report."""
        width = max(len(label) for label, _v in self.versions)
        out = [f"Fanout Studio {self.app}"]
        out += [f"{label + ':':<{width + 1}} {version}" for label, version in self.versions]
        out.append(f"{'Data folder:':<{width + 1}} {self.data_folder}")
        return out

    def text(self) -> str:
        """:meth:`lines` joined, with a final newline."""
        return "\n".join(self.lines()) + "\n"


def about_info(qt_version: str | None = None, data_folder: Path | None = None) -> AboutInfo:
    """Collect the versions and the data folder.

    Args:
        qt_version: The Qt library's version (``PySide6.QtCore.qVersion()``) when the caller
            has Qt loaded; shown next to the binding's because a wheel may bundle another.
        data_folder: Where the app keeps its files (default: ``gui.storage.paths.home()``).
    """
    if data_folder is None:
        from gui.storage.paths import home

        data_folder = home()
    versions = [("Python", f"{platform.python_version()} ({platform.python_implementation()})")]
    for label, names in LIBRARIES:
        versions.append((label, dist_version(*names) or NOT_INSTALLED))
        if label == "PySide6" and qt_version:
            versions.append(("Qt", qt_version))
    return AboutInfo(app=app_version(), versions=tuple(versions), data_folder=data_folder)
