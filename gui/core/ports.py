"""What the engine needs from a provider layer, as protocols (the engine imports no LangChain).

``gui.providers.backend.LangChainBackend`` is the real implementation; tests may pass fakes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol

from gui.core.errors import Failure
from gui.core.spec import Cell, ModelProfile


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
    """Collects the provider-reported token usage of one request.

    A probe may also carry ``finish_reason`` (why the server said the answer ended) and
    ``note`` (how the answer came, when the user should know); the engine reads both with
    ``getattr`` and stores them in the cell's metrics, so a probe without them still works.
    """

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
