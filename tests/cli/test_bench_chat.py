"""The ``chat-long`` bench scenario's machinery at reduced size (the targets: docs/benchmarks.md)."""

from __future__ import annotations

from gui.bench import ORDER, run_scenarios


def test_chat_long_scenario_opens_scrolls_and_continues_a_stored_chat() -> None:
    assert "chat-long" in ORDER
    (result,) = run_scenarios(["chat-long"], quick=True)
    f = result.figures
    assert result.name == "chat-long" and result.passed is None
    assert f["columns"] == 2 and f["turns"] == 4 and f["chars_per_column"] > 0
    # The chat was opened whole, its top reached with the wheel, and the new turn answered.
    assert f["whole_thread_shown"] is True
    assert f["top_shows_first_turn"] is True
    assert f["answers_done"] == 2
    for name in (
        "loaded_s",
        "open_s",
        "all_rendered_s",
        "range_change_after_open",
        "bare_open_s",
        "open_ratio_to_bare",
        "plain_turns_at_open",
        "session_lag_p99_ms",
        "session_lag_max_ms",
        "freezes_over_50_ms",
    ):
        assert name in f
    assert f["session_lag_samples"] > 0
    assert {"open_lag_p99_ms", "scroll_lag_p99_ms", "stream_lag_p99_ms"} <= set(result.second)
    # The lag is the window's own meter's, as in every GUI row; the heartbeat task's beside it.
    assert result.second["loop_wait_max_ms"] >= result.second["loop_wait_p99_ms"]
    assert {"open_loop_wait_p99_ms", "scroll_loop_wait_p99_ms"} <= set(result.second)
