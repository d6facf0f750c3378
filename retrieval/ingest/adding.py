"""Add a file, a URL or a text to the corpus folder, and keep adding a feed's new items.

Front ends (`qabot add` / `qabot watch`, `POST /articles`, the Telegram bot) call these and then
re-index; the index build re-embeds only files whose content changed, so only the new item is.
A file is extracted before it is stored, so an unreadable one is refused and nothing is kept.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from .document import ArticleMeta, Extracted, IngestError
from .extract import SUFFIXES, extract_data
from .feeds import FeedPoller, item_article
from .fetch import FetchPolicy, fetch
from .store import ArticleStore, StoredArticle
from .webpage import extract_html

log = logging.getLogger(__name__)
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Added:
    entry: StoredArticle
    created: bool  # False: the same URL or content was already there
    extracted: Extracted | None = None


def is_url(source: str) -> bool:
    return urlsplit(source).scheme.lower() in ("http", "https")


def add_file(store: ArticleStore, data: bytes, name: str, progress: Progress | None = None) -> Added:
    """A PDF, scan, web page or .docx given as bytes (an upload, a Telegram document, a path's content)."""
    suffix = Path(name).suffix.lower()
    if suffix in (".txt", ".md"):
        text = _decode_text(data, name)
        return add_text(store, text, title=None, source=name)
    if suffix not in SUFFIXES:
        raise IngestError(f"{name}: unsupported file type {suffix or '(none)'} (use {', '.join(sorted(SUFFIXES))})")
    extracted = extract_data(data, Path(name).name, progress)  # an unreadable file is refused before it is stored
    entry, created = store.add_file(data, Path(name).name)
    if created:
        meta = extracted.meta
        entry = replace(entry, title=extracted.title or entry.title, date=meta.date, author=meta.author)
        store.update(entry)
    return Added(entry, created, extracted)


def add_path(store: ArticleStore, path: Path, progress: Progress | None = None) -> Added:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise IngestError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    return add_file(store, data, path.name, progress)


def add_url(store: ArticleStore, url: str, policy: FetchPolicy, client: httpx.Client | None = None) -> Added:
    """A web page (its article, with metadata) or a linked PDF/image/.docx file."""
    existing = store.find(url=url)
    if existing is not None:
        return Added(existing, False)
    fetched = fetch(url, policy, client=client)
    kind = fetched.content_type.split(";")[0].strip().lower()
    path_suffix = Path(urlsplit(fetched.url).path).suffix.lower()
    if kind in ("text/html", "application/xhtml+xml") or (not kind and path_suffix in (".html", ".htm", "")):
        extracted = extract_html(fetched.content, url=fetched.url, name=url, charset=fetched.charset)
        entry, created = store.add_extracted(extracted, source=url)
        return Added(entry, created, extracted)
    suffix = _SUFFIX_BY_TYPE.get(kind) or path_suffix
    if suffix not in SUFFIXES:
        raise IngestError(f"{url}: cannot add content of type {kind or 'unknown'}")
    name = Path(urlsplit(fetched.url).path).name or f"download{suffix}"
    if not name.lower().endswith(suffix):
        name += suffix
    added = add_file(store, fetched.content, name)
    return added


def add_text(
    store: ArticleStore, text: str, title: str | None, source: str = "text", meta: ArticleMeta | None = None
) -> Added:
    if not text.strip():
        raise IngestError(f"{source}: no text to add")
    extracted = Extracted(text=text.strip(), title=title, meta=meta or ArticleMeta())
    entry, created = store.add_extracted(extracted, source=source)
    return Added(entry, created, extracted)


def poll_feeds_once(
    store: ArticleStore, poller: FeedPoller, urls: list[str], client: httpx.Client | None = None
) -> tuple[list[Added], list[str]]:
    """Add every new item of every feed; returns what was added and one line per problem."""
    items, problems = poller.poll_all(urls)
    added: list[Added] = []
    for item in items:
        try:
            existing = store.find(url=item.link) if item.link else None
            if existing is not None:
                continue
            article = item_article(item, poller.policy, client=client)
            entry, created = store.add_extracted(article, source=item.link or item.feed)
            if created:
                added.append(Added(entry, True, article))
        except IngestError as exc:
            problems.append(f"feed item {exc}")
            poller.forget(item.feed, item.id)
    poller.save()
    return added, problems


def watch_feeds(
    store: ArticleStore,
    poller: FeedPoller,
    urls: list[str],
    interval: float,
    on_added: Callable[[list[Added]], None],
    on_problem: Callable[[str], None] = log.warning,
    stop: threading.Event | None = None,
) -> None:
    """Poll forever (until `stop` is set): each round's new articles go to `on_added` (re-index there)."""
    stop = stop or threading.Event()
    while not stop.is_set():
        started = time.monotonic()
        added, problems = poll_feeds_once(store, poller, urls)
        for problem in problems:
            on_problem(problem)
        if added:
            on_added(added)
        stop.wait(max(0.0, interval - (time.monotonic() - started)))


_SUFFIX_BY_TYPE = {
    "application/pdf": ".pdf",
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/tiff": ".tif",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
}


def _decode_text(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise IngestError(f"{name}: not UTF-8 text (byte {exc.start})") from exc
