"""A profiles file with an entry this version does not understand keeps every other profile."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gui.cli import main
from gui.core.spec import ModelProfile
from gui.storage import paths
from gui.storage.profiles import ProfileStore, SavedProfile

FUTURE = {
    "name": "claude",
    "profile": {"model": "claude-x", "provider": "anthropic", "thinking": {"budget": 4}},
}
WRONG_TYPE = {"name": "typo", "profile": {"model": "sim-t", "max_tokens": "lots"}}
GOOD = {
    "name": "quick",
    "profile": {
        "model": "sim-q",
        "sim": {"ttft": 0.0, "tokens_per_second": 0, "output_tokens": 3, "seed": 1},
    },
}


@pytest.fixture
def mixed_file() -> Path:
    path = paths.profiles_path()
    path.write_text(
        json.dumps({"format": 1, "profiles": [FUTURE, GOOD, WRONG_TYPE]}), encoding="utf-8"
    )
    return path


def test_the_other_profiles_stay_usable_and_the_unknown_one_is_kept_on_save(
    mixed_file: Path,
) -> None:
    store = ProfileStore()
    assert [p.name for p in store.load()] == ["quick"]
    assert store.notice is None  # nothing was moved aside
    reasons = {u.name: u.reason for u in store.unsupported}
    assert reasons == {
        "claude": 'provider "anthropic" is not supported by this version',
        "typo": "field 'max_tokens' must be a whole number, not \"lots\"",
    }
    store.upsert(SavedProfile("new", ModelProfile(model="sim-n")))
    entries = json.loads(mixed_file.read_text(encoding="utf-8"))["profiles"]
    assert entries[0] == FUTURE and entries[2] == WRONG_TYPE  # untouched, in their places
    assert [e["name"] for e in entries] == ["claude", "quick", "typo", "new"]
    store.delete("quick")
    entries = json.loads(mixed_file.read_text(encoding="utf-8"))["profiles"]
    assert sorted(e["name"] for e in entries) == ["claude", "new", "typo"]
    assert FUTURE in entries and WRONG_TYPE in entries


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("temperature", "hot", "field 'temperature' must be a number"),
        ("max_concurrency", 2.5, "field 'max_concurrency' must be a whole number"),
        ("base_url", 8080, "field 'base_url' must be text"),
        ("max_tokens", True, "field 'max_tokens' must be a whole number"),
        ("sim", {"ttft": "fast"}, "field 'sim.ttft' must be a number"),
        ("temperature", 7, "Temperature 7 is outside 0..2"),
    ],
)
def test_a_wrong_typed_field_is_named(field: str, value: object, words: str) -> None:
    paths.profiles_path().write_text(
        json.dumps({"profiles": [{"name": "p", "profile": {"model": "m", field: value}}]}),
        encoding="utf-8",
    )
    store = ProfileStore()
    assert store.load() == []
    (bad,) = store.unsupported
    assert bad.reason.startswith(words)


def test_profiles_lists_the_unsupported_entry_and_run_refuses_it_by_field(
    mixed_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["profiles"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    lines = out.splitlines()
    assert lines[1].startswith("quick") and "simulated" in lines[1]
    assert lines[2].split()[:2] == ["claude", "unsupported:"]
    assert "'max_tokens' must be a whole number" in lines[3]

    assert main(["profiles", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(p["name"], p["supported"]) for p in listed] == [
        ("quick", True),
        ("claude", False),
        ("typo", False),
    ]

    assert main(["run", "--profile", "quick", "--json", "-q"]) == 0
    assert json.loads(capsys.readouterr().out)["summary"]["done"] == 3  # the seed topics

    assert main(["run", "--profile", "typo"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err == (
        "fanout-studio run: error: profile 'typo' cannot be used by this version: "
        "field 'max_tokens' must be a whole number, not \"lots\"\n"
    )
    assert "internal error" not in err
