"""The batch-ingest scenario's machinery, at reduced size: request files written, every
result line ingested into the history and measured.

Its targets are checked by `fanout-studio bench --scenario batch-ingest` (docs/benchmarks.md).
"""

from __future__ import annotations

from gui.bench import run_scenarios


def test_batch_ingest_scenario_stores_every_line_and_reports_every_figure() -> None:
    (result,) = run_scenarios(["batch-ingest"], quick=True)
    f = result.figures
    assert result.passed is None  # a reduced run is never compared with the targets
    assert f["cells"] == f["done"] == f["stored_done"] == 1000  # 500 rows x 2 models
    assert f["request_files"] == 2 and f["request_mb"] > 0 and f["write_s"] > 0
    assert f["ingest_s"] > 0 and f["lines_per_s"] > 0 and "rss_growth_mb" in f
    assert result.second["lag_samples"] > 0
