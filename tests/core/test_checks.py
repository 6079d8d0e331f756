"""Deterministic checks: every kind passes and fails on crafted answers, bad definitions are
refused with the fix, the python check stays in its sandbox, and the engine checks each done
cell after its end and before the run's end."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from gui.core import events as ev
from gui.core.checking import CheckRunner, evaluate_checks
from gui.core.checks import (
    KINDS,
    Check,
    CheckError,
    CheckResult,
    check_from_dict,
    check_to_dict,
    checks_from_json,
    parse_check,
    pass_rate,
    results_from_json,
    results_to_json,
    validate_check,
)
from gui.core.runner import Run
from gui.core.spec import Limits, ModelProfile, make_spec, spec_from_dict, spec_to_dict
from tests.core.fakes import FakeBackend, FakeHTTPError, Recorder, Script

ROW = {"topic": "cats", "mood": "dry"}


def one(line: str, output: str, row: dict[str, str] | None = None) -> CheckResult:
    check = parse_check(line)
    validate_check(check, list(ROW))
    (result,) = evaluate_checks([check], output, ROW if row is None else row)
    return result


# ------------------------------------------------------------------ every kind, both ways


@pytest.mark.parametrize(
    ("line", "passing", "failing", "why"),
    [
        ("contains:{topic}", "I like cats.", "I like dogs.", "does not contain 'cats'"),
        ("contains/i:{topic}", "CATS rule", "dogs rule", "does not contain 'cats'"),
        ("not-contains:As an AI", "Sure: a joke.", "As an AI, I cannot.", "contains 'As an AI'"),
        ("equals:yes", "  yes\n", "yes!", "is not 'yes'"),
        ("equals/i:YES", "yes", "no", "is not 'YES'"),
        ("starts-with:Dear", "Dear Sir", "Hello Dear", "starts with 'Hello Dear', not 'Dear'"),
        (r"regex:^\d+\.", "1. first", "first", r"no match for /^\d+\./"),
        ("regex/i:^cats", "Cats are", "Dogs are", "no match for /^cats/"),
        ("regex/m:^b$", "a\nb\nc", "a b c", "no match for /^b$/"),
        ("regex:about {topic}$", "a joke about cats", "about cats!", "no match for /about cats$/"),
        ("is-json", '{"a": 1}', "{'a': 1}", "not JSON"),
        ("max-words:3", "one two three", "one two three four", "4 words, at most 3"),
        ("min-words:3", "one two three", "one two", "2 words, at least 3"),
        ("max-chars:5", "12345", "123456", "6 characters, limit 5"),
        ("python:len(output.split()) < 4 and topic in output", "cats!", "dogs!", "value False"),
    ],
)
def test_each_kind_passes_and_fails_with_the_reason(
    line: str, passing: str, failing: str, why: str
) -> None:
    ok = one(line, passing)
    assert ok.passed, ok.detail
    bad = one(line, failing)
    assert not bad.passed
    assert why in bad.detail


def test_every_kind_is_covered_above() -> None:
    assert set(KINDS) == {
        "contains",
        "not-contains",
        "equals",
        "starts-with",
        "regex",
        "is-json",
        "json-schema",
        "max-words",
        "min-words",
        "max-chars",
        "python",
    }


SCHEMA = {
    "type": "object",
    "required": ["name", "age"],
    "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}},
}


def test_json_schema_names_the_failing_path_and_accepts_a_code_fence() -> None:
    line = "json-schema:" + json.dumps(SCHEMA)
    ok = one(line, '```json\n{"name": "Tom", "age": 3}\n```')
    assert ok.passed and "code fence" in ok.detail
    bad = one(line, '{"name": "Tom", "age": -1}')
    assert not bad.passed
    assert bad.detail.startswith("at age:") and "minimum" in bad.detail
    missing = one(line, '{"name": "Tom"}')
    assert not missing.passed and "'age' is a required property" in missing.detail
    assert "not JSON" in one(line, "Tom, 3").detail
    deep = one("is-json", "[" * 100_000 + "]" * 100_000)
    assert not deep.passed and "error: RecursionError" in deep.detail
    remote = one('json-schema:{"$ref": "https://example.com/schema.json"}', "{}")
    assert not remote.passed and "Unresolvable: https://example.com/schema.json" in remote.detail


def test_a_regex_fills_known_variables_escaped_and_keeps_quantifiers() -> None:
    assert one(r"regex:^\d{3} {topic}", "123 c.ts", {"topic": "c.ts"}).passed
    # The variable's dot is escaped: "cats" does not match "c.ts".
    assert not one(r"regex:^\d{3} {topic}", "123 cats", {"topic": "c.ts"}).passed


def test_a_variable_with_a_lone_surrogate_is_checked_as_it_was_sent() -> None:
    # The model got U+FFFD where the input had an undecodable byte (a UTF-8 request cannot
    # carry it), so an answer repeating the input contains U+FFFD there.
    row = {"topic": "caf\udcff"}
    assert one("contains:{topic}", "about caf\ufffd here", row).passed
    assert one("regex:caf. {topic}", "caf\ufffd caf\ufffd", row).passed


def test_pass_rate_is_the_weighted_share() -> None:
    results = [
        CheckResult("a", "contains", True, "", 3.0),
        CheckResult("b", "contains", False, "", 1.0),
    ]
    assert pass_rate(results) == pytest.approx(0.75)
    assert pass_rate([]) is None
    assert results_from_json(results_to_json(results)) == tuple(results)


# ------------------------------------------------------------------ syntax and refusals


def test_the_one_line_form_reads_options_flags_and_round_trips() -> None:
    check = parse_check(r"name=starts with a digit;weight=2;regex/im:^\d")
    assert check == Check("regex", r"^\d", "starts with a digit", 2.0, True, "m")
    assert parse_check(check.line()) == check
    assert check.label == "starts with a digit"
    assert parse_check("is-json") == Check("is-json")
    assert parse_check("contains:a:b").value == "a:b"  # only the first colon separates
    assert parse_check("Not_Contains/I:x") == Check("not-contains", "x", ignore_case=True)
    assert check_from_dict(check_to_dict(check)) == check


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("regex:(ab", "Invalid regex at position 1"),
        ("regex:a{2,1}", "Invalid regex at position"),
        ('json-schema:{"type": "integer2"}', "Invalid JSON schema: keyword 'type'"),
        (
            'json-schema:{"properties": {"age": {"minimum": "zero"}}}',
            "keyword 'minimum' (at properties/age/minimum)",
        ),
        ("json-schema:{nope", "The JSON schema is not JSON"),
        ("contains:{topc}", "Did you mean {topic}?"),
        ("regex:{moood}", "Did you mean {mood}?"),
        ("python:topik in output", "Did you mean topic?"),
        ("max-words:fifty", "max-words needs a whole number, not 'fifty'"),
        ("max-chars:-3", "needs a whole number"),
        ("containz:x", "Did you mean contains? Kinds: contains, not-contains"),
        ("banana:x", "Unknown check kind 'banana'. Kinds: contains"),
        ("contains:", "needs a value after the colon"),
        ("weight=heavy;contains:x", "Weight 'heavy' is not a number"),
        ("weight=0;contains:x", "out of range"),
        ("contains/m:x", "for regex checks only"),
        ("regex/q:x", "Unknown regex flag 'q'"),
        ("max-words/i:3", "does not apply to max-words"),
        ("contains:{", "Unbalanced braces"),
    ],
)
def test_bad_checks_are_refused_with_the_fix(line: str, message: str) -> None:
    with pytest.raises(CheckError) as caught:
        validate_check(parse_check(line), list(ROW))
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_check_file_names_the_bad_check() -> None:
    good = checks_from_json(
        json.dumps(
            [
                {"kind": "contains", "value": "{topic}", "ignore_case": True},
                {"kind": "max-words", "value": 50, "weight": 2},
                {"kind": "json-schema", "schema": {"type": "object"}},
                "regex:^A",
            ]
        )
    )
    assert [c.kind for c in good] == ["contains", "max-words", "json-schema", "regex"]
    assert good[1].value == "50" and good[2].value == '{"type": "object"}'
    with pytest.raises(CheckError, match=r"checks\.json, check 2: Unknown check kind"):
        checks_from_json('[{"kind": "contains", "value": "a"}, {"kind": "nope"}]', "checks.json")
    with pytest.raises(CheckError, match="must hold a JSON list"):
        checks_from_json('{"kind": "contains"}')


def test_checks_round_trip_through_the_spec() -> None:
    spec = make_spec("About {topic}", ["cats"], [ModelProfile()])
    spec = replace(spec, checks=(parse_check("contains/i:{topic}"), parse_check("max-words:9")))
    assert spec_from_dict(json.loads(json.dumps(spec_to_dict(spec)))) == spec
    # A spec without checks writes no key (older readers see nothing new).
    assert "checks" not in spec_to_dict(replace(spec, checks=()))


def test_a_spec_with_a_bad_check_is_refused_before_the_run() -> None:
    spec = make_spec("About {topic}", ["cats"], [ModelProfile()])
    with pytest.raises(CheckError, match=r"Check 2: contains: \{topc\}"):
        replace(
            spec, checks=(parse_check("max-words:3"), parse_check("contains:{topc}"))
        ).validate()


# ------------------------------------------------------------------ the python sandbox


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("open('/etc/passwd').read()", "open is not available"),
        ("__import__('os').system('true')", "__import__ is not available"),
        ("import os", "not a Python expression"),
        ("output.__class__", "attribute .__class__ is not allowed"),
        ("().__class__.__bases__[0].__subclasses__()", "attribute .__subclasses__ is not allowed"),
        ("'{0.__class__}'.format(output)", "attribute .format is not allowed"),
        ("getattr(output, 'upper')()", "getattr is not available"),
        ("(lambda: 1)()", "lambda is not allowed"),
        ("eval('1')", "eval is not available"),
        ("[len][0](output)", "only named functions and methods can be called"),
    ],
)
def test_the_python_check_cannot_reach_files_modules_or_internals(expr: str, message: str) -> None:
    with pytest.raises(CheckError, match="python: ") as caught:
        validate_check(Check("python", expr), ["topic"])
    assert message in str(caught.value)


def test_a_python_check_that_slipped_validation_still_has_no_builtins() -> None:
    # The worker validates again; a stored spec edited by hand cannot bypass it.
    (result,) = evaluate_checks([Check("python", "open('/etc/passwd')")], "x", {})
    assert not result.passed and "not allowed" in result.detail


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("'a' * 10**10", "repetition too large"),
        ("9**9**9", "power too large"),
        ("1 << 10**9", "shift too large"),
    ],
)
def test_an_endless_expression_fails_with_a_message(expr: str, message: str) -> None:
    (result,) = evaluate_checks([Check("python", expr)], "x", {})
    assert not result.passed and message in result.detail


def test_a_runaway_check_is_stopped_by_the_time_limit_and_the_next_one_works() -> None:
    slow = Check("python", "len([1 for a in output * 400 for b in output * 400])")
    regex = Check("regex", "(a+)+$")
    results = evaluate_checks([slow, regex, Check("contains", "a")], "a" * 28 + "b", {}, 0.5)
    assert [r.passed for r in results] == [False, False, True]
    assert all(r.detail == "stopped: this check took over 0.5 s" for r in results[:2])
    (again,) = evaluate_checks([Check("python", "output.count('a')")], "aab", {}, 30)
    assert again.passed and again.detail == "value 2"


def test_a_runaway_check_does_not_fail_the_worker_checks_beside_it() -> None:
    # The regex and python checks before and after the runaway one are still evaluated.
    checks = [
        Check("regex", "^a+"),
        Check("python", "len([1 for a in output * 400 for b in output * 400])"),
        Check("python", "output.count('a') == 28"),
        Check("regex", "b$"),
    ]
    results = evaluate_checks(checks, "a" * 28 + "b", {}, 0.5)
    assert [r.passed for r in results] == [True, False, True, True]
    assert results[1].detail == "stopped: this check took over 0.5 s"
    assert results[2].detail == "value True"


async def test_a_run_skips_a_runaway_check_after_three_timeouts_and_keeps_the_others() -> None:
    runner = CheckRunner(
        [Check("regex", "(a+)+$"), Check("python", "'b' in output"), Check("contains", "a")],
        time_limit=0.3,
    )
    details = []
    for _ in range(5):
        regex, python, contains = await runner.evaluate("a" * 28 + "b", {})
        assert not regex.passed and python.passed and contains.passed
        details.append(regex.detail)
    assert details[:3] == ["stopped: this check took over 0.3 s"] * 3
    assert (
        details[3:] == ["skipped: this check took over 0.3 s on 3 earlier answers of this run"] * 2
    )


def test_a_python_check_value_is_shown_bounded() -> None:
    (result,) = evaluate_checks([Check("python", "output.split() * 1000")], "w " * 50, {})
    assert result.passed and len(result.detail) < 200 and "..." in result.detail


# ------------------------------------------------------------------ the engine


async def test_checks_arrive_after_each_done_cell_and_before_the_run_ends() -> None:
    backend = FakeBackend(
        Script(latency=0.01, chunks=3), dogs=Script(errors=[FakeHTTPError(500)], latency=0.01)
    )
    spec = make_spec("About {topic}", ["cats", "dogs"], [ModelProfile()], limits=Limits(retries=0))
    spec = replace(spec, checks=(parse_check("contains:w1"), parse_check("regex:{topic}")))
    run = Run(spec, backend)
    events = Recorder()
    run.subscribe(events)
    await run.wait()
    kinds = events.of("r0m0")
    assert kinds[-2:] == ["CellFinished", "CellChecked"]
    checked = [e for e in events.events if isinstance(e, ev.CellChecked)]
    assert [e.cell_id for e in checked] == ["r0m0"]  # the failed cell is not checked
    first, second = checked[0].results
    assert first.passed and first.name == "contains: w1"
    assert not second.passed and second.detail == "no match for /cats/"
    assert isinstance(events.events[-1], ev.RunFinished)
    assert events.of("r1m0")[-1] == "CellFailed"


async def test_a_run_without_checks_emits_no_check_events() -> None:
    run = Run(make_spec("About {topic}", ["cats"], [ModelProfile()]), FakeBackend())
    events = Recorder()
    run.subscribe(events)
    await run.wait()
    assert not [e for e in events.events if isinstance(e, ev.CellChecked)]
