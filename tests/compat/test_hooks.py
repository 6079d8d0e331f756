"""Library hooks: each turns itself off, with one logged line, outside its tested versions.

A new release of qasync, langchain-core or Python may change what a hook relies on; these
tests fake such a release through the version lookup and check that the plain path takes
over and gives the same results.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Iterator

import pytest

from gui.compat import hooks
from gui.compat.gc_policy import (
    STARTUP,
    defer_full_collections,
    freeze_now,
    pause_collections,
    resume_collections,
)
from gui.compat.loggers import ASYNCIO_LOGGERS, ROOT_LOGGER, loop_loggers
from gui.core.spec import ModelProfile, SimSettings
from gui.providers.backend import LangChainBackend, UsageCollector


@pytest.fixture(autouse=True)
def _fresh_decisions(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv(hooks.PLAIN_ENV, raising=False)
    hooks.reset()
    yield
    hooks.reset()


def fake_release(monkeypatch: pytest.MonkeyPatch, distribution: str, version: str | None) -> None:
    """Pretend ``distribution`` is installed at ``version`` (``None``: not installed)."""
    real = hooks.installed_version

    def lookup(name: str) -> str | None:
        return version if name == distribution else real(name)

    monkeypatch.setattr(hooks, "installed_version", lookup)
    hooks.reset()  # decisions are made once per process: as if it started with this release


def off_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "gui.compat"]


def test_every_hook_is_on_with_the_versions_installed_here() -> None:
    assert hooks.describe() == {hook.name: "on" for hook in hooks.HOOKS}


def test_every_hook_names_its_tested_range_and_where_it_lives() -> None:
    for hook in hooks.HOOKS:
        assert hook.tested and hook.where and hook.what
        for distribution, tested in hook.tested:
            assert distribution and "<" in tested  # an upper bound: untested releases are off


def test_plain_mode_turns_every_hook_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(hooks.PLAIN_ENV, "1")
    assert not any(hooks.enabled(hook) for hook in hooks.HOOKS)
    assert set(hooks.describe().values()) == {"off (plain runtime)"}
    monkeypatch.setenv(hooks.PLAIN_ENV, "0")
    assert hooks.plain_runtime() is False


async def test_a_new_langchain_core_streams_through_plain_lcel_with_the_same_text(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    profile = ModelProfile(
        model="sim-1",
        sim=SimSettings(ttft=0.0, tokens_per_second=0.0, jitter=0.0, output_tokens=30, seed=7),
    )
    lean = LangChainBackend().chain("Explain {topic}", None, profile)
    expected = [c async for c in lean.astream({"topic": "gc"})]

    fake_release(monkeypatch, "langchain-core", "2.0.0")
    with caplog.at_level(logging.INFO, logger="gui.compat"):
        plain = LangChainBackend().chain("Explain {topic}", None, profile)
        LangChainBackend().chain("Explain {topic}", None, profile)  # asked again: no new line
    assert getattr(lean, "lean", None) is True and getattr(plain, "lean", None) is False
    (line,) = off_lines(caplog)
    assert "lcel-stream hook off" in line and "langchain-core 2.0.0" in line
    assert "\n" not in line

    probe = UsageCollector()
    got = [c async for c in plain.astream({"topic": "gc"}, {"callbacks": [probe]})]
    assert [c for c in got if c] == expected and probe.output_tokens == 30


def test_a_new_python_leaves_the_collector_alone(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    fake_release(monkeypatch, "python", "3.14.0")
    threshold = gc.get_threshold()
    frozen = gc.get_freeze_count()
    with caplog.at_level(logging.INFO, logger="gui.compat"):
        assert freeze_now() is False
        defer_full_collections(True)
        assert gc.get_threshold() == threshold
        defer_full_collections(False)
    assert gc.get_freeze_count() == frozen and gc.get_threshold() == threshold
    (line,) = off_lines(caplog)
    assert "gc-policy hook off" in line and "python 3.14.0" in line


def test_in_range_the_gc_policy_holds_full_collections_back_during_a_run() -> None:
    threshold = gc.get_threshold()
    defer_full_collections(True)
    try:
        assert gc.get_threshold()[:2] == threshold[:2] and gc.get_threshold()[2] > threshold[2]
    finally:
        defer_full_collections(False)
    assert gc.get_threshold() == threshold


def test_the_way_to_the_first_frame_runs_no_collection_and_the_heap_is_frozen_after_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Counted, not done: a real freeze would pin this test process's heap for the tests after.
    freezes: list[bool] = []
    monkeypatch.setattr(gc, "freeze", lambda: freezes.append(gc.isenabled()))
    assert pause_collections() is True
    try:
        assert not gc.isenabled()
        assert pause_collections() is False  # already off: a second caller changes nothing
    finally:
        resume_collections()
    # Frozen while still off (the first young collection then finds nothing to scan), then on.
    assert freezes == [False] and gc.isenabled()
    resume_collections()  # a second resume does nothing (no second freeze)
    assert freezes == [False]


def test_plain_mode_leaves_the_collector_on_the_way_to_the_first_frame(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(hooks.PLAIN_ENV, "1")
    freezes: list[bool] = []
    monkeypatch.setattr(gc, "freeze", lambda: freezes.append(True))
    assert pause_collections() is False and gc.isenabled()
    resume_collections()
    assert freezes == []


def test_the_start_up_hold_and_a_run_hold_full_collections_back_until_both_let_go() -> None:
    threshold = gc.get_threshold()
    defer_full_collections(True, STARTUP)  # the app, before its first frame
    try:
        defer_full_collections(True)  # a run starts while the warm-up still imports
        defer_full_collections(False)  # its end does not end the start-up's hold
        assert gc.get_threshold()[2] > threshold[2]
        defer_full_collections(True)  # another run
        defer_full_collections(False, STARTUP)  # the warm-up froze the heap
        assert gc.get_threshold()[2] > threshold[2]  # the run still holds them
    finally:
        defer_full_collections(False)
        defer_full_collections(False, STARTUP)
    assert gc.get_threshold() == threshold


def test_a_new_qasync_makes_the_debug_panel_listen_on_the_root_logger(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert loop_loggers() == ASYNCIO_LOGGERS
    fake_release(monkeypatch, "qasync", "0.29.0")
    assert loop_loggers() == (ROOT_LOGGER,)


def test_a_missing_or_unreadable_version_counts_as_untested(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake_release(monkeypatch, "qasync", None)
    assert hooks.enabled(hooks.QASYNC_LOGGER) is False
    fake_release(monkeypatch, "qasync", "not a version")
    assert hooks.enabled(hooks.QASYNC_LOGGER) is False


def test_plain_version_ranges_are_decided_without_packaging() -> None:
    assert hooks._simple_range("6.12.0", ">=6.12,<6.13") is True
    assert hooks._simple_range("6.13.1", ">=6.12,<6.13") is False
    assert hooks._simple_range("6.11.9", ">=6.12,<6.13") is False
    assert hooks._simple_range("6.12.0rc1", ">=6.12,<6.13") is None  # packaging decides
    assert hooks._simple_range("6.12.0", "~=6.12") is None


def test_the_pyside_import_scan_hook_is_off_for_another_pyside_minor(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    fake_release(monkeypatch, "pyside6", "6.13.0")
    with caplog.at_level(logging.WARNING, logger="gui.compat"):
        assert hooks.enabled(hooks.PYSIDE_IMPORT_SCAN) is False
    assert any("pyside-import-scan hook off" in line for line in off_lines(caplog))


def test_pyside6_is_found_as_the_essentials_wheel_before_it_is_imported() -> None:
    """The app installs PySide6-Essentials, not the PySide6 meta-package: a gate asked before
    PySide6 is imported (the bench's parent, ``describe()``) must still see its version."""
    from importlib import metadata

    assert hooks.installed_version("pyside6") == metadata.version("PySide6-Essentials")


# ------------------------------------------------------------------ lean-invoke (judge calls)


def _judge_messages() -> list[tuple[str, str]]:
    from gui.core.judging import score_messages

    return score_messages("Be fair.", "Tell me about cats", "Cats sleep a lot.")


def _sim_judge() -> object:
    from gui.providers.simulated import SimulatedChatModel

    return SimulatedChatModel(model="sim-judge", ttft=0.0, tokens_per_second=0.0, jitter=0.0)


class _Heard:
    """An async callback handler that records the chat model runs it hears."""

    def __init__(self) -> None:
        from langchain_core.callbacks import AsyncCallbackHandler

        outer = self
        self.starts: list[str] = []

        class Handler(AsyncCallbackHandler):
            async def on_chat_model_start(
                self, serialized: object, messages: object, **kw: object
            ) -> None:
                outer.starts.append(str(kw.get("name") or ""))

        self.handler = Handler()


async def test_an_unheard_judge_call_skips_ainvoke_and_still_reports_its_usage() -> None:
    from gui.compat.lcel import generate_unheard
    from gui.providers.backend import JudgeChain

    model = _sim_judge()
    direct = await generate_unheard(model, _judge_messages(), {})
    assert direct is not None and '"score"' in direct.text
    # The judge chain fills its usage collector from the reply itself on that path.
    probe = UsageCollector()
    text = await JudgeChain(model, None).ainvoke(_judge_messages(), {"callbacks": [probe]})  # type: ignore[arg-type]
    plain = await model.ainvoke(_judge_messages())  # type: ignore[attr-defined]
    assert text == direct.text == plain.text  # the simulated judge's reply is deterministic
    assert direct.usage_metadata == plain.usage_metadata
    assert probe.input_tokens and probe.output_tokens and probe.finish_reason == "stop"


async def test_a_judge_call_a_handler_can_hear_goes_through_ainvoke(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from gui.compat.lcel import generate_unheard
    from gui.providers.backend import JudgeChain

    model = _sim_judge()
    heard = _Heard()
    config = {"callbacks": [heard.handler], "run_name": "fanout judge r0m0"}
    assert await generate_unheard(model, _judge_messages(), config) is None  # type: ignore[arg-type]
    probe = UsageCollector()
    config = {"callbacks": [heard.handler, probe], "run_name": "fanout judge r0m0"}
    await JudgeChain(model, None).ainvoke(_judge_messages(), config)  # type: ignore[arg-type]
    assert heard.starts == ["fanout judge r0m0"]  # traced as before
    assert probe.output_tokens  # and its usage heard through the callback
    # Plain mode takes ainvoke whoever listens.
    monkeypatch.setenv(hooks.PLAIN_ENV, "1")
    hooks.reset()
    assert await generate_unheard(model, _judge_messages(), {}) is None


async def test_a_model_with_a_rate_limiter_or_cache_is_called_through_ainvoke() -> None:
    from langchain_core.caches import InMemoryCache
    from langchain_core.rate_limiters import InMemoryRateLimiter

    from gui.compat.lcel import generate_unheard
    from gui.providers.simulated import SimulatedChatModel

    limited = SimulatedChatModel(rate_limiter=InMemoryRateLimiter(requests_per_second=100))
    cached = SimulatedChatModel(cache=InMemoryCache())
    for model in (limited, cached):
        assert await generate_unheard(model, _judge_messages(), {}) is None


def test_each_provider_stacks_import_heap_is_frozen_once_unless_the_window_froze_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from gui.compat import gc_policy

    freezes: list[int] = []
    monkeypatch.setattr(gc_policy, "_frozen_stacks", set())
    monkeypatch.setattr(gc_policy, "_window_froze", False)
    monkeypatch.setattr(gc_policy.gc, "freeze", lambda: freezes.append(1))
    profile = ModelProfile(model="sim-1", sim=SimSettings(ttft=0.0, tokens_per_second=0.0))
    backend = LangChainBackend()
    backend.chain("Explain {topic}", None, profile)
    backend.chain("Explain {topic}", None, profile)
    assert len(freezes) == 1  # the simulated model's stack, at its first chain
    gc_policy.freeze_import_heap("openai")
    gc_policy.freeze_import_heap("openai")
    assert len(freezes) == 2  # the OpenAI stack once more, when it comes
    monkeypatch.setattr(gc_policy, "_frozen_stacks", set())
    monkeypatch.setattr(gc_policy, "_window_froze", True)
    gc_policy.freeze_import_heap("langchain")
    assert len(freezes) == 2  # the window's policy stands
