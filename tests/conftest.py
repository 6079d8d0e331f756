"""Every test runs with its own data directory and an in-memory keyring.

Nothing a test does may touch the user's real history, profiles or keyring: ``FANOUT_HOME``
points at a fresh temporary directory per test (subprocesses inherit it), and the keyring
backend is an in-memory one for the whole session. The app's modules are byte-compiled once
per session, for the many tests that start the app as a process.
"""

from __future__ import annotations

import compileall
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest

from tests.support.memory_keyring import MemoryKeyring

ROOT = Path(__file__).resolve().parents[1]

#: Shared fixtures: ``html_server`` (a web server that is not an OpenAI API), ``runtime_mode``
#: (a test run with the library hooks on and again in plain mode).
pytest_plugins = ["tests.support.web_page_server", "tests.support.runtime_modes"]


def pytest_sessionstart(session: pytest.Session) -> None:
    """Byte-compile the app's modules once, before any test starts a process of the app.

    Many tests run ``python -m gui`` from this checkout. With ``PYTHONDONTWRITEBYTECODE`` set
    no process keeps what it compiled, so each of them compiled the app's modules from
    source again (a fifth of a short command's CPU time); an installed app never does that.
    """
    if sys.dont_write_bytecode and "PYTEST_XDIST_WORKER" not in os.environ:
        compileall.compile_dir(str(ROOT / "gui"), quiet=2)


@pytest.fixture(autouse=True)
def fanout_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This test's data directory (also in ``$FANOUT_HOME``)."""
    home = tmp_path_factory.mktemp("fanout-home")
    monkeypatch.setenv("FANOUT_HOME", str(home))
    return home


@pytest.fixture(autouse=True, scope="session")
def _memory_keyring() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    ring = MemoryKeyring()
    keyring.set_keyring(ring)
    try:
        yield ring
    finally:
        keyring.set_keyring(previous)
