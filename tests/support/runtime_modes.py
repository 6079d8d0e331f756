"""The ``runtime_mode`` fixture: a test runs once with the library hooks on, once in plain mode.

Plain mode (``FANOUT_PLAIN=1``) is what an upgrade that breaks a hook falls back to, so the
engine, streaming and window tests that take this fixture prove both paths give the same
results. Hook decisions are forgotten before and after, so no other test sees the switch.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gui.compat import hooks


@pytest.fixture(params=["hooked", "plain"])
def runtime_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """``"hooked"`` (every hook in its tested range is on) or ``"plain"`` (all off)."""
    if request.param == "plain":
        monkeypatch.setenv(hooks.PLAIN_ENV, "1")
    else:
        monkeypatch.delenv(hooks.PLAIN_ENV, raising=False)
    hooks.reset()
    yield str(request.param)
    hooks.reset()
