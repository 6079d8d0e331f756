"""Batch ports: a profile's server as :class:`gui.core.batch.BatchPort`.

An OpenAI-compatible server goes through the ``openai`` SDK's ``files`` and ``batches``
resources (``AsyncOpenAI`` with the profile's base URL and key): request files are uploaded
from disk and result files downloaded to disk, streamed, so a 200 MB file is never in memory.
The simulated provider gets :class:`gui.providers.simulated_batch.SimulatedBatchPort`, which
works offline and survives a restart. A server that answers 404 on ``/files`` offers no Batch
API: :class:`gui.core.batch.BatchUnsupported` says so in one line.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from gui.core.batch import (
    BatchGone,
    BatchPort,
    BatchState,
    BatchStatus,
    BatchUnsupported,
)
from gui.core.errors import one_line
from gui.core.keys import HeldKeys, api_key_for
from gui.core.ports import KeySource
from gui.core.private import private_opener
from gui.core.spec import ModelProfile, ProviderKind

__all__ = ["OpenAIBatchPort", "batch_ports"]

DEFAULT_BASE_URL = "https://api.openai.com/v1"

#: Seconds the simulated provider takes for a batch unless told otherwise.
SIM_BATCH_DELAY_S = 5.0


def batch_ports(
    keys: KeySource | None, sim_root: Path, sim_delay: float = SIM_BATCH_DELAY_S
) -> Callable[[ModelProfile], BatchPort]:
    """The port factory a :class:`gui.core.batch.BatchRun` takes: each profile's server.

    Args:
        keys: Resolves profiles' saved keys.
        sim_root: Where the simulated provider keeps its batches and files (a folder of the
            app's data folder, so that a simulated batch outlives the process as a real one).
        sim_delay: Seconds a new simulated batch takes to complete.
    """
    held = keys if keys is not None else HeldKeys()

    def make(profile: ModelProfile) -> BatchPort:
        if profile.provider is ProviderKind.SIMULATED:
            from gui.providers.simulated_batch import SimulatedBatchPort

            return SimulatedBatchPort(sim_root, profile, sim_delay)
        return OpenAIBatchPort(profile, held)

    return make


class OpenAIBatchPort:
    """The Batch API of one OpenAI-compatible server, through ``AsyncOpenAI``."""

    def __init__(self, profile: ModelProfile, keys: KeySource) -> None:
        from openai import AsyncOpenAI

        base = profile.base_url or DEFAULT_BASE_URL
        self._host = urlparse(base).netloc or base
        # The SDK refuses to build without a key; a local server takes any.
        key = api_key_for(profile, keys) or "no-key"
        self._client = AsyncOpenAI(
            base_url=base,
            api_key=key,
            max_retries=2,
            timeout=120.0,
        )

    def _unsupported(self) -> BatchUnsupported:
        return BatchUnsupported(
            f"{self._host} does not offer the Batch API (404 on /files): run this model live, "
            "or use a provider with batches."
        )

    async def upload(self, path: Path) -> str:
        """Upload a request file from disk (the SDK streams an open file)."""
        import openai

        try:
            with path.open("rb") as f:
                created = await self._client.files.create(
                    file=(path.name, f, "application/jsonl"), purpose="batch"
                )
        except openai.NotFoundError as exc:
            raise self._unsupported() from exc
        except openai.APIStatusError as exc:
            raise RuntimeError(self._why(exc)) from exc
        return str(created.id)

    async def create(self, input_file_id: str, metadata: Mapping[str, str]) -> BatchStatus:
        """Create a batch of the chat completions in ``input_file_id``."""
        import openai

        try:
            batch = await self._client.batches.create(
                input_file_id=input_file_id,
                endpoint="/v1/chat/completions",
                completion_window="24h",
                metadata=dict(metadata),
            )
        except openai.NotFoundError as exc:
            raise self._unsupported() from exc
        return _status(batch)

    async def retrieve(self, batch_id: str) -> BatchStatus:
        """The batch now.

        Raises:
            BatchGone: the server no longer knows it.
        """
        import openai

        try:
            return _status(await self._client.batches.retrieve(batch_id))
        except openai.NotFoundError as exc:
            raise BatchGone(f"{self._host} no longer knows batch {batch_id}") from exc

    async def cancel(self, batch_id: str) -> BatchStatus:
        """Ask for the batch to be cancelled."""
        return _status(await self._client.batches.cancel(batch_id))

    async def download(self, file_id: str, dest: Path) -> None:
        """Stream a file's content to ``dest``."""
        async with self._client.files.with_streaming_response.content(file_id) as response:
            # A local file opened once per download (as Path.open did before); 0600: it holds
            # the run's answers.
            with open(dest, "wb", opener=private_opener) as out:  # noqa: ASYNC230
                async for chunk in response.iter_bytes(1 << 16):
                    out.write(chunk)

    async def aclose(self) -> None:
        """Close the SDK's HTTP client."""
        await self._client.close()

    def _why(self, exc: Any) -> str:
        message = getattr(exc, "message", None) or str(exc)
        return one_line(f"{self._host}: the request file was refused: {message}")


def _status(batch: Any) -> BatchStatus:
    """Our :class:`BatchStatus` of the SDK's ``Batch``."""
    counts = batch.request_counts
    errors = getattr(getattr(batch, "errors", None), "data", None) or []
    message = "; ".join(str(e.message) for e in errors if getattr(e, "message", None)) or None
    return BatchStatus(
        id=str(batch.id),
        state=BatchState.of(str(batch.status)),
        input_file_id=str(batch.input_file_id),
        output_file_id=batch.output_file_id,
        error_file_id=batch.error_file_id,
        total=int(counts.total) if counts else 0,
        completed=int(counts.completed) if counts else 0,
        failed=int(counts.failed) if counts else 0,
        message=message,
    )
