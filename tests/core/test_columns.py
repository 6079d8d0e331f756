"""Issue 15's column model: prompt variants x models x sweep values, and repeated samples.

The spec expands them into exactly the expected columns, cell ids and headers; a run with one
sample per cell keeps the ids it always had; the engine runs every sample under the same
limits (peak counters), one code path per cell.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from gui.core.columns import ParamSweep, parse_values, values_text, variant_id
from gui.core.errors import SpecError
from gui.core.runner import Run
from gui.core.spec import (
    CellId,
    CellList,
    Limits,
    ModelProfile,
    ProviderKind,
    Strategy,
    make_spec,
    spec_from_dict,
    spec_to_dict,
)

from .fakes import FakeBackend, Recorder, Script

A = ModelProfile(model="a")
B = ModelProfile(model="b")


def test_a_sweep_and_two_variants_make_the_expected_columns_and_headers() -> None:
    swept = replace(A, sweep=ParamSweep(temperature=(0.0, 0.7, 1.2)))
    spec = make_spec(
        "Tell me about {topic}",
        ["cats"],
        (swept, B),
        template_variants=("Summarise {topic}",),
    )
    assert spec.headers == [
        "A · a · t=0",
        "A · a · t=0.7",
        "A · a · t=1.2",
        "A · b",
        "B · a · t=0",
        "B · a · t=0.7",
        "B · a · t=1.2",
        "B · b",
    ]
    column = spec.columns[5]
    assert (column.variant, column.model_index, column.model.temperature) == (1, 0, 0.7)
    assert column.model.sweep.empty  # a column sends one value, never the list
    assert column.identity() == {
        "index": 5,
        "template": "B",
        "model": "a",
        "parameters": {"temperature": 0.7},
        "header": "B · a · t=0.7",
    }
    # Each variant's cells send their own template.
    assert spec.messages("r0m1") == [("user", "Tell me about cats")]
    assert spec.messages("r0m5") == [("user", "Summarise cats")]


def test_two_swept_parameters_combine_and_only_swept_ones_are_named() -> None:
    profile = replace(A, top_p=0.9, sweep=ParamSweep(temperature=(0.2, 0.8), seed=(1, 2)))
    spec = make_spec("Hi {topic}", ["x"], (profile,))
    assert spec.headers == [
        "a · t=0.2 · seed=1",
        "a · t=0.2 · seed=2",
        "a · t=0.8 · seed=1",
        "a · t=0.8 · seed=2",
    ]
    assert spec.columns[3].parameters() == {"temperature": 0.8, "top_p": 0.9, "seed": 2}


def test_system_variants_pair_with_every_template() -> None:
    spec = make_spec(
        "Q1 {topic}",
        ["x"],
        (A,),
        system="S1",
        template_variants=("Q2 {topic}",),
        system_variants=("S2",),
    )
    assert [(v.id, v.template, v.system) for v in spec.variants] == [
        ("A", "Q1 {topic}", "S1"),
        ("B", "Q1 {topic}", "S2"),
        ("C", "Q2 {topic}", "S1"),
        ("D", "Q2 {topic}", "S2"),
    ]
    assert spec.messages("r0m1") == [("system", "S2"), ("user", "Q1 x")]
    assert spec.headers == ["A · a", "B · a", "C · a", "D · a"]


def test_repeats_make_samples_with_ids_that_parse_back() -> None:
    spec = make_spec("Hi {topic}", ["x", "y"], (A, B), repeats=3)
    ids = list(spec.cell_list().ids())
    assert ids == [
        "r0m0", "r0m0s1", "r0m0s2", "r0m1", "r0m1s1", "r0m1s2",
        "r1m0", "r1m0s1", "r1m0s2", "r1m1", "r1m1s1", "r1m1s2",
    ]  # fmt: skip
    cells = spec.cells()
    assert [c.id for c in cells] == ids
    assert cells[4].title == "x × b · sample 2 of 3"
    assert (cells[4].row, cells[4].col, cells[4].sample, cells[4].samples) == (0, 1, 1, 3)
    for text in ids:
        assert str(CellId.parse(text)) == text
    assert CellId.parse("r1m0s2") == CellId(1, 0, 2)
    assert CellId.parse("r1m0s2").first_sample == "r1m0"
    listing = spec.cell_list()
    assert listing.get("r1m1s2") is not None and listing.get("r1m1s2").index == 11  # type: ignore[union-attr]
    # Only canonical ids belong to the run: no "s0", no sample past the repeats.
    assert "r0m0s0" not in listing.ids() and "r0m0s3" not in listing.ids()


def test_a_run_of_one_sample_keeps_its_old_ids() -> None:
    spec = make_spec("Hi {topic}", ["x", "y"], (A, B))
    assert list(spec.cell_list().ids()) == ["r0m0", "r0m1", "r1m0", "r1m1"]
    assert list(spec.cell_list().ids()) == [i for row in CellId.grid(2, 2) for i in row]
    # A CellList of plain profiles (older callers) is the same list.
    assert [c.id for c in CellList(spec.rows, spec.models)] == ["r0m0", "r0m1", "r1m0", "r1m1"]
    assert spec.headers == ["a", "b"]


def test_sweep_values_are_parsed_and_checked_where_typed() -> None:
    assert parse_values("temperature", "0, 0.7 1.2") == (0.0, 0.7, 1.2)
    assert parse_values("temperature", "") == ()
    assert parse_values("seed", "1,2,2") == (1, 2)
    assert values_text((0.0, 0.7, 1)) == "0, 0.7, 1"
    with pytest.raises(SpecError, match=r"Temperature 3 is out of range: use 0 to 2"):
        parse_values("temperature", "0, 3")
    with pytest.raises(SpecError, match=r"top_p 1.5 is out of range: use 0 to 1"):
        parse_values("top_p", "1.5")
    with pytest.raises(SpecError, match=r"'hot' is not a number"):
        parse_values("temperature", "hot")
    with pytest.raises(SpecError, match=r"Max tokens 0 must be at least 1"):
        parse_values("max_tokens", "0")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"template_variants": (" ",)}, "Prompt variant B is empty"),
        ({"system": "S", "system_variants": ("",)}, "System message B is empty"),
        ({"repeats": 0}, "Repeats 0 is out of range: use 1 to 20"),
        ({"repeats": 21}, "Repeats 21 is out of range: use 1 to 20"),
    ],
)
def test_bad_variants_and_repeats_are_refused(change: dict[str, object], message: str) -> None:
    spec = make_spec("Hi {topic}", ["x"], (A,))
    with pytest.raises(SpecError, match=message):
        replace(spec, **change).validate()  # type: ignore[arg-type]


def test_a_sweep_out_of_range_or_too_wide_is_refused() -> None:
    with pytest.raises(SpecError, match=r"a: Temperature 2.5 is out of range"):
        make_spec("Hi", [], (replace(A, sweep=ParamSweep(temperature=(0.0, 2.5))),))
    wide = replace(A, sweep=ParamSweep(temperature=tuple(i / 10 for i in range(20)), seed=(1, 2)))
    many = tuple(replace(wide, model=f"m{i}") for i in range(6))  # 6 x 40 = 240 columns
    with pytest.raises(SpecError, match=r"240 columns .* at most 200"):
        make_spec("Hi", [], many)


def test_a_seed_sweep_seeds_the_simulated_text_too() -> None:
    sim = replace(ModelProfile(provider=ProviderKind.SIMULATED), sweep=ParamSweep(seed=(3, 4)))
    spec = make_spec("Hi", [], (sim,))
    assert [(c.model.seed, c.model.sim.seed) for c in spec.columns] == [(3, 3), (4, 4)]


def test_the_spec_round_trips_through_plain_data() -> None:
    profile = replace(A, top_p=0.5, seed=9, sweep=ParamSweep(temperature=(0.0, 1.0)))
    spec = make_spec(
        "Hi {topic}",
        ["x"],
        (profile,),
        system="S1",
        template_variants=("Yo {topic}",),
        system_variants=("S2",),
        repeats=4,
    )
    back = spec_from_dict(spec_to_dict(spec))
    assert back == spec
    assert back.headers == spec.headers
    # An older spec (no variants, repeats or sweeps) writes nothing new.
    plain = spec_to_dict(make_spec("Hi", [], (A,)))
    assert not {"template_variants", "system_variants", "repeats"} & plain.keys()
    assert not {"top_p", "seed", "sweep"} & plain["models"][0].keys()


def test_variant_ids_run_past_z() -> None:
    assert [variant_id(i) for i in (0, 1, 25, 26, 27)] == ["A", "B", "Z", "AA", "AB"]


@pytest.mark.parametrize("strategy", [Strategy.STREAM, Strategy.GATHER, Strategy.AS_COMPLETED])
async def test_repeats_and_sweeps_run_concurrently_under_the_same_limits(
    strategy: Strategy,
) -> None:
    """5 samples x 3 temperatures x 2 models x 4 inputs: every cell ends once, the run never
    has more than its limit in flight, and the one-slot model never more than one."""
    backend = FakeBackend(Script(latency=0.02, chunks=2))
    local = replace(A, model="local", max_concurrency=1, sweep=ParamSweep(temperature=(0, 0.5, 1)))
    cloud = replace(B, model="cloud", sweep=ParamSweep(temperature=(0, 0.5, 1)))
    spec = make_spec(
        "Tell me about {topic}",
        [f"t{i}" for i in range(4)],
        (local, cloud),
        strategy,
        Limits(max_concurrency=6),
        repeats=5,
    )
    run = Run(spec, backend)
    rec = Recorder()
    run.subscribe(rec)
    summary = await run.wait()
    assert summary.total == summary.done == 4 * 6 * 5
    ended = [e.cell_id for e in rec.named("CellFinished")]
    assert sorted(ended) == sorted(spec.cell_list().ids())
    # The run's limit holds across samples and columns (how close a busy machine's 20 ms
    # answers come to it is timing, so only that they overlapped at all is asserted).
    assert 2 <= backend.peak <= 6
    assert backend.peak_by_model["local"] == 1  # one gate per model, shared by its columns
    assert 2 <= backend.peak_by_model["cloud"] <= 6


async def test_samples_of_one_cell_run_at_the_same_time() -> None:
    """Repeats of one cell are concurrent, not one after another."""
    backend = FakeBackend(Script(latency=0.05, chunks=2))
    spec = make_spec(
        "Hi {topic}", ["x"], (A,), Strategy.STREAM, Limits(max_concurrency=8), repeats=5
    )
    summary = await Run(spec, backend).wait()
    assert summary.done == 5
    assert backend.peak == 5


def test_generated_code_says_what_of_the_columns_it_leaves_out() -> None:
    from gui.core.codegen import python_snippet

    spec = make_spec(
        "Hi {topic}",
        ["x"],
        (replace(A, sweep=ParamSweep(temperature=(0.0, 1.0))),),
        template_variants=("Yo {topic}",),
        repeats=3,
    )
    code = " ".join(python_snippet(spec).split())
    assert (
        "Not included: 1 more prompt variant(s), the sweep of temperature, 3 samples per cell "
        "(4 columns in the app); this code runs the first variant once per model." in code
    )
    compile(python_snippet(spec), "<snippet>", "exec")
    assert "Not included: 1 more" not in python_snippet(make_spec("Hi {topic}", ["x"], (A,)))
