"""The real program as a process: clean shutdown mid-stream, and a real window under Xvfb."""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from gui.storage.history import History

ROOT = Path(__file__).resolve().parents[2]
BAD_STDERR = (
    "Task was destroyed but it is pending",
    "Event loop stopped before Future completed",
    "ignored GeneratorExit",
    "Traceback",
    "Unclosed",
    "RuntimeWarning",
)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.update(
        PYTHONPATH=str(ROOT),
        QT_QPA_PLATFORM="offscreen",
        PYTHONWARNINGS="default",
        PYTHONDEVMODE="1",
    )
    env.update(extra)
    return env


def test_closing_the_window_mid_stream_exits_cleanly() -> None:
    # 50 cells streaming 300 tokens each; the window closes 1.5 s in, mid-stream.
    proc = subprocess.run(
        [
            sys.executable,
            "-X",
            "dev",
            "-m",
            "gui",
            "--demo",
            "stress",
            "--quit-after",
            "1.5",
            "--print-stats",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=_env(),
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    for bad in BAD_STDERR:
        assert bad not in proc.stderr, proc.stderr[-2000:]
    stats = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "shutdown_s" in stats  # it closed through its own exit path (timed by the bench)
    # The session's lag (first paint to close) and which library hooks ran are reported.
    assert stats["session_lag_samples"] > 0 and isinstance(stats["session_freezes"], list)
    assert set(stats["runtime"]) == {
        "fifo-loop",
        "lcel-stream",
        "chunk-merge",
        "direct-stream",
        "lean-invoke",
        "gc-policy",
        "qasync-logger",
        "pyside-import-scan",
        "langsmith-lazy-types",
        "qt-serial-fills",
    }


def test_the_stress_demo_streams_on_the_plain_runtime() -> None:
    """Plain qasync loop, plain LCEL, the collector untouched (the hooked app: the test above)."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "gui",
            "--plain-runtime",
            "--demo",
            "stress",
            "--quit-when-done",
            "--print-stats",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        # Without dev mode: its asyncio debug mode times every callback of 50 streams.
        env={k: v for k, v in _env().items() if k not in ("FANOUT_PLAIN", "PYTHONDEVMODE")},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    for bad in BAD_STDERR:
        assert bad not in proc.stderr, proc.stderr[-2000:]
    stats = json.loads(proc.stdout.strip().splitlines()[-1])
    assert stats["summary"]["done"] == 50 and stats["summary"]["failed"] == 0
    assert stats["output_tokens"] == 50 * 300  # every pane streamed its whole answer
    states = set(stats["runtime"].values())
    assert states == {"off (plain runtime)"}
    # The session's lag, from the first painted frame to the close, is reported.
    assert stats["session_lag_samples"] > 0 and isinstance(stats["session_freezes"], list)
    assert stats["marks_s"]["engine_ready"] >= 0 and "engine_ready_epoch" in stats


def _xvfb_ready() -> str | None:
    missing = [tool for tool in ("Xvfb", "import") if shutil.which(tool) is None]
    if missing:
        return f"needs {' and '.join(missing)} (apt-get install xvfb imagemagick; `make test` installs them when it runs as root)"
    return None


@pytest.mark.skipif(_xvfb_ready() is not None, reason=_xvfb_ready() or "")
def test_real_window_under_xvfb_shows_the_seed_demo(tmp_path: Path) -> None:
    # Xvfb picks a free display itself and writes its number once it accepts connections:
    # test workers running side by side, or another user's Xvfb, never share a display.
    ready_r, ready_w = os.pipe()
    xvfb = subprocess.Popen(
        ["Xvfb", "-displayfd", str(ready_w), "-screen", "0", "1400x900x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        pass_fds=(ready_w,),
    )
    os.close(ready_w)
    try:
        with os.fdopen(ready_r, "rb") as ready:
            readable, _, _ = select.select([ready], [], [], 30)
            number = ready.readline().strip() if readable else b""
        if not number.isdigit():
            pytest.skip("Xvfb could not start on a free display")
        display = f":{number.decode()}"
        env = _env(DISPLAY=display, QT_QPA_PLATFORM="xcb")
        app = subprocess.Popen(
            [sys.executable, "-m", "gui", "--demo", "seed", "--quit-when-done", "--print-stats"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        # Shoot the screen until it shows a real, non-blank window (many distinct colours): the
        # seed demo keeps the window up for seconds, however slow the machine is to start it.
        shot = tmp_path / "window.png"
        colors = 0
        while colors <= 50 and app.poll() is None:
            subprocess.run(
                ["import", "-display", display, "-window", "root", str(shot)],
                check=True,
                timeout=60,
                capture_output=True,
            )
            colors = int(
                subprocess.run(
                    ["identify", "-format", "%k", str(shot)],
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
            )
        out, err = app.communicate(timeout=120)
        assert app.returncode == 0, err[-2000:]
        stats = json.loads(out.strip().splitlines()[-1])
        assert stats["summary"]["done"] == 3
        assert colors > 50, "the window never showed on the virtual screen"
    finally:
        xvfb.terminate()
        xvfb.wait(timeout=5)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_closes_the_window_and_the_history_keeps_what_streamed(signum: int) -> None:
    # A logout's SIGTERM, or Ctrl+C in the terminal, mid-run: the window closes as if its
    # close button was pressed, and every pane's partial text is in the history.
    app = subprocess.Popen(
        [sys.executable, "-X", "dev", "-m", "gui", "--demo", "stress"],
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        runs: list[Any] = []
        while not runs and app.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
            with History.open() as history:
                runs = history.list_runs()
        assert runs, "the stress demo never started its run"
        time.sleep(1.5)  # the demo streams for ~3 s; its first tokens come after 0.3 s
        app.send_signal(signum)
        _out, err = app.communicate(timeout=120)
    finally:
        if app.poll() is None:
            app.kill()
            app.communicate()
    assert app.returncode == 128 + signum, err[-2000:]
    for bad in BAD_STDERR:
        assert bad not in err, err[-2000:]
    with History.open() as history:
        stored = history.get_run(runs[0].id)
    assert stored is not None and stored.status == "interrupted"  # by closing, not by you
    assert len(stored.cells) == stored.total == 50  # every cell ended and was written
    cancelled = [c for c in stored.cells if c.status == "cancelled"]
    assert cancelled and all(c.status in ("done", "cancelled") for c in stored.cells)
    assert any(c.text for c in cancelled)  # what the panes had streamed is kept
