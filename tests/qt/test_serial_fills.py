"""Qt's raster fills stay on the painting thread (the qt-serial-fills hook), unless plain mode
or the user's own setting says otherwise."""

from __future__ import annotations

import pytest

from gui.compat import hooks
from gui.qt.app import NO_GUI_THREADPOOL_ENV, serial_fills


@pytest.fixture(autouse=True)
def fresh_decisions(monkeypatch: pytest.MonkeyPatch) -> None:
    # Set, then removed: the variable's state before the test comes back after it, whatever
    # serial_fills() wrote meanwhile.
    monkeypatch.setenv(NO_GUI_THREADPOOL_ENV, "x")
    monkeypatch.delenv(NO_GUI_THREADPOOL_ENV)
    monkeypatch.delenv(hooks.PLAIN_ENV, raising=False)
    hooks.reset()


def test_the_app_keeps_its_fills_on_the_painting_thread() -> None:
    serial_fills()
    import os

    assert os.environ[NO_GUI_THREADPOOL_ENV] == "1"


def test_plain_mode_leaves_qt_its_parallel_fills(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(hooks.PLAIN_ENV, "1")
    serial_fills()
    import os

    assert NO_GUI_THREADPOOL_ENV not in os.environ
    hooks.reset()


def test_the_users_own_setting_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(NO_GUI_THREADPOOL_ENV, "")
    serial_fills()
    import os

    assert os.environ[NO_GUI_THREADPOOL_ENV] == ""


def test_the_window_sets_it_before_its_application_exists(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import os

    import gui.qt.app as app_module

    seen: list[str | None] = []

    class Stop(Exception):
        pass

    class FakeApplication:
        @staticmethod
        def instance() -> None:
            seen.append(os.environ.get(NO_GUI_THREADPOOL_ENV))
            raise Stop

    monkeypatch.setattr(app_module, "QApplication", FakeApplication)
    with pytest.raises(Stop):
        app_module.run_app()
    assert seen == ["1"]
