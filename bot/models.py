"""The answer contract shared by the CLI, the HTTP API and the Telegram bot."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Source(BaseModel):
    """One ranked chunk shown to the reader; `quote` is what the answer takes from it."""

    n: int = Field(..., ge=1, description="citation number, 1-based, in rank order")
    title: str
    file: str
    start: int = Field(..., ge=0, description="character offset of the chunk in the file")
    end: int = Field(..., ge=0)
    text: str = Field(..., description="the chunk as shown to a reader (cleaned)")
    quote: str | None = Field(None, description="verbatim sentence(s) the answer cites, or null")
    score: float


class Turn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["user", "assistant"]
    content: str = Field(..., max_length=4000)


class Answer(BaseModel):
    question: str
    answer: str
    found: bool
    mode: Literal["extractive", "llm"]
    sources: list[Source]
    unsupported: list[str] = Field(default_factory=list, description="answer sentences no source supports")
    note: str | None = Field(None, description="e.g. the chat model was unavailable")

    def to_json_dict(self) -> dict:
        return self.model_dump(mode="json")
