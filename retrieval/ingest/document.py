"""What every extractor returns: stored text, page spans and article metadata.

The text is what gets indexed *and* stored, so a cited offset can always be shown and checked
against it, even when it came from OCR or a PDF text layer rather than a text file.
"""

from __future__ import annotations

import bisect
import json
from dataclasses import asdict, dataclass, field, replace


class IngestError(Exception):
    """One input cannot be read (corrupt, empty, refused); the message is one line naming it."""


@dataclass(frozen=True)
class ArticleMeta:
    """Where and when an article was published, as far as the source tells."""

    date: str | None = None  # ISO `YYYY-MM-DD`
    url: str | None = None
    author: str | None = None

    def merged(self, fallback: ArticleMeta) -> ArticleMeta:
        """Fields of `self`, with the gaps filled from `fallback`."""
        return ArticleMeta(
            date=self.date or fallback.date,
            url=self.url or fallback.url,
            author=self.author or fallback.author,
        )


@dataclass(frozen=True)
class PageSpan:
    """Page `number` (1-based, as printed in a PDF viewer) covers text[start:end]."""

    number: int
    start: int
    end: int


@dataclass
class Extracted:
    """The text of one input file or URL, ready for cleaning and article splitting."""

    text: str
    title: str | None = None  # set when the source names exactly one article (a web page)
    meta: ArticleMeta = field(default_factory=ArticleMeta)
    pages: list[PageSpan] = field(default_factory=list)
    markdown: bool = False  # `#` headings in `text` mark headlines (web pages, .docx)
    warnings: list[str] = field(default_factory=list)  # pages skipped and why

    def page_at(self, offset: int) -> int | None:
        """The page holding character `offset`, or None for a source without pages."""
        if not self.pages:
            return None
        starts = [p.start for p in self.pages]
        k = max(0, bisect.bisect_right(starts, offset) - 1)
        return self.pages[k].number

    def article_meta(self, start: int, text: str) -> tuple[ArticleMeta, int | None]:
        """Metadata and page of the article starting at offset `start`: a page of an e-paper may
        carry its own dateline; otherwise the document's date, url and author apply."""
        from .dates import from_dateline

        own = ArticleMeta(date=from_dateline(text))
        return (own.merged(self.meta) if self.meta.date is None else self.meta), self.page_at(start)

    def with_meta(self, fallback: ArticleMeta) -> Extracted:
        return replace(self, meta=self.meta.merged(fallback))

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> Extracted:
        return cls(
            text=data["text"],
            title=data.get("title"),
            meta=ArticleMeta(**data.get("meta", {})),
            pages=[PageSpan(**p) for p in data.get("pages", [])],
            markdown=bool(data.get("markdown")),
            warnings=list(data.get("warnings", [])),
        )

    def dumps(self) -> str:
        return json.dumps(self.to_json(), ensure_ascii=False)


def join_pages(pages: list[tuple[int, str]]) -> tuple[str, list[PageSpan]]:
    """Join page texts with a blank line; a sentence cut by a page break is rejoined by cleaning."""
    parts: list[str] = []
    spans: list[PageSpan] = []
    pos = 0
    for number, text in pages:
        if parts:
            parts.append("\n\n")
            pos += 2
        spans.append(PageSpan(number, pos, pos + len(text)))
        parts.append(text)
        pos += len(text)
    return "".join(parts), spans
