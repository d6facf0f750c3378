"""OpenAI-compatible `/v1/models` and `/v1/chat/completions`, so existing chat front ends and the
official `openai` client can talk to qabot.

The last user message is the question and earlier user/assistant messages are the history. The
sources travel twice: as a short reference list at the end of the answer text (for front ends that
only show text) and in an extra top-level `sources` field (for clients that want the quotes). The
same goes for the answer's checks: sentences no cited source supports are listed (⚠️) after the
references and a note (e.g. the chat model was unavailable) ends the text; the extra fields
`unsupported` and `note` carry them too. The tail is stripped again when a client sends the answer
back as history.
Unknown request fields are ignored, because OpenAI clients send many tuning parameters.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from ..answer import render
from ..models import MAX_TURN_CHARS, Answer, Delta, Event, Final, Mode, Source, Turn
from ..sanitize import CleanText
from ..service import AnswerService
from ..workers import WorkerPool
from .errors import ApiError, error_body, request_id, stream_error_body
from .schemas import ERROR_RESPONSES, sse_schema
from .sse import dumps, opened, replay

REFERENCES = f"\n\n{render.SOURCES}：\n"
UNSUPPORTED = f"\n\n{render.WARNING} {render.UNSUPPORTED}：\n"
NOTE = f"\n\n{render.NOTE}："


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str
    text: CleanText | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: CleanText | list[ContentPart] | None = None


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")
    include_usage: bool = False


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: CleanText = Field(..., description="see GET /v1/models", examples=["qabot"])
    messages: list[ChatMessage] = Field(..., min_length=1, max_length=100)
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: int | None = Field(None, ge=1, le=1, description="only one choice is produced")
    top_k: int | None = Field(None, ge=1, description="qabot extension: sources to retrieve")


class ChatChoice(BaseModel):
    index: int
    message: dict[str, Any]
    finish_reason: str


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[ChatChoice]
    usage: dict[str, int]
    sources: list[Source] = Field(..., description="qabot extension: the numbered sources, with quotes")
    found: bool = Field(..., description="qabot extension: false when the articles do not answer it")
    unsupported: list[str] = Field(
        default_factory=list, description="qabot extension: answer sentences no cited source supports"
    )
    note: str | None = Field(None, description="qabot extension: e.g. the chat model was unavailable")


def _models(service: AnswerService) -> dict[str, Mode | None]:
    """Model id -> answer mode. `qabot` uses the service default (the chat model when configured)."""
    models: dict[str, Mode | None] = {"qabot": None, "qabot-extractive": "extractive"}
    if service.chat is not None:
        models["qabot-llm"] = "llm"
    return models


def _text(content: str | list[ContentPart] | None) -> str:
    if isinstance(content, list):
        return "".join(part.text or "" for part in content if part.type == "text")
    return content or ""


def _question_and_history(messages: list[ChatMessage]) -> tuple[str, list[Turn]]:
    """The last message is the question; the service keeps only the most recent history turns."""
    last = messages[-1]
    if last.role != "user":
        raise ApiError(400, "the last message must be the user's question", "invalid_messages")
    history = [
        Turn(role="user" if m.role == "user" else "assistant", content=strip_tail(_text(m.content))[:MAX_TURN_CHARS])
        for m in messages[:-1]
        if m.role in ("user", "assistant") and _text(m.content).strip()
    ]
    return _text(last.content), history


def references(answer: Answer) -> str:
    """What goes under the answer text: the cited sources as a short list, then the sentences no
    cited source supports, then the note ("" when there is none of these)."""
    cited = [s for s in answer.sources if s.quote] if answer.found else []
    tail = REFERENCES + "\n".join(f"[{s.n}] {s.title}（{s.file}）" for s in cited) if cited else ""
    if answer.unsupported:
        tail += UNSUPPORTED + "\n".join(f"- {s.strip()}" for s in dict.fromkeys(answer.unsupported))
    if answer.note:
        tail += NOTE + answer.note
    return tail


def strip_tail(text: str) -> str:
    """An earlier answer sent back as history, without the tail `references` added to it."""
    cuts = [k for k in (text.find(mark) for mark in (REFERENCES, UNSUPPORTED, NOTE)) if k >= 0]
    return text[: min(cuts)] if cuts else text


def _extensions(answer: Answer) -> dict[str, Any]:
    return {
        "sources": [s.model_dump(mode="json") for s in answer.sources],
        "found": answer.found,
        "unsupported": answer.unsupported,
        "note": answer.note,
    }


def openai_router(service: AnswerService, pool: WorkerPool) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["openai"])

    @router.get("/models")
    async def list_models() -> dict[str, Any]:
        """The model ids this server answers to."""
        data = [{"id": name, "object": "model", "created": 0, "owned_by": "qabot"} for name in _models(service)]
        return {"object": "list", "data": data}

    @router.post(
        "/chat/completions",
        response_model=ChatCompletion,
        responses={
            200: {
                "content": {"text/event-stream": {"schema": sse_schema(None)}},
                "description": "a chat.completion, or chat.completion.chunk events when `stream` is true",
            },
            404: {"model": ERROR_RESPONSES[400]["model"], "description": "unknown model"},
            **ERROR_RESPONSES,
        },
    )
    async def chat_completions(body: ChatRequest, request: Request) -> Any:
        """OpenAI chat completions (streaming or not); the answer cites [n] sources listed at its end."""
        models = _models(service)
        if body.model not in models:
            raise ApiError(404, f"unknown model '{body.model}'; available: {', '.join(models)}", "model_not_found")
        question, history = _question_and_history(body.messages)
        mode = models[body.model]
        cid, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
        if not body.stream:
            answer = await pool.run(service.ask, question, top_k=body.top_k, history=history, mode=mode)
            content = answer.answer + references(answer)
            message = {"role": "assistant", "content": content}
            return JSONResponse(
                {
                    "id": cid,
                    "object": "chat.completion",
                    "created": created,
                    "model": body.model,
                    "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                    "usage": _usage(question, content),
                    **_extensions(answer),
                }
            )
        first, rest = await opened(pool, service.ask_stream(question, top_k=body.top_k, history=history, mode=mode))
        usage = bool(body.stream_options and body.stream_options.include_usage)
        head = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": body.model}
        chunks = _chunks(replay(first, rest), head, question, usage, request_id(request))
        return StreamingResponse(chunks, media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    return router


async def _chunks(
    events: AsyncIterator[Event], head: dict[str, Any], question: str, include_usage: bool, rid: str | None
) -> AsyncIterator[str]:
    """chat.completion.chunk events: role, text deltas, the reference list, then finish_reason."""

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return f"data: {dumps({**head, 'choices': [choice], **extra})}\n\n"

    yield chunk({"role": "assistant", "content": ""})
    sent, answer = "", None
    try:
        async for event in events:
            if isinstance(event, Delta):
                sent += event.text
                yield chunk({"content": event.text})
            elif isinstance(event, Final):
                answer = event.answer
    except Exception as exc:
        yield f"data: {dumps(stream_error_body(exc, rid))}\n\n"
        return
    if answer is None:  # pragma: no cover - the service always ends with the answer
        yield f"data: {dumps(error_body(500, 'the answer stream ended early', 'internal_error', rid))}\n\n"
        return
    tail = references(answer)
    if tail:
        sent += tail
        yield chunk({"content": tail})
    yield chunk({}, "stop", **_extensions(answer))
    if include_usage:
        yield f"data: {dumps({**head, 'choices': [], 'usage': _usage(question, sent)})}\n\n"
    yield "data: [DONE]\n\n"


def _usage(question: str, content: str) -> dict[str, int]:
    """Characters, not tokens: an honest approximation for Chinese text (no tokenizer here)."""
    return {
        "prompt_tokens": len(question),
        "completion_tokens": len(content),
        "total_tokens": len(question) + len(content),
    }
