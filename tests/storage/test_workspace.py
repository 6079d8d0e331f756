"""The workspace file: round trip, atomic replace, a bad file set aside, never a secret."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import pytest

from gui.core.spec import ErrorPolicy, Limits, ModelProfile, ProviderKind, SimSettings, Strategy
from gui.storage import paths
from gui.storage.workspace import (
    FORMAT,
    WindowLayout,
    Workspace,
    WorkspaceStore,
    from_dict,
    to_dict,
    without_password,
)


def sample() -> Workspace:
    return Workspace(
        template="Tell me about {topic} in {style}",
        system="Be brief.",
        columns=("topic", "style", "notes"),
        rows=(("cats", "haiku", ""), ("the moon", "", "kept, unused"), ("é\ud800", "x", "")),
        models=(
            ModelProfile(model="sim-1", label="fast", sim=SimSettings(ttft=0.2, seed=4)),
            ModelProfile(
                model="llama3.2",
                provider=ProviderKind.OPENAI,
                base_url="http://localhost:11434/v1",
                max_concurrency=1,
                temperature=0.3,
            ),
        ),
        strategy=Strategy.GATHER,
        limits=Limits(max_concurrency=3, retries=1, error_policy=ErrorPolicy.FAIL_FAST),
        layout=WindowLayout(
            geometry="01d9d0cb",
            state="000000ff",
            splitters={"top": (400, 300, 300), "body": (250, 600)},
            theme="dark",
        ),
    )


def test_a_saved_workspace_reads_back_the_same() -> None:
    store = WorkspaceStore()
    store.save(sample())
    assert store.path == paths.workspace_path() and store.path.parent == paths.home()
    loaded = WorkspaceStore().load()
    assert loaded == sample()


def test_no_file_is_no_workspace_and_no_notice() -> None:
    store = WorkspaceStore()
    assert store.load() is None and store.notice is None


def test_the_write_is_atomic_a_failed_write_leaves_the_previous_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = WorkspaceStore()
    store.save(sample())
    before = store.path.read_bytes()

    def boom(*_args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="No space left"):
        store.save(Workspace(template="new"))
    monkeypatch.undo()
    assert store.path.read_bytes() == before
    assert [p.name for p in store.path.parent.iterdir() if p.name.startswith(".workspace-")] == []


def test_the_file_is_private_to_the_user() -> None:
    store = WorkspaceStore()
    store.save(sample())
    assert store.path.stat().st_mode & 0o077 == 0


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe garbage", "not valid JSON"),
        (json.dumps({"format": FORMAT + 1}).encode(), "format 2"),
        (json.dumps([1, 2]).encode(), "not a JSON object"),
        (json.dumps({"format": FORMAT, "rows": [["a"]], "columns": []}).encode(), "'rows'"),
        (
            json.dumps({"format": FORMAT, "limits": {"max_concurrency": -4}}).encode(),
            "Max concurrency",
        ),
        (json.dumps({"format": FORMAT, "template": 3}).encode(), "'template'"),
        (json.dumps({"format": FORMAT, "strategy": "teleport"}).encode(), "teleport"),
    ],
)
def test_an_unreadable_file_is_moved_aside_with_one_line(content: bytes, reason: str) -> None:
    store = WorkspaceStore()
    store.path.write_bytes(content)
    assert store.load() is None
    notice = store.notice
    assert notice is not None and "\n" not in notice and reason in notice
    assert not store.path.exists()
    aside = [p for p in store.path.parent.iterdir() if p.name.startswith("workspace.json.")]
    assert len(aside) == 1 and aside[0].read_bytes() == content
    assert aside[0].name in notice
    # The next save starts a fresh file; the set-aside copy is left for the user.
    store.save(sample())
    assert WorkspaceStore().load() == sample()


def test_a_password_in_a_base_url_is_never_written() -> None:
    secret = "hunter2-canary"
    ws = Workspace(
        models=(
            ModelProfile(
                model="m",
                provider=ProviderKind.OPENAI,
                base_url=f"http://alice:{secret}@example.test:8080/v1",
            ),
        )
    )
    store = WorkspaceStore()
    store.save(ws)
    text = store.path.read_text(encoding="utf-8")
    assert secret not in text
    loaded = store.load()
    assert loaded is not None and loaded.models[0].base_url == "http://alice@example.test:8080/v1"


def test_without_password_keeps_urls_without_one() -> None:
    assert without_password(None) is None
    assert without_password("http://localhost:1234/v1") == "http://localhost:1234/v1"
    assert without_password("http://bob@host/v1") == "http://bob@host/v1"
    assert without_password("https://:tok@host/v1") == "https://host/v1"


def test_an_unknown_theme_falls_back_to_the_system_one(tmp_path: Path) -> None:
    store = WorkspaceStore(tmp_path / "ws.json")
    data = {"format": FORMAT, "layout": {"theme": "neon"}}
    store.path.write_text(json.dumps(data), encoding="utf-8")
    loaded = store.load()
    assert loaded is not None and loaded.layout.theme == "system" and store.notice is None


def test_the_chat_tabs_model_set_reads_back_and_an_unreadable_one_is_dropped_alone() -> None:
    chat_models = (
        ModelProfile(model="sim-eye", vision=True, context_window=8000),
        ModelProfile(model="sim-eye", temperature=1.5),
    )
    store = WorkspaceStore()
    store.save(replace(sample(), chat_models=chat_models))
    assert WorkspaceStore().load() == replace(sample(), chat_models=chat_models)
    data = to_dict(replace(sample(), chat_models=chat_models))
    data["chat_models"] = [{"model": "x", "temperature": "hot"}]
    assert from_dict(data) == sample()  # the rest of the workspace is kept


def test_prompt_variants_repeats_and_sweeps_read_back() -> None:
    from gui.core.columns import ParamSweep

    swept = replace(
        sample(),
        template_variants=("Summarise {topic} in {style}",),
        system_variants=("Be thorough.",),
        repeats=5,
        models=(replace(sample().models[0], sweep=ParamSweep(temperature=(0.0, 0.7))),),
    )
    assert from_dict(json.loads(json.dumps(to_dict(swept)))) == swept
    # A workspace without them writes nothing new, and a bad repeat count is left at 1.
    plain = to_dict(sample())
    assert not {"template_variants", "system_variants", "repeats"} & plain.keys()
    assert from_dict({**to_dict(sample()), "repeats": 99}).repeats == 1
