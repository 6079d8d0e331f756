"""Every secret the app knows is masked, whatever its name or place; a key goes only where it
belongs."""

from __future__ import annotations

import base64
import random

import pytest

from gui.core import keys
from gui.core.codegen import python_snippet
from gui.core.spec import ModelProfile, ProviderKind, make_spec

OPENAI_KEY = "sk-default-9f8e7d6c5b4a"
ODD_NAMED = "cred-1234-abcd-efgh"  # in a variable whose name says nothing about secrets


@pytest.fixture(autouse=True)
def fresh_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keys, "_watched_envs", {keys.DEFAULT_KEY_ENV})
    monkeypatch.setattr(keys, "_allowed_envs", set())
    monkeypatch.setattr(keys, "_url_secrets", set())
    monkeypatch.setattr(keys, "_masked", set())
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.setenv("MY_LLM_CRED", ODD_NAMED)


NONE_SAVED = keys.HeldKeys()


def openai(base_url: str | None = None, **kw: object) -> ModelProfile:
    return ModelProfile(model="m", provider=ProviderKind.OPENAI, base_url=base_url, **kw)  # type: ignore[arg-type]


def test_the_variable_a_profile_names_is_masked_whatever_it_is_called() -> None:
    assert keys.redact(f"echo {ODD_NAMED}") == f"echo {ODD_NAMED}"  # not known yet
    assert (
        keys.api_key_for(openai("https://llm.example/v1", api_key_env="MY_LLM_CRED"), NONE_SAVED)
        == ODD_NAMED
    )
    assert keys.redact(f"server said: bad key {ODD_NAMED}!") == "server said: bad key ***!"
    assert keys.redact(f"and {OPENAI_KEY}") == "and ***"


def test_keyring_keys_url_passwords_and_echoed_authorization_are_masked() -> None:
    keys.HeldKeys({"work": "kr-secret-42"})  # read from the keyring: masked from then on
    basic = base64.b64encode(b"alice:pa55word").decode()
    keys.watch_url("http://alice:pa55word@llm.example:8080/v1")
    text = (
        "401: key kr-secret-42 refused; "
        f"Authorization: Basic {basic}; authorization: Bearer abc.DEF-123_xyz; "
        "retry at http://bob:hunter22@other.example/v1 (alice's pa55word was wrong)"
    )
    assert keys.redact(text) == (
        "401: key *** refused; Authorization: Basic ***; authorization: Bearer ***; "
        "retry at http://bob:***@other.example/v1 (alice's *** was wrong)"
    )


def test_a_basic_credential_cut_short_in_a_message_is_still_masked() -> None:
    basic = base64.b64encode(b"alice:a-rather-long-password").decode()
    assert keys.redact(f"refused: Basic {basic[:21]}…") == "refused: Basic ***…"


@pytest.mark.parametrize(
    "prose",
    [
        "Basic idea: keep it simple.",
        "Bearer bonds pay the holder.",
        "A Basic test",
        "https://example.com/path?q=1",
    ],
)
def test_ordinary_text_is_left_alone(prose: str) -> None:
    assert keys.redact(prose) == prose


def test_the_default_openai_key_goes_to_openai_only_unless_named() -> None:
    assert keys.api_key_for(openai(), NONE_SAVED) == OPENAI_KEY
    assert keys.api_key_for(openai("https://api.openai.com/v1"), NONE_SAVED) == OPENAI_KEY
    elsewhere = openai("http://192.0.2.7:8000/v1")
    assert keys.key_withheld(elsewhere, NONE_SAVED)
    assert keys.api_key_for(elsewhere, NONE_SAVED) is None
    keys.allow_env("OPENAI_API_KEY")  # --api-key-env OPENAI_API_KEY
    assert not keys.key_withheld(elsewhere, NONE_SAVED)
    assert keys.api_key_for(elsewhere, NONE_SAVED) == OPENAI_KEY


def test_a_profiles_own_key_goes_to_its_base_url() -> None:
    saved = keys.HeldKeys({"local": "kr-local-key"})
    own = openai("http://192.0.2.7:8000/v1", key_ref="local")
    assert keys.api_key_for(own, saved) == "kr-local-key" and not keys.key_withheld(own, saved)
    # The same profile with a source that holds no key for it falls back to its variable,
    # which is the default one and so withheld from another host.
    assert keys.api_key_for(own, NONE_SAVED) is None and keys.key_withheld(own, NONE_SAVED)
    named = openai("http://192.0.2.7:8000/v1", api_key_env="MY_LLM_CRED")
    assert keys.api_key_for(named, saved) == ODD_NAMED


def test_generated_code_shows_no_password_and_no_key() -> None:
    spec = make_spec(
        f"Use the key {OPENAI_KEY} to say {{topic}}",
        ["x"],
        [openai("http://alice:pa55word@llm.example:8080/v1")],
    )
    code = python_snippet(spec)
    assert "pa55word" not in code and OPENAI_KEY not in code
    assert 'base_url="http://alice@llm.example:8080/v1",  # its password is not shown' in code
    compile(code, "<snippet>", "exec")


def _every_pattern(text: str) -> str:
    """What the three patterns do when tried at every character (the reference)."""
    text = keys._URL_CREDENTIALS.sub(r"\1:***@", text)
    text = keys._BEARER.sub(r"\1\2***", text)
    return keys._BASIC.sub(keys._basic, text)


def test_ascii_text_is_masked_as_the_patterns_tried_everywhere_would() -> None:
    """ASCII text has the patterns tried only where their word (or ``://``) is: the same
    result as trying them at every character, over texts made of the pieces that meet at
    the edges (schemes glued to words, credentials without their ``@``, several per text)."""
    credential = base64.b64encode(b"u:p").decode()
    pieces = [
        "http://", "HTTPS://ann:pw@", "a+b.c-d://q:r@h", "x1.git://", "://", ":", "@", "/",
        "Bearer ", "bEaReR tok.3n", "BEARER\t12345", "bearer", "Basic ", "basic idea",
        f"BASIC {credential}", credential, "=", " ", "\n", "user", "pw", "1", "-", ".", "_",
    ]  # fmt: skip
    rng = random.Random(7)
    texts = ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 12))) for _ in range(20_000)]
    assert [keys.redact(t) for t in texts] == [_every_pattern(t) for t in texts]
    assert keys.redact("Auth: bEaReR tok.3n") == "Auth: bEaReR ***"  # any case, as the pattern


def test_a_big_spec_is_masked_without_trying_every_character() -> None:
    """A run's spec as the history stores it: 10,000 inputs, a URL in its prices, a
    credential among the inputs; every one found (the patterns are tried at their words)."""
    rows = [f"basic topic number {i}" for i in range(10_000)]
    rows[5_000] = "see https://ann:pw@llm.example/v1 and Bearer sk-abc.123"
    text = " ".join(rows) + ' "base_url": "https://api.openai.com/v1"'
    masked = keys.redact(text)
    assert masked == _every_pattern(text)
    assert "https://ann:***@llm.example/v1 and Bearer ***" in masked and "pw@" not in masked
