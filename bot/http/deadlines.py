"""uvicorn's h11 protocol with deadlines for slow clients, and the uvicorn settings built from ours.

uvicorn times out idle keep-alive connections but never a request that trickles in: 6 slowloris
connections sending a header byte now and then were held for 28 s and more (issue 12). Here each
request's headers must arrive within `header_timeout` of the connection opening (or of the previous
response), and its body within `body_timeout` of the headers; otherwise the connection is closed
(with a 408 when no request was started). The number of open connections is capped by uvicorn's
`limit_concurrency` (503 beyond it).
"""

from __future__ import annotations

import asyncio
import logging

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger("qabot.http")

_TIMEOUT_408 = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"


class DeadlineH11Protocol(H11Protocol):
    header_timeout = 10.0
    body_timeout = 30.0
    _deadline: asyncio.TimerHandle | None = None
    _head_started = False  # some bytes of the next request head have arrived

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        before = self.conn.their_state
        super().data_received(data)
        after = self.conn.their_state
        self._head_started = after is h11.IDLE
        if after is h11.SEND_BODY and before is not h11.SEND_BODY:
            self._arm(self.body_timeout)
        elif after is not h11.IDLE and after is not h11.SEND_BODY:
            self._disarm()  # the whole request is in (or the connection is ending)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._head_started = False
        if not self.transport.is_closing():
            self._arm(self.header_timeout)  # the next request on this keep-alive connection

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._expire)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        waiting_for_headers = self.conn.their_state is h11.IDLE
        client = f"{self.client[0]}:{self.client[1]}" if self.client else "?"
        part = "headers" if waiting_for_headers else "body"
        log.info("closing a slow connection from %s: request %s not received in time", client, part)
        if waiting_for_headers and self._head_started:
            self.transport.write(_TIMEOUT_408)
        self.transport.close()  # a handler waiting for the body sees a client disconnect


def protocol(header_timeout: float, body_timeout: float) -> type[DeadlineH11Protocol]:
    """The protocol class with these deadlines (uvicorn instantiates the class itself)."""
    return type(
        "QabotH11Protocol", (DeadlineH11Protocol,), {"header_timeout": header_timeout, "body_timeout": body_timeout}
    )
