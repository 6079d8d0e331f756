"""When a cell may be answered from the response cache, and what a cached cell shows.

The cache itself (an SQLite-backed LangChain ``BaseCache``) lives in the provider layer; the
engine only decides, per request, whether the chain may use it, and says so in the request's
config under :data:`USE_CACHE_KEY`. The rule: the run has the cache on (``Limits.cache``),
and the answer is meant to be reproducible. A temperature above 0 samples, and repeats of a
cell ask for several samples on purpose: both bypass the cache unless a seed pins the sample.
"""

from __future__ import annotations

from typing import Any

#: The engine's request config key: ``True`` when the chain may read and fill the cache.
USE_CACHE_KEY = "fanout_use_cache"

#: The mark a cell answered from the cache shows (its cost is 0: no request was made).
CACHED_MARK = "cached"


def cache_allowed(enabled: bool, model: Any, samples: int = 1) -> bool:
    """Whether a cell of ``model`` may be served from (and stored in) the cache.

    Args:
        enabled: The run's cache switch (``Limits.cache``).
        model: The cell's :class:`gui.core.spec.ModelProfile`; its ``seed`` is read when the
            profile has one (parameter sweeps add it), so a seeded sample is cacheable.
        samples: How many samples of the cell the run asks for (repeats).

    A temperature the profile leaves unset is the server's default and counts as not
    sampling: set one above 0 to keep such a column out of the cache.
    """
    if not enabled:
        return False
    if getattr(model, "seed", None) is not None:
        return True
    temperature = getattr(model, "temperature", None)
    sampling = temperature is not None and temperature > 0
    return not sampling and samples <= 1
