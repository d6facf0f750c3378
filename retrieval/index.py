"""The on-disk index: chunks (JSON), vectors (FAISS), keyword index (bm25s), manifest (JSON).

No pickle anywhere. Each build is written to a fresh version folder and published by atomically
replacing the `CURRENT` pointer, so an interrupted `qabot index` leaves the previous index
usable and a running server can swap to the new one between requests.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import bm25s
import faiss
import numpy as np

from .chunking import Chunk, chunk_documents
from .loading import CorpusError, SourceDoc, corpus_files, file_digest, read_file
from .tokenize import tokenize

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
CHUNKER_VERSION = 5
TOKENIZER = "rjieba-search-v2"
POINTER = "CURRENT"

Progress = Callable[[int, int], None]


class IndexProblem(Exception):
    """The index is missing, damaged or does not match the current settings."""


class IndexNotFound(IndexProblem):
    pass


class IndexMismatch(IndexProblem):
    pass


class IndexDamaged(IndexProblem):
    pass


@dataclass
class IndexConfig:
    embedder: str
    dim: int
    chunk_size: int
    chunk_overlap: int

    def signature(self) -> dict:
        return {
            "embedder": self.embedder,
            "dim": self.dim,
            "chunker": {"size": self.chunk_size, "overlap": self.chunk_overlap, "version": CHUNKER_VERSION},
            "tokenizer": TOKENIZER,
            "format_version": FORMAT_VERSION,
        }


@dataclass
class IndexData:
    """A loaded index: everything a search needs, shared read-only between requests."""

    path: Path
    manifest: dict
    chunks: list[Chunk]
    vectors: faiss.Index
    bm25: bm25s.BM25
    docs: dict[str, int] = field(default_factory=dict)  # document name -> number of chunks

    @property
    def version(self) -> str:
        return self.path.name


@dataclass
class BuildReport:
    files: int
    articles: int
    chunks: int
    embedded: int
    seconds: float
    embed_seconds: float
    changed: list[str]
    removed: list[str]
    unchanged: bool
    skipped: list[str] = field(default_factory=list)


def current_version(index_dir: Path) -> Path | None:
    pointer = index_dir / POINTER
    try:
        name = pointer.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise IndexDamaged(f"cannot read {pointer}: {exc}") from exc
    if not name or "/" in name or name.startswith("."):
        raise IndexDamaged(f"index pointer {pointer} is damaged; run `qabot index` to rebuild")
    return index_dir / name


def read_manifest(index_dir: Path) -> dict | None:
    version = current_version(index_dir)
    if version is None:
        return None
    try:
        return json.loads((version / "manifest.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise IndexDamaged(f"index manifest in {version} is damaged ({exc}); run `qabot index` to rebuild") from exc


def check_compatible(manifest: dict, config: IndexConfig) -> None:
    expected = config.signature()
    found = {key: manifest.get(key) for key in expected}
    if found != expected:
        diffs = [f"{k}: index has {found[k]!r}, settings want {expected[k]!r}" for k in expected if found[k] != expected[k]]
        raise IndexMismatch(
            "the index was built with other settings (" + "; ".join(diffs) + "). Run `qabot index` to re-index."
        )


def load_index(index_dir: Path, config: IndexConfig | None = None) -> IndexData:
    version = current_version(index_dir)
    if version is None or not version.exists():
        raise IndexNotFound(f"no index in {index_dir}; run `qabot index` first")
    manifest = read_manifest(index_dir)
    if manifest is None:
        raise IndexDamaged(f"index in {version} has no manifest; run `qabot index` to rebuild")
    if config is not None:
        check_compatible(manifest, config)
    try:
        raw = json.loads((version / "chunks.json").read_text(encoding="utf-8"))
        chunks = [Chunk.from_json(item) for item in raw]
        vectors = faiss.read_index(str(version / "vectors.faiss"))
        bm25 = bm25s.BM25.load(str(version / "bm25"), mmap=False, allow_pickle=False)
    except (OSError, ValueError, TypeError, KeyError, RuntimeError) as exc:
        raise IndexDamaged(f"index in {version} is damaged ({type(exc).__name__}: {exc}); run `qabot index` to rebuild") from exc
    if vectors.ntotal != len(chunks) or (chunks and vectors.d != manifest.get("dim")):
        raise IndexDamaged(f"index in {version} is inconsistent (vectors {vectors.ntotal}, chunks {len(chunks)}); run `qabot index` to rebuild")
    docs: dict[str, int] = {}
    for chunk in chunks:
        docs[chunk.doc] = docs.get(chunk.doc, 0) + 1
    return IndexData(path=version, manifest=manifest, chunks=chunks, vectors=vectors, bm25=bm25, docs=docs)


def build_index(
    corpus_dir: Path,
    index_dir: Path,
    embedder,
    config: IndexConfig,
    progress: Progress | None = None,
    batch_size: int = 32,
) -> BuildReport:
    """Build or update the index; only files whose content changed are re-chunked and re-embedded."""
    started = time.perf_counter()
    files = corpus_files(corpus_dir)
    if not files:
        raise CorpusError(f"no .txt, .md or .jsonl files in {corpus_dir}")

    previous = None
    try:
        manifest = read_manifest(index_dir)
        if manifest is not None:
            check_compatible(manifest, config)
            previous = load_index(index_dir, config)
    except IndexMismatch as exc:
        log.warning("%s Rebuilding from scratch.", exc)
    except IndexDamaged as exc:
        log.warning("%s Rebuilding from scratch.", exc)

    digests: dict[str, str] = {}
    docs_by_path: dict[str, list[SourceDoc]] = {}
    skipped: list[str] = []
    old_files = previous.manifest.get("files", {}) if previous else {}
    changed: list[str] = []
    for path in files:
        rel = path.relative_to(corpus_dir).as_posix()
        if previous is not None and rel in old_files:
            # cheap check first: unchanged bytes need no decoding or chunking
            digest = file_digest(path.read_bytes())
            if digest == old_files[rel]:
                digests[rel] = digest
                continue
        entry, docs = read_file(corpus_dir, path)
        digests[entry.path] = entry.digest
        if not docs:
            skipped.append(entry.path)
        docs_by_path[entry.path] = docs
        changed.append(entry.path)
    removed = sorted(set(old_files) - set(digests))
    kept_paths = set(digests) - set(changed)

    if previous is not None and not changed and not removed:
        articles = previous.manifest.get("articles", 0)
        return BuildReport(
            files=len(digests), articles=articles, chunks=len(previous.chunks), embedded=0,
            seconds=time.perf_counter() - started, embed_seconds=0.0, changed=[], removed=[], unchanged=True,
        )

    # keep the vectors of unchanged files, chunk and embed the rest
    kept_chunks: list[Chunk] = []
    kept_vectors: list[np.ndarray] = []
    if previous is not None and kept_paths:
        all_vectors = previous.vectors.reconstruct_n(0, previous.vectors.ntotal)
        for position, chunk in enumerate(previous.chunks):
            if chunk.path in kept_paths:
                kept_chunks.append(chunk)
                kept_vectors.append(all_vectors[position])
    new_docs = [doc for path in changed for doc in docs_by_path[path]]
    new_chunks = chunk_documents(new_docs, config.chunk_size, config.chunk_overlap)
    if not kept_chunks and not new_chunks:
        raise CorpusError(f"the corpus in {corpus_dir} has no readable text")

    embed_started = time.perf_counter()
    texts = [chunk.index_text() for chunk in new_chunks]
    new_vectors = np.zeros((0, config.dim), dtype=np.float32)
    parts = []
    for k in range(0, len(texts), batch_size):
        parts.append(embedder.embed_array(texts[k : k + batch_size]))
        if progress:
            progress(min(k + batch_size, len(texts)), len(texts))
    if parts:
        new_vectors = np.vstack(parts).astype(np.float32)
    embed_seconds = time.perf_counter() - embed_started

    # order chunks by file so the index is stable whatever changed
    order = {path.relative_to(corpus_dir).as_posix(): i for i, path in enumerate(files)}
    combined = [(c, v) for c, v in zip(kept_chunks, kept_vectors)] + list(zip(new_chunks, new_vectors))
    combined.sort(key=lambda cv: (order.get(cv[0].path, 1 << 30), cv[0].doc, cv[0].start, cv[0].id))
    chunks = []
    for new_id, (chunk, _) in enumerate(combined):
        chunk.id = new_id
        chunks.append(chunk)
    matrix = np.vstack([v for _, v in combined]).astype(np.float32) if combined else np.zeros((0, config.dim), np.float32)
    faiss.normalize_L2(matrix)

    article_keys = {(c.doc, c.article) for c in chunks}
    manifest = {
        **config.signature(),
        "files": dict(sorted(digests.items())),
        "documents": len({c.doc for c in chunks}),
        "articles": len(article_keys),
        "chunks": len(chunks),
        "corpus": str(corpus_dir),
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    _write_version(index_dir, manifest, chunks, matrix, config.dim)
    return BuildReport(
        files=len(digests), articles=len(article_keys), chunks=len(chunks), embedded=len(new_chunks),
        seconds=time.perf_counter() - started, embed_seconds=embed_seconds,
        changed=changed, removed=removed, unchanged=False, skipped=skipped,
    )


def build_bm25(chunks: list[Chunk]) -> bm25s.BM25:
    corpus_tokens = [tokenize(chunk.index_text()) or ["∅"] for chunk in chunks]
    vocab: dict[str, int] = {}
    ids = [[vocab.setdefault(tok, len(vocab)) for tok in doc] for doc in corpus_tokens]
    model = bm25s.BM25(method="lucene", k1=1.2, b=0.75)
    model.index(bm25s.tokenization.Tokenized(ids=ids, vocab=vocab), show_progress=False)
    return model


def _write_version(index_dir: Path, manifest: dict, chunks: list[Chunk], matrix: np.ndarray, dim: int) -> None:
    index_dir.mkdir(parents=True, exist_ok=True)
    name = f"v{time.strftime('%Y%m%d%H%M%S')}-{uuid.uuid4().hex[:8]}"
    tmp = index_dir / f".{name}.tmp"
    tmp.mkdir()
    try:
        vectors = faiss.IndexFlatIP(dim)
        if len(matrix):
            vectors.add(matrix)
        faiss.write_index(vectors, str(tmp / "vectors.faiss"))
        build_bm25(chunks).save(str(tmp / "bm25"))
        (tmp / "chunks.json").write_text(
            json.dumps([c.to_json() for c in chunks], ensure_ascii=False), encoding="utf-8"
        )
        (tmp / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
        final = index_dir / name
        os.replace(tmp, final)
        pointer_tmp = index_dir / f".{POINTER}.{uuid.uuid4().hex[:8]}"
        pointer_tmp.write_text(name, encoding="utf-8")
        os.replace(pointer_tmp, index_dir / POINTER)  # the atomic switch
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _prune(index_dir, keep={name})


def _prune(index_dir: Path, keep: set[str], keep_previous: int = 1) -> None:
    """Drop old versions, keeping the newest previous one for readers still loading it."""
    versions = sorted(
        (p for p in index_dir.iterdir() if p.is_dir() and p.name.startswith("v") and p.name not in keep),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    for old in versions[keep_previous:]:
        shutil.rmtree(old, ignore_errors=True)
    for stale in index_dir.glob(".*.tmp"):
        if time.time() - stale.stat().st_mtime > 3600:
            shutil.rmtree(stale, ignore_errors=True)
