"""The scoreboard scenario's machinery, at reduced size: the tab refreshed live and measured,
and a past run opened and scored, in one window whose whole session is measured.

Its targets are checked by `fanout-studio bench --scenario scoreboard` (docs/benchmarks.md).
"""

from __future__ import annotations

from gui.bench import SESSION_TARGET, run_scenarios


def test_scoreboard_scenario_scores_every_answer_and_reports_every_figure() -> None:
    (result,) = run_scenarios(["scoreboard"], quick=True)
    f = result.figures
    assert result.passed is None  # a reduced run is never compared with the targets
    assert SESSION_TARGET in result.target  # the full run is held to the session's target
    assert f["cells"] == f["done"] == f["scored"] == 20  # 5 inputs x 4 models
    assert f["refreshes"] >= 1 and f["reference_refreshes"] == 0  # hidden: no work at all
    assert f["refresh_ms_max"] >= f["refresh_ms_p95"] >= f["refresh_ms_median"] > 0
    # The past run opened in the same session, every cell scored once the tab was clicked.
    assert f["opened_cells"] == f["opened_scored"] == 2_000  # 500 inputs x 4 models
    assert f["large_full_steps"] >= 1  # turns of the loop (several here, by the machine's speed)
    assert f["large_full_ms"] > 0 and f["large_one_ms"] > 0
    # The main figures: the window's own heartbeat over the whole session.
    assert f["session_lag_samples"] > 0
    assert f["session_lag_max_ms"] >= f["session_lag_p99_ms"]
    assert f["freezes_over_50_ms"] == len(f["freezes_ms"])
    # The second line: the runs alone (shown, and the hidden reference), the open, the task.
    lag = result.second
    assert 0 < lag["run_lag_samples"] < f["session_lag_samples"]
    assert lag["run_lag_max_ms"] >= lag["run_lag_p99_ms"]
    assert lag["reference_run_lag_max_ms"] >= lag["reference_run_lag_p99_ms"]
    assert lag["open_lag_max_ms"] >= lag["open_lag_p99_ms"]
    assert lag["loop_wait_max_ms"] >= lag["loop_wait_p99_ms"]
    assert "reference_run_loop_wait_p99_ms" in lag
