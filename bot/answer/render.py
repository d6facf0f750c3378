"""Everything a reader sees that is not the answer text itself, defined once for every front end.

The labels, the refusal sentence, the chat-model notes, Hit → Source conversion and how answer
text is cut into stream pieces. The CLI, Telegram, the OpenAI-compatible text and the chat page
(which receives `page_labels()` from the server) all take their words from here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from ..models import Source

if TYPE_CHECKING:
    from retrieval.search import Hit

# The one sentence that means "the articles do not answer this": the chat model is told to reply
# with exactly this (it fills the system prompt's {refusal} slot) and the offline answer starts with it.
REFUSAL = "资料中没有找到这个问题的答案。"
NEAREST_HINT = "下面是最接近的资料，供参考，但它们并未直接回答这个问题。"
FOUND_PREFIX = "根据资料："

SOURCES = "来源"
NEAREST = "最接近的资料（未直接回答问题）"
NOTE = "注意"
WARNING = "⚠️"
UNSUPPORTED = "以下内容未在来源中找到依据"
UNSUPPORTED_MARK = "来源中找不到依据"  # the hover text of one marked sentence
CHECKED = "核对后的答案"

UNAVAILABLE_NOTE = "聊天模型暂时不可用（{reason}），以下是离线摘录的答案。"
SWITCH = "\n\n（聊天模型中途失败，以下改为离线摘录的答案）\n"

PREVIEW_CHARS = 80  # of a nearest (uncited) source's text
NEAREST_SHOWN = 3  # nearest sources listed under a refusal in chat front ends
DELTA_CHARS = 40  # an extractive answer is streamed in pieces this long


def refusal_answer() -> str:
    """The offline answer when nothing answers the question."""
    return REFUSAL + NEAREST_HINT


def unavailable_note(reason: str) -> str:
    return UNAVAILABLE_NOTE.format(reason=reason)


def pieces(text: str, size: int = DELTA_CHARS) -> Iterator[str]:
    """An answer that exists all at once, in stream-sized pieces (front ends render them as they come)."""
    for k in range(0, len(text), size):
        yield text[k : k + size]


def source(n: int, hit: Hit, quote: str | None = None, marks: list[tuple[int, int]] | None = None) -> Source:
    chunk = hit.chunk
    return Source(
        n=n,
        title=chunk.title,
        file=chunk.doc,
        start=chunk.start,
        end=chunk.end,
        text=chunk.text,
        quote=quote,
        marks=marks or [],
        score=round(hit.score, 6),
        date=chunk.date,
        url=chunk.url,
        author=chunk.author,
        page=chunk.page,
    )


def source_label(source: Source) -> str:
    """`标题 — 2023-02-15 — 文件/链接`: enough to find the article again (page of a PDF or scan too)."""
    where = source.url or source.file
    if source.page is not None:
        where += f" 第{source.page}页"
    return " — ".join(part for part in (source.title, source.date, where) if part)


def sources(
    hits: list[Hit], quotes: dict[int, str] | None = None, marks: dict[int, list[tuple[int, int]]] | None = None
) -> list[Source]:
    """Hits as numbered sources (1-based, in rank order); `quotes` maps a number to its quote, `marks` to
    the spans of that quote holding the short answer."""
    quotes, marks = quotes or {}, marks or {}
    return [source(n, hit, quotes.get(n), marks.get(n)) for n, hit in enumerate(hits, start=1)]


def marked(quote: str, marks: list[tuple[int, int]], wrap: Callable[[str], str], escape: Callable[[str], str]) -> str:
    """`quote` escaped for a front end, with each short-answer span wrapped: wrap(escaped span)."""
    out, at = [], 0
    for start, end in sorted(marks):
        if start < at or end > len(quote) or start >= end:
            continue
        out += [escape(quote[at:start]), wrap(escape(quote[start:end]))]
        at = end
    out.append(escape(quote[at:]))
    return "".join(out)


def preview(text: str, limit: int = PREVIEW_CHARS) -> str:
    """A source's text on one line, cut to `limit` characters with an ellipsis."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[:limit] + "…"


def page_labels() -> dict[str, str | int]:
    """What the chat page needs, injected into it by the server (no second copy in JavaScript)."""
    from ..models import ANSWER_MEMORY_CHARS, HISTORY_TURNS

    return {
        "nearest": NEAREST,
        "note": NOTE,
        "warning": WARNING,
        "unsupported": UNSUPPORTED,
        "unsupportedMark": UNSUPPORTED_MARK,
        "previewChars": PREVIEW_CHARS,
        "nearestShown": NEAREST_SHOWN,
        "historyTurns": HISTORY_TURNS,
        "answerMemoryChars": ANSWER_MEMORY_CHARS,
    }
