"""Prices, the pre-run estimate and the budget setting: lookups, arithmetic, refusals."""

from __future__ import annotations

import pytest

from gui.core.errors import SpecError
from gui.core.estimate import OUTPUT_GUESS, PAUSE_EVERY, PER_MESSAGE_TOKENS, estimate_run
from gui.core.pricing import (
    FREE,
    STARTER_PRICES,
    Price,
    PriceEntry,
    PriceTable,
    entries_from_list,
    entries_to_list,
    format_usd,
    parse_price_option,
)
from gui.core.spec import Limits, ModelProfile, ProviderKind, RunSpec, spec_from_dict, spec_to_dict
from gui.providers.tokens import count_tokens

OPENAI = ProviderKind.OPENAI


def test_a_price_is_found_for_the_model_on_its_server_first() -> None:
    table = PriceTable(STARTER_PRICES).with_entries(
        [
            PriceEntry("gpt-4o-mini", Price(1, 2), "https://proxy.example.com/v1/"),
            PriceEntry("llama3", Price(0.5, 0.5)),
        ]
    )
    hosted = ModelProfile("gpt-4o-mini", OPENAI)
    proxied = ModelProfile("gpt-4o-mini", OPENAI, base_url="https://proxy.example.com/v1")
    elsewhere = ModelProfile("gpt-4o-mini", OPENAI, base_url="https://other.example.com/v1")
    assert table.price_for(hosted) == Price(0.15, 0.60)
    assert table.price_for(proxied) == Price(1, 2)
    assert table.price_for(elsewhere) is None  # unknown: never a made-up number
    # An entry without a server applies everywhere, a local server included.
    assert table.price_for(
        ModelProfile("llama3", OPENAI, base_url="http://localhost:11434/v1")
    ) == Price(0.5, 0.5)
    assert (
        table.price_for(ModelProfile("qwen", OPENAI, base_url="http://127.0.0.1:8000/v1")) == FREE
    )
    assert table.price_for(ModelProfile("sim-1")) == FREE


def test_cost_arithmetic_is_exact_to_the_cent() -> None:
    price = Price(2.50, 10.00)  # gpt-4o: $2.50 in, $10 out per 1M tokens
    assert round(price.cost(1_000_000, 0), 2) == 2.50
    assert round(price.cost(12_345, 6_789), 2) == 0.10  # 0.0308625 + 0.06789
    assert round(price.cost(400_000, 200_000), 2) == 3.00


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (None, "no price"),
        (0.0, "$0"),
        (0.00123, "$0.0012"),
        (0.0123, "$0.0123"),
        (0.3, "$0.30"),
        (0.125, "$0.125"),
        (12.345, "$12.35"),
        (1234.5, "$1,234"),
    ],
)
def test_dollars_read_as_a_user_expects(value: float | None, shown: str) -> None:
    assert format_usd(value) == shown


def test_the_price_option_reads_model_in_out() -> None:
    assert parse_price_option("gpt-4o-mini=0.15:0.6") == PriceEntry("gpt-4o-mini", Price(0.15, 0.6))
    assert parse_price_option("org/model:7b=1:2").model == "org/model:7b"


@pytest.mark.parametrize("text", ["gpt-4o", "=1:2", "m=1", "m=a:b", "m=-1:2", "m=1:nan"])
def test_a_bad_price_option_is_refused_with_the_fix(text: str) -> None:
    with pytest.raises(SpecError, match=r"MODEL=IN:OUT|0 or more"):
        parse_price_option(text)


@pytest.mark.parametrize("budget", [0.0, -1.0, float("nan")])
def test_a_budget_of_nothing_is_refused(budget: float) -> None:
    with pytest.raises(SpecError, match="more than 0 dollars"):
        Limits().changed(budget_usd=budget)


def test_prices_and_budget_travel_with_the_spec() -> None:
    spec = RunSpec(
        "Hi {x}",
        ({"x": "a"},),
        (ModelProfile(),),
        limits=Limits(budget_usd=1.5),
        prices=(PriceEntry("sim-1", Price(1, 2)),),
    )
    back = spec_from_dict(spec_to_dict(spec))
    assert back.prices == spec.prices and back.limits.budget_usd == 1.5
    assert entries_from_list(entries_to_list(STARTER_PRICES)) == STARTER_PRICES
    assert entries_from_list([{"model": "x", "input_per_m": -1, "output_per_m": 1}, "junk"]) == ()


def test_the_estimate_uses_max_tokens_or_a_marked_guess() -> None:
    spec = RunSpec(
        "Tell me about {topic}",  # 14 characters + the topic
        ({"topic": "cats"}, {"topic": "dogs"}),
        (
            ModelProfile("priced", OPENAI, base_url="https://example.com/v1", max_tokens=100),
            ModelProfile("guess", OPENAI, base_url="https://example.com/v1"),
            ModelProfile("unknown", OPENAI, base_url="https://unknown.example.com/v1"),
        ),
        prices=(
            PriceEntry("priced", Price(10_000, 20_000)),
            PriceEntry("guess", Price(10_000, 20_000)),
        ),
    )
    est = estimate_run(spec)
    prompt = 5 + PER_MESSAGE_TOKENS  # ceil(18 / 4) + the message's own tokens
    priced, guess, unknown = est.columns
    assert (priced.input_tokens, priced.output_tokens) == (2 * prompt, 200)
    assert priced.cost_usd == pytest.approx((2 * prompt) * 0.01 + 200 * 0.02)
    assert guess.output_tokens == 2 * OUTPUT_GUESS and guess.estimated
    assert unknown.cost_usd is None
    assert est.unpriced == ("unknown",)
    assert est.line().startswith("est. ~$")
    assert "1 column(s) with no price" in est.line()


def test_a_big_estimate_pauses_now_and_then_and_counts_the_same() -> None:
    """The window counts in a worker thread and hands the GIL to a busy GUI thread at each
    pause; the pauses change nothing in the count."""
    rows = tuple({"topic": f"topic {i}"} for i in range(10 * PAUSE_EVERY))
    spec = RunSpec("Tell me about {topic}", rows, (ModelProfile("a"), ModelProfile("b")))
    pauses: list[int] = []
    paused = estimate_run(spec, pause=lambda: pauses.append(1))
    assert len(pauses) == 20  # 1,280 cells, a pause after each 64
    assert paused == estimate_run(spec)


def test_the_recent_average_replaces_the_guess() -> None:
    spec = RunSpec("Hi", ({},), (ModelProfile("m", OPENAI, base_url="https://example.com/v1"),))
    assert estimate_run(spec, recent_output={0: 41.2}).columns[0].output_tokens == 42


def test_a_sweeps_estimate_names_each_column_by_its_header() -> None:
    """Two temperatures of one model are two columns: the estimate tells them apart."""
    from gui.core.columns import ParamSweep

    swept = ModelProfile("sim-1", sweep=ParamSweep(temperature=(0.0, 0.7)))
    spec = RunSpec("Hi {topic}", ({"topic": "cats"},), (swept,), repeats=2)
    est = estimate_run(spec)
    assert [c.label for c in est.columns] == spec.headers == ["sim-1 · t=0", "sim-1 · t=0.7"]
    assert [c.cells for c in est.columns] == [2, 2]  # every sample counted


def test_openai_prompts_are_counted_with_the_bundled_tokenizer() -> None:
    hosted = ModelProfile("gpt-4o-mini", OPENAI)
    local = ModelProfile("llama3", OPENAI, base_url="http://localhost:11434/v1")
    count, exact = count_tokens(hosted, "hello world, how are you")
    assert (count, exact) == (6, True)
    assert count_tokens(local, "hello world, how are you") == (6, False)  # 24 chars / 4


def test_the_scoreboard_sums_cost_per_column_and_per_correct_answer() -> None:
    from gui.core.scoreboard import ScoreCell, summarize_models

    cells = [
        ScoreCell(0, 0, "done", {"cost": 0.02, "checks": 1.0}),
        ScoreCell(1, 0, "done", {"cost": 0.03, "checks": 0.5}),
        ScoreCell(0, 1, "done", {"checks": 1.0}),  # no price
        ScoreCell(1, 1, "failed"),
    ]
    priced, unpriced = summarize_models(["a", "b"], cells)
    assert priced.cost_usd == pytest.approx(0.05)
    assert priced.usd_per_correct == pytest.approx(0.05)  # one answer passed every check
    assert (unpriced.cost_usd, unpriced.usd_per_correct) == (None, None)
    assert priced.to_dict()["cost_usd"] == pytest.approx(0.05)


def test_the_starter_table_has_checked_prices_and_no_shut_down_model() -> None:
    # Checked against OpenAI's published prices (see STARTER_PRICES): a model OpenAI has shut
    # down has no starter price, so a run on it says "no price" instead of an old figure.
    table = PriceTable(STARTER_PRICES)
    assert table.price_for(ModelProfile("gpt-5-nano", OPENAI)) == Price(0.05, 0.40)
    assert table.price_for(ModelProfile("o3", OPENAI)) == Price(2.00, 8.00)
    for gone in ("gpt-3.5-turbo", "gpt-4.1-nano"):
        assert table.price_for(ModelProfile(gone, OPENAI)) is None
    assert all(e.base_url == "https://api.openai.com/v1" for e in STARTER_PRICES)
