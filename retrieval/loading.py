"""Read a corpus folder into source documents: `.txt`, `.md`, and `.jsonl` (one article a line),
and through `retrieval.ingest` PDFs, scans (`.png`, `.jpg`, `.tif`), web pages (`.html`) and `.docx`.

Bad files are skipped with a warning that names the file (and line), never a crash: one
broken file must not stop a whole corpus from being indexed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .ingest import SUFFIXES as INGEST_SUFFIXES
from .ingest import IngestError, PageSpan, extract_data
from .ingest import dates as ingest_dates

log = logging.getLogger(__name__)

TEXT_SUFFIXES = {".txt", ".md", ".markdown"}
JSONL_SUFFIXES = {".jsonl"}


class CorpusError(Exception):
    """The corpus folder cannot be used at all (missing, not a folder, nothing readable)."""


@dataclass(frozen=True)
class SourceDoc:
    """One unit of text whose offsets are reported: a whole file, or one `.jsonl` article."""

    name: str  # shown to users: `a.txt`, `sub/b.md`, `dev.jsonl#DEV_0`
    path: str  # the physical file, relative to the corpus root (incremental indexing key)
    text: str
    title: str | None = None  # a title given by the source (jsonl); otherwise found in the text
    markdown: bool = False
    date: str | None = None  # ISO publication date, where the source tells (metadata, file name, dateline)
    url: str | None = None
    author: str | None = None
    pages: tuple[PageSpan, ...] = ()  # a PDF's or scan's pages, as spans of `text`


@dataclass(frozen=True)
class CorpusFile:
    path: str
    digest: str | None  # None: the file could not be read this time
    gone: bool = False  # it disappeared between listing and reading


def corpus_name(root: Path, path: Path) -> str:
    """The name a file is indexed and shown under: its path below `root`, always valid UTF-8.

    A file name that is not UTF-8 keeps its undecodable bytes as `\\xff` escapes, so it can be
    written to JSON, printed and told apart from its neighbours.
    """
    rel = path.relative_to(root).as_posix()
    return rel.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def short(name: str, limit: int = 120) -> str:
    """A name fit for a one-line message (paths can be over 4,096 characters long)."""
    return name if len(name) <= limit else f"{name[: limit // 2]}…{name[-limit // 2 :]}"


def corpus_files(root: Path, follow_symlinks: bool = False) -> list[Path]:
    """The indexable files below `root`, in a stable order.

    Anything that cannot be listed (a folder without permission, a path too long for the OS) is
    skipped with a warning. Symbolic links that lead outside `root` are not followed unless
    `follow_symlinks` is set: a link such as `outside.txt -> /etc/hostname` would otherwise make
    any file the indexing user can read answerable.
    """
    if not root.exists():
        raise CorpusError(f"corpus folder not found: {root}")
    if not root.is_dir():
        raise CorpusError(f"corpus path is not a folder: {root}")
    suffixes = TEXT_SUFFIXES | JSONL_SUFFIXES | INGEST_SUFFIXES
    real_root = root.resolve()
    seen_dirs = {real_root}

    def inside(path: Path) -> bool:
        """May this entry be used? Symlinks must stay inside the corpus (unless allowed)."""
        if not path.is_symlink() or follow_symlinks:
            return True
        target = path.resolve()
        if target.is_relative_to(real_root):
            return True
        log.warning("skipping %s: a symbolic link to outside the corpus folder", short(corpus_name(root, path)))
        return False

    def unlisted(exc: OSError) -> None:
        name = os.fsdecode(exc.filename) if exc.filename is not None else str(root)
        log.warning("skipping %s: %s", short(name), exc.strerror or exc)

    files: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root, onerror=unlisted, followlinks=True):
        base = Path(dirpath)
        keep = []
        for name in sorted(dirnames):
            if name.startswith("."):
                continue
            try:
                sub = base / name
                real = sub.resolve()
                if not inside(sub) or real in seen_dirs:
                    continue  # outside the corpus, or a link back to a folder already walked
                seen_dirs.add(real)
                keep.append(name)
            except OSError as exc:
                unlisted(exc)
        dirnames[:] = keep
        for name in filenames:
            if name.startswith(".") or Path(name).suffix.lower() not in suffixes:
                continue
            path = base / name
            try:
                if inside(path) and path.is_file():
                    files.append(path)
            except OSError as exc:
                unlisted(exc)
    for path in files:
        label = corpus_name(root, path)
        if label != path.relative_to(root).as_posix():
            log.warning("file name %s is not UTF-8; indexed under that name", short(label))
    return sorted(files, key=lambda p: corpus_name(root, p))


def file_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_bytes(root: Path, path: Path) -> tuple[CorpusFile, bytes | None]:
    """The file's bytes, or None with a one-line warning when the OS will not give them."""
    rel = corpus_name(root, path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        log.warning("skipping %s: it disappeared while indexing", short(rel))
        return CorpusFile(rel, None, gone=True), None
    except OSError as exc:
        log.warning("skipping %s: cannot read it (%s)", short(rel), exc.strerror or exc)
        return CorpusFile(rel, None), None
    return CorpusFile(rel, file_digest(data)), data


def read_file(root: Path, path: Path) -> tuple[CorpusFile, list[SourceDoc]]:
    """Read one file; returns its digest and the documents in it (empty if unreadable)."""
    entry, data = read_bytes(root, path)
    if data is None:
        return entry, []
    return entry, parse_file(entry.path, path.suffix.lower(), data)


def parse_file(rel: str, suffix: str, data: bytes) -> list[SourceDoc]:
    """The documents in one file's bytes; bad content is skipped with a warning naming it."""
    if suffix in INGEST_SUFFIXES:
        return _ingested(rel, data)
    if b"\x00" in data[:8192]:
        log.warning("skipping %s: looks like a binary file", short(rel))
        return []
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        log.warning("skipping %s: not UTF-8 text (byte %d)", short(rel), exc.start)
        return []
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if suffix in JSONL_SUFFIXES:
        return list(_jsonl_docs(rel, text))
    if not text.strip():
        log.warning("skipping %s: empty file", short(rel))
        return []
    date = ingest_dates.from_filename(rel) or ingest_dates.from_dateline(text)
    return [SourceDoc(name=rel, path=rel, text=text, markdown=suffix != ".txt", date=date)]


def _ingested(rel: str, data: bytes) -> list[SourceDoc]:
    """A PDF, scan, web page or .docx; unreadable → one warning line, and the rest of the corpus goes on."""
    try:
        found = extract_data(
            data, rel, progress=lambda done, total: log.info("read %s page %d/%d", short(rel), done, total)
        )
    except IngestError as exc:
        log.warning("skipping %s", " ".join(str(exc).split()))
        return []
    for note in found.warnings:
        log.warning("%s", " ".join(note.split()))
    meta = found.meta
    return [
        SourceDoc(
            name=rel,
            path=rel,
            text=found.text,
            title=found.title,
            markdown=found.markdown,
            date=meta.date,
            url=meta.url,
            author=meta.author,
            pages=tuple(found.pages),
        )
    ]


def _jsonl_docs(rel: str, text: str) -> Iterator[SourceDoc]:
    seen: set[str] = set()
    for lineno, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            log.warning("skipping %s line %d: invalid JSON (%s)", rel, lineno, exc.msg)
            continue
        if not isinstance(record, dict) or not isinstance(record.get("text"), str):
            log.warning("skipping %s line %d: expected an object with a string 'text'", rel, lineno)
            continue
        body = record["text"]
        if not body.strip():
            log.warning("skipping %s line %d: empty text", rel, lineno)
            continue
        ident = str(record.get("id") or lineno)
        if ident in seen:
            log.warning("skipping %s line %d: duplicate id %r", rel, lineno, ident)
            continue
        seen.add(ident)
        title = record.get("title")
        url, author = record.get("url"), record.get("author")
        yield SourceDoc(
            name=f"{rel}#{ident}",
            path=rel,
            text=body,
            title=str(title).strip() if title else None,
            date=ingest_dates.normalize(record.get("date")),
            url=url if isinstance(url, str) and url else None,
            author=author if isinstance(author, str) and author else None,
        )
