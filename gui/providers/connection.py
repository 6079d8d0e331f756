""" "Test connection" for a profile: ask the server for its models (``GET {base_url}/models``).

Every outcome is a :class:`ConnectionReport` with one line a user can act on: nothing
listening, a rejected key, a URL that is not an OpenAI-compatible API, a timeout. The key is
sent in the ``Authorization`` header and never appears in a message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from gui.core.keys import HeldKeys, api_key_for
from gui.core.ports import KeySource
from gui.core.spec import ModelProfile, ProviderKind

__all__ = ["DEFAULT_BASE_URL", "ConnectionReport", "check_connection"]

DEFAULT_BASE_URL = "https://api.openai.com/v1"


@dataclass(frozen=True, slots=True)
class ConnectionReport:
    """What a connection test found.

    Attributes:
        ok: The server answered like an OpenAI-compatible API and accepted the key.
        message: One line for the user.
        models: The model ids the server lists (sorted), when it answered.
    """

    ok: bool
    message: str
    models: tuple[str, ...] = ()


async def check_connection(
    profile: ModelProfile, keys: KeySource | None = None, wait_s: float = 5.0
) -> ConnectionReport:
    """Ask the profile's server for its models; never raises.

    Args:
        profile: The profile to test.
        keys: Resolves the profile's ``key_ref`` to its saved key (the window's key service);
            without one, only its environment variable is sent.
        wait_s: How long the server may take to answer.
    """
    if profile.provider is ProviderKind.SIMULATED:
        return ConnectionReport(
            True, "The simulated model runs offline: always available.", (profile.model,)
        )
    import httpx

    base = (profile.base_url or DEFAULT_BASE_URL).rstrip("/")
    url = f"{base}/models"
    host = urlparse(base).netloc or base
    key = api_key_for(profile, keys if keys is not None else HeldKeys())
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    try:
        async with httpx.AsyncClient(timeout=wait_s, follow_redirects=True) as client:
            response = await client.get(url, headers=headers)
    except httpx.ConnectError:
        return ConnectionReport(
            False, f"Nothing answers at {host}: is the server running, and is the URL right?"
        )
    except httpx.TimeoutException:
        return ConnectionReport(False, f"{host} did not answer within {wait_s:g} s.")
    except httpx.UnsupportedProtocol:
        return ConnectionReport(False, f"{base} is not an http:// or https:// URL.")
    except httpx.HTTPError as exc:
        return ConnectionReport(False, f"Could not talk to {host} ({type(exc).__name__}).")

    status = response.status_code
    if status in (401, 403):
        hint = (
            f"no key is set (save one, or set ${profile.api_key_env})"
            if key is None
            else "check the key"
        )
        return ConnectionReport(False, f"{host} refused the request (HTTP {status}): {hint}.")
    if status == 404:
        return ConnectionReport(
            False,
            f"{url} does not exist (HTTP 404): an OpenAI-compatible base URL usually ends in /v1.",
        )
    if status >= 400:
        return ConnectionReport(False, f"{host} answered HTTP {status} to the model list.")
    models = _model_ids(response)
    if models is None:
        return ConnectionReport(
            False,
            f"{host} answered, but not like an OpenAI-compatible server (no model list at {url}).",
        )
    if not models:
        return ConnectionReport(True, f"Connected to {host}; it lists no models.")
    count = f"{len(models)} model{'s' if len(models) != 1 else ''}"
    if profile.model and profile.model not in models:
        return ConnectionReport(
            True,
            f"Connected to {host} ({count}), but {profile.model!r} is not one of them: pick one.",
            models,
        )
    return ConnectionReport(True, f"Connected to {host}: {count}.", models)


def _model_ids(response: Any) -> tuple[str, ...] | None:
    try:
        data = response.json()
        items = data["data"]
        return tuple(sorted({str(item["id"]) for item in items}))
    except Exception:
        return None
