"""Adding, listing and removing articles while the bot runs: the one place `qabot add`/`watch`,
`/articles` and the Telegram bot go through, so no front end holds ingestion or index logic.

An item is stored in the corpus folder first (`retrieval.ingest.store`: deduplicated by URL and
content hash; an unreadable item is refused before anything is written), then the index is
rebuilt, which re-embeds only files whose bytes changed: only the new item. Builds are serialised
by a lock file in the index folder, so two front ends adding at once never race; serving
processes pick the new version up as they do after `qabot index` (one snapshot per request).
"""

from __future__ import annotations

import fcntl
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from retrieval.index import BuildReport
from retrieval.ingest import ArticleMeta, IngestError
from retrieval.ingest.adding import Added, add_file, add_path, add_text, add_url, is_url, poll_feeds_once
from retrieval.ingest.dates import normalize as normalize_date
from retrieval.ingest.feeds import FeedPoller, read_feed_list
from retrieval.ingest.fetch import FetchPolicy
from retrieval.ingest.store import FOLDER, ArticleStore, StoredArticle

from .errors import ArticleNotFound, ArticleRefused
from .service import AnswerService
from .settings import Settings

Progress = Callable[[int, int], None]
FEED_STATE = ".feeds.json"  # in the added-articles folder; hidden files are not indexed
BUILD_LOCK = ".build.lock"


@dataclass(frozen=True)
class ArticleInfo:
    """An added article as the front ends show it (`GET /articles`, `qabot add`, Telegram)."""

    id: str
    title: str | None
    date: str | None
    url: str | None
    file: str  # where it is stored, relative to the corpus folder
    source: str  # what was given: a file name, a URL or "text"
    added_at: str

    @classmethod
    def of(cls, entry: StoredArticle) -> ArticleInfo:
        return cls(entry.id, entry.title, entry.date, entry.url, entry.path, entry.source, entry.added_at)


@dataclass(frozen=True)
class AddResult:
    source: str  # as given
    article: ArticleInfo
    created: bool  # False: the same URL or content was already there
    chunks: int | None  # chunks of this article in the published index (None: the store cannot tell)
    warnings: list[str] = field(default_factory=list)  # pages skipped and why


def fetch_policy(settings: Settings) -> FetchPolicy:
    """The one FetchPolicy every download uses (`QABOT_ALLOW_PRIVATE_URLS`, timeout, size limit)."""
    return FetchPolicy(
        max_bytes=settings.fetch_max_bytes,
        timeout=settings.fetch_timeout_s,
        allow_private=settings.allow_private_urls,
    )


@contextmanager
def refused() -> Iterator[None]:
    """An IngestError (one line naming the input) becomes the QabotError every front end maps."""
    try:
        yield
    except IngestError as exc:
        raise ArticleRefused(str(exc)) from exc


class Library:
    def __init__(self, service: AnswerService) -> None:
        self.service = service
        self.settings = service.settings
        self.store = ArticleStore(self.settings.corpus_dir)
        self.policy = fetch_policy(self.settings)
        self._build_lock = threading.Lock()

    # -- reading -----------------------------------------------------------------------------
    def articles(self) -> list[ArticleInfo]:
        """Newest publication date first; undated ones last, most recently added first among equals."""
        with refused():
            entries = self.store.list()
        entries.sort(key=lambda e: e.added_at, reverse=True)
        entries.sort(key=lambda e: e.date or "", reverse=True)
        return [ArticleInfo.of(e) for e in entries]

    # -- adding (stored only; `index` makes them answerable) ---------------------------------
    def store_source(self, source: str, progress: Progress | None = None) -> Added:
        """A file path or an http(s) URL, stored in the corpus folder (not yet indexed)."""
        with refused():
            if is_url(source):
                return add_url(self.store, source, self.policy)
            if "://" in source:
                raise IngestError(f"{source}: only http(s) URLs can be added")
            path = Path(source)
            if path.is_dir():
                raise IngestError(f"{source}: is a folder (give its files, or put it in the corpus and run index)")
            return add_path(self.store, path, progress)

    def store_upload(self, data: bytes, name: str, progress: Progress | None = None) -> Added:
        with refused():
            return add_file(self.store, data, name, progress)

    def store_text(self, text: str, title: str | None, date: str | None = None, url: str | None = None) -> Added:
        with refused():
            iso = normalize_date(date) if date else None
            if date and iso is None:
                raise IngestError(f"{date!r}: not a date (use YYYY-MM-DD)")
            return add_text(self.store, text, title=title, meta=ArticleMeta(date=iso, url=url))

    # -- indexing ----------------------------------------------------------------------------
    def index(self, added: list[Added], progress: Progress | None = None) -> list[AddResult]:
        """Re-index when anything is new (only the new files are embedded); each item with its chunk count."""
        if any(a.created for a in added):
            self.reindex(progress)
        else:
            self.service.ensure_index(progress)
        counts = self._chunks_per_file()
        return [
            AddResult(
                source=a.entry.source,
                article=ArticleInfo.of(a.entry),
                created=a.created,
                chunks=None if counts is None else counts.get(a.entry.path, 0),
                warnings=list(a.extracted.warnings) if a.extracted else [],
            )
            for a in added
        ]

    def reindex(self, progress: Progress | None = None) -> BuildReport:
        index_dir = self.settings.index_dir
        index_dir.mkdir(parents=True, exist_ok=True)
        with self._build_lock, open(index_dir / BUILD_LOCK, "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # one build at a time, across processes too
            try:
                return self.service.build(progress=progress)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _chunks_per_file(self) -> Counter[str] | None:
        index = self.service.snapshot().index
        return None if index is None else Counter(chunk.path for chunk in index.chunks)

    # -- one call per request (HTTP, Telegram) -------------------------------------------------
    def add_url(self, url: str) -> AddResult:
        return self.index([self.store_source(url)])[0]

    def add_upload(self, data: bytes, name: str) -> AddResult:
        return self.index([self.store_upload(data, name)])[0]

    def add_text(self, text: str, title: str | None, date: str | None = None, url: str | None = None) -> AddResult:
        return self.index([self.store_text(text, title, date, url)])[0]

    def remove(self, article_id: str) -> ArticleInfo:
        """Delete an added article from the corpus folder and the index."""
        try:
            entry = self.store.remove(article_id)
        except KeyError:
            raise ArticleNotFound(f"no added article has the id {article_id!r}") from None
        except IngestError as exc:
            raise ArticleRefused(str(exc)) from exc
        self.reindex()
        return ArticleInfo.of(entry)

    # -- feeds ---------------------------------------------------------------------------------
    def feed_poller(self) -> FeedPoller:
        return FeedPoller(self.policy, state_path=self.settings.corpus_dir / FOLDER / FEED_STATE)

    @staticmethod
    def feeds(path: Path) -> list[str]:
        with refused():
            return read_feed_list(path)

    def poll(self, poller: FeedPoller, urls: list[str]) -> tuple[list[AddResult], list[str]]:
        """One round: every new item of every feed added and indexed; one line per problem."""
        added, problems = poll_feeds_once(self.store, poller, urls)
        return (self.index(added) if added else []), problems
