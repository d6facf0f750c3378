"""The FastAPI app: `POST /ask`, `POST /ask/stream` (Server-Sent Events), the OpenAI-compatible
`/v1` routes, `/articles` (add, list, remove), `GET /health`, `/docs` and the chat page at `/`,
over one shared AnswerService."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware

from ..errors import QabotError
from ..library import Library
from ..models import Answer
from ..service import AnswerService
from ..workers import WorkerPool
from .articles import ADMIN_HEADER, articles_router
from .errors import install_error_handlers, log, request_id
from .middleware import Guard, RequestContext
from .openai import openai_router
from .page import chat_page
from .schemas import ERROR_RESPONSES, AskRequest, Health, sse_schema
from .sse import EVENT_NAMES, HEADERS, answer_frames, opened, replay


def create_app(service: AnswerService) -> FastAPI:
    """The FastAPI app over one shared service (index and model are loaded once, at start-up)."""
    settings = service.settings
    pool = WorkerPool(max(4, 2 * (os.cpu_count() or 1)))
    page = chat_page()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:  # load the index and warm the model now, not on the first user's request
            await pool.run(service.warm)
        except Exception as exc:  # the server still starts; /health says what is wrong
            log.warning("index not ready at start-up: %s", exc)
        yield

    middleware = [Middleware(RequestContext)]
    if settings.cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=settings.cors_origins,
                allow_methods=["GET", "POST", "DELETE"],
                allow_headers=["Authorization", "Content-Type", ADMIN_HEADER],
                expose_headers=["X-Request-ID"],
                max_age=600,
            )
        )
    middleware.append(Middleware(Guard, settings=settings))
    app = FastAPI(
        title="qabot",
        version=_version(),
        summary="Answers Chinese questions about news articles, quoting numbered sources.",
        middleware=middleware,
        lifespan=lifespan,
    )
    app.state.service = service
    install_error_handlers(app)
    if settings.api_key:
        _document_bearer_auth(app)

    @app.post("/ask", response_model=Answer, responses=ERROR_RESPONSES, tags=["ask"])
    async def ask(body: AskRequest) -> Response:
        """Answer a question: the answer text cites sources as [n]; each source carries its quote."""
        answer = await pool.run(
            service.ask, body.question, top_k=body.top_k, history=body.history, mode=body.mode,
            date_from=body.date_from, date_to=body.date_to,
        )  # fmt: skip
        return Response(answer.model_dump_json(), media_type="application/json")

    stream_doc = {
        "description": "Server-Sent Events: `sources`, then `delta`s, then `answer` (or `error`)",
        "content": {"text/event-stream": {"schema": sse_schema(EVENT_NAMES)}},
    }

    @app.post("/ask/stream", tags=["ask"], responses={200: stream_doc, **ERROR_RESPONSES})
    async def ask_stream(body: AskRequest, request: Request) -> StreamingResponse:
        """The same answer as Server-Sent Events: `sources` first, then `delta` texts, then `answer`."""
        events = service.ask_stream(
            body.question, top_k=body.top_k, history=body.history, mode=body.mode,
            date_from=body.date_from, date_to=body.date_to,
        )  # fmt: skip
        first, rest = await opened(pool, events)
        frames = answer_frames(replay(first, rest), request_id(request))
        return StreamingResponse(frames, media_type="text/event-stream", headers=HEADERS)

    @app.get("/health", response_model=Health, tags=["ops"], responses={503: {"model": Health}})
    async def health() -> Any:
        """Liveness: the index is loaded; its version, chunk count, embedder and answer mode."""
        try:
            info = await pool.run(service.info)
        except QabotError as exc:
            return JSONResponse(Health(status="unavailable", error=str(exc)).model_dump(), status_code=503)
        return Health(
            status="ok",
            index_version=info["index_version"],
            chunks=info["chunks"],
            articles=info["articles"],
            files=len(info["files"]),
            embedder=info["embedder"],
            mode=info["mode"],
            problem=info["problem"],
            embedding_runtime=info["embedding_runtime"],
        )

    @app.get("/", include_in_schema=False)
    async def chat() -> HTMLResponse:
        return HTMLResponse(page.html, headers={"Content-Security-Policy": page.csp, "Cache-Control": "no-cache"})

    app.include_router(openai_router(service, pool))
    app.include_router(articles_router(Library(service), pool))
    return app


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
