"""The batch-ingest scenario's machinery, at reduced size: request files written, every
result line ingested into the history and measured against the floor of the same work; and
its pass/fail logic on made-up figures.

Its targets are checked by `fanout-studio bench --scenario batch-ingest` (docs/benchmarks.md).
"""

from __future__ import annotations

from gui.bench import INGEST_OVER_FLOOR, batch_ingest_result, run_scenarios


def test_batch_ingest_scenario_stores_every_line_and_reports_every_figure() -> None:
    (result,) = run_scenarios(["batch-ingest"], quick=True)
    f = result.figures
    assert result.passed is None  # a reduced run is never compared with the targets
    assert f["cells"] == f["done"] == f["stored_done"] == 1000  # 500 rows x 2 models
    assert f["request_files"] == 2 and f["request_mb"] > 0 and f["write_s"] > 0
    assert f["ingest_s"] > 0 and f["lines_per_s"] > 0 and "rss_growth_mb" in f
    # The floor read and stored the same lines, before and after the app's ingest.
    assert f["floor_stored"] == 1000 and len(f["floor_runs_s"]) == 2
    assert f["floor_s"] == min(f["floor_runs_s"]) > 0 and f["ingest_over_floor"] > 0
    assert result.second["lag_samples"] > 0


def _figures(**changed: object) -> dict[str, object]:
    """A full-size probe's figures (made up, no timing): a slow day's rate at a good ratio."""
    figures: dict[str, object] = {
        "cells": 100_000,
        "request_files": 2,
        "request_mb": 20.1,
        "write_s": 2.0,
        "ingest_s": 7.0,
        "lines_per_s": 14_286,
        "floor_s": 0.7,
        "floor_lines_per_s": 142_857,
        "ingest_over_floor": 10.0,
        "floor_stored": 100_000,
        "done": 100_000,
        "stored_done": 100_000,
        "rss_growth_mb": 70.0,
        "lag_p99_ms": 12.0,
        "lag_max_ms": 20.0,
        "lag_samples": 500,
    }
    figures.update(changed)
    return figures


def test_a_slow_day_passes_when_the_ingest_keeps_its_ratio_to_the_floor() -> None:
    # 14,286 lines/s failed the old absolute 20,000; ten times the floor's time passes.
    result = batch_ingest_result(_figures())
    assert result.passed is True
    assert result.figures["lines_per_s"] == 14_286  # kept as information
    assert result.second == {"lag_p99_ms": 12.0, "lag_max_ms": 20.0, "lag_samples": 500}


def test_a_fast_rate_fails_when_the_ingest_is_far_above_the_floor() -> None:
    fast_day = _figures(ingest_s=3.0, lines_per_s=33_333, floor_s=0.2)
    assert batch_ingest_result({**fast_day, "ingest_over_floor": 15.0}).passed is False
    assert batch_ingest_result({**fast_day, "ingest_over_floor": INGEST_OVER_FLOOR}).passed


def test_memory_lag_and_lost_cells_still_fail_the_row() -> None:
    assert batch_ingest_result(_figures(rss_growth_mb=250.0)).passed is False
    assert batch_ingest_result(_figures(lag_p99_ms=17.0)).passed is False
    assert batch_ingest_result(_figures(stored_done=99_999)).passed is False
    # A floor that stored fewer lines did less work than the app: its time is no reference.
    assert batch_ingest_result(_figures(floor_stored=50_000)).passed is False
