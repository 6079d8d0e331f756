"""The simulated provider's Batch API: offline, on disk, finishing after a set delay.

Demos and tests run batch runs without a server: an uploaded request file is copied into a
folder of the data folder, a batch is a small JSON file there, and its state follows the
clock (in progress until its delay has passed, then completed), so a simulated batch
outlives the process that created it exactly as a provider's does. Answers are the
simulated model's own, drawn as a live request of the same cell would be (model, messages,
temperature, top_p, the request's seed, else the profile's, and the cell's sample); a
structured run's ``response_format`` gets the simulated model's JSON answer. The profile's
failure rate fails that share of requests (they go to the error file). A cancelled batch keeps the answers of the requests its
progress had reached.
"""

from __future__ import annotations

import asyncio
import bisect
import json
import random
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gui.core.batch import BatchGone, BatchState, BatchStatus
from gui.core.private import private_dirs, private_opener
from gui.core.spec import CellId, ModelProfile
from gui.providers.simulated import (
    conversation_digest,
    sampling_draw,
    simulated_answer,
    structured_reply,
)

__all__ = ["SimulatedBatchPort"]


class SimulatedBatchPort:
    """Batches of the simulated model, kept under ``root``.

    Args:
        root: The folder holding files and batches (created when needed).
        profile: The simulated profile (tokens per answer, seed, failure rate).
        delay: Seconds a new batch takes to complete.
    """

    def __init__(self, root: Path, profile: ModelProfile, delay: float) -> None:
        self._root = root
        self._profile = profile
        self._delay = max(0.0, delay)

    def _batch_path(self, batch_id: str) -> Path:
        return self._root / "batches" / f"{batch_id}.json"

    def _file_path(self, file_id: str) -> Path:
        return self._root / "files" / f"{file_id}.jsonl"

    async def upload(self, path: Path) -> str:
        """Copy the request file into the simulated provider's folder."""
        file_id = f"file-sim-{uuid.uuid4().hex[:16]}"
        dest = self._file_path(file_id)

        def copy() -> None:
            private_dirs(dest.parent)
            with path.open("rb") as src, open(dest, "wb", opener=private_opener) as out:
                while block := src.read(1 << 16):
                    out.write(block)

        await asyncio.to_thread(copy)
        return file_id

    async def create(self, input_file_id: str, metadata: Mapping[str, str]) -> BatchStatus:
        """A batch completing ``delay`` seconds from now."""
        batch_id = f"batch-sim-{uuid.uuid4().hex[:16]}"
        total, failing = await asyncio.to_thread(self._scan, input_file_id)
        state = {
            "id": batch_id,
            "input_file_id": input_file_id,
            "created_at": time.time(),
            "delay": self._delay,
            "total": total,
            "failing": failing,
            "cancelled_at": None,
            "metadata": dict(metadata),
        }
        await asyncio.to_thread(self._save, state)
        return self._status(state)

    async def retrieve(self, batch_id: str) -> BatchStatus:
        """The batch as the clock has it now."""
        return self._status(await asyncio.to_thread(self._load, batch_id))

    async def cancel(self, batch_id: str) -> BatchStatus:
        """Stop the batch where its progress is."""
        state = await asyncio.to_thread(self._load, batch_id)
        if state.get("cancelled_at") is None and not self._done(state):
            state["cancelled_at"] = time.time()
            await asyncio.to_thread(self._save, state)
        return self._status(state)

    async def download(self, file_id: str, dest: Path) -> None:
        """Write the output (``...-output``) or error (``...-errors``) file of a batch."""
        batch_id, _, which = file_id.rpartition("-")
        state = await asyncio.to_thread(self._load, batch_id)
        await asyncio.to_thread(self._write_results, state, which == "errors", dest)

    async def aclose(self) -> None:
        """Nothing to close."""

    # ---------------------------------------------------------------- internals

    def _save(self, state: dict[str, Any]) -> None:
        path = self._batch_path(str(state["id"]))
        private_dirs(path.parent)
        tmp = path.with_suffix(".tmp")
        with open(tmp, "w", encoding="utf-8", opener=private_opener) as out:
            out.write(json.dumps(state))
        tmp.replace(path)

    def _load(self, batch_id: str) -> dict[str, Any]:
        try:
            text = self._batch_path(batch_id).read_text(encoding="utf-8")
        except FileNotFoundError as exc:
            raise BatchGone(
                f"the simulated provider no longer has batch {batch_id} ({self._root})"
            ) from exc
        data: dict[str, Any] = json.loads(text)
        return data

    @staticmethod
    def _done(state: Mapping[str, Any]) -> bool:
        return time.time() - float(state["created_at"]) >= float(state["delay"])

    @staticmethod
    def _reached(state: Mapping[str, Any]) -> int:
        """Requests the batch has run by now (or by its cancel)."""
        total = int(state["total"])
        at = state.get("cancelled_at") or time.time()
        delay = float(state["delay"])
        if delay <= 0:
            return total
        share = (float(at) - float(state["created_at"])) / delay
        return max(0, min(total, int(total * share)))

    def _failing(self, custom_id: str, file_id: str) -> bool:
        sim = self._profile.sim
        if sim.failure_rate <= 0:
            return False
        # Drawn per request file too: a retry of the failed cells (a new file) draws again.
        draw = random.Random(f"{sim.seed}\x00{custom_id}\x00{file_id}").random()
        return draw < sim.failure_rate

    def _scan(self, file_id: str) -> tuple[int, list[int]]:
        """The request file's lines, and the positions of those that will fail."""
        total, failing = 0, []
        check = self._profile.sim.failure_rate > 0
        with self._file_path(file_id).open("rb") as f:
            for line in f:
                if not line.strip():
                    continue
                if check and self._failing(str(json.loads(line)["custom_id"]), file_id):
                    failing.append(total)
                total += 1
        return total, failing

    def _status(self, state: Mapping[str, Any]) -> BatchStatus:
        batch_id = str(state["id"])
        total = int(state["total"])
        if state.get("cancelled_at") is not None:
            bstate = BatchState.CANCELLED
        elif self._done(state):
            bstate = BatchState.COMPLETED
        else:
            bstate = BatchState.IN_PROGRESS
        reached = total if bstate is BatchState.COMPLETED else self._reached(state)
        # The requests that will fail, by line: a poll counts those the clock has reached.
        failed = bisect.bisect_left(state.get("failing") or [], reached)
        ended = bstate.terminal
        return BatchStatus(
            id=batch_id,
            state=bstate,
            input_file_id=str(state["input_file_id"]),
            output_file_id=f"{batch_id}-output" if ended else None,
            error_file_id=f"{batch_id}-errors" if ended else None,
            total=total,
            completed=reached - failed,
            failed=failed,
        )

    def _write_results(self, state: Mapping[str, Any], errors: bool, dest: Path) -> None:
        reached = int(state["total"]) if self._done(state) else self._reached(state)
        if state.get("cancelled_at") is not None:
            reached = self._reached(state)
        sim = self._profile.sim
        source = self._file_path(str(state["input_file_id"]))
        with (
            source.open("rb") as src,
            open(dest, "w", encoding="utf-8", opener=private_opener) as out,
        ):
            for n, line in enumerate(src):
                if n >= reached:
                    break
                request = json.loads(line)
                custom_id = str(request["custom_id"])
                failing = self._failing(custom_id, str(state["input_file_id"]))
                if failing != errors:
                    continue
                out.write(json.dumps(_result(request, sim.output_tokens, sim.seed, failing)))
                out.write("\n")


def _result(request: Mapping[str, Any], tokens: int, seed: int | None, failing: bool) -> Any:
    custom_id = request["custom_id"]
    req_id = f"batch_req_{uuid.uuid4().hex[:12]}"
    if failing:
        return {
            "id": req_id,
            "custom_id": custom_id,
            "response": {
                "status_code": 500,
                "request_id": req_id,
                "body": {
                    "error": {
                        "message": "The simulated server had an error.",
                        "type": "server_error",
                    }
                },
            },
            "error": None,
        }
    body = request.get("body") or {}
    messages = body.get("messages") or []
    turns = [(str(m.get("role", "")), _text_of(m.get("content"))) for m in messages]
    prompt = next((text for role, text in reversed(turns) if role == "user"), "")
    if isinstance(body.get("max_tokens"), int):
        tokens = min(tokens, int(body["max_tokens"]))
    if isinstance(body.get("seed"), int):
        seed = int(body["seed"])
    try:
        sample = CellId.parse(str(custom_id)).sample
    except ValueError:
        sample = 0
    model = str(body.get("model") or "")
    # The same draw as a live request of the cell (gui.providers.simulated.sampling_draw).
    draw = sampling_draw(
        model=model,
        conversation=conversation_digest(turns),
        temperature=_number(body.get("temperature")),
        top_p=_number(body.get("top_p")),
        seed=seed,
        sample=sample,
    )
    schema = _schema_of(body.get("response_format"))
    if schema is not None:
        text = structured_reply(schema, prompt, model, draw.variant)
        tokens = max(1, len(text.split()))
    else:
        text = simulated_answer(prompt, tokens, draw)
    prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in messages)
    return {
        "id": req_id,
        "custom_id": custom_id,
        "response": {
            "status_code": 200,
            "request_id": req_id,
            "body": {
                "object": "chat.completion",
                "model": body.get("model"),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": tokens,
                    "total_tokens": prompt_tokens + tokens,
                },
            },
        },
        "error": None,
    }


def _text_of(content: Any) -> str:
    """A message's text, as LangChain's ``BaseMessage.text`` reads it: a string, or the text
    parts of a list of content parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(part.get("text", ""))
            for part in content
            if isinstance(part, dict) and part.get("type") == "text"
        )
    return ""


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _schema_of(response_format: Any) -> dict[str, Any] | None:
    """The JSON schema a request line's ``response_format`` asks for, or ``None``."""
    if not isinstance(response_format, dict) or response_format.get("type") != "json_schema":
        return None
    inner = response_format.get("json_schema")
    schema = inner.get("schema") if isinstance(inner, dict) else None
    return schema if isinstance(schema, dict) else None
