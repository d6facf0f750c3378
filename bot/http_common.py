"""Pieces shared by the qabot HTTP endpoints: the error shape, the worker pool, SSE relaying.

One error shape everywhere, `{"error": {"message", "type", "code", "request_id"}}`, which is also
the shape the OpenAI clients parse, so their exceptions carry our message.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from functools import partial
from typing import Any, TypeVar

import anyio
import anyio.to_thread
from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import JSONResponse

log = logging.getLogger("qabot.http")
T = TypeVar("T")

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
    500: "server_error",
    503: "service_unavailable",
}


class ErrorDetail(BaseModel):
    message: str = Field(..., description="what is wrong, in one line")
    type: str
    code: str | None = None
    request_id: str | None = Field(None, description="also in the server log")


class ErrorResponse(BaseModel):
    error: ErrorDetail


class ApiError(Exception):
    """An error a client caused (or may retry), answered with `status` and the common error body."""

    def __init__(self, status: int, message: str, code: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.headers = status, message, code, headers


def error_body(status: int, message: str, code: str | None = None, request_id: str | None = None) -> dict:
    return {"error": {"message": message, "type": ERROR_TYPES.get(status, "invalid_request_error"),
                      "code": code, "request_id": request_id}}


def request_id(request: Request) -> str | None:
    return request.scope.get("state", {}).get("request_id")


def error_response(request: Request, status: int, message: str, code: str | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(status, message, code, request_id(request)), status_code=status, headers=headers)


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "malformed JSON or an unusable request"},
    401: {"model": ErrorResponse, "description": "missing or wrong API key (when QABOT_API_KEY is set)"},
    413: {"model": ErrorResponse, "description": "body larger than QABOT_MAX_BODY_BYTES"},
    422: {"model": ErrorResponse, "description": "wrong types, unknown fields, empty/too long question, top_k out of range"},
    429: {"model": ErrorResponse, "description": "rate limit exceeded (see Retry-After)"},
    500: {"model": ErrorResponse, "description": "internal failure; the request id is in the server log"},
    503: {"model": ErrorResponse, "description": "no usable index"},
}


def sse_schema(events: list[str] | None) -> dict[str, Any]:
    """OpenAPI description of one Server-Sent Event (schemathesis validates each event against it)."""
    event: dict[str, Any] = {"type": "string", "enum": events} if events else {"type": "string"}
    props = {"data": {"type": "string", "description": "JSON"}, **({"event": event} if events else {})}
    return {"type": "object", "properties": props, "required": ["data"]}


class WorkerPool:
    """Runs CPU work (embedding, search) in threads so the event loop never blocks on it.

    Bounded, so a burst queues here instead of piling dozens of threads onto two cores. The limiter
    is made lazily because it belongs to the event loop of the server that first uses it.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._limiter: anyio.CapacityLimiter | None = None

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self.size)
        return await anyio.to_thread.run_sync(partial(fn, *args, **kwargs), limiter=self._limiter)


_END = object()


async def relay(pool: WorkerPool, events: Iterator[tuple[str, Any]], first: tuple[str, Any]) -> AsyncIterator[tuple[str, Any]]:
    """Pull the service's synchronous event generator one step per worker-thread call.

    The generator is closed whatever happens (client gone, error), so a chat-model stream stops too.
    """
    try:
        event: Any = first
        while event is not _END:
            yield event
            event = await pool.run(next, events, _END)
    finally:
        try:
            events.close()
        except Exception:  # pragma: no cover - closing must never mask the real outcome
            log.warning("could not close an answer stream", exc_info=True)


async def first_event(pool: WorkerPool, events: Iterator[tuple[str, Any]]) -> tuple[str, Any]:
    """The first event, pulled before any byte is sent: a bad question still gets a real 4xx."""
    event = await pool.run(next, events, _END)
    if event is _END:  # pragma: no cover - the service always yields
        raise RuntimeError("the answer stream was empty")
    return event


def dumps(payload: Any) -> str:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
