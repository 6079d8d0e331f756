"""The agreement scenario's machinery, at reduced size: the view computed, applied and measured.

Its targets are checked by `fanout-studio bench --scenario agreement` (docs/benchmarks.md).
"""

from __future__ import annotations

from gui.bench import run_scenarios
from gui.qt.bench_agreement import sample_answers


def test_agreement_scenario_streams_tags_and_reports_every_figure() -> None:
    (result,) = run_scenarios(["agreement"], quick=True)
    f = result.figures
    assert result.passed is None and f["answers"] == 3
    assert sum(f["legend"].values()) == f["sentences"] > 0
    assert f["computations"] >= 2 and f["updates_applied"] >= 2  # the stream, then a threshold
    assert f["compute_full_ms_max"] >= f["compute_full_ms_median"] > 0
    assert f["apply_cpu_ms_max"] >= f["apply_cpu_ms_median"] >= 0
    assert f["paint_marked_cpu_ms_median"] >= 0 and f["compute_cpu_ms_median"] > 0
    # The session runs from the view on screen, so it holds the stream's beats and more.
    assert f["session_lag_samples"] > result.second["lag_samples"] > 0
    assert f["session_lag_max_ms"] >= f["session_lag_p99_ms"] >= 0
    assert f["freezes_over_50_ms"] >= 0
    lag = result.second
    assert lag["reference_lag_samples"] > 0
    assert lag["reference_session_lag_samples"] > lag["reference_lag_samples"]


def test_the_sample_row_is_seeded_markdown_of_the_asked_size() -> None:
    row = sample_answers(8, 1000)
    assert row == sample_answers(8, 1000) and len(row) == 8
    assert all(950 <= len(text.split()) <= 1200 for text in row)
    assert any("```python" in text for text in row) and any("\n- " in text for text in row)
