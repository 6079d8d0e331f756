"""Building a run from what the user typed: templates, rows, limits, profiles."""

from __future__ import annotations

import pytest

from gui.core.errors import SpecError, TemplateError
from gui.core.spec import (
    CellList,
    Limits,
    ModelProfile,
    ProviderKind,
    SimSettings,
    limits_from_dict,
    limits_to_dict,
    make_spec,
)
from gui.core.templates import template_variables


def test_template_variables_in_order_with_escaped_braces() -> None:
    assert template_variables('Compare {a} and {b}, then {a} again; JSON: {{"k": 1}}') == ["a", "b"]


@pytest.mark.parametrize(
    ("template", "words"),
    [
        ("", "empty"),
        ("Tell me about {topic", "Unbalanced braces"),
        ("Tell me } about", "Unbalanced braces"),
        ("A set {} here", "Empty {}"),
        ("Use {x.y}", "not a plain variable"),
    ],
)
def test_bad_templates_get_a_one_line_reason(template: str, words: str) -> None:
    with pytest.raises(TemplateError, match=words) as info:
        template_variables(template)
    assert "\n" not in str(info.value)


def test_topics_fill_the_single_variable_and_cells_are_row_major() -> None:
    models = (ModelProfile(model="a"), ModelProfile(model="b"))
    spec = make_spec("Joke about {subject}", ["cats", "dogs"], models)
    cells = spec.cells()
    assert [c.id for c in cells] == ["r0m0", "r0m1", "r1m0", "r1m1"]
    assert cells[2].inputs == {"subject": "dogs"} and cells[3].model.model == "b"


def test_plain_prompt_without_variables_is_one_row_per_model() -> None:
    spec = make_spec("What is asyncio?", [], (ModelProfile(model="a"), ModelProfile(model="b")))
    assert len(spec.cells()) == 2


def test_unknown_variable_is_refused_before_the_run() -> None:
    with pytest.raises(TemplateError, match=r"uses \{tone\}.*columns: topic"):
        make_spec("A {tone} joke about {topic}", [{"topic": "cats"}], (ModelProfile(),))


def test_no_inputs_and_no_models_are_refused() -> None:
    with pytest.raises(SpecError, match="No inputs"):
        make_spec("About {topic}", [], (ModelProfile(),))
    with pytest.raises(SpecError, match="No model"):
        make_spec("About {topic}", ["x"], ())


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"max_concurrency": 0}, "1 to 1000"),
        ({"max_concurrency": 10_000}, "1 to 1000"),
        ({"requests_per_second": -1.0}, "Requests per second"),
        ({"timeout": 0.0}, "First-token timeout"),
        ({"idle_timeout": 0.0}, "Idle timeout"),
        ({"total_timeout": 0.0}, "Total timeout"),
        ({"retries": -1}, "Retries"),
    ],
)
def test_absurd_limits_are_refused_with_the_accepted_range(changes: dict, words: str) -> None:
    with pytest.raises(SpecError, match=words):
        Limits().changed(**changes)


@pytest.mark.parametrize(
    ("profile", "words"),
    [
        (ModelProfile(model=" "), "Model name is empty"),
        (ModelProfile(provider=ProviderKind.OPENAI, base_url="localhost:11434/v1"), "not an http"),
        (ModelProfile(provider=ProviderKind.OPENAI, base_url="ftp://x/v1"), "not an http"),
    ],
)
def test_bad_profiles_are_refused(profile: ModelProfile, words: str) -> None:
    with pytest.raises(SpecError, match=words):
        profile.validate()


def test_sim_latency_sets_the_whole_request_time() -> None:
    sim = SimSettings.with_latency(1.5)
    assert sim.latency == pytest.approx(1.5)
    assert sim.ttft == pytest.approx(0.3)


def test_limits_stored_before_the_timeout_was_split_load_with_both_timeouts() -> None:
    old = {"max_concurrency": 4, "timeout": 30.0, "retries": 1, "error_policy": "isolate"}
    limits = limits_from_dict(old)
    assert (limits.ttft_timeout, limits.idle_timeout, limits.total_timeout) == (30.0, 30.0, None)
    assert limits_from_dict(limits_to_dict(limits)) == limits
    assert Limits().changed(timeout=5).idle_timeout == 5


# ------------------------------------------------------------------ a run's cells


def test_a_runs_cells_are_the_specs_cells_each_made_once_and_found_by_id() -> None:
    rows = ({"t": "cats"}, {"t": "dogs"}, {"t": "cats"})
    spec = make_spec("About {t}", rows, (ModelProfile(label="a"), ModelProfile(label="b")))
    cells = CellList(spec.rows, spec.models)

    assert len(cells) == 6 and list(cells) == spec.cells()
    assert [c.id for c in cells] == list(cells.ids()) == [
        "r0m0", "r0m1", "r1m0", "r1m1", "r2m0", "r2m1",
    ]  # fmt: skip
    assert [c.repeated for c in cells] == [True, True, False, False, True, True]
    # A row read from JSON may hold a number: the same as its text, as a prompt shows it.
    numbers = CellList(({"t": 1}, {"t": "1"}, {"t": 2}), (ModelProfile(),))  # type: ignore[arg-type]
    assert [c.repeated for c in numbers] == [True, True, False]
    assert cells.get("r1m1") is cells[3] is cells[-3]  # made once, the same cell after
    assert cells[3].inputs is cells[2].inputs  # one copy of a row for its cells
    assert [c.id for c in cells[4:]] == ["r2m0", "r2m1"]
    assert "r2m1" in cells.ids() and "r3m0" not in cells.ids()
    for unknown in ("r3m0", "r0m2", "r01m0", "r-1m0", "x", ""):
        assert cells.get(unknown) is None and cells.index_of(unknown) is None
    with pytest.raises(IndexError):
        cells[6]


def test_twenty_thousand_cells_cost_nothing_until_they_are_asked_for() -> None:
    rows = tuple({"t": f"topic {i}"} for i in range(10_000))
    cells = CellList(rows, (ModelProfile(label="a"), ModelProfile(label="b")))
    assert len(cells) == 20_000 and len(cells.ids()) == 20_000
    last = cells.get("r9999m1")
    assert last is not None and last.index == 19_999 and last.inputs == {"t": "topic 9999"}
    assert last.title == "topic 9999 × b" and not last.repeated
