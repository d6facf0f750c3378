"""Read a corpus folder into source documents: `.txt`, `.md`, and `.jsonl` (one article a line).

Bad files are skipped with a warning that names the file (and line), never a crash: one
broken file must not stop a whole corpus from being indexed.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

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


@dataclass(frozen=True)
class CorpusFile:
    path: str
    digest: str


def corpus_files(root: Path) -> list[Path]:
    """The indexable files below `root`, in a stable order."""
    if not root.exists():
        raise CorpusError(f"corpus folder not found: {root}")
    if not root.is_dir():
        raise CorpusError(f"corpus path is not a folder: {root}")
    suffixes = TEXT_SUFFIXES | JSONL_SUFFIXES
    files = [
        p
        for p in root.rglob("*")
        if p.is_file() and p.suffix.lower() in suffixes and not any(part.startswith(".") for part in p.relative_to(root).parts)
    ]
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


def file_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_file(root: Path, path: Path) -> tuple[CorpusFile, list[SourceDoc]]:
    """Read one file; returns its digest and the documents in it (empty if unreadable)."""
    rel = path.relative_to(root).as_posix()
    data = path.read_bytes()
    entry = CorpusFile(rel, file_digest(data))
    if b"\x00" in data[:8192]:
        log.warning("skipping %s: looks like a binary file", rel)
        return entry, []
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        log.warning("skipping %s: not UTF-8 text (byte %d)", rel, exc.start)
        return entry, []
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    suffix = path.suffix.lower()
    if suffix in JSONL_SUFFIXES:
        return entry, list(_jsonl_docs(rel, text))
    if not text.strip():
        log.warning("skipping %s: empty file", rel)
        return entry, []
    return entry, [SourceDoc(name=rel, path=rel, text=text, markdown=suffix != ".txt")]


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
        yield SourceDoc(
            name=f"{rel}#{ident}",
            path=rel,
            text=body,
            title=str(title).strip() if title else None,
        )
