"""The response cache and structured output against the in-test OpenAI-compatible server."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from gui.core import events as ev
from gui.core.runner import Run
from gui.core.spec import Limits, ModelProfile, ProviderKind, RunSpec, Strategy, make_spec
from gui.providers.backend import LangChainBackend
from gui.providers.cache import SqliteResponseCache
from tests.support.openai_server import Behavior, FakeOpenAIServer, schema_answers

TOPICS = ["owls", "tides", "glass"]

#: The run's limits with the cache on and no retry, so a fault ends its cell.
NO_RETRY = Limits(cache=True, retries=0)

PERSON = {
    "title": "Person",
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
}


@pytest.fixture
def srv() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(models=["fake-1", "fake-2"], tokens=5, token_interval=0.0) as server:
        yield server


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[SqliteResponseCache]:
    store = SqliteResponseCache(tmp_path / "cache.sqlite3")
    yield store
    store.close()


def spec_for(
    srv: FakeOpenAIServer,
    strategy: Strategy = Strategy.STREAM,
    *,
    cache: bool = True,
    temperature: float | None = 0.0,
    max_tokens: int | None = None,
    schema: dict[str, object] | None = None,
) -> RunSpec:
    profile = ModelProfile(
        model="fake-1",
        provider=ProviderKind.OPENAI,
        base_url=srv.base_url,
        temperature=temperature,
        max_tokens=max_tokens,
    )
    spec = make_spec("Tell me about {topic}", TOPICS, (profile,), strategy, Limits(cache=cache))
    return replace(spec, json_schema=schema)


async def run_to_end(spec: RunSpec, cache: SqliteResponseCache | None) -> Run:
    backend = LangChainBackend(cache=cache)
    run = Run(spec, backend)
    try:
        await run.wait()
    finally:
        await backend.aclose()
    return run


async def test_the_second_identical_streamed_run_makes_no_request_and_is_marked_cached(
    srv: FakeOpenAIServer, cache: SqliteResponseCache
) -> None:
    first = await run_to_end(spec_for(srv), cache)
    assert first.summary is not None and first.summary.ok
    assert len(srv.requests) == 3
    answers = {c.id: first.partial_text(c.id) for c in first.cells}
    assert cache.size().answers == 3

    srv.reset_stats()
    second = await run_to_end(spec_for(srv), cache)
    assert second.summary is not None and second.summary.ok
    assert srv.requests == []
    for cell in second.cells:
        metrics = second.metrics(cell.id)
        assert metrics is not None and metrics.cached
        assert second.partial_text(cell.id) == answers[cell.id]
        assert metrics.original_latency is not None
        assert metrics.finish_reason == "stop"


@pytest.mark.parametrize("strategy", [Strategy.GATHER, Strategy.ABATCH, Strategy.SYNC])
async def test_whole_answer_strategies_share_the_cache_with_streaming(
    srv: FakeOpenAIServer, cache: SqliteResponseCache, strategy: Strategy
) -> None:
    await run_to_end(spec_for(srv, strategy), cache)
    assert len(srv.requests) == 3
    srv.reset_stats()
    # A streamed run asks the same: the same key, so no request.
    streamed = await run_to_end(spec_for(srv, Strategy.STREAM), cache)
    assert srv.requests == []
    assert all(streamed.metrics(c.id).cached for c in streamed.cells)  # type: ignore[union-attr]


async def test_a_changed_parameter_misses_the_cache(
    srv: FakeOpenAIServer, cache: SqliteResponseCache
) -> None:
    await run_to_end(spec_for(srv), cache)
    srv.reset_stats()
    other = await run_to_end(spec_for(srv, max_tokens=50), cache)
    assert len(srv.requests) == 3
    assert not any(other.metrics(c.id).cached for c in other.cells)  # type: ignore[union-attr]


async def test_sampling_bypasses_the_cache_and_a_run_without_it_never_reads_it(
    srv: FakeOpenAIServer, cache: SqliteResponseCache
) -> None:
    await run_to_end(spec_for(srv, temperature=0.7), cache)
    await run_to_end(spec_for(srv, temperature=0.7), cache)
    assert len(srv.requests) == 6
    assert cache.size().answers == 0
    await run_to_end(spec_for(srv), cache)
    srv.reset_stats()
    await run_to_end(spec_for(srv, cache=False), cache)
    assert len(srv.requests) == 3


async def test_clearing_the_cache_makes_the_next_run_ask_again(
    srv: FakeOpenAIServer, cache: SqliteResponseCache
) -> None:
    await run_to_end(spec_for(srv), cache)
    assert cache.size().answers == 3 and cache.size().bytes > 0
    cache.clear()
    assert cache.size().answers == 0
    srv.reset_stats()
    await run_to_end(spec_for(srv), cache)
    assert len(srv.requests) == 3


@pytest.mark.parametrize("strategy", [Strategy.STREAM, Strategy.GATHER, Strategy.SYNC])
async def test_a_structured_run_gets_json_for_its_schema(
    srv: FakeOpenAIServer, strategy: Strategy
) -> None:
    srv.behave(schema_answers("valid"))
    run = await run_to_end(spec_for(srv, strategy, cache=False, schema=PERSON), None)
    assert run.summary is not None and run.summary.ok
    fmt = srv.requests[0].body["response_format"]
    assert fmt["type"] == "json_schema"
    assert fmt["json_schema"]["name"] == "Person"
    assert fmt["json_schema"]["schema"] == PERSON
    for cell in run.cells:
        metrics = run.metrics(cell.id)
        assert metrics is not None
        assert metrics.schema_valid is True and metrics.schema_error is None
        assert '"name"' in run.partial_text(cell.id)


@pytest.mark.parametrize("mode", ["invalid_json", "wrong_shape"])
async def test_a_reply_that_fails_the_schema_is_kept_raw_and_the_cell_is_done(
    srv: FakeOpenAIServer, mode: str
) -> None:
    srv.behave(schema_answers(mode))  # type: ignore[arg-type]
    run = await run_to_end(spec_for(srv, cache=False, schema=PERSON), None)
    assert run.summary is not None and run.summary.done == 3
    for cell in run.cells:
        metrics = run.metrics(cell.id)
        assert metrics is not None and metrics.schema_valid is False
        assert metrics.schema_error
        assert run.partial_text(cell.id)  # the raw reply, never lost
    error = run.metrics(run.cells[0].id).schema_error  # type: ignore[union-attr]
    assert ("not JSON" in error) if mode == "invalid_json" else ("required" in error)


@pytest.mark.parametrize("strategy", [Strategy.STREAM, Strategy.GATHER])
async def test_a_server_without_json_schema_gets_json_mode_once_detected(
    srv: FakeOpenAIServer, strategy: Strategy
) -> None:
    srv.behave(schema_answers("valid", json_schema_supported=False))
    spec = replace(
        spec_for(srv, strategy, cache=False, schema=PERSON), limits=Limits(max_concurrency=1)
    )
    run = await run_to_end(spec, None)
    assert run.summary is not None and run.summary.ok
    kinds = [r.body["response_format"]["type"] for r in srv.requests]
    # One refused request, then JSON mode for every cell: remembered for the server.
    assert kinds == ["json_schema", "json_object", "json_object", "json_object"]
    system = srv.requests[1].messages[0]
    assert system["role"] == "system" and "JSON Schema" in system["content"]
    assert all(run.metrics(c.id).schema_valid for c in run.cells)  # type: ignore[union-attr]


async def test_a_structured_answer_is_cached_under_its_schema(
    srv: FakeOpenAIServer, cache: SqliteResponseCache
) -> None:
    srv.behave(schema_answers("valid"))
    await run_to_end(spec_for(srv, schema=PERSON), cache)
    srv.reset_stats()
    again = await run_to_end(spec_for(srv, schema=PERSON), cache)
    assert srv.requests == []
    assert all(again.metrics(c.id).schema_valid for c in again.cells)  # type: ignore[union-attr]
    plain = await run_to_end(spec_for(srv), cache)
    assert len(srv.requests) == 3  # no schema: another request, another key
    assert not any(plain.metrics(c.id).cached for c in plain.cells)  # type: ignore[union-attr]


async def test_a_comparison_times_real_requests_even_with_the_cache_on(
    srv: FakeOpenAIServer, cache: SqliteResponseCache
) -> None:
    from gui.core.session import Session

    await run_to_end(spec_for(srv), cache)  # the cache holds every answer already
    srv.reset_stats()
    backends: list[LangChainBackend] = []

    def make() -> LangChainBackend:
        backends.append(LangChainBackend(cache=cache))
        return backends[-1]

    session = Session(make)
    results = await session.compare(spec_for(srv))
    for backend in backends:
        await backend.aclose()
    assert len(results) == 6 and all(r.done == 3 for r in results)
    assert len(srv.requests) == 6 * 3  # every strategy asked the server itself


async def test_a_cached_answer_costs_nothing_and_the_first_one_is_priced(
    srv: FakeOpenAIServer, cache: SqliteResponseCache
) -> None:
    from gui.core.pricing import Price, PriceEntry

    priced = replace(
        spec_for(srv), prices=(PriceEntry("fake-1", Price(10_000.0, 20_000.0), srv.base_url),)
    )
    first = await run_to_end(priced, cache)
    costs = [first.metrics(c.id).cost_usd for c in first.cells]  # type: ignore[union-attr]
    assert all(cost is not None and cost > 0 for cost in costs)

    second = await run_to_end(priced, cache)
    for cell in second.cells:
        metrics = second.metrics(cell.id)
        assert metrics is not None and metrics.cached
        assert metrics.cost_usd == 0.0


# ------------------------------------------------------------- issue 10 against the cache


@pytest.mark.parametrize(
    ("fault", "words"),
    [
        (Behavior(end_after=2), "the answer is cut off"),
        (Behavior(drop_after=2), "cut off"),
        (Behavior(error_event_after=2), "the server reported an error mid-answer"),
    ],
    ids=["clean-close", "dropped", "error-event"],
)
@pytest.mark.parametrize("schema", [None, PERSON], ids=["text", "structured"])
async def test_a_cut_off_stream_fails_and_is_never_cached(
    srv: FakeOpenAIServer,
    cache: SqliteResponseCache,
    fault: Behavior,
    words: str,
    schema: dict[str, object] | None,
) -> None:
    srv.behave(lambda _req: fault)
    backend = LangChainBackend(cache=cache)
    first = Run(replace(spec_for(srv, schema=schema), limits=NO_RETRY), backend)
    failed: list[ev.CellFailed] = []
    first.subscribe(lambda e: failed.append(e) if isinstance(e, ev.CellFailed) else None)
    try:
        await first.wait()
    finally:
        await backend.aclose()
    assert len(failed) == len(TOPICS)
    for end in failed:
        assert words in end.message and end.partial_text  # said so; partial text kept
    assert cache.size().answers == 0

    srv.behave(None)
    srv.reset_stats()
    second = await run_to_end(spec_for(srv, schema=schema), cache)
    assert second.summary is not None and second.summary.ok
    assert len(srv.requests) == len(TOPICS)  # asked again: nothing was served from the cache
    assert not any(second.metrics(c.id).cached for c in second.cells)  # type: ignore[union-attr]


@pytest.mark.parametrize("strategy", [Strategy.STREAM, Strategy.GATHER, Strategy.SYNC])
async def test_an_answer_with_lone_surrogates_is_done_with_the_cache_on_and_not_cached(
    srv: FakeOpenAIServer, cache: SqliteResponseCache, strategy: Strategy
) -> None:
    # Neither SQLite's UTF-8 nor the cached message type can hold a lone surrogate: storing
    # it failed the finished cell ("unexpected error: UnicodeEncodeError/ValidationError").
    srv.behave(lambda _req: Behavior(text="half \ud800 an answer"))
    run = await run_to_end(spec_for(srv, strategy), cache)
    assert run.summary is not None and run.summary.ok
    assert all(run.partial_text(c.id) == "half \ud800 an answer" for c in run.cells)
    assert cache.size().answers == 0


async def test_a_cache_that_cannot_be_read_or_written_costs_the_cache_only(
    srv: FakeOpenAIServer, tmp_path: Path
) -> None:
    broken = tmp_path / "cache.sqlite3"
    broken.write_bytes(b"this is not an SQLite file" * 100)
    store = SqliteResponseCache(broken)
    try:
        run = await run_to_end(spec_for(srv), store)
    finally:
        store.close()
    assert run.summary is not None and run.summary.ok
    assert len(srv.requests) == len(TOPICS)


async def test_an_answer_echoing_credentials_is_cached_masked(
    srv: FakeOpenAIServer, cache: SqliteResponseCache
) -> None:
    # Issue 10 §3 against the cache file: a server that echoes an Authorization header into
    # its answer leaves no credential in the data folder (the history masks it too).
    bearer, basic = (
        "sk-live-0123456789abcdef",
        "dXNlcjpodW50ZXIyLXNlY3JldA==",
    )  # user:hunter2-secret
    srv.behave(lambda _req: Behavior(text=f"You sent Bearer {bearer} and Basic {basic} to me."))
    await run_to_end(spec_for(srv), cache)
    assert cache.size().answers == len(TOPICS)
    cache.close()
    stored = b"".join(p.read_bytes() for p in cache.path.parent.glob("cache.sqlite3*"))
    assert bearer.encode() not in stored and basic.encode() not in stored
    srv.reset_stats()
    replay = await run_to_end(spec_for(srv), cache)
    assert srv.requests == []
    assert all("Bearer ***" in replay.partial_text(c.id) for c in replay.cells)


@pytest.mark.parametrize(
    ("stored", "replayed"),
    [
        (
            "not streamed: the server sent the whole answer at once",
            "not streamed: the server sent the whole answer at once",
        ),
        (None, None),
        ("\x1b]0;a note another program wrote\x07", None),
    ],
)
def test_a_replay_takes_only_the_notes_this_app_writes_from_the_cache_file(
    tmp_path: Path, stored: str | None, replayed: str | None
) -> None:
    from gui.providers.backend import UsageCollector, _note_cached
    from gui.providers.cache import cached_answer, generations_of

    cache = SqliteResponseCache(tmp_path / "cache.sqlite3")
    cache.update(
        "prompt",
        "model",
        generations_of("hi", finish_reason="stop", output_tokens=1, latency=1, ttft=1, note=stored),
    )
    hit = cached_answer(cache.lookup("prompt", "model"))
    cache.close()
    assert hit is not None and hit.note == stored
    probe = UsageCollector()
    _note_cached(probe, hit)
    assert probe.cached and probe.note == replayed
