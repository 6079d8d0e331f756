"""Background imports: every module loads, the collector stays out, the interpreter is restored,
and a busy GUI thread goes first."""

from __future__ import annotations

import gc
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gui.compat import hooks, imports
from gui.compat.imports import SWITCH_INTERVAL_S, import_in_background

PROBE = """
import gc, sys, threading
SEEN = (gc.isenabled(), sys.getswitchinterval(), threading.get_ident())
import {name}_child
"""


@pytest.fixture
def modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh module (and a child it imports) that records the interpreter state it saw."""
    name = f"fanout_probe_{id(tmp_path)}"
    (tmp_path / f"{name}.py").write_text(PROBE.format(name=name), encoding="utf-8")
    (tmp_path / f"{name}_child.py").write_text("VALUE = 42\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv(hooks.PLAIN_ENV, raising=False)
    hooks.reset()
    yield name
    for module in (name, f"{name}_child"):
        sys.modules.pop(module, None)
    hooks.reset()


def run_in_thread(names: list[str], freeze: bool = True) -> None:
    errors: list[BaseException] = []

    def work() -> None:
        try:
            import_in_background(names, freeze=freeze)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(timeout=60)
    assert not errors, errors


def test_modules_load_without_collections_and_the_interpreter_is_restored(modules: str) -> None:
    interval, finders = sys.getswitchinterval(), list(sys.meta_path)
    run_in_thread([modules], freeze=False)
    enabled, seen_interval, thread = sys.modules[modules].SEEN
    assert sys.modules[f"{modules}_child"].VALUE == 42  # nested imports pass through
    assert enabled is False and seen_interval == pytest.approx(SWITCH_INTERVAL_S)
    assert thread != threading.get_ident()
    assert gc.isenabled() and sys.getswitchinterval() == interval
    assert sys.meta_path == finders


def test_plain_mode_imports_with_the_collector_running(
    modules: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(hooks.PLAIN_ENV, "1")
    frozen = gc.get_freeze_count()
    run_in_thread([modules])
    enabled, _interval, _thread = sys.modules[modules].SEEN
    assert enabled is True and gc.get_freeze_count() == frozen


def test_a_failing_import_still_restores_everything(modules: str, tmp_path: Path) -> None:
    (tmp_path / "fanout_broken_probe.py").write_text("raise ImportError('broken')\n")
    interval = sys.getswitchinterval()
    with pytest.raises(ImportError, match="broken"):
        # No freeze: it would pin this test process's heap, and every module imported later
        # (the OpenAI stack the fault tests load) would stay out of the permanent generation.
        import_in_background(["fanout_broken_probe"], freeze=False)
    assert gc.isenabled() and sys.getswitchinterval() == interval
    sys.modules.pop("fanout_broken_probe", None)


def test_work_after_the_imports_runs_under_the_same_rules(modules: str) -> None:
    seen: list[tuple[bool, float]] = []
    import_in_background(
        [modules], freeze=False, then=lambda: seen.append((gc.isenabled(), sys.getswitchinterval()))
    )
    assert seen == [(False, pytest.approx(SWITCH_INTERVAL_S))] and gc.isenabled()


class Gate:
    """A GUI thread that is busy until the importer has waited for it ``busy_waits`` times."""

    def __init__(self, busy_waits: int) -> None:
        self.busy_waits = busy_waits
        self.log: list[str] = []

    def busy(self) -> bool:
        busy = self.log.count("wait") < self.busy_waits
        self.log.append("busy" if busy else "free")
        return busy

    def wait_free(self, timeout: float) -> bool:
        self.log.append("wait")
        return self.log.count("wait") >= self.busy_waits


def run_with_gate(names: list[str], gate: imports.BusyGate) -> None:
    errors: list[BaseException] = []

    def work() -> None:
        try:
            import_in_background(names, freeze=False, gate=gate)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(timeout=60)
    assert not thread.is_alive() and not errors, errors


def test_the_imports_wait_while_the_gui_thread_is_busy(
    modules: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(imports, "MAX_WAIT_TOTAL_S", 30.0)  # far past need: about the order
    gate = Gate(busy_waits=1)
    run_with_gate([modules], gate)
    # The first module waited for the GUI thread; its child found it free.
    assert gate.log == ["busy", "wait", "free"]
    assert sys.modules[f"{modules}_child"].VALUE == 42


def test_a_gui_thread_that_stays_busy_only_slows_the_imports_down(modules: str) -> None:
    class Stuck(Gate):
        def wait_free(self, timeout: float) -> bool:
            self.log.append("wait")
            time.sleep(timeout)  # the whole wait each time: the GUI thread never frees
            return False

    gate = Stuck(busy_waits=1_000_000)
    run_with_gate([modules], gate)
    assert sys.modules[f"{modules}_child"].VALUE == 42
    # Waited within the per-call limit, then went on as without a gate.
    assert gate.log[:2] == ["busy", "wait"] and gate.log.count("wait") <= 7


def test_a_worker_loop_waits_for_a_busy_gui_thread_within_its_total() -> None:
    """GuiYield, as a long count in a worker thread calls it: it waits while the GUI thread
    is busy, and once its total is spent it only hands the GIL over."""

    class Stuck(Gate):
        def wait_free(self, timeout: float) -> bool:
            self.log.append("wait")
            time.sleep(timeout)
            return False

    free = Gate(busy_waits=1)
    yield_gil = imports.GuiYield(free, max_wait=30.0, max_total=30.0)
    yield_gil()
    yield_gil()
    assert free.log == ["busy", "wait", "free"]

    stuck = Stuck(busy_waits=1_000_000)
    yield_gil = imports.GuiYield(stuck, max_wait=0.01, max_total=0.03)
    for _ in range(20):
        yield_gil()
    assert 3 <= stuck.log.count("wait") <= 4 and yield_gil.waited >= 0.03

    imports.GuiYield()()  # no gate: a bare hand-over, nothing to wait for
