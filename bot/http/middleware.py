"""The guards in front of every route, as pure ASGI middleware.

Pure ASGI (not BaseHTTPMiddleware) because they must see every request, also 404s, and cost far
less per request. `RequestContext` gives each request an id and one access-log line and turns an
unexpected exception into a 500; `Guard` checks the rate limit, the API key and the body size.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import time
import uuid

from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..ratelimit import RateLimiter
from ..settings import Settings
from .errors import error_body

log = logging.getLogger("qabot.http")
access_log = logging.getLogger("qabot.http.access")

CLIENT_CLOSED = 499  # logged status of a request whose client left mid-request (nginx's convention)
PUBLIC_PATHS = frozenset({"/health", "/"})  # no key, no rate limit: liveness probes and a static page
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def _changes_articles(scope: Scope) -> bool:
    """`POST /articles` and `DELETE /articles/{id}`: the routes that need the admin key."""
    path, method = scope["path"].rstrip("/"), scope["method"]
    return (method == "POST" and path == "/articles") or (method == "DELETE" and path.startswith("/articles/"))


def header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


class RequestContext:
    """Request id (taken from X-Request-ID when sane), one structured access-log line per request,
    and the last line of defence: an unexpected exception becomes a 500 with the request id, which
    is logged with the traceback; the client never sees the traceback."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        incoming = header(scope, b"x-request-id")
        rid = incoming if incoming and _REQUEST_ID.match(incoming) else uuid.uuid4().hex[:16]
        scope.setdefault("state", {})["request_id"] = rid
        started_at = time.perf_counter()
        status, started = 500, False
        scope["state"]["disconnected"] = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started, status = True, message["status"]
                headers = list(message.get("headers", []))
                headers += [(b"x-request-id", rid.encode()), (b"x-content-type-options", b"nosniff")]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except ClientDisconnect:
            scope["state"]["disconnected"] = True
        except Exception:
            log.exception(
                "internal error in request %s (%s %s)",
                rid,
                scope["method"],
                scope["path"],
                extra={"request_id": rid},
            )
            if not started:
                body = error_body(500, f"internal error; request id {rid}", "internal_error", rid)
                await JSONResponse(body, status_code=500)(scope, receive, send_with_id)
        finally:
            client = scope.get("client")
            latency_ms = (time.perf_counter() - started_at) * 1000
            if scope["state"]["disconnected"] and not started:
                status = CLIENT_CLOSED  # the client left before the answer: not a server error
                log.info("client disconnected before the response (%s %s)", scope["method"], scope["path"])
            access_log.info(
                "%s %s %d %.1fms",
                scope["method"],
                scope["path"],
                status,
                latency_ms,
                extra={
                    "fields": {
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status,
                        "latency_ms": round(latency_ms, 2),
                        "request_id": rid,
                        "client": client[0] if client else None,
                    }
                },
            )


class Guard:
    """Rate limit, API key, admin key and body size, checked before FastAPI parses anything.

    Runs inside CORS, so rejections still carry CORS headers and preflights never need the key.
    The body is read here (it is at most `max_body_bytes`, or `max_upload_bytes` for an admin's
    `POST /articles`) and replayed, so chunked uploads without a Content-Length are bounded too.
    Changing the articles needs `X-Admin-Key`, checked before a large upload body is read.
    """

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        key = settings.api_key.get_secret_value() if settings.api_key else ""
        self.key_digest = hashlib.sha256(key.encode()).digest() if key else None
        admin = settings.admin_key.get_secret_value() if settings.admin_key else ""
        self.admin_digest = hashlib.sha256(admin.encode()).digest() if admin else None
        self.limiter = RateLimiter(settings.rate_limit_per_minute) if settings.rate_limit_per_minute else None
        self.max_body = settings.max_body_bytes
        self.max_upload = settings.max_upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] == "OPTIONS":
            return await self.app(scope, receive, send)
        if scope["path"] not in PUBLIC_PATHS:
            if self.limiter is not None:
                client = scope.get("client")
                wait = self.limiter.hit(client[0] if client else "-")
                if wait:
                    retry = {"Retry-After": str(max(1, round(wait)))}
                    reason = "rate limit exceeded; retry later"
                    return await self._reject(scope, receive, send, 429, reason, "rate_limited", retry)
            if self.key_digest is not None and not self._authorized(scope):
                reason = "missing or wrong API key (Authorization: Bearer <key>)"
                challenge = {"WWW-Authenticate": "Bearer"}
                return await self._reject(scope, receive, send, 401, reason, "invalid_api_key", challenge)
        admin = _changes_articles(scope)
        if admin:
            refusal = self._admin_refusal(scope)
            if refusal is not None:
                return await self._reject(scope, receive, send, *refusal)
        if scope["method"] not in ("POST", "PUT", "PATCH"):
            return await self.app(scope, receive, send)
        limit = self.max_upload if admin else self.max_body
        too_large = f"request body too large (limit {limit} bytes)"
        length = header(scope, b"content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            return await self._reject(scope, receive, send, 413, too_large, "body_too_large")
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                scope.setdefault("state", {})["disconnected"] = True
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return await self._reject(scope, receive, send, 413, too_large, "body_too_large")
            chunks.append(chunk)
            if not message.get("more_body"):
                break
        body, replayed = b"".join(chunks), False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _admin_refusal(self, scope: Scope) -> tuple[int, str, str] | None:
        """(status, message, code) when the request may not change the articles; None when it may."""
        if self.admin_digest is None:
            return 403, "adding and removing articles over HTTP is off (set QABOT_ADMIN_KEY)", "admin_disabled"
        given = header(scope, b"x-admin-key")
        if not given:
            return 401, "this needs the admin key (X-Admin-Key: <QABOT_ADMIN_KEY>)", "admin_key_required"
        if not hmac.compare_digest(hashlib.sha256(given.strip().encode()).digest(), self.admin_digest):
            return 403, "wrong admin key", "invalid_admin_key"
        return None

    def _authorized(self, scope: Scope) -> bool:
        scheme, _, token = (header(scope, b"authorization") or "").partition(" ")
        # equal lengths: compare_digest stays constant-time
        digest = hashlib.sha256(token.strip().encode()).digest()
        return scheme.lower() == "bearer" and hmac.compare_digest(digest, self.key_digest or b"")

    @staticmethod
    async def _reject(
        scope: Scope,
        receive: Receive,
        send: Send,
        status: int,
        message: str,
        code: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        rid = scope.get("state", {}).get("request_id")
        response = JSONResponse(error_body(status, message, code, rid), status_code=status, headers=headers)
        await response(scope, receive, send)
