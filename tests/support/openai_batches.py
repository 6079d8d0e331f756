"""The Batch API of the in-test OpenAI-compatible server (`FakeOpenAIServer.batches`).

``/v1/files`` (multipart upload, ``GET /v1/files/{id}``, ``GET /v1/files/{id}/content``) and
``/v1/batches`` (create, retrieve, cancel, list), with the timing and faults a test controls
through `BatchPlan`:

* ``validating`` / ``duration``: seconds a batch stays ``validating``, then ``in_progress``
  (its completed count grows with the clock) before it completes;
* ``fail``: custom ids whose request fails (HTTP 500 line in the error file);
* ``expire``: custom ids that expire (an error-file line with code ``batch_expired``);
* ``drop``: custom ids in neither file (the provider lost them);
* ``failed``: the whole batch fails validation with this message;
* ``supported=False``: every batch endpoint answers 404, as a server without a Batch API.

Answers are `default_answer` of the request's last user message, with usage. Output and error
files are made when a batch completes (or is cancelled: requests its progress reached only).
"""

from __future__ import annotations

import email.parser
import email.policy
import itertools
import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["BatchAPI", "BatchPlan"]


@dataclass
class BatchPlan:
    """How the server's batches behave (see the module docstring)."""

    validating: float = 0.0
    duration: float = 0.0
    fail: set[str] = field(default_factory=set)
    expire: set[str] = field(default_factory=set)
    drop: set[str] = field(default_factory=set)
    failed: str | None = None
    supported: bool = True
    tokens: int = 5


@dataclass
class _Batch:
    id: str
    input_file_id: str
    created: float
    plan: BatchPlan
    total: int
    metadata: dict[str, Any]
    cancel_requested: float | None = None
    cancelled_reported: bool = False
    output_file_id: str | None = None
    error_file_id: str | None = None
    final: str | None = None


class BatchAPI:
    """Files and batches held in memory; thread-safe (the server thread and the test's)."""

    def __init__(self, answer: Callable[[str, str, int], str]) -> None:
        self.plan = BatchPlan()
        self._answer = answer
        self._lock = threading.Lock()
        self._files: dict[str, tuple[str, bytes]] = {}
        self._batches: dict[str, _Batch] = {}
        self._serial = itertools.count(1)
        #: Every upload's file name and line count, in order.
        self.uploads: list[tuple[str, int]] = []

    # ----------------------------------------------------------------- for tests

    def batch_ids(self) -> list[str]:
        with self._lock:
            return list(self._batches)

    def state(self, batch_id: str) -> str:
        with self._lock:
            return self._status(self._batches[batch_id])["status"]

    def complete_now(self) -> None:
        """Every batch not ended yet completes (all its requests run) at its next poll."""
        with self._lock:
            for batch in self._batches.values():
                batch.plan.validating = batch.plan.duration = 0.0

    def cancelled(self) -> list[str]:
        with self._lock:
            return [b.id for b in self._batches.values() if b.cancel_requested is not None]

    # ----------------------------------------------------------------- HTTP

    def handle(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, Any]:
        """``(status, JSON object or raw bytes)`` for one request under /v1/files or /v1/batches."""
        if not self.plan.supported:
            return 404, _error(f"Invalid URL ({method} {path})")
        parts = path.strip("/").split("/")[1:]  # drop "v1"
        with self._lock:
            if parts == ["files"] and method == "POST":
                return self._upload(headers, body)
            if (
                len(parts) == 3
                and parts[0] == "files"
                and parts[2] == "content"
                and method == "GET"
            ):
                found = self._files.get(parts[1])
                return (200, found[1]) if found else (404, _error("No such File object"))
            if len(parts) == 2 and parts[0] == "files" and method == "GET":
                found = self._files.get(parts[1])
                if not found:
                    return 404, _error("No such File object")
                return 200, _file_obj(parts[1], found[0], len(found[1]))
            if parts == ["batches"] and method == "POST":
                return self._create(json.loads(body or b"{}"))
            if parts == ["batches"] and method == "GET":
                data = [self._status(b) for b in reversed(self._batches.values())]
                return 200, {"object": "list", "data": data, "has_more": False}
            if len(parts) >= 2 and parts[0] == "batches":
                batch = self._batches.get(parts[1])
                if batch is None:
                    return 404, _error("No such Batch object")
                if len(parts) == 3 and parts[2] == "cancel" and method == "POST":
                    if batch.cancel_requested is None and batch.final is None:
                        batch.cancel_requested = time.monotonic()
                    return 200, self._status(batch)
                if len(parts) == 2 and method == "GET":
                    return 200, self._status(batch)
        return 404, _error(f"Invalid URL ({method} {path})")

    def _upload(self, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        raw = b"Content-Type: " + headers.get("content-type", "").encode() + b"\r\n\r\n" + body
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
        content, name, purpose = b"", "upload.jsonl", ""
        for part in message.iter_parts():
            field_name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True) or b""
            if field_name == "file":
                content = payload
                name = str(part.get_filename() or name)
            elif field_name == "purpose":
                purpose = payload.decode()
        if purpose != "batch":
            return 400, _error("purpose must be batch")
        file_id = f"file-{next(self._serial)}"
        self._files[file_id] = (name, content)
        self.uploads.append((name, len([x for x in content.splitlines() if x.strip()])))
        return 200, _file_obj(file_id, name, len(content))

    def _create(self, data: dict[str, Any]) -> tuple[int, Any]:
        file_id = str(data.get("input_file_id"))
        found = self._files.get(file_id)
        if found is None:
            return 404, _error("No such File object")
        total = len([x for x in found[1].splitlines() if x.strip()])
        batch = _Batch(
            f"batch_{next(self._serial)}",
            file_id,
            time.monotonic(),
            BatchPlan(**{**self.plan.__dict__}),
            total,
            dict(data.get("metadata") or {}),
        )
        self._batches[batch.id] = batch
        return 200, self._status(batch)

    def _status(self, b: _Batch) -> dict[str, Any]:
        now = time.monotonic()
        plan = b.plan
        elapsed = now - b.created
        reached = b.total
        if plan.duration > 0:
            share = (elapsed - plan.validating) / plan.duration
            reached = max(0, min(b.total, int(b.total * share)))
        errors = None
        if b.final is not None:
            status = b.final
        elif plan.failed is not None:
            status = b.final = "failed"
        elif b.cancel_requested is not None:
            if not b.cancelled_reported:
                b.cancelled_reported = True
                status = "cancelling"
            else:
                cut = b.cancel_requested - b.created - plan.validating
                share = cut / plan.duration if plan.duration > 0 else 1.0
                self._finish(b, max(0, min(b.total, int(b.total * share))))
                status = b.final = "cancelled"
        elif elapsed < plan.validating:
            status, reached = "validating", 0
        elif reached < b.total:
            status = "in_progress"
        else:
            self._finish(b, b.total)
            status = b.final = "completed"
        if status == "failed":
            errors = {"object": "list", "data": [{"code": "invalid", "message": plan.failed}]}
            reached = 0
        failed = len((plan.fail | plan.expire) & set(self._ids(b)[:reached])) if b.final else 0
        return {
            "id": b.id,
            "object": "batch",
            "endpoint": "/v1/chat/completions",
            "errors": errors,
            "input_file_id": b.input_file_id,
            "completion_window": "24h",
            "status": status,
            "output_file_id": b.output_file_id,
            "error_file_id": b.error_file_id,
            "created_at": int(time.time()),
            "request_counts": {
                "total": b.total,
                "completed": reached - failed if status != "failed" else 0,
                "failed": failed,
            },
            "metadata": b.metadata,
        }

    def _ids(self, b: _Batch) -> list[str]:
        lines = self._files[b.input_file_id][1].splitlines()
        return [json.loads(x)["custom_id"] for x in lines if x.strip()]

    def _finish(self, b: _Batch, reached: int) -> None:
        """Write the batch's output and error files (requests up to ``reached``)."""
        if b.output_file_id is not None:
            return
        out: list[bytes] = []
        err: list[bytes] = []
        lines = [json.loads(x) for x in self._files[b.input_file_id][1].splitlines() if x.strip()]
        for n, request in enumerate(lines[:reached]):
            custom_id = request["custom_id"]
            if custom_id in b.plan.drop:
                continue
            if custom_id in b.plan.expire:
                err.append(_line(custom_id, None, {"code": "batch_expired", "message": "expired"}))
            elif custom_id in b.plan.fail:
                body = {"error": {"message": "The server had an error.", "type": "server_error"}}
                err.append(_line(custom_id, {"status_code": 500, "body": body}, None))
            else:
                out.append(_line(custom_id, self._completion(request, n, b.plan.tokens), None))
        b.output_file_id = self._store(f"{b.id}_output.jsonl", out)
        b.error_file_id = self._store(f"{b.id}_error.jsonl", err) if err else None

    def _completion(self, request: dict[str, Any], n: int, tokens: int) -> dict[str, Any]:
        body = request.get("body") or {}
        messages = body.get("messages") or []
        prompt = str(messages[-1].get("content", "")) if messages else ""
        model = str(body.get("model", ""))
        text = self._answer(prompt, model, tokens)
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in messages)
        return {
            "status_code": 200,
            "request_id": f"req_{n}",
            "body": {
                "id": f"chatcmpl-{n}",
                "object": "chat.completion",
                "model": model,
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
        }

    def _store(self, name: str, lines: Iterable[bytes]) -> str:
        file_id = f"file-{next(self._serial)}"
        self._files[file_id] = (name, b"".join(lines))
        return file_id


def _line(custom_id: str, response: Any, error: Any) -> bytes:
    item = {
        "id": f"batch_req_{custom_id}",
        "custom_id": custom_id,
        "response": response,
        "error": error,
    }
    return json.dumps(item).encode() + b"\n"


def _file_obj(file_id: str, name: str, size: int) -> dict[str, Any]:
    return {
        "id": file_id,
        "object": "file",
        "bytes": size,
        "created_at": int(time.time()),
        "filename": name,
        "purpose": "batch",
        "status": "processed",
    }


def _error(message: str) -> dict[str, Any]:
    return {
        "error": {"message": message, "type": "invalid_request_error", "param": None, "code": None}
    }
