"""Server-Sent Events for answer streams.

The first event is pulled before the response starts, so a request that fails at once (no index)
still gets a real status; a failure later becomes a last `error` event carrying the request id.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

from ..models import Delta, Event, Sources
from ..workers import WorkerPool
from .errors import stream_error_body

HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
EVENT_NAMES = ["sources", "delta", "answer", "error"]


def dumps(payload: Any) -> str:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


async def opened(pool: WorkerPool, events: Iterator[Event]) -> tuple[Event, AsyncIterator[Event]]:
    """The first event and the rest, each pulled in a worker thread; errors in the first are raised here."""
    stream = pool.stream(events)
    try:
        first = await anext(stream)
    except StopAsyncIteration:  # pragma: no cover - the service always yields
        raise RuntimeError("the answer stream was empty") from None
    return first, stream


async def replay(first: Event, rest: AsyncIterator[Event]) -> AsyncIterator[Event]:
    yield first
    async for event in rest:
        yield event


def frame(event: Event) -> str:
    data: dict[str, Any]
    if isinstance(event, Sources):
        name, data = "sources", {"sources": [s.model_dump(mode="json") for s in event.sources]}
    elif isinstance(event, Delta):
        name, data = "delta", {"text": event.text}
    else:
        name, data = "answer", event.answer.model_dump(mode="json")
    return f"event: {name}\ndata: {dumps(data)}\n\n"


async def answer_frames(events: AsyncIterator[Event], request_id: str | None) -> AsyncIterator[str]:
    """`sources`, `delta`s, then `answer`; or an `error` event if the stream fails midway."""
    try:
        async for event in events:
            yield frame(event)
    except Exception as exc:
        yield f"event: error\ndata: {dumps(stream_error_body(exc, request_id))}\n\n"
