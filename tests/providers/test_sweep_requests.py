"""Issue 15 against an OpenAI-compatible server: each column of a sweep sends its own
temperature, top_p, max_tokens and seed, each prompt variant its own messages, and every
sample is a request of its own."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import pytest

from gui.core.columns import ParamSweep
from gui.core.runner import Run
from gui.core.spec import Limits, ModelProfile, ProviderKind, make_spec
from gui.providers.backend import LangChainBackend
from tests.support.openai_server import FakeOpenAIServer


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FANOUT_TEST_KEY", "sk-test")


async def test_each_column_sends_its_parameters_and_each_sample_its_own_request() -> None:
    with FakeOpenAIServer(models=["fake-1"], tokens=4, token_interval=0.0) as srv:
        profile = ModelProfile(
            model="fake-1",
            provider=ProviderKind.OPENAI,
            base_url=srv.base_url,
            api_key_env="FANOUT_TEST_KEY",
            top_p=0.9,
            max_tokens=50,
            sweep=ParamSweep(temperature=(0.0, 1.2), seed=(7,)),
        )
        spec = make_spec(
            "Tell me about {topic}",
            ["cats"],
            (profile,),
            limits=Limits(max_concurrency=4),
            system="Be brief.",
            template_variants=("Summarise {topic}",),
            repeats=3,
        )
        summary = await Run(spec, LangChainBackend()).wait()
        assert summary.done == 2 * 2 * 3
        sent = Counter(
            (
                r.body.get("temperature"),
                r.body.get("top_p"),
                r.body.get("max_tokens") or r.body.get("max_completion_tokens"),
                r.body.get("seed"),
                r.last_user_text,
                r.messages[0]["content"],
            )
            for r in srv.requests
        )
    assert sent == {
        (0.0, 0.9, 50, 7, "Tell me about cats", "Be brief."): 3,
        (1.2, 0.9, 50, 7, "Tell me about cats", "Be brief."): 3,
        (0.0, 0.9, 50, 7, "Summarise cats", "Be brief."): 3,
        (1.2, 0.9, 50, 7, "Summarise cats", "Be brief."): 3,
    }


def test_a_profile_without_top_p_or_seed_sends_neither() -> None:
    from gui.providers.models import build_chat_model

    plain = ModelProfile(model="m", provider=ProviderKind.OPENAI, base_url="http://localhost:1/v1")
    model = build_chat_model(plain)
    assert getattr(model, "top_p", None) is None and getattr(model, "seed", None) is None
    tuned = build_chat_model(replace(plain, top_p=0.5, seed=3))
    assert (tuned.top_p, tuned.seed) == (0.5, 3)  # type: ignore[attr-defined]
