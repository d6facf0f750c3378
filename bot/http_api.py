"""The HTTP front end: FastAPI over the AnswerService (`qabot serve`).

Endpoints: `POST /ask` (JSON answer), `POST /ask/stream` (Server-Sent Events), OpenAI-compatible
`/v1/models` and `/v1/chat/completions` (see `http_openai`), `GET /health`, `/docs`, and the chat
page at `/`. The guards (request id, access log, CORS, rate limit, API key, body size) are pure ASGI
middleware: they see every request, also 404s, and cost far less per request than
BaseHTTPMiddleware.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import re
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from importlib import resources
from typing import Any, Literal

import uvicorn
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from retrieval.index import IndexProblem

from .http_common import (
    ERROR_RESPONSES,
    ApiError,
    WorkerPool,
    dumps,
    error_body,
    error_response,
    first_event,
    relay,
    request_id,
    sse_schema,
)
from .models import Answer, Turn
from .service import AnswerService, QuestionError
from .settings import Settings

log = logging.getLogger("qabot.http")
access_log = logging.getLogger("qabot.http.access")

PUBLIC_PATHS = frozenset({"/health", "/"})  # no key, no rate limit: liveness probes and a static page
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


# -- request and response bodies ------------------------------------------------------------------
class AskRequest(BaseModel):
    """Strict: unknown fields and wrong types are a 422, never silently coerced."""

    model_config = ConfigDict(extra="forbid")

    question: str = Field(..., strict=True, description="the question (limit: QABOT_MAX_QUESTION_CHARS)",
                          examples=["青海省总工会2023年计划投入多少专项经费？"])
    top_k: int | None = Field(None, strict=True, ge=1, description="sources to retrieve (1..QABOT_MAX_TOP_K)")
    history: list[Turn] | None = Field(None, max_length=20, description="earlier turns, oldest first")
    mode: Literal["extractive", "llm"] | None = Field(None, description="default: llm when configured")


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    index_version: str | None = None
    chunks: int | None = None
    articles: int | None = None
    files: int | None = None
    embedder: str | None = None
    mode: str | None = None
    error: str | None = None


# -- middleware ---------------------------------------------------------------------------------
class RequestContext:
    """Request id (taken from X-Request-ID when sane), one structured access-log line per request,
    and the last line of defence: an unexpected exception becomes a 500 with the request id, which
    is logged with the traceback; the client never sees the traceback."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        incoming = _header(scope, b"x-request-id")
        rid = incoming if incoming and _REQUEST_ID.match(incoming) else uuid.uuid4().hex[:16]
        scope.setdefault("state", {})["request_id"] = rid
        started_at = time.perf_counter()
        status, started = 500, False

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
        except Exception:
            log.exception("internal error in request %s (%s %s)", rid, scope["method"], scope["path"],
                          extra={"request_id": rid})
            if not started:
                body = error_body(500, f"internal error; request id {rid}", "internal_error", rid)
                await JSONResponse(body, status_code=500)(scope, receive, send_with_id)
        finally:
            client = scope.get("client")
            access_log.info(
                "%s %s %d %.1fms",
                scope["method"], scope["path"], status, (time.perf_counter() - started_at) * 1000,
                extra={"fields": {
                    "method": scope["method"], "path": scope["path"], "status": status,
                    "latency_ms": round((time.perf_counter() - started_at) * 1000, 2),
                    "request_id": rid, "client": client[0] if client else None,
                }},
            )


class RateLimiter:
    """Token bucket per client address: `per_minute` requests, refilled continuously."""

    def __init__(self, per_minute: int, max_clients: int = 10_000) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.max_clients = max_clients
        self.buckets: dict[str, tuple[float, float]] = {}

    def wait(self, client: str) -> float:
        """0 when the request may go ahead (and is counted), else seconds until it may."""
        now = time.monotonic()
        tokens, last = self.buckets.get(client, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - last) * self.rate)
        if len(self.buckets) >= self.max_clients and client not in self.buckets:
            full = 60.0  # a bucket untouched this long is full again: forgetting it changes nothing
            self.buckets = {k: v for k, v in self.buckets.items() if now - v[1] < full}
        if tokens >= 1.0:
            self.buckets[client] = (tokens - 1.0, now)
            return 0.0
        self.buckets[client] = (tokens, now)
        return (1.0 - tokens) / self.rate


class Guard:
    """Rate limit, API key and body size, checked before FastAPI parses anything.

    Runs inside CORS, so rejections still carry CORS headers and preflights never need the key.
    The body is read here (it is at most `max_body_bytes`) and replayed, so chunked uploads without
    a Content-Length are bounded too.
    """

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        key = settings.api_key.get_secret_value() if settings.api_key else ""
        self.key_digest = hashlib.sha256(key.encode()).digest() if key else None
        self.limiter = RateLimiter(settings.rate_limit_per_minute) if settings.rate_limit_per_minute else None
        self.max_body = settings.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] == "OPTIONS":
            return await self.app(scope, receive, send)
        path = scope["path"]
        if path not in PUBLIC_PATHS:
            if self.limiter is not None:
                client = scope.get("client")
                wait = self.limiter.wait(client[0] if client else "-")
                if wait:
                    seconds = str(max(1, round(wait)))
                    return await self._reject(scope, receive, send, 429, "rate limit exceeded; retry later",
                                              "rate_limited", {"Retry-After": seconds})
            if self.key_digest is not None and not self._authorized(scope):
                return await self._reject(scope, receive, send, 401, "missing or wrong API key (Authorization: Bearer <key>)",
                                          "invalid_api_key", {"WWW-Authenticate": "Bearer"})
        if scope["method"] not in ("POST", "PUT", "PATCH"):
            return await self.app(scope, receive, send)
        too_large = f"request body too large (limit {self.max_body} bytes)"
        length = _header(scope, b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            return await self._reject(scope, receive, send, 413, too_large, "body_too_large")
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
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

    def _authorized(self, scope: Scope) -> bool:
        scheme, _, token = (_header(scope, b"authorization") or "").partition(" ")
        digest = hashlib.sha256(token.strip().encode()).digest()  # equal lengths: compare_digest stays constant-time
        return scheme.lower() == "bearer" and hmac.compare_digest(digest, self.key_digest or b"")

    @staticmethod
    async def _reject(scope: Scope, receive: Receive, send: Send, status: int, message: str, code: str,
                      headers: dict[str, str] | None = None) -> None:
        rid = scope.get("state", {}).get("request_id")
        await JSONResponse(error_body(status, message, code, rid), status_code=status, headers=headers)(scope, receive, send)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


# -- errors -------------------------------------------------------------------------------------
def _describe(errors: list[dict[str, Any]]) -> tuple[int, str]:
    """One readable line from pydantic's errors: what is wrong and where."""
    parts: list[str] = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ()) if p != "body"]
        where = ".".join(loc)
        kind = err.get("type", "")
        if kind == "json_invalid":
            return 400, f"malformed JSON: {err.get('ctx', {}).get('error', 'decode error')} at position {where or 0}"
        if not loc and kind in ("model_attributes_type", "dict_type", "model_type"):
            parts.append("the body must be a JSON object (Content-Type: application/json)")
        elif kind == "extra_forbidden":
            parts.append(f"unknown field '{where}'")
        elif kind == "missing":
            parts.append(f"missing field '{where}'" if where else "missing JSON body")
        else:
            parts.append(f"{where or 'body'}: {err.get('msg', 'invalid')}")
    return 422, "; ".join(dict.fromkeys(parts)) or "invalid request"


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        status, message = _describe(list(exc.errors()))
        return error_response(request, status, message, "invalid_request")

    @app.exception_handler(QuestionError)
    async def _question(request: Request, exc: QuestionError) -> JSONResponse:
        return error_response(request, 422, str(exc), "invalid_question")

    @app.exception_handler(IndexProblem)
    async def _index(request: Request, exc: IndexProblem) -> JSONResponse:
        log.error("index problem in request %s: %s", request_id(request), exc)
        return error_response(request, 503, str(exc), "index_unavailable")

    @app.exception_handler(ApiError)
    async def _api(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(request, exc.status, exc.message, exc.code, exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(request, exc.status_code, str(exc.detail), None, getattr(exc, "headers", None))


# -- the app ------------------------------------------------------------------------------------
def create_app(service: AnswerService) -> FastAPI:
    """The FastAPI app over one shared service (index and model are loaded once, at start-up)."""
    from contextlib import asynccontextmanager

    from .http_openai import openai_router

    settings = service.settings
    pool = WorkerPool(max(4, 2 * (os.cpu_count() or 1)))
    page = _chat_page()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:  # load the index and warm the model now, not on the first user's request
            await pool.run(service.search, "预热", 1)
        except Exception as exc:  # the server still starts; /health says what is wrong
            log.warning("index not ready at start-up: %s", exc)
        yield

    middleware = [Middleware(RequestContext)]
    if settings.cors_origins:
        middleware.append(Middleware(CORSMiddleware, allow_origins=settings.cors_origins,
                                     allow_methods=["GET", "POST"], allow_headers=["Authorization", "Content-Type"],
                                     expose_headers=["X-Request-ID"], max_age=600))
    middleware.append(Middleware(Guard, settings=settings))
    app = FastAPI(
        title="qabot",
        version=_version(),
        summary="Answers Chinese questions about news articles, quoting numbered sources.",
        middleware=middleware,
        lifespan=lifespan,
    )
    app.state.service = service
    _install_error_handlers(app)
    if settings.api_key:
        _document_bearer_auth(app)

    @app.post("/ask", response_model=Answer, responses=ERROR_RESPONSES, tags=["ask"])
    async def ask(body: AskRequest) -> Response:
        """Answer a question: the answer text cites sources as [n]; each source carries its quote."""
        answer = await pool.run(service.ask, body.question, top_k=body.top_k, history=body.history, mode=body.mode)
        return Response(answer.model_dump_json(), media_type="application/json")

    @app.post("/ask/stream", tags=["ask"], responses={
        200: {"description": "Server-Sent Events: `sources`, then `delta`s, then `answer` (or `error`)",
              "content": {"text/event-stream": {"schema": sse_schema(["sources", "delta", "answer", "error"])}}},
        **ERROR_RESPONSES,
    })
    async def ask_stream(body: AskRequest, request: Request) -> StreamingResponse:
        """The same answer as Server-Sent Events: `sources` first, then `delta` texts, then `answer`."""
        events = service.ask_stream(body.question, top_k=body.top_k, history=body.history, mode=body.mode)
        first = await first_event(pool, events)
        return StreamingResponse(_sse(pool, events, first, request_id(request)),
                                 media_type="text/event-stream", headers=SSE_HEADERS)

    @app.get("/health", response_model=Health, tags=["ops"], responses={503: {"model": Health}})
    async def health() -> Any:
        """Liveness: the index is loaded; its version, chunk count, embedder and answer mode."""
        try:
            info = await pool.run(service.info)
        except IndexProblem as exc:
            return JSONResponse(Health(status="unavailable", error=str(exc)).model_dump(), status_code=503)
        return Health(status="ok", index_version=info["index_version"], chunks=info["chunks"],
                      articles=info["articles"], files=len(info["files"]), embedder=info["embedder"],
                      mode=info["mode"])

    @app.get("/", include_in_schema=False)
    async def chat_page() -> HTMLResponse:
        return HTMLResponse(page.html, headers={"Content-Security-Policy": page.csp, "Cache-Control": "no-cache"})

    app.include_router(openai_router(service, pool))
    return app


async def _sse(pool: WorkerPool, events: Iterator[tuple[str, Any]], first: tuple[str, Any], rid: str | None) -> AsyncIterator[str]:
    """Service events as SSE frames; a failure mid-stream becomes an `error` event with the request id."""
    try:
        async for kind, payload in relay(pool, events, first):
            if kind == "sources":
                data: Any = {"sources": [s.model_dump(mode="json") for s in payload]}
            elif kind == "delta":
                data = {"text": payload}
            else:
                data = payload.model_dump(mode="json")
            yield f"event: {kind}\ndata: {dumps(data)}\n\n"
    except (QuestionError, IndexProblem) as exc:
        yield f"event: error\ndata: {dumps(error_body(422 if isinstance(exc, QuestionError) else 503, str(exc), None, rid))}\n\n"
    except Exception:
        log.exception("internal error in request %s (answer stream)", rid, extra={"request_id": rid})
        yield f"event: error\ndata: {dumps(error_body(500, f'internal error; request id {rid}', 'internal_error', rid))}\n\n"


class _Page:
    """The chat page and a Content-Security-Policy allowing exactly its own inline script and style."""

    def __init__(self, html: str) -> None:
        def hashes(tag: str) -> str:
            blocks = re.findall(rf"<{tag}>(.*?)</{tag}>", html, re.S)
            return " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(b.encode()).digest()).decode()}'" for b in blocks)

        self.html = html
        self.csp = (f"default-src 'none'; script-src {hashes('script')}; style-src {hashes('style')}; "
                    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


def _chat_page() -> _Page:
    return _Page(resources.files("bot").joinpath("static/chat.html").read_text(encoding="utf-8"))


def _document_bearer_auth(app: FastAPI) -> None:
    """Show the API key in /docs (Authorize button); the check itself is the Guard middleware."""
    plain = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = plain()
            schema.setdefault("components", {})["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
            schema["security"] = [{"bearer": []}]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("qabot")
    except Exception:  # pragma: no cover - running from a source tree
        return "0"


# -- running it ---------------------------------------------------------------------------------
class JsonLogFormatter(logging.Formatter):
    """One JSON object per line: easy to grep, easy to ship to a log store."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        fields = getattr(record, "fields", None)
        if fields:
            entry.update(fields)
        else:
            entry["message"] = record.getMessage()
            if getattr(record, "request_id", None):
                entry["request_id"] = record.request_id
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging() -> None:
    """JSON lines on stderr for the `qabot.http` loggers (access log included)."""
    logger = logging.getLogger("qabot.http")
    if not any(isinstance(h.formatter, JsonLogFormatter) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonLogFormatter())
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def run(service: AnswerService, host: str, port: int) -> None:
    """Serve until interrupted (`qabot serve`); uvicorn's own access log is replaced by ours."""
    configure_logging()
    app = create_app(service)
    log.info("qabot listening on http://%s:%d (chat page /, API docs /docs)", host, port)
    uvicorn.run(app, host=host, port=port, access_log=False, log_level="info", timeout_graceful_shutdown=5)


class ServerThread:
    """uvicorn on a free loopback port in a background thread: for tests and embedding.

        with ServerThread(create_app(service)) as base_url: ...
    """

    def __init__(self, app: FastAPI, host: str = "127.0.0.1") -> None:
        config = uvicorn.Config(app, host=host, port=0, access_log=False, log_config=None, lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="qabot-http", daemon=True)
        self.host = host

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the HTTP server did not start")
            time.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://{self.host}:{port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


__all__ = ["AskRequest", "ServerThread", "create_app", "run"]
