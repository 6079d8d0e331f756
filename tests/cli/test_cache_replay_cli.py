"""A cell replayed from the response cache says what the original said (issue 10 §1).

Real processes against the test server: the same run twice with ``--cache``. Each answer's
finish mark (cut at max tokens, stopped by the content filter), its note (a whole JSON body
sent to a streaming request) and its notice (text with invalid characters, replaced) are the
same in ``--json`` and in the history on the replay as on the original run.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gui.core.cleantext import REPLACED_NOTICE
from gui.providers.backend import NOT_STREAMED_NOTE
from tests.cli.test_data_trust_cli import fanout
from tests.support.openai_server import Behavior, FakeOpenAIServer

pytestmark = pytest.mark.timeout(120)

ROUTES = {
    "capped": Behavior(finish_reason="length"),
    "filtered": Behavior(finish_reason="content_filter"),
    "whole": Behavior(json_answer=True),
    "surrogate": Behavior(text="half \ud800 pair", tokens=3),
}
TOPICS = ["capped", "filtered", "whole", "surrogate", "fine"]


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(models=["fake-1"], tokens=4) as srv:
        srv.route(ROUTES)
        yield srv


def marks(cells: list[dict[str, Any]], topic_key: str) -> dict[str, tuple[Any, ...]]:
    """Per topic: status, finish reason, note, notice, as a user (or a script) reads them."""
    out = {}
    for c in cells:
        metrics = c.get("metrics") or {}
        out[c[topic_key]["topic"]] = (
            c["status"],
            metrics.get("finish_reason"),
            metrics.get("note"),
            c.get("notice"),
        )
    return out


def test_a_replay_from_the_cache_keeps_every_finish_mark_note_and_notice(
    server: FakeOpenAIServer, fanout_home: Path, tmp_path: Path
) -> None:
    argv = ["run", "-p", "Say {topic}"]
    for topic in TOPICS:
        argv += ["-t", topic]
    argv += ["--provider", "openai", "-m", "fake-1", "--base-url", server.base_url]
    argv += ["--api-key-env", "FANOUT_TEST_KEY", "--cache", "--json", "-q"]
    env = {"FANOUT_TEST_KEY": "sk-cache-test"}
    expected = {
        "capped": ("done", "length", None, None),
        "filtered": ("done", "content_filter", None, None),
        "whole": ("done", "stop", NOT_STREAMED_NOTE, None),
        "surrogate": ("done", "stop", None, REPLACED_NOTICE),
        "fine": ("done", "stop", None, None),
    }
    cached_by_run = []
    for _attempt in range(2):
        ran = fanout(*argv, home=fanout_home, cwd=tmp_path, env=env)
        assert ran.returncode == 0, ran.stderr
        data = json.loads(ran.stdout)
        assert marks(data["results"], "input") == expected
        assert {r["input"]["topic"]: r["note"] for r in data["results"]}["whole"] == (
            NOT_STREAMED_NOTE
        )
        cached_by_run.append({r["input"]["topic"]: r["cached"] for r in data["results"]})
        shown = fanout("show", data["run_id"], "--json", home=fanout_home, cwd=tmp_path)
        assert shown.returncode == 0, shown.stderr
        assert marks(json.loads(shown.stdout)["cells"], "inputs") == expected
    assert not any(cached_by_run[0].values())
    # Text with a lone surrogate cannot be cached as it came: it is asked again (and says
    # so again); every other answer is a replay.
    assert cached_by_run[1] == {t: t != "surrogate" for t in TOPICS}
