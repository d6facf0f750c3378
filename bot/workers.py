"""The one bridge from the synchronous answer service to the asyncio front ends (HTTP, Telegram).

Retrieval and embedding are CPU work and a chat-model stream blocks on the network, so both run in
worker threads. The pool is bounded, so a burst queues here instead of piling dozens of threads
onto two cores; its limiter is made lazily because it belongs to the event loop that first uses it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterator
from functools import partial
from typing import Any, TypeVar

import anyio
import anyio.to_thread

log = logging.getLogger(__name__)
T = TypeVar("T")
_END = object()


class WorkerPool:
    def __init__(self, size: int) -> None:
        self.size = size
        self._limiter: anyio.CapacityLimiter | None = None

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`fn(*args, **kwargs)` in a worker thread."""
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self.size)
        return await anyio.to_thread.run_sync(partial(fn, *args, **kwargs), limiter=self._limiter)

    async def stream(self, events: Iterator[T]) -> AsyncIterator[T]:
        """A blocking iterator's items, each pulled in a worker thread; errors are raised here.

        The iterator is closed whatever happens (reader gone, error), so a chat-model stream stops too.
        """
        try:
            while True:
                item = await self.run(next, events, _END)
                if item is _END:
                    return
                yield item
        finally:
            close = getattr(events, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:  # pragma: no cover - closing must never mask the real outcome
                    log.warning("could not close an answer stream", exc_info=True)
