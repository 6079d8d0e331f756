"""What the core needs from the layers around it, as protocols (the core imports none of them).

The engine needs a provider :class:`Backend` (``gui.providers.backend.LangChainBackend``);
the session (:mod:`gui.core.session`) needs a :class:`RunHistory` to record runs in and reads
past runs as :class:`PastRun` (``gui.storage.history.History`` and ``StoredRun``). Tests pass
fakes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol

from gui.core.errors import Failure
from gui.core.events import Event
from gui.core.metrics import CellMetrics
from gui.core.spec import Cell, ModelProfile, RunSpec


class ChainLike(Protocol):
    """The LCEL chain of one cell: ``prompt | model | StrOutputParser()``."""

    def invoke(self, input: Mapping[str, Any], config: Any = None) -> Any:
        """Blocking call, used by the sync strategy from a worker thread."""

    async def ainvoke(self, input: Mapping[str, Any], config: Any = None) -> Any:
        """One awaited call returning the whole answer."""

    def astream(self, input: Mapping[str, Any], config: Any = None) -> AsyncIterator[Any]:
        """The answer as text chunks while it is generated."""


class BatchLike(Protocol):
    """A runnable over cells whose ``abatch`` / ``abatch_as_completed`` the engine drives."""

    async def abatch(
        self, inputs: Sequence[Cell], config: Any = None, *, return_exceptions: bool = False
    ) -> list[Any]:
        """Run every input, at most ``config['max_concurrency']`` at once."""

    def abatch_as_completed(
        self, inputs: Sequence[Cell], config: Any = None, *, return_exceptions: bool = False
    ) -> AsyncIterator[tuple[int, Any]]:
        """Run every input, yielding ``(index, output)`` as each completes."""


class UsageProbe(Protocol):
    """Collects the provider-reported token usage of one request."""

    @property
    def callbacks(self) -> list[Any]:
        """Callback handlers to pass in the request's config."""

    @property
    def output_tokens(self) -> int | None:
        """Answer tokens the provider reported, or ``None``."""


class Backend(Protocol):
    """Builds chains for profiles and explains their errors."""

    def chain(self, template: str, system: str | None, profile: ModelProfile) -> ChainLike:
        """The chain for one column (may be cached)."""

    def batch_runnable(self, fn: Callable[[Cell], Awaitable[object]]) -> BatchLike:
        """Wrap ``fn`` so that ``abatch``-style fan-out can drive it."""

    def usage_probe(self) -> UsageProbe:
        """A fresh usage probe for one request."""

    def classify(self, exc: BaseException, profile: ModelProfile) -> Failure | None:
        """A :class:`Failure` for ``exc``, or ``None`` to let the engine's fallback decide."""


class RunHistory(Protocol):
    """Where the session records runs (``gui.storage.history.History``)."""

    def recorder(
        self,
        *,
        label: str | None = None,
        into_run: str | None = None,
        cell_map: Mapping[str, str] | None = None,
    ) -> Callable[[Event], None]:
        """A run subscriber that records it; ``into_run`` files a retry's cells under that run."""

    def flush(self, timeout: float = 5.0) -> bool:
        """Block until everything recorded so far is stored; ``False`` on timeout."""


class PastCell(Protocol):
    """One cell of a past run as it ended (``gui.storage.history.StoredCell``)."""

    @property
    def cell_id(self) -> str:
        """The cell's id (:class:`gui.core.spec.CellId` text)."""

    @property
    def status(self) -> str:
        """``done``, ``failed`` or ``cancelled``."""

    @property
    def text(self) -> str:
        """The answer, or the partial text."""

    @property
    def error(self) -> str | None:
        """The error message or the cancel reason."""

    @property
    def metrics(self) -> CellMetrics | None:
        """Timings and tokens, if recorded."""


class PastRun(Protocol):
    """A run from the history, shown read-only (``gui.storage.history.StoredRun``)."""

    @property
    def id(self) -> str:
        """The run's id."""

    @property
    def spec(self) -> RunSpec:
        """The plan that ran."""

    @property
    def created_at(self) -> float:
        """Wall-clock epoch seconds when it started."""

    @property
    def status(self) -> str:
        """``finished``, ``cancelled``, ``interrupted`` or ``running``."""

    @property
    def wall(self) -> float | None:
        """Seconds it took, if it ended."""

    @property
    def models(self) -> tuple[str, ...]:
        """Column titles."""

    @property
    def cells(self) -> Sequence[PastCell]:
        """The cells that ended (an interrupted run may miss some)."""
