"""``run --cache`` and ``run --json-schema FILE`` as a script author would use them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gui.cli import main
from tests.support.openai_server import FakeOpenAIServer, schema_answers

PERSON = {
    "title": "Person",
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
}


def served(srv: FakeOpenAIServer) -> list[str]:
    return ["--provider", "openai", "--base-url", srv.base_url, "-m", "fake-1", "--retries", "0"]


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, object]]:
    code = main(["run", "-p", "About {topic}", "-t", "owls", "-t", "tides", "--json", *argv])
    out, err = capsys.readouterr()
    assert out, err
    return code, json.loads(out)


def test_the_second_cached_run_makes_no_request_and_says_cached(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    with FakeOpenAIServer(models=["fake-1"], tokens=4) as srv:
        code, first = run_json(capsys, "--cache", "--temperature", "0", *served(srv))
        assert code == 0
        assert [r["cached"] for r in first["results"]] == [False, False]  # type: ignore[index]
        assert len(srv.requests) == 2
        srv.reset_stats()
        code, second = run_json(capsys, "--cache", "--temperature", "0", *served(srv))
        assert code == 0
        assert srv.requests == []
        assert [r["cached"] for r in second["results"]] == [True, True]  # type: ignore[index]
        outputs = [r["output"] for r in second["results"]]  # type: ignore[index]
        assert outputs == [r["output"] for r in first["results"]]  # type: ignore[index]
        # --no-cache (the default) asks the server again.
        code, _ = run_json(capsys, "--no-cache", "--temperature", "0", *served(srv))
        assert len(srv.requests) == 2


def test_a_json_schema_run_carries_parsed_and_schema_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    schema = tmp_path / "person.json"
    schema.write_text(json.dumps(PERSON), encoding="utf-8")
    with FakeOpenAIServer(models=["fake-1"], tokens=4) as srv:
        srv.behave(schema_answers("valid"))
        code, data = run_json(capsys, "--json-schema", str(schema), *served(srv))
        assert code == 0
        for item in data["results"]:  # type: ignore[attr-defined]
            assert item["parsed"] == {"name": "text", "age": 1}
            assert item["schema_error"] is None
        srv.behave(schema_answers("invalid_json"))
        code, data = run_json(capsys, "--json-schema", str(schema), *served(srv))
        assert code == 0  # the server finished: the cells are done, marked, not failed
        for item in data["results"]:  # type: ignore[attr-defined]
            assert item["status"] == "done"
            assert item["parsed"] is None
            assert "not JSON" in item["schema_error"]
            assert item["output"] == '{"answer": "cut here'


@pytest.mark.parametrize(
    ("content", "says"),
    [("{not json", "not JSON"), ('{"type": "objekt"}', "Invalid JSON schema")],
)
def test_a_bad_schema_file_is_refused_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, says: str
) -> None:
    schema = tmp_path / "bad.json"
    schema.write_text(content, encoding="utf-8")
    code = main(["run", "-t", "owls", "--json-schema", str(schema), "--json"])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert says in err and len(err.strip().splitlines()) <= 2
    code = main(["run", "-t", "owls", "--json-schema", str(tmp_path / "missing.json")])
    _, err = capsys.readouterr()
    assert code == 2 and "cannot read" in err


def test_a_stored_structured_run_shows_its_marks_and_keeps_its_verdicts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    schema = tmp_path / "person.json"
    schema.write_text(json.dumps(PERSON), encoding="utf-8")
    fast = ["--sim-ttft", "0.01", "--sim-tps", "0", "--seed", "1"]
    code, ran = run_json(capsys, "--json-schema", str(schema), "--cache", *fast)
    assert code == 0 and ran["saved"]
    marks = ["schema ✓" if r["schema_error"] is None else "schema ✗" for r in ran["results"]]  # type: ignore[attr-defined]
    assert main(["show", str(ran["run_id"])]) == 0
    text = capsys.readouterr().out
    assert [line for line in text.splitlines() if line.startswith("──")] and all(
        mark in text for mark in marks
    )
    assert main(["show", str(ran["run_id"]), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["spec"]["json_schema"] == PERSON
    stored = [c["metrics"] for c in shown["cells"]]
    assert [m["schema_error"] for m in stored] == [r["schema_error"] for r in ran["results"]]  # type: ignore[attr-defined]
    assert all(m["cached"] is False and m["schema_valid"] is not None for m in stored)
