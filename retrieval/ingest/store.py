"""Articles added while the bot runs, kept in the corpus folder with their metadata.

Added files are copied to `<corpus>/added/` under their content hash; a web page, feed item or
pasted text is written there as a one-line `.jsonl` record (title, text, date, url, author), which
the corpus loader already reads. `added/.registry.json` lists what was added (hidden files are not
indexed) so an item is never added twice, by URL or by content hash, and can be listed and removed.
A lock file serialises writers across processes (`qabot add`, the HTTP API, the Telegram bot).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from .document import Extracted, IngestError

FOLDER = "added"
REGISTRY = ".registry.json"
LOCK = ".registry.lock"


@dataclass(frozen=True)
class StoredArticle:
    id: str  # the first 16 hex digits of the content hash
    path: str  # relative to the corpus folder
    sha256: str
    source: str  # the original file name, URL or "text"
    url: str | None = None
    title: str | None = None
    date: str | None = None
    author: str | None = None
    added_at: str = ""


class ArticleStore:
    def __init__(self, corpus_dir: Path):
        self.corpus_dir = corpus_dir
        self.folder = corpus_dir / FOLDER

    # -- reading -------------------------------------------------------------------------------
    def list(self) -> list[StoredArticle]:
        return list(self._read().values())

    def get(self, article_id: str) -> StoredArticle | None:
        return self._read().get(article_id)

    def find(self, url: str | None = None, sha256: str | None = None) -> StoredArticle | None:
        key = normalize_url(url) if url else None
        for item in self._read().values():
            if (key and item.url and normalize_url(item.url) == key) or (sha256 and item.sha256 == sha256):
                return item
        return None

    # -- writing -------------------------------------------------------------------------------
    def add_file(self, data: bytes, name: str, url: str | None = None) -> tuple[StoredArticle, bool]:
        """Store a file's bytes (a PDF, a scan, a page); returns the entry and whether it is new."""
        digest = hashlib.sha256(data).hexdigest()
        suffix = Path(name).suffix.lower()
        if not re.fullmatch(r"\.[a-z0-9]{1,8}", suffix):
            raise IngestError(f"{name}: the file name needs a type suffix such as .pdf or .html")
        stem = _safe_stem(Path(name).stem)
        with self._locked() as registry:
            duplicate = _find(registry, url, digest)
            if duplicate is not None:
                return duplicate, False
            rel = f"{FOLDER}/{digest[:16]}_{stem}{suffix}"
            _write_atomic(self.corpus_dir / rel, data)
            entry = StoredArticle(id=digest[:16], path=rel, sha256=digest, source=name, url=url, added_at=_now())
            registry[entry.id] = entry
            return entry, True

    def add_extracted(self, article: Extracted, source: str) -> tuple[StoredArticle, bool]:
        """Store an extracted article (from a URL, a feed or text) as a `.jsonl` record with its metadata."""
        text = article.text.strip()
        if not text:
            raise IngestError(f"{source}: no text to add")
        digest = hashlib.sha256(re.sub(r"\s+", "", text).encode("utf-8")).hexdigest()
        meta = article.meta
        with self._locked() as registry:
            duplicate = _find(registry, meta.url, digest)
            if duplicate is not None:
                return duplicate, False
            ident = digest[:16]
            record = {
                "id": ident,
                "title": article.title or _first_line(text),
                "text": text,
                "date": meta.date,
                "url": meta.url,
                "author": meta.author,
            }
            rel = f"{FOLDER}/{(meta.date or 'undated')}_{ident}.jsonl"
            _write_atomic(self.corpus_dir / rel, (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8"))
            entry = StoredArticle(
                id=ident,
                path=rel,
                sha256=digest,
                source=source,
                url=meta.url,
                title=record["title"],
                date=meta.date,
                author=meta.author,
                added_at=_now(),
            )
            registry[entry.id] = entry
            return entry, True

    def remove(self, article_id: str) -> StoredArticle:
        with self._locked() as registry:
            entry = registry.pop(article_id, None)
            if entry is None:
                raise KeyError(article_id)
            (self.corpus_dir / entry.path).unlink(missing_ok=True)
            return entry

    def update(self, entry: StoredArticle) -> None:
        """Record metadata found when the stored file was extracted (title, date, author)."""
        with self._locked() as registry:
            if entry.id in registry:
                registry[entry.id] = entry

    # -- registry ------------------------------------------------------------------------------
    def _read(self) -> dict[str, StoredArticle]:
        path = self.folder / REGISTRY
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise IngestError(f"{path}: the list of added articles is damaged ({exc})") from exc
        return {key: StoredArticle(**value) for key, value in raw.items()}

    @contextmanager
    def _locked(self) -> Iterator[dict[str, StoredArticle]]:
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / LOCK, "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                registry = self._read()
                yield registry
                data = json.dumps({k: asdict(v) for k, v in registry.items()}, ensure_ascii=False, indent=1)
                _write_atomic(self.folder / REGISTRY, data.encode("utf-8"))
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


def normalize_url(url: str) -> str:
    """Same article, same key: no fragment, lower-case scheme and host, no trailing slash."""
    parts = urlsplit(url.strip())
    path = parts.path.rstrip("/") or "/"
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), path, parts.query, ""))


def _find(registry: dict[str, StoredArticle], url: str | None, digest: str) -> StoredArticle | None:
    key = normalize_url(url) if url else None
    for item in registry.values():
        if item.sha256 == digest or (key and item.url and normalize_url(item.url) == key):
            return item
    return None


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _safe_stem(stem: str) -> str:
    cleaned = re.sub(r"[^\w\u4e00-\u9fff.-]+", "_", stem).strip("._")
    return cleaned[:60] or "file"


def _first_line(text: str) -> str:
    line = text.strip().split("\n", 1)[0]
    return line if len(line) <= 40 else line[:40] + "…"


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
