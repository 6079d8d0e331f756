"""Saved profiles on the command line: run on one by name (its key from the keyring), list them."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from gui.cli import main
from gui.core.spec import ModelProfile, ProviderKind, SimSettings
from gui.storage.profiles import ProfileStore, SavedProfile
from gui.storage.secrets import KeyStore
from tests.support.openai_server import FakeOpenAIServer

KEY = "sk-cli-profile-5521"


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(models=["fake-1"], api_key=KEY, tokens=4) as srv:
        yield srv


@pytest.fixture
def saved(server: FakeOpenAIServer) -> Iterator[None]:
    KeyStore().set("work", KEY)  # the session's in-memory keyring (tests/conftest.py)
    ProfileStore().save(
        [
            SavedProfile(
                "work",
                ModelProfile(
                    model="fake-1",
                    provider=ProviderKind.OPENAI,
                    base_url=server.base_url,
                    api_key_env="FANOUT_UNSET_VAR",
                    key_ref="work",
                    max_concurrency=2,
                ),
            ),
            SavedProfile(
                "quick",
                ModelProfile(
                    model="sim-q", sim=SimSettings(ttft=0.0, tokens_per_second=0, output_tokens=5)
                ),
            ),
        ]
    )
    yield
    KeyStore().delete("work")


def test_run_on_saved_profiles_uses_the_key_from_the_keyring(
    saved: None, server: FakeOpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["run", "-P", "work", "-P", "quick", "-p", "About {topic}", "-t", "owls", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    data = json.loads(out)
    assert [r["model"] for r in data["results"]] == ["work", "quick"]
    assert all(r["status"] == "done" for r in data["results"])
    assert server.requests[0].headers["authorization"] == f"Bearer {KEY}"
    assert KEY not in out and KEY not in err


def test_compare_on_a_saved_profile_sends_its_key_under_every_strategy(
    saved: None, server: FakeOpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["compare", "-P", "work", "-p", "About {topic}", "-t", "owls", "-t", "bats"]
    code = main([*argv, "--strategies", "sequential,gather", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert [r["strategy"] for r in json.loads(out)["strategies"]] == ["sequential", "gather"]
    assert len(server.requests) == 4  # two cells under each strategy
    assert {r.headers["authorization"] for r in server.requests} == {f"Bearer {KEY}"}
    assert KEY not in out and KEY not in err


def test_an_unknown_profile_is_one_line_naming_the_saved_ones(
    saved: None, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["run", "-P", "nope", "-t", "x"])
    _out, err = capsys.readouterr()
    assert code == 2
    assert (
        err.strip() == "fanout-studio run: error: no saved profile 'nope' (profiles: quick, work)"
    )


def test_profiles_are_listed_without_keys(saved: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profiles"]) == 0
    out, _ = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["NAME", "PROVIDER", "MODEL"]
    assert "work" in lines[1] and "system keyring" in lines[1] and "2" in lines[1]
    assert "quick" in lines[2] and "none needed" in lines[2]
    assert KEY not in out
    assert main(["profiles", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["key"] == "system keyring" and rows[0]["max_concurrency"] == 2


def test_no_profiles_yet(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profiles"]) == 0
    assert "No saved profiles" in capsys.readouterr().out
