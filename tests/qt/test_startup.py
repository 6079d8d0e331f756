"""Start-up: a real first frame the user can type into, the rest of the window built after it,
a Run pressed meanwhile started once the window is built, and a launch that loads neither the
engine nor the storage before the first paint.

Window tests build :class:`MainWindow` with ``staged=True`` as the app does and drive
:meth:`MainWindow.build_rest` themselves; the process test starts the real program.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from PySide6.QtCore import QTimer
from pytestqt.qtbot import QtBot

from gui.compat.gc_policy import STARTUP, defer_full_collections
from gui.core.spec import ModelProfile, SimSettings
from gui.qt.main_window import STEP_MODULES, MainWindow
from gui.storage.workspace import WorkspaceStore

from .conftest import SESSION_LOOP, signal_future

ROOT = Path(__file__).resolve().parents[2]

TABS = [
    "Results",
    "Timeline",
    "Scoreboard",
    "Compare strategies",
    "Code",
    "asyncio debug",
    "History",
    "Chat",
    "Batches",
    "Leaderboard",
]


@pytest_asyncio.fixture(loop_scope="session")
async def windows(qtbot: QtBot) -> AsyncIterator[list[MainWindow]]:
    made: list[MainWindow] = []
    yield made
    for win in made:
        await win.shutdown()
        win.close()
        win.deleteLater()


def staged(made: list[MainWindow], store: WorkspaceStore | None = None) -> MainWindow:
    win = MainWindow(staged=True, workspace=store)
    made.append(win)
    return win


def tab_titles(win: MainWindow) -> list[str]:
    return [win.tabs.tabText(i) for i in range(win.tabs.count())]


def menu_entries(win: MainWindow) -> dict[str, list[str]]:
    return {
        menu.title(): [a.text() for a in menu.actions()]
        for menu in (a.menu() for a in win.menuBar().actions())
        if menu is not None
    }


@SESSION_LOOP
async def test_the_first_frame_takes_typing_and_the_rest_comes_after_it(
    windows: list[MainWindow], qtbot: QtBot
) -> None:
    win = staged(windows)
    win.show()
    # The first frame: the menus, the Run toolbar and the prompt editor, nothing else yet.
    assert not win.is_built and tab_titles(win) == []
    assert win.run_action.isEnabled() and win.run_button.isVisible()
    assert {"&File", "&Run", "&View", "&Help"} <= set(menu_entries(win))
    qtbot.keyClicks(win.prompt.editor, "Tell me about {topic}")
    assert win.prompt.template() == "Tell me about {topic}"

    built = signal_future(win.built)
    win.build_rest()
    await asyncio.wait_for(built, 60)
    assert win.is_built
    assert win.prompt.template() == "Tell me about {topic}"  # what was typed is kept
    assert win.inputs.columns() == ["topic"]  # and the inputs follow the template


@SESSION_LOOP
async def test_once_built_the_staged_window_has_every_part_of_the_one_built_at_once(
    windows: list[MainWindow],
) -> None:
    at_once = MainWindow()
    windows.append(at_once)
    win = staged(windows)
    win.show()
    win.build_rest()
    await asyncio.wait_for(win.wait_built(), 60)
    assert tab_titles(win) == tab_titles(at_once) == TABS
    assert menu_entries(win) == menu_entries(at_once)
    assert "Export" in " ".join(menu_entries(win)["&File"])
    assert win.concurrency_dock.widget() is win.limits
    # The Profiles dock: saved profiles above the price table (issue 15).
    split = win.profiles_dock.widget()
    assert split.widget(0) is win.providers and split.widget(1) is win.prices_editor
    # Every step ran, and each is timed for the benchmark.
    assert set(win.build_ms) == {"first-frame", *STEP_MODULES}


@SESSION_LOOP
async def test_a_timer_due_during_a_build_turn_runs_before_the_next_turn(
    windows: list[MainWindow], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A timer that falls due while the window builds (the lag heartbeat, a frame, a
    blinking cursor) runs before the build's next turn, not after it: a turn's wait is one
    turn at most."""
    order: list[str] = []
    due = QTimer()
    due.setSingleShot(True)
    due.setInterval(0)
    due.timeout.connect(lambda: order.append("timer"))
    turn = MainWindow._on_build_timer_timeout

    def build_turn(self: MainWindow) -> None:
        order.append("build")
        due.start()  # falls due during this turn
        turn(self)

    monkeypatch.setattr(MainWindow, "_on_build_timer_timeout", build_turn)
    win = staged(windows)
    win.show()
    win.build_rest()
    await asyncio.wait_for(win.wait_built(), 60)
    assert order.count("build") >= len(STEP_MODULES)  # a turn per step (and per import)
    late = [i for i, pair in enumerate(itertools.pairwise(order)) if pair == ("build", "build")]
    assert not late, f"the timer waited for {len(late)} later build turns"


@SESSION_LOOP
async def test_the_models_panel_gets_its_cards_one_per_turn_and_its_place_once_they_exist(
    windows: list[MainWindow],
) -> None:
    from gui.qt.views.models_panel import default_profiles

    win = staged(windows)
    win.show()
    seen: dict[str, tuple[int, bool]] = {}  # step -> (cards, panel in the window) after it
    run_step = win._run_step

    def run_and_look() -> None:
        name = win._steps[0][0]
        run_step()
        if name.startswith("model"):
            placed = win.isAncestorOf(win.models)
            seen[name] = (len(win.models.all_profiles()), placed)

    win._run_step = run_and_look  # type: ignore[method-assign]
    win.build_rest()
    await asyncio.wait_for(win.wait_built(), 60)
    count = len(default_profiles())
    assert seen == {
        "models": (0, False),
        "model-cards": (1, False),
        "model-cards-rest": (count, False),
        "models-section": (count, False),
        "models-place": (count, True),
    }
    # Beside the prompt and the inputs, with the same profiles as a window built at once.
    assert win._top.count() == 3 and win._top.widget(2).isAncestorOf(win.models)
    assert win.models.all_profiles() == default_profiles()


@SESSION_LOOP
async def test_a_demo_grows_the_model_cards_one_per_turn_before_its_preset_fills_them(
    windows: list[MainWindow],
) -> None:
    from gui.qt.app import _grow_model_cards
    from gui.resources import load_preset

    preset = load_preset("stress-200")
    win = staged(windows)
    win.show()
    win.build_rest()
    await asyncio.wait_for(win.wait_built(), 60)
    before = len(win.models.all_profiles())
    assert before < len(preset.models)
    turns = 0
    ticking = True
    counts: list[tuple[int, int]] = []  # (cards, loop turns so far) at each set_profiles
    set_profiles = win.models.set_profiles

    def tick() -> None:  # counts the loop's turns while the cards grow
        nonlocal turns
        turns += 1
        if ticking:
            asyncio.get_running_loop().call_soon(tick)

    def record(profiles: list[ModelProfile]) -> None:
        set_profiles(profiles)
        counts.append((len(win.models.all_profiles()), turns))

    win.models.set_profiles = record  # type: ignore[method-assign]
    asyncio.get_running_loop().call_soon(tick)
    await _grow_model_cards(win, preset.models)
    ticking = False
    win.models.set_profiles = set_profiles  # type: ignore[method-assign]
    # One new card per call, each in a later turn of the loop than the one before.
    assert [cards for cards, _ in counts] == list(range(before + 1, len(preset.models) + 1))
    assert all(a[1] < b[1] for a, b in itertools.pairwise(counts))
    win.load_preset(preset)  # then only fills them
    assert win.models.all_profiles() == list(preset.models)


def test_the_widget_classes_are_made_a_slice_at_a_time(tmp_path: Path) -> None:
    """PySide6 makes a class with its enums at first use, some forty of them in the first
    ``viewport()`` call: the build makes them all beforehand, a slice per turn. In a fresh
    interpreter, since this one has made them all already."""
    script = (
        "import json\n"
        "from PySide6 import QtWidgets\n"
        "from gui.qt.qt_types import WidgetTypes\n"
        "qt = QtWidgets.QApplication([])\n"
        "names = [n for n in dir(QtWidgets) if n.startswith('Q')]\n"
        "before = sum(n in vars(QtWidgets) for n in names)\n"
        "types, steps = WidgetTypes(), 0\n"
        "while not types.done:\n"
        "    types.step(0.0002)\n"
        "    steps += 1\n"
        "missing = [n for n in names if n not in vars(QtWidgets)]\n"
        "print(json.dumps([before, len(names), steps, missing]))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.update(PYTHONPATH=str(ROOT), QT_QPA_PLATFORM="offscreen", FANOUT_HOME=str(tmp_path))
    proc = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    before, count, steps, missing = json.loads(proc.stdout.strip().splitlines()[-1])
    assert before < count and steps > 1  # not all there at first, then made in slices
    assert missing == []  # every one of them made once it says it is done


def test_the_loop_hooks_check_imports_nothing_its_turns_before_it_did_not(
    tmp_path: Path,
) -> None:
    """The version check reads package metadata; what that imports is imported one module
    per turn before it (gui/qt/app.py). A library that starts importing more there would
    put a long turn back after the first paint: this names it."""
    script = (
        "import json, sys\n"
        "from PySide6.QtWidgets import QApplication\n"
        "qt = QApplication([])\n"
        "import gui.qt.app as app\n"
        "items = list(app.BEFORE_THE_LOOP)\n"
        "check = items.index(app._check_loop_hook)\n"
        "for item in items[:check]:\n"
        "    item()\n"
        "before = set(sys.modules)\n"
        "app._check_loop_hook()\n"
        "print(json.dumps(sorted(set(sys.modules) - before)))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.update(PYTHONPATH=str(ROOT), QT_QPA_PLATFORM="offscreen", FANOUT_HOME=str(tmp_path))
    proc = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    new = json.loads(proc.stdout.strip().splitlines()[-1])
    assert [m for m in new if m.startswith(("email", "importlib"))] == []


@SESSION_LOOP
async def test_run_pressed_before_the_window_is_built_starts_once_it_is(
    windows: list[MainWindow],
) -> None:
    win = staged(windows)
    win.show()
    win.prompt.set_template("Say hi to {name}")
    warming = win.warm_up()  # as the app does right after the first paint
    win.run_action.trigger()
    win.run_action.trigger()  # pressed again while it waits: still one run
    assert win.run_action.text() == "Starting…" and not win.run_action.isEnabled()

    def fill_the_rest() -> None:  # the editors exist now; the queued run has not started
        win.inputs.set_rows([{"name": "Ada"}, {"name": "Alan"}])
        fast = SimSettings.with_latency(0.05, output_tokens=5, jitter=0.0, seed=1)
        win.models.set_profiles([ModelProfile(model="sim-1", label="sim", sim=fast)])

    win.built.connect(fill_the_rest)
    started = signal_future(win.run_queued_started)
    finished = signal_future(win.run_finished)
    win.build_rest()
    (run,) = await asyncio.wait_for(started, 60)
    (summary,) = await asyncio.wait_for(finished, 60)
    await asyncio.wait_for(warming, 60)
    assert win.current_run is run and summary.done == 2 and summary.failed == 0
    assert win.run_action.isEnabled() and win.run_action.text() == "Run"


@SESSION_LOOP
async def test_cancel_before_the_window_is_built_drops_the_waiting_run(
    windows: list[MainWindow],
) -> None:
    win = staged(windows)
    win.show()
    win.prompt.set_template("Say hi")
    win.run_action.trigger()
    win.cancel_all()
    assert win.run_action.isEnabled() and win.run_action.text() == "Run"
    win.build_rest()
    await asyncio.wait_for(win.wait_built(), 60)
    assert win.current_run is None  # a queued run would have started with the last step


@SESSION_LOOP
async def test_a_saved_workspace_shows_its_prompt_first_and_the_rest_once_built(
    windows: list[MainWindow], qtbot: QtBot
) -> None:
    first = MainWindow()
    windows.append(first)
    first.prompt.set_template("A haiku about {thing}")
    first.inputs.set_variables(first.prompt.variables())
    first.inputs.set_rows([{"thing": "tides"}, {"thing": "moss"}])
    saved = first.workspace.snapshot()

    win = staged(windows, WorkspaceStore())
    win.restore_first_frame(saved)
    win.show()
    assert win.prompt.template() == "A haiku about {thing}"
    qtbot.keyClicks(win.prompt.editor, "!")  # typed before the rest is built
    win.build_rest()
    await asyncio.wait_for(win.wait_built(), 60)
    win.workspace.restore(saved, prompt=False)  # what the app does once built
    assert win.prompt.template() == "!A haiku about {thing}"  # typed at the cursor, kept
    assert win.inputs.rows() == [{"thing": "tides"}, {"thing": "moss"}]


@SESSION_LOOP
async def test_the_warm_up_waits_for_a_busy_window_and_ends_the_start_ups_gc_hold(
    windows: list[MainWindow], monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[tuple[list[str], object]] = []

    def record(names: list[str], _freeze: bool, _then: object, gate: object) -> None:
        asked.append((list(names), gate))

    monkeypatch.setattr("gui.compat.imports.import_in_background", record)
    monkeypatch.setattr("gui.qt.warmup._ENGINE_MODULES", ("fanout_engine_probe",))
    threshold = gc.get_threshold()
    defer_full_collections(True, STARTUP)  # as the app does before its first frame
    try:
        win = staged(windows)
        win.show()
        win.build_rest()
        await asyncio.wait_for(win.wait_built(), 60)
        assert gc.get_threshold()[2] > threshold[2]  # the whole build without a full one
        await asyncio.wait_for(win.warm_up(), 60)
        # The engine's imports asked the window's heartbeat whether it was busy...
        assert asked == [(["fanout_engine_probe"], win.lag)]
        # ...and once they froze the heap, full collections may run again.
        assert gc.get_threshold() == threshold
    finally:
        defer_full_collections(False, STARTUP)


def test_the_launch_paints_before_loading_the_engine_or_the_storage(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.update(PYTHONPATH=str(ROOT), QT_QPA_PLATFORM="offscreen", FANOUT_HOME=str(tmp_path))
    proc = subprocess.run(
        [sys.executable, "-m", "gui", "--quit-after", "3", "--print-stats"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    stats = json.loads(proc.stdout.strip().splitlines()[-1])
    at_paint = set(stats["first_paint_modules"])
    assert "gui.qt.main_window" in at_paint and "PySide6.QtWidgets" in at_paint
    heavy = ("langchain", "langsmith", "pydantic", "openai", "httpx", "sqlite3", "keyring")
    ours = ("gui.cli", "gui.providers", "gui.storage", "gui.core.session", "gui.core.runner")
    loaded = sorted(m for m in at_paint if m.split(".")[0] in heavy or m.startswith(ours))
    assert loaded == []
    # Nor what the first frame draws nothing with: the icon's files and the desktop entry
    # (set a turn after the paint), difflib's hints, HTML escaping, the JSON of the figures,
    # importlib.resources (the resources folder is found through the package's spec), the
    # run columns' dataclasses (the prompt's "A" tab is named by gui.core.variant_ids), the
    # resources folder itself (no style sheet to read: gui/qt/looks.py).
    assert (
        not {
            "gui.resources",
            "gui.desktop",
            "difflib",
            "html",
            "json",
            "importlib.resources",
            "gui.core.columns",
        }
        & at_paint
    )
    # Then the rest of the window, then the engine: both within the session.
    assert stats["first_paint_epoch"] <= stats["built_epoch"] <= stats["engine_ready_epoch"]
    assert set(stats["build_ms"]) == {"first-frame", *STEP_MODULES}
