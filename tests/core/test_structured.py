"""Structured output's schema and verdicts, and the response cache's bypass rule, in the core."""

from __future__ import annotations

import json
from dataclasses import asdict, replace

import pytest

from gui.core.caching import cache_allowed
from gui.core.errors import SpecError
from gui.core.metrics import CellMetrics
from gui.core.spec import ModelProfile, make_spec, spec_from_dict, spec_to_dict
from gui.core.structured import (
    check_answer,
    field_columns,
    field_text,
    parse_schema,
    schema_mark,
    valid_share,
)
from gui.storage.records import metrics_from_dict

PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
}


def test_a_valid_answer_is_parsed_and_marked() -> None:
    verdict = check_answer(PERSON, '{"name": "Ada", "age": 36}')
    assert verdict.valid and verdict.parsed == {"name": "Ada", "age": 36}
    assert schema_mark(verdict.valid) == "schema ✓"


def test_an_answer_that_breaks_the_schema_says_where() -> None:
    verdict = check_answer(PERSON, '{"name": "Ada", "age": "old"}')
    assert not verdict.valid
    assert verdict.parsed == {"name": "Ada", "age": "old"}
    assert verdict.error is not None and verdict.error.startswith("at age:")
    assert schema_mark(verdict.valid) == "schema ✗"
    broken = check_answer(PERSON, '{"name": "Ada", ')
    assert broken.parsed is None and broken.error is not None and "not JSON" in broken.error
    assert schema_mark(None) is None


@pytest.mark.parametrize(
    ("text", "fix"),
    [
        ("", "Paste a schema"),
        ("{not json", "not JSON"),
        ("[1, 2]", "is an object"),
        ('{"type": "objekt"}', "Invalid JSON schema"),
    ],
)
def test_a_bad_schema_is_refused_with_the_fix(text: str, fix: str) -> None:
    with pytest.raises(SpecError, match=fix):
        parse_schema(text)


def test_a_spec_with_a_bad_schema_is_refused_and_a_good_one_round_trips() -> None:
    spec = make_spec("Tell me about {topic}", ["owls"], (ModelProfile(),))
    with pytest.raises(SpecError, match="Invalid JSON schema"):
        replace(spec, json_schema={"type": 3}).validate()
    structured = replace(spec, json_schema=PERSON)
    structured.validate()
    again = spec_from_dict(json.loads(json.dumps(spec_to_dict(structured))))
    assert again.json_schema == PERSON
    assert spec_from_dict(spec_to_dict(spec)).json_schema is None


def test_cache_and_schema_metrics_round_trip_through_storage() -> None:
    metrics = CellMetrics(
        0.0, 0.1, 0.1, 0.1, 0.0, 0.0, 0.0, 12, False, None, 0,
        finish_reason="stop", cached=True, original_latency=1.25, original_ttft=0.5,
        schema_valid=False, schema_error="at age: 'old' is not of type 'integer'",
    )  # fmt: skip
    assert metrics_from_dict(json.loads(json.dumps(asdict(metrics)))) == metrics
    # A cell stored before issue 15 reads as not cached, not structured.
    old = {k: v for k, v in asdict(metrics).items() if k in CellMetrics.__dataclass_fields__}
    for name in ("cached", "original_latency", "original_ttft", "schema_valid", "schema_error"):
        old.pop(name)
    read = metrics_from_dict(old)
    assert read is not None and not read.cached and read.schema_valid is None


def test_the_table_view_has_a_column_per_field_and_the_share_of_valid_answers() -> None:
    values = [{"name": "Ada", "tags": ["a"]}, None, {"age": 3, "name": "Bo"}]
    assert field_columns(values) == ["name", "tags", "age"]
    assert field_text(values[0], "tags") == '["a"]'
    assert field_text(values[1], "name") == ""
    assert valid_share([True, False, None, True]) == pytest.approx(2 / 3)
    assert valid_share([None]) is None


@pytest.mark.parametrize(
    ("temperature", "seed", "samples", "allowed"),
    [
        (None, None, 1, True),
        (0.0, None, 1, True),
        (0.7, None, 1, False),
        (0.7, 42, 1, True),
        (0.0, None, 5, False),
        (0.0, 7, 5, True),
    ],
)
def test_sampling_and_repeats_bypass_the_cache_unless_a_seed_is_set(
    temperature: float | None, seed: int | None, samples: int, allowed: bool
) -> None:
    class Seeded:
        def __init__(self) -> None:
            self.temperature = temperature
            self.seed = seed

    assert cache_allowed(True, Seeded(), samples) is allowed
    assert cache_allowed(False, Seeded(), samples) is False


def test_the_scoreboard_gets_schema_valid_percent_and_cached_cells_keep_their_timings() -> None:
    from types import SimpleNamespace

    from gui.core.measures import measure
    from gui.core.scoreboard import score_cell, summarize_models

    def facts(**fields: object) -> SimpleNamespace:
        base = CellMetrics(0.0, 0.0, 0.1, 0.2, 0.0, 0.01, 0.02, 9, False, 900.0, 0)
        return SimpleNamespace(metrics=replace(base, **fields), checks=(), judge=None, rating=None)

    cells = [
        score_cell(0, 0, "done", facts(schema_valid=True)),
        score_cell(1, 0, "done", facts(schema_valid=False, schema_error="not JSON")),
        score_cell(2, 0, "done", facts(schema_valid=True)),
        score_cell(0, 1, "done", facts()),  # a free-text run's cell: no verdict, not a 0
    ]
    structured, free = summarize_models(["a", "b"], cells)
    schema = measure("schema")
    assert schema.format(structured.stats["schema"].mean) == "67 %"
    assert free.stats["schema"].count == 0

    cached = score_cell(0, 0, "done", facts(cached=True, original_latency=1.5, original_ttft=0.4))
    assert cached.values["latency"] == 1.5 and cached.values["ttft"] == 0.4
    assert "tps" not in cached.values  # a replay has no speed to score


def test_the_simulated_model_answers_json_for_the_schema_it_is_given() -> None:
    from gui.core.structured import instructed_schema, schema_instruction
    from gui.providers.simulated import structured_reply

    assert instructed_schema("Be brief.\n\n" + schema_instruction(PERSON)) == PERSON
    assert instructed_schema("Be brief.") is None
    verdicts = [
        check_answer(PERSON, structured_reply(PERSON, f"Tell me about topic {i}", "sim-1"))
        for i in range(40)
    ]
    assert all(v.parsed is not None for v in verdicts)  # always JSON
    valid = sum(v.valid for v in verdicts)
    assert 0 < valid < 40  # mostly valid, and sometimes (as models do) not
    assert structured_reply(PERSON, "owls", "sim-1") == structured_reply(PERSON, "owls", "sim-1")
