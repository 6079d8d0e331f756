"""The ``sweep-600`` bench scenario's machinery at reduced size (the target: docs/benchmarks.md)."""

from __future__ import annotations

from gui.bench import ORDER, run_scenarios


def test_sweep_scenario_runs_every_sample_of_every_column_in_tiles() -> None:
    assert "sweep-600" in ORDER
    (result,) = run_scenarios(["sweep-600"], quick=True)
    f = result.figures
    assert result.name == "sweep-600" and result.passed is None
    # 2 inputs x 2 models x 3 temperatures x 2 samples
    assert f["cells"] == f["done"] == 24 and f["columns"] == 6 and f["samples_per_cell"] == 2
    assert f["visible_cells"] == 24
    assert f["session_lag_samples"] > 0 and f["run_gui_cpu_s"] > 0
    assert result.second["run_lag_max_ms"] >= result.second["run_lag_p99_ms"]
    # The lag is the window's own meter's, as in every GUI row; the heartbeat task's beside it.
    assert "freezes_over_50_ms" in f
    assert result.second["loop_wait_max_ms"] >= result.second["loop_wait_p99_ms"]
    assert result.second["run_loop_wait_max_ms"] >= result.second["run_loop_wait_p99_ms"]
