"""The answer contract shared by the CLI, the HTTP API and the Telegram bot, and its stream events.

`AnswerService.ask_stream` yields `Sources` once, then `Delta` pieces of the answer text, then one
`Final` with the answer to keep (which may differ from the concatenated deltas: citations are
verified, or the chat model failed mid-way and the offline answer followed). Answerers may also
yield `Failed`, which the service turns into the offline answer; front ends never see it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field

from .sanitize import CleanText

Mode = Literal["extractive", "llm"]

MAX_TURN_CHARS = 4000  # longest turn a client may send back as history
MAX_HISTORY_TURNS = 20  # most turns a request may carry
HISTORY_TURNS = 6  # turns the service uses (and front ends keep): three question/answer exchanges
ANSWER_MEMORY_CHARS = 2000  # how much of an answer is kept as the assistant's turn


class Source(BaseModel):
    """One ranked chunk shown to the reader; `quote` is what the answer takes from it."""

    n: int = Field(..., ge=1, description="citation number, 1-based, in rank order")
    title: str
    file: str
    start: int = Field(..., ge=0, description="character offset of the chunk in the file")
    end: int = Field(..., ge=0)
    text: str = Field(..., description="the chunk as shown to a reader (cleaned)")
    quote: str | None = Field(None, description="verbatim sentence(s) the answer cites, or null")
    marks: list[tuple[int, int]] = Field(
        default_factory=list, description="[start, end) spans of `quote` that hold the short answer (extractive)"
    )
    score: float
    date: str | None = Field(None, description="the article's publication date (ISO), where known")
    url: str | None = Field(None, description="the article's web address, when it came from the web")
    author: str | None = Field(None, description="the article's author, where known")
    page: int | None = Field(None, description="the PDF or scan page the passage starts on")

    @computed_field(description="`标题 — 2023-02-15 — 文件/链接`, as the CLI and Telegram show it")  # type: ignore[prop-decorator]
    @property
    def label(self) -> str:
        from .answer.render import source_label  # one wording for every front end (render imports this module)

        return source_label(self)


class Turn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["user", "assistant"]
    content: CleanText = Field(..., max_length=MAX_TURN_CHARS)


def exchange(question: str, answer: str) -> list[Turn]:
    """One question and its answer as the two turns a front end remembers."""
    return [
        Turn(role="user", content=question.strip()[:MAX_TURN_CHARS]),
        Turn(role="assistant", content=answer[:ANSWER_MEMORY_CHARS]),
    ]


class Answer(BaseModel):
    question: str
    answer: str
    found: bool
    mode: Mode
    sources: list[Source]
    unsupported: list[str] = Field(default_factory=list, description="answer sentences no source supports")
    note: str | None = Field(None, description="e.g. the chat model was unavailable")
    short_answer: str | None = Field(None, description="the exact span that answers (extractive), e.g. 720万元")
    confidence: float | None = Field(
        None, ge=0.0, le=1.0, description="calibrated probability that the sources answer the question (extractive)"
    )

    def to_json_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


# -- stream events --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Sources:
    """The numbered sources, sent before any answer text (quotes may still be missing)."""

    sources: list[Source]


@dataclass(frozen=True)
class Delta:
    """A piece of the answer text as it is written."""

    text: str


@dataclass(frozen=True)
class Final:
    """The answer to keep; always the last event of a stream."""

    answer: Answer


@dataclass(frozen=True)
class Failed:
    """An answerer gave up (the chat model failed); `reason` is short and safe to show."""

    reason: str


Event = Sources | Delta | Final  # what `AnswerService.ask_stream` yields
AnswerEvent = Sources | Delta | Final | Failed  # what an answerer yields to the service
