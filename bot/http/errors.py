"""One error shape for every endpoint, and the one place a QabotError becomes an HTTP status.

The shape, `{"error": {"message", "type", "code", "request_id"}}`, is also the one OpenAI clients
parse, so their exceptions carry our message. `status_of` maps qabot's errors (raised before a
response starts, or in the middle of a stream) to a status and code for every route.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

from ..errors import ArticleNotFound, ArticleRefused, IndexUnavailable, QabotError
from ..sanitize import clean_text

log = logging.getLogger("qabot.http")

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
    500: "server_error",
    503: "service_unavailable",
}


class ApiError(QabotError):
    """An error a client caused (or may retry), answered with `status` and the common error body."""

    bad_input = True

    def __init__(self, status: int, message: str, code: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.headers = status, message, code, headers


def status_of(exc: QabotError) -> tuple[int, str]:
    """(HTTP status, error code) for one of qabot's errors."""
    if isinstance(exc, ApiError):
        return exc.status, exc.code or "invalid_request"
    if isinstance(exc, ArticleNotFound):
        return 404, "article_not_found"
    if isinstance(exc, ArticleRefused):
        return 422, "article_refused"
    if exc.bad_input:
        return 422, "invalid_question"
    if isinstance(exc, IndexUnavailable):
        return 503, "index_unavailable"
    return 503, "unavailable"


def error_body(status: int, message: str, code: str | None = None, request_id: str | None = None) -> dict[str, Any]:
    return {
        "error": {
            "message": clean_text(message),  # messages may quote the input: no lone surrogates in JSON
            "type": ERROR_TYPES.get(status, "invalid_request_error"),
            "code": code,
            "request_id": request_id,
        }
    }


def qabot_error_body(exc: QabotError, request_id: str | None) -> tuple[int, dict[str, Any]]:
    """The status and body for a QabotError; failures of the service are logged."""
    status, code = status_of(exc)
    if status >= 500:
        log.error("request %s failed: %s", request_id, exc, extra={"request_id": request_id})
    return status, error_body(status, str(exc), code, request_id)


def request_id(request: Request) -> str | None:
    rid = request.scope.get("state", {}).get("request_id")
    return rid if isinstance(rid, str) else None


def error_response(
    request: Request, status: int, message: str, code: str | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(error_body(status, message, code, request_id(request)), status_code=status, headers=headers)


def describe(errors: list[dict[str, Any]]) -> tuple[int, str]:
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


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        status, message = describe(list(exc.errors()))
        return error_response(request, status, message, "invalid_request")

    @app.exception_handler(QabotError)
    async def _qabot(request: Request, exc: QabotError) -> JSONResponse:
        status, body = qabot_error_body(exc, request_id(request))
        headers = exc.headers if isinstance(exc, ApiError) else None
        return JSONResponse(body, status_code=status, headers=headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(request, exc.status_code, str(exc.detail), None, getattr(exc, "headers", None))


def stream_error_body(exc: Exception, request_id: str | None) -> dict[str, Any]:
    """The error body sent as the last event of a stream that fails after its response started."""
    if isinstance(exc, QabotError):
        return qabot_error_body(exc, request_id)[1]
    log.error(
        "internal error in request %s (answer stream)", request_id, exc_info=exc, extra={"request_id": request_id}
    )
    return error_body(500, f"internal error; request id {request_id}", "internal_error", request_id)
