"""`/articles`: add an article while serving (a file upload, a URL or a text), list and remove them.

Adding and removing need `X-Admin-Key: <QABOT_ADMIN_KEY>` (checked by the Guard middleware
before the body is read); listing needs only the API key, like `/ask`. The work is the
`Library`'s; errors are QabotErrors mapped once in `errors.py`. The new index is published
before the reply, so the next `/ask` in every serving process can cite the article.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.datastructures import UploadFile

from ..library import AddResult, Library
from ..sanitize import CleanText
from ..workers import WorkerPool
from .errors import ApiError, describe
from .schemas import ERROR_RESPONSES, ErrorResponse

ADMIN_HEADER = "X-Admin-Key"


class AddArticle(BaseModel):
    """JSON body of `POST /articles`: a `url`, or a `text` (with an optional title, date and url)."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(None, strict=True, description="an http(s) page or file to fetch and add")
    text: CleanText | None = Field(None, strict=True, description="the article text, when there is no URL to fetch")
    title: CleanText | None = Field(None, strict=True)
    date: str | None = Field(None, strict=True, description="publication date, YYYY-MM-DD")


class ArticleOut(BaseModel):
    id: str
    title: str | None = None
    date: str | None = None
    url: str | None = None
    file: str = Field(..., description="where it is stored, relative to the corpus folder")
    source: str
    added_at: str


class Added(ArticleOut):
    created: bool = Field(..., description="false: the same URL or content was already there")
    chunks: int | None = Field(None, description="chunks of this article in the index")
    warnings: list[str] = Field(default_factory=list)


class ArticleList(BaseModel):
    articles: list[ArticleOut]


ADMIN_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERROR_RESPONSES,
    401: {"model": ErrorResponse, "description": f"missing API key, or no {ADMIN_HEADER} header"},
    403: {"model": ErrorResponse, "description": f"wrong {ADMIN_HEADER}, or adding is off (QABOT_ADMIN_KEY unset)"},
    404: {"model": ErrorResponse, "description": "no added article has this id"},
}
UPLOAD_BODY = {
    "requestBody": {
        "content": {
            "multipart/form-data": {
                "schema": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}}
            },
            "application/json": {"schema": AddArticle.model_json_schema()},
        }
    }
}


def _added(result: AddResult) -> JSONResponse:
    body = Added(**asdict(result.article), created=result.created, chunks=result.chunks, warnings=result.warnings)
    return JSONResponse(body.model_dump(), status_code=201 if result.created else 200)


def articles_router(library: Library, pool: WorkerPool) -> APIRouter:
    router = APIRouter(tags=["articles"])

    @router.post("/articles", response_model=Added, status_code=201, responses=ADMIN_ERRORS, openapi_extra=UPLOAD_BODY)
    async def add(request: Request) -> JSONResponse:
        """Add a PDF, scan, web page or .docx (multipart field `file`), a URL (`{"url"}`) or a text
        (`{"text", "title", "date"}`); 201 with its chunk count, or 200 when it was already there."""
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind == "multipart/form-data":
            async with request.form(max_files=1, max_fields=4) as form:
                upload = form.get("file")
                if not isinstance(upload, UploadFile) or not upload.filename:
                    raise ApiError(422, "send the file in the multipart field 'file', with a file name", "no_file")
                data = await upload.read()
                name = upload.filename
            return _added(await pool.run(library.add_upload, data, name))
        try:
            body = AddArticle.model_validate_json(await request.body())
        except ValidationError as exc:
            status, message = describe([dict(e) for e in exc.errors()])
            raise ApiError(status, message, "invalid_request") from None
        if (body.url is None) == (body.text is None):
            raise ApiError(422, "give either 'url' or 'text' (or upload a file as multipart 'file')", "invalid_request")
        if body.url is not None:
            return _added(await pool.run(library.add_url, body.url))
        return _added(await pool.run(library.add_text, body.text or "", body.title, body.date))

    @router.get("/articles", response_model=ArticleList, responses=ERROR_RESPONSES)
    async def listing() -> ArticleList:
        """The articles added while running, newest publication date first."""
        found = await pool.run(library.articles)
        return ArticleList(articles=[ArticleOut(**asdict(a)) for a in found])

    @router.delete("/articles/{article_id}", response_model=ArticleOut, responses=ADMIN_ERRORS)
    async def remove(article_id: str) -> ArticleOut:
        """Remove an added article from the corpus folder and the index."""
        return ArticleOut(**asdict(await pool.run(library.remove, article_id)))

    return router
