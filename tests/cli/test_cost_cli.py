"""Tokens and cost on the command line: --price, --budget, --estimate and the --json fields."""

from __future__ import annotations

import json

import pytest

from gui.cli import main
from gui.core.pricing import PriceEntry
from gui.storage.prices import PriceStore
from tests.support.openai_server import FakeOpenAIServer

FAST = ["--sim-ttft", "0.01", "--sim-tps", "0", "--sim-tokens", "12", "--seed", "1"]


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def local(srv: FakeOpenAIServer, *argv: str) -> list[str]:
    return ["run", "--provider", "openai", "--base-url", srv.base_url, "-m", "fake-1", *argv]


def test_json_results_carry_tokens_and_cost_to_the_cent(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with FakeOpenAIServer(models=["fake-1"], tokens=6) as srv:
        code, out, err = run_cli(
            capsys,
            *local(srv, "-p", "Tell me about {topic}", "-t", "cats", "-t", "big dogs"),
            "--price",
            "fake-1=10000:20000",  # a cent per input token, two per output token
            "--json",
        )
    assert code == 0, err
    data = json.loads(out)
    fields = [
        (r["input_tokens"], r["output_tokens"], r["tokens_estimated"], r["cost_usd"])
        for r in data["results"]
    ]
    assert fields == [(4, 6, False, 0.16), (5, 6, False, 0.17)]
    cost = data["summary"]["cost"]
    assert (cost["input_tokens"], cost["output_tokens"], cost["cost_usd"]) == (9, 12, 0.33)
    assert [(c["model"], c["cost_usd"]) for c in cost["columns"]] == [("fake-1", 0.33)]


def test_a_local_server_costs_nothing_and_an_unknown_host_has_no_price(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    with FakeOpenAIServer(models=["fake-1"], tokens=3) as srv:
        code, out, err = run_cli(capsys, *local(srv, "-t", "cats", "--json"))
    assert code == 0, err
    (result,) = json.loads(out)["results"]
    assert result["cost_usd"] == 0.0  # 127.0.0.1: a server on this machine is free
    code, out, err = run_cli(
        capsys,
        "run",
        "--provider",
        "openai",
        "--base-url",
        "https://llm.example.com/v1",
        "-m",
        "their-model",
        "-t",
        "cats",
        "--estimate",
        "--json",
    )
    assert code == 0, err
    est = json.loads(out)["estimate"]
    assert est["cost_usd"] is None and est["unpriced_columns"] == ["their-model"]
    assert "no price" in est["line"]


def test_estimate_prints_and_exits_without_running(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(
        capsys,
        "run",
        "-t",
        "cats",
        "-t",
        "dogs",
        "--max-tokens",
        "50",
        "--price",
        "sim-1=1000:2000",
        "--estimate",
        "--json",
        "--no-history",
        *FAST,
    )
    assert code == 0, err
    est = json.loads(out)["estimate"]
    assert est["cells"] == 2 and est["output_tokens"] == 100
    assert est["cost_usd"] == pytest.approx((est["input_tokens"] * 1000 + 100 * 2000) / 1e6)
    code, out, _ = run_cli(capsys, "run", "-t", "cats", "--estimate", *FAST)
    assert code == 0 and out.strip().splitlines()[-1].startswith("est. ")


def test_the_budget_stops_cells_and_the_summary_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(
        capsys,
        "run",
        "-t",
        "a",
        "-t",
        "b",
        "-t",
        "c",
        "--price",
        "sim-1=1000:2000",
        "--budget",
        "0.05",
        "--max-concurrency",
        "1",
        "--json",
        *FAST,
    )
    data = json.loads(out)
    assert code == 1  # not every cell ran
    statuses = [r["status"] for r in data["results"]]
    assert statuses[0] == "done" and "cancelled" in statuses
    refused = [r for r in data["results"] if r["status"] == "cancelled"]
    assert all(r["error"].startswith("budget reached ($") for r in refused)
    assert data["summary"]["cost"]["budget_note"].endswith("not started")


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--budget", "0"], "more than 0 dollars"),
        (["--budget", "-3"], "more than 0 dollars"),
        (["--price", "sim-1=-1:2"], "0 or more"),
        (["--price", "sim-1"], "MODEL=IN:OUT"),
    ],
)
def test_bad_cost_options_are_refused_in_one_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], says: str
) -> None:
    code, _, err = run_cli(capsys, "run", "-t", "cats", *argv, *FAST)
    assert code == 2
    assert says in err and len(err.strip().splitlines()) == 1


def test_saved_prices_apply_and_price_options_win(capsys: pytest.CaptureFixture[str]) -> None:
    from gui.core.pricing import Price

    PriceStore().save([PriceEntry("sim-1", Price(1000, 1000))])
    code, out, _ = run_cli(capsys, "run", "-t", "cats", "--estimate", "--json", *FAST)
    assert code == 0
    saved = json.loads(out)["estimate"]["cost_usd"]
    code, out, _ = run_cli(
        capsys, "run", "-t", "cats", "--estimate", "--json", "--price", "sim-1=0:0", *FAST
    )
    assert code == 0
    assert saved > 0 and json.loads(out)["estimate"]["cost_usd"] == 0


def test_estimating_an_openai_run_needs_no_key(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    code, out, err = run_cli(
        capsys,
        "run",
        "--provider",
        "openai",
        "-m",
        "gpt-4o-mini",
        "-p",
        "hello world, how are you",
        "--max-tokens",
        "100",
        "--estimate",
        "--json",
    )
    assert code == 0, err
    est = json.loads(out)["estimate"]
    # Counted with the bundled tokenizer: 6 tokens + 4 for the message, exact.
    assert (est["input_tokens"], est["output_tokens"], est["estimated"]) == (10, 100, False)
    assert est["cost_usd"] == pytest.approx((10 * 0.15 + 100 * 0.60) / 1e6)


def test_a_sweep_is_priced_per_column_and_every_sample_is_paid_for(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with FakeOpenAIServer(models=["fake-1"], tokens=6) as srv:
        code, out, err = run_cli(
            capsys,
            *local(srv, "-p", "Tell me about {topic}", "-t", "cats"),
            "--temperature",
            "0",
            "--temperature",
            "0.7",
            "--repeat",
            "2",
            "--price",
            "fake-1=10000:20000",
            "--json",
        )
    assert code == 0, err
    data = json.loads(out)
    assert len(data["results"]) == 4  # 2 temperatures x 2 samples, each a paid request
    assert {r["cost_usd"] for r in data["results"]} == {0.16}
    cost = data["summary"]["cost"]
    assert cost["cost_usd"] == 0.64
    assert [(c["header"], c["cost_usd"]) for c in cost["columns"]] == [
        ("fake-1 · t=0", 0.32),
        ("fake-1 · t=0.7", 0.32),
    ]
