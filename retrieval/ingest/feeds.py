"""RSS and Atom feeds: polite polling and the articles their new items point to.

feedparser 6 (BSD) reads RSS 2.0 and Atom alike (title, link, guid, published in UTC, author,
summary, content). Polling is polite: a conditional GET (ETag / Last-Modified) so an unchanged
feed costs one small 304, a timeout and a size limit from `FetchPolicy`. A feed that fails (down,
refused, not a feed) is reported in one line and the other feeds go on.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import feedparser
import httpx
from lxml import html as lxml_html

from . import dates
from .document import ArticleMeta, Extracted, IngestError
from .fetch import FetchError, FetchPolicy, fetch
from .webpage import clean_author, extract_html

log = logging.getLogger(__name__)

SEEN_LIMIT = 5000  # item ids remembered per feed: far more than any feed lists at once
_BLOCKS = ("p", "div", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "tr", "section", "article")


@dataclass(frozen=True)
class FeedItem:
    feed: str
    id: str  # guid, else link, else title
    title: str
    link: str | None
    date: str | None
    author: str | None
    content: str  # the item's own text (content, else summary), HTML removed


@dataclass
class FeedState:
    etag: str | None = None
    modified: str | None = None
    seen: list[str] = field(default_factory=list)


class FeedPoller:
    """Remembers each feed's validators and seen items (in `state_path`, JSON) between polls."""

    def __init__(self, policy: FetchPolicy, state_path: Path | None = None, client: httpx.Client | None = None):
        self.policy = policy
        self.state_path = state_path
        self.client = client
        self.states: dict[str, FeedState] = self._load()

    def poll(self, url: str) -> list[FeedItem]:
        """Items of `url` not seen before (all of them on the first poll); raises IngestError."""
        state = self.states.setdefault(url, FeedState())
        headers = {}
        if state.etag:
            headers["If-None-Match"] = state.etag
        if state.modified:
            headers["If-Modified-Since"] = state.modified
        fetched = fetch(url, self.policy, headers=headers, client=self.client)
        if fetched.status == 304:
            return []
        items = parse_feed(fetched.content, url)
        state.etag = fetched.headers.get("etag") or None
        state.modified = fetched.headers.get("last-modified") or None
        seen = set(state.seen)
        fresh = [item for item in items if item.id not in seen]
        state.seen = (state.seen + [item.id for item in fresh])[-SEEN_LIMIT:]
        return fresh

    def poll_all(self, urls: Iterable[str]) -> tuple[list[FeedItem], list[str]]:
        """New items of every feed, and one warning line per feed that failed."""
        items: list[FeedItem] = []
        problems: list[str] = []
        for url in urls:
            try:
                items.extend(self.poll(url))
            except IngestError as exc:
                problems.append(f"feed {exc}")
                log.warning("feed %s", exc)
        self.save()
        return items, problems

    def forget(self, url: str, item_id: str) -> None:
        """Let an item that could not be added be tried again at the next poll."""
        state = self.states.get(url)
        if state and item_id in state.seen:
            state.seen.remove(item_id)
            state.etag = state.modified = None

    def save(self) -> None:
        if self.state_path is None:
            return
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_path.with_name(self.state_path.name + ".tmp")
        tmp.write_text(json.dumps({u: asdict(s) for u, s in self.states.items()}, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, self.state_path)

    def _load(self) -> dict[str, FeedState]:
        if self.state_path is None or not self.state_path.exists():
            return {}
        try:
            raw = json.loads(self.state_path.read_text(encoding="utf-8"))
            return {url: FeedState(**value) for url, value in raw.items()}
        except (OSError, ValueError, TypeError) as exc:
            log.warning("feed state %s unreadable (%s); starting afresh", self.state_path, exc)
            return {}


def parse_feed(data: bytes, url: str) -> list[FeedItem]:
    """The entries of an RSS or Atom document; something that is not a feed is an IngestError."""
    parsed = feedparser.parse(data)
    if not parsed.entries:
        reason = parsed.get("bozo_exception")
        if parsed.bozo and reason is not None:
            raise IngestError(f"{url}: not a readable feed ({type(reason).__name__}: {reason})")
        if not parsed.get("version"):
            raise IngestError(f"{url}: not an RSS or Atom feed")
        return []
    items = []
    for entry in parsed.entries:
        link = entry.get("link") or None
        title = (entry.get("title") or "").strip()
        ident = entry.get("id") or link or title
        if not ident:
            continue
        content = ""
        if entry.get("content"):
            content = entry.content[0].get("value", "")
        content = html_to_text(content or entry.get("summary", ""))
        published = entry.get("published_parsed") or entry.get("updated_parsed")
        items.append(
            FeedItem(
                feed=url,
                id=str(ident),
                title=title,
                link=link,
                date=dates.normalize(published),
                author=clean_author(entry.get("author")),
                content=content,
            )
        )
    return items


def html_to_text(fragment: str) -> str:
    """An item's HTML (or plain) content as paragraphs separated by blank lines."""
    if not fragment.strip():
        return ""
    try:
        root = lxml_html.fromstring(f"<div>{fragment}</div>")
    except (ValueError, lxml_html.etree.ParserError):
        return fragment.strip()
    for element in root.iter("br", *_BLOCKS):
        element.tail = "\n" + (element.tail or "")
    lines = [line.strip() for line in root.text_content().split("\n")]
    return "\n\n".join(line for line in lines if line)


def item_article(item: FeedItem, policy: FetchPolicy, client: httpx.Client | None = None) -> Extracted:
    """The item's page, extracted; its own content when the page cannot be had. Feed metadata wins."""
    meta = ArticleMeta(date=item.date, url=item.link, author=item.author)
    page: Extracted | None = None
    if item.link:
        try:
            fetched = fetch(item.link, policy, client=client)
            page = extract_html(fetched.content, url=fetched.url, name=item.link, charset=fetched.charset)
        except IngestError as exc:
            log.warning("feed item %s: %s; using the feed's own text", item.link, exc)
    if page is not None and len(page.text) >= len(item.content):
        return Extracted(text=page.text, title=item.title or page.title, meta=meta.merged(page.meta), markdown=False)
    if not item.content.strip():
        raise IngestError(f"feed item {item.link or item.id}: no text in the feed and no readable page")
    return Extracted(text=item.content, title=item.title or None, meta=meta)


def read_feed_list(path: Path) -> list[str]:
    """A feeds file: one URL a line; blank lines and `#` comments ignored."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise IngestError(f"{path}: cannot read the feeds file ({exc})") from exc
    urls = [line.split(" #", 1)[0].strip() for line in lines if not line.lstrip().startswith("#")]
    urls = [u for u in urls if u]
    if not urls:
        raise IngestError(f"{path}: no feed URLs in the file")
    return urls


__all__ = [
    "FeedItem",
    "FeedPoller",
    "FeedState",
    "FetchError",
    "html_to_text",
    "item_article",
    "parse_feed",
    "read_feed_list",
]
