"""The scoreboard scenario's machinery, at reduced size: the tab refreshed live and measured.

Its targets are checked by `fanout-studio bench --scenario scoreboard` (docs/benchmarks.md).
"""

from __future__ import annotations

from gui.bench import run_scenarios


def test_scoreboard_scenario_scores_every_answer_and_reports_every_figure() -> None:
    (result,) = run_scenarios(["scoreboard"], quick=True)
    f = result.figures
    assert result.passed is None  # a reduced run is never compared with the targets
    assert f["cells"] == f["done"] == f["scored"] == 20  # 5 inputs x 4 models
    assert f["refreshes"] >= 1 and f["reference_refreshes"] == 0  # hidden: no work at all
    assert f["refresh_ms_max"] >= f["refresh_ms_p95"] >= f["refresh_ms_median"] > 0
    assert f["large_cells"] == 10_000 and f["large_full_ms"] > 0 and f["large_one_ms"] > 0
    lag = result.second
    assert lag["lag_samples"] > 0 and "reference_lag_p99_ms" in lag
    # The lag is the window's own meter's, as in every GUI row; the heartbeat task's beside it.
    assert lag["lag_max_ms"] >= lag["lag_p99_ms"]
    assert lag["loop_wait_max_ms"] >= lag["loop_wait_p99_ms"]
    assert "reference_loop_wait_p99_ms" in lag
