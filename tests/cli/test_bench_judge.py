"""The ``judge`` bench scenario's machinery at reduced size (the targets: docs/benchmarks.md)."""

from __future__ import annotations

import pytest

from gui.bench import ORDER, run_scenarios


def test_judge_scenario_judges_every_cell_and_reports_both_walls() -> None:
    assert "judge" in ORDER
    (result,) = run_scenarios(["judge"], quick=True)
    f = result.figures
    assert result.name == "judge" and result.passed is None
    assert f["cells"] == 10 and f["judge_done"] == 10 and f["judge_failed"] == 0
    assert f["wall_plain_s"] > 0 and f["wall_judged_s"] > 0
    # Rounded figures: the ratio is of the unrounded walls.
    assert f["wall_ratio"] == pytest.approx(f["wall_judged_s"] / f["wall_plain_s"], abs=0.005)
    assert f["cpu_plain_s"] > 0 and f["cpu_judged_s"] > 0 and f["cpu_ratio"] > 0
    assert 1 <= f["judge_peak_in_flight"] <= 200
    # Where the judged run's extra wall went: its last answer, then the judge's tail.
    assert 0 < f["last_answer_judged_s"] <= f["wall_judged_s"]
    assert f["judge_tail_s"] == pytest.approx(
        f["wall_judged_s"] - f["last_answer_judged_s"], abs=0.002
    )
    assert f["gui_cpu_plain_s"] > 0 and f["gui_cpu_ratio"] > 0
    # The GUI thread's CPU while the answers end, and after the last one, per run.
    for kind in ("plain", "judged"):
        assert len(f[f"ending_gui_cpu_{kind}_s"]) == len(f[f"wall_{kind}_runs_s"]) == 1
        assert min(f[f"ending_gui_cpu_{kind}_s"] + f[f"tail_gui_cpu_{kind}_s"]) >= 0
    assert f["judge_cost"] == "judge $0"  # the simulated judge is free
    assert f["session_lag_samples"] > 0
    assert result.second_label.startswith("during the judged run")
    # The plain runs' lateness beside the judged runs', from the same heartbeat.
    assert {"judged_run_lag_p99_ms", "plain_run_lag_p99_ms"} <= set(result.second)
    # Beside the window's heartbeat, the heartbeat task's wait in the loop's ready queue.
    assert {"judged_run_loop_wait_p99_ms", "plain_run_loop_wait_p99_ms"} <= set(result.second)
    assert result.second["loop_wait_max_ms"] >= result.second["loop_wait_p99_ms"]
    assert f["freezes_over_50_ms"] >= 0
    # Judge calls that waited for the loop to keep up with the answers: a count, not lost.
    assert 0 <= f["judge_held"] <= f["judge_done"]
    assert result.second["plain_run_lag_max_ms"] >= result.second["plain_run_lag_p99_ms"]
