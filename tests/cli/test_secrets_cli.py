"""No secret in the clear, as a real ``fanout-studio`` process meets a server that echoes them."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from gui.cli import key_warnings
from gui.core import keys
from gui.core.spec import ModelProfile, ProviderKind
from tests.support.openai_server import Behavior, FakeOpenAIServer, RequestInfo

pytestmark = pytest.mark.timeout(120)

ODD_KEY = "odd-named-secret-7731"  # in $MY_LLM_CRED: nothing in the name says "key"
OPENAI_KEY = "sk-openai-default-0042"
PASSWORD = "pa55-w0rd-xyz"


def echo_authorization(info: RequestInfo) -> Behavior:
    """A server that quotes the credentials it got back in its error (some proxies do)."""
    got = info.headers.get("authorization", "")
    return Behavior(status=400, error_message=f"Invalid credentials: {got} ({ODD_KEY}?)")


@pytest.fixture
def echo_server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(models=["fake-1"], tokens=3) as srv:
        srv.behave(echo_authorization)
        yield srv


def fanout(
    *argv: str, home: Path, cwd: Path, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "FANOUT_HOME": str(home), **env}
    return subprocess.run(
        [sys.executable, "-m", "gui", *argv],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=environ,
        cwd=cwd,
        timeout=90,
        check=False,
    )


def everything_written(home: Path) -> str:
    """Every byte under the data folder, as text (history database, WAL, exports...)."""
    return "".join(
        p.read_bytes().decode("utf-8", "replace") for p in home.rglob("*") if p.is_file()
    )


@pytest.mark.parametrize("with_password", [False, True])
def test_echoed_credentials_reach_no_output_history_or_export(
    echo_server: FakeOpenAIServer, fanout_home: Path, tmp_path: Path, with_password: bool
) -> None:
    url = echo_server.base_url
    if with_password:
        url = url.replace("http://", f"http://alice:{PASSWORD}@")
    env = {"MY_LLM_CRED": ODD_KEY, "OPENAI_API_KEY": OPENAI_KEY}
    argv = ["run", "-t", "x", "--provider", "openai", "-m", "fake-1", "--base-url", url]
    argv += ["--api-key-env", "MY_LLM_CRED", "--retries", "0", "-q"]
    ran = fanout(*argv, "--json", home=fanout_home, cwd=tmp_path, env=env)
    assert ran.returncode == 1, ran.stderr
    (sent,) = [r.headers["authorization"] for r in echo_server.requests]
    if with_password:
        basic = base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
        assert sent == f"Basic {basic}"  # the URL's credentials, as httpx sends them
        secrets = [ODD_KEY, PASSWORD, basic]
    else:
        assert sent == f"Bearer {ODD_KEY}"
        secrets = [ODD_KEY]
    result = json.loads(ran.stdout)["results"][0]
    assert result["status"] == "failed" and "Invalid credentials" in result["error"]
    run_id = json.loads(ran.stdout)["run_id"]
    shown = fanout("show", run_id, home=fanout_home, cwd=tmp_path, env=env)
    shown_json = fanout("show", run_id, "--json", home=fanout_home, cwd=tmp_path, env=env)
    (fanout_home / "exports").mkdir(exist_ok=True)
    for fmt in ("csv", "json", "md"):
        out = fanout_home / "exports" / f"r.{fmt}"
        assert (
            fanout(
                "export", run_id, "-o", str(out), home=fanout_home, cwd=tmp_path, env=env
            ).returncode
            == 0
        )
    text = fanout("run", *argv[1:], home=fanout_home, cwd=tmp_path, env=env)
    seen = "\n".join(
        [ran.stdout, ran.stderr, shown.stdout, shown_json.stdout, text.stdout, text.stderr]
    ) + everything_written(fanout_home)
    for secret in secrets:
        assert secret not in seen
    assert "Invalid credentials: " in shown.stdout and "***" in shown.stdout
    if with_password:
        stored = json.loads(shown_json.stdout)["spec"]["models"][0]["base_url"]
        assert stored == url.replace(PASSWORD, "***")


def test_openai_api_key_is_not_sent_to_another_host_unless_named(
    fanout_home: Path, tmp_path: Path
) -> None:
    with FakeOpenAIServer(models=["fake-1"], tokens=3) as srv:
        env = {"OPENAI_API_KEY": OPENAI_KEY}
        argv = [
            "run",
            "-t",
            "x",
            "--provider",
            "openai",
            "-m",
            "fake-1",
            "--base-url",
            srv.base_url,
        ]
        ran = fanout(*argv, "-q", home=fanout_home, cwd=tmp_path, env=env)
        assert ran.returncode == 0
        host = srv.base_url.split("//")[1].split(":")[0]
        assert ran.stderr == (
            f"fanout-studio run: warning: $OPENAI_API_KEY is not sent to {host}: it is a key "
            "for api.openai.com. Give --api-key-env OPENAI_API_KEY to send it there anyway.\n"
        )
        assert srv.requests[-1].headers["authorization"] == "Bearer not-needed"
        named = fanout(
            *argv, "-q", "--api-key-env", "OPENAI_API_KEY", home=fanout_home, cwd=tmp_path, env=env
        )
        assert named.returncode == 0 and named.stderr == ""
        assert srv.requests[-1].headers["authorization"] == f"Bearer {OPENAI_KEY}"
        # A chat (merged after issue 10) keeps the key to api.openai.com and says so the same way.
        asked = fanout(*["ask", "hi", *argv[3:]], home=fanout_home, cwd=tmp_path, env=env)
        assert asked.returncode == 0
        assert asked.stderr.startswith(
            f"fanout-studio ask: warning: $OPENAI_API_KEY is not sent to {host}: it is a key"
        )
        assert srv.requests[-1].headers["authorization"] == "Bearer not-needed"


def test_a_key_over_plain_http_to_another_machine_is_warned_about(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MY_LLM_CRED", ODD_KEY)
    far = ModelProfile(
        model="m",
        provider=ProviderKind.OPENAI,
        base_url="http://10.0.0.9:8000/v1",
        api_key_env="MY_LLM_CRED",
    )
    near = ModelProfile(
        model="m",
        provider=ProviderKind.OPENAI,
        base_url="http://127.0.0.1:8000/v1",
        api_key_env="MY_LLM_CRED",
    )
    safe = ModelProfile(
        model="m",
        provider=ProviderKind.OPENAI,
        base_url="https://10.0.0.9/v1",
        api_key_env="MY_LLM_CRED",
    )
    assert key_warnings([near, safe]) == []
    assert key_warnings([far]) == [
        "plain http:// to 10.0.0.9: $MY_LLM_CRED travels in clear text. Use https:// unless "
        "this network is yours alone."
    ]
    assert keys.redact(ODD_KEY) == "***"


def test_the_judges_own_key_gets_the_same_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 13 on issue 10's rules: a judge profile sending its key over plain http:// to
    another machine is warned about, as a column's would be, though the columns are safe."""
    from gui.cli import build_parser, spec_from_args
    from gui.storage.profiles import ProfileStore, SavedProfile

    monkeypatch.setenv("MY_LLM_CRED", ODD_KEY)
    far = ModelProfile(
        model="judge-9",
        provider=ProviderKind.OPENAI,
        base_url="http://10.0.0.9:8000/v1",
        api_key_env="MY_LLM_CRED",
    )
    ProfileStore().save([SavedProfile("far-judge", far)])
    warned: list[str] = []
    monkeypatch.setattr("gui.cli._warn", lambda _command, line: warned.append(line))
    args = build_parser().parse_args(["run", "-t", "x", "--judge-profile", "far-judge"])
    spec = spec_from_args(args, warn=True)
    assert spec.judge is not None and spec.judge.model.base_url == far.base_url
    assert warned == [
        "plain http:// to 10.0.0.9: $MY_LLM_CRED travels in clear text. Use https:// unless "
        "this network is yours alone."
    ]


def test_a_judge_base_url_password_is_never_stored_in_the_clear(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The columns come from a saved profile (which never reads --base-url), the judge from
    --judge-model on --base-url: the URL's password is masked in the spec history keeps."""
    from gui.cli import build_parser, spec_from_args
    from gui.core.spec import spec_to_dict
    from gui.storage.profiles import ProfileStore, SavedProfile

    ProfileStore().save([SavedProfile("sim", ModelProfile(model="sim-1"))])
    url = f"https://alice:{PASSWORD}@judge.example/v1"
    argv = ["run", "-t", "x", "--profile", "sim", "--provider", "openai", "--base-url", url]
    args = build_parser().parse_args([*argv, "--judge-model", "j-1"])
    spec = spec_from_args(args)
    assert spec.judge is not None and spec.judge.model.base_url == url
    stored = keys.redact(json.dumps(spec_to_dict(spec)))
    assert PASSWORD not in stored and "alice:***@judge.example" in stored
