"""The real program as a process: clean shutdown mid-stream, and a real window under Xvfb."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

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


def test_closing_the_window_mid_stream_exits_cleanly_within_a_second() -> None:
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
        timeout=60,
        env=_env(),
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    for bad in BAD_STDERR:
        assert bad not in proc.stderr, proc.stderr[-2000:]
    stats = json.loads(proc.stdout.strip().splitlines()[-1])
    assert stats["shutdown_s"] < 1.0
    # The session's lag (first paint to close) and which library hooks ran are reported.
    assert stats["session_lag_samples"] > 0 and isinstance(stats["session_freezes"], list)
    assert set(stats["runtime"]) == {"fifo-loop", "lcel-stream", "gc-policy", "qasync-logger"}


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
    display = f":{90 + os.getpid() % 50}"
    xvfb = subprocess.Popen(
        ["Xvfb", display, "-screen", "0", "1400x900x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(0.5)
        if xvfb.poll() is not None:
            pytest.skip(f"Xvfb could not start on {display}")
        env = _env(DISPLAY=display, QT_QPA_PLATFORM="xcb")
        app = subprocess.Popen(
            [sys.executable, "-m", "gui", "--demo", "seed", "--quit-when-done", "--print-stats"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        shot = tmp_path / "window.png"
        time.sleep(2.2)  # the seed run takes ~1.5 s after start-up: shoot near its end
        subprocess.run(
            ["import", "-display", display, "-window", "root", str(shot)], check=True, timeout=20
        )
        out, err = app.communicate(timeout=30)
        assert app.returncode == 0, err[-2000:]
        stats = json.loads(out.strip().splitlines()[-1])
        assert stats["summary"]["done"] == 3
        # the screenshot is a real, non-blank window: many distinct colours
        colors = subprocess.run(
            ["identify", "-format", "%k", str(shot)], capture_output=True, text=True, check=True
        ).stdout
        assert int(colors) > 50
    finally:
        xvfb.terminate()
        xvfb.wait(timeout=5)
