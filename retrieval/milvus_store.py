"""The index in Milvus: one collection per build, published by switching a collection alias.

The same client code talks to Milvus Lite (a local `.db` path, embedded, one process), to
`milvus-lite server`, to a Milvus standalone or distributed cluster (`http://host:19530`) and to
Zilliz Cloud (with a token). Dense and keyword search both run inside Milvus: a FLOAT_VECTOR field
(inner product over normalised e5 vectors, as FAISS does) and a sparse field that Milvus's own BM25
function fills from the chunk text (jieba analyzer; `{"type": "chinese"}` is rejected by Lite).
The two rankings are fused here with the folder store's rule (`retrieval.search.fuse`), not with a
server-side ranker: BM25 distances come back negated, which breaks WeightedRanker's normalisation,
and rank fusion (RRF) lost 3 points of top-1 on CMRC 2018 (bench/fusion.py).

Guarantees, as for the folder store:
- only changed files are embedded: the published build's manifest (file hashes, stored in the
  `<name>_meta` collection) says which files changed;
- a removed file's chunks are gone: a build copies only the unchanged files' rows forward;
- an interrupted build leaves the previous one answering: it writes into a new collection
  (`<name>_bNNNNNN`) that readers do not see until the alias `<name>` is switched to it;
- a published build is seen by every serving process: they read the alias once a second.
Milvus Lite 3.2 supports aliases (create/alter/describe), so no home-made pointer is needed.

LangChain's `langchain-milvus` is not used: its hybrid search only offers server-side rankers and
(0.4.0) fails with `only drop_ratio_build=0 is supported` unless given explicit search params.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import xxhash

from .chunking import Chunk, chunk_documents
from .filters import DateRange
from .index import (
    DEFAULT_EMBED_RATE,
    BuildPlan,
    BuildReport,
    Embedder,
    IndexConfig,
    IndexDamaged,
    IndexData,
    IndexMismatch,
    IndexNotFound,
    IndexProblem,
    check_compatible,
    one_line,
)
from .loading import CorpusError, corpus_files, parse_file, read_bytes
from .search import CANDIDATES, Hit, fuse, newest_first
from .store import Part, Progress, Snapshot, bm25_idf
from .tokenize import tokenize

log = logging.getLogger(__name__)

ANALYZER = {"tokenizer": "jieba"}
MAX_TEXT = 65_535  # Milvus's VARCHAR limit, in bytes
INSERT_BATCH = 256
CONNECT_TIMEOUT = 10.0  # seconds; an unreachable server fails in milliseconds, a slow one gets this long
# Threads that wait on Milvus's BM25 calls (I/O, not CPU): shared by every searcher in the process.
_POOL = ThreadPoolExecutor(8, thread_name_prefix="qabot-milvus")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,200}")


class MilvusUnavailable(IndexProblem):
    hint = "check QABOT_MILVUS_URI (a local .db path, or http://host:19530) and that the server is up"


def _chunk_key(chunk: Chunk) -> int:
    """A primary key that parts on different machines compute alike for the same chunk."""
    ident = f"{chunk.path}\0{chunk.doc}\0{chunk.article}\0{chunk.start}\0{chunk.end}"
    return xxhash.xxh3_64_intdigest(ident.encode("utf-8", "surrogatepass")) & ((1 << 63) - 1)


def _quoted(values: list[str]) -> str:
    """A Milvus string list literal (Lite has no filter templates): JSON's escaping is what it parses."""
    return json.dumps(values, ensure_ascii=False)


class MilvusSearcher:
    """Searches one build's collection (bound by name, so a search never mixes two builds)."""

    def __init__(self, client: Any, collection: str, embedder: Any, bm25_weight: float, dense_weight: float) -> None:
        self.client = client
        self.collection = collection
        self.embedder = embedder
        self.bm25_weight = bm25_weight
        self.dense_weight = dense_weight

    def bm25_ranking(self, query: str, k: int = CANDIDATES, where: str = "") -> list[tuple[int, float]]:
        if not query.strip():
            return []
        result = self.client.search(
            self.collection, data=[query], anns_field="sparse", limit=k, filter=where,
            search_params={"metric_type": "BM25"}, output_fields=["id"],
        )  # fmt: skip
        # Milvus returns BM25 scores negated (best first, most negative); the magnitude is the score.
        return [(int(hit["id"]), abs(float(hit["distance"]))) for hit in result[0] if hit["distance"]]

    def dense_ranking(self, query: str, k: int = CANDIDATES, where: str = "") -> list[tuple[int, float]]:
        if self.dense_weight <= 0:
            return []
        vector = np.asarray(self.embedder.embed_query_array(query), dtype=np.float32).reshape(-1)
        norm = float(np.linalg.norm(vector))
        if norm > 0:
            vector = vector / norm
        result = self.client.search(
            self.collection, data=[vector.tolist()], anns_field="dense", limit=k, filter=where,
            search_params={"metric_type": "IP"}, output_fields=["id"],
        )  # fmt: skip
        return [(int(hit["id"]), float(hit["distance"])) for hit in result[0]]

    def fetch(self, keys: list[int]) -> dict[int, Chunk]:
        if not keys:
            return {}
        rows = self.client.get(self.collection, ids=keys, output_fields=["chunk"])
        chunks = {}
        for row in rows:
            chunk = Chunk.from_json(row["chunk"])
            chunk.id = int(row["id"])
            chunks[chunk.id] = chunk
        return chunks

    def search(self, query: str, top_k: int = 5, dates: DateRange | None = None) -> list[Hit]:
        # The BM25 call runs in Milvus while this thread embeds the query and makes the dense call.
        where = dates.milvus_expr() if dates is not None else ""  # filtered inside Milvus, before the top-k cut
        keyword = _POOL.submit(self.bm25_ranking, query, CANDIDATES, where) if self.bm25_weight > 0 else None
        dense = self.dense_ranking(query, CANDIDATES, where)
        bm25 = keyword.result() if keyword is not None else []
        fused = fuse(bm25, dense, self.bm25_weight, self.dense_weight)[:top_k]
        chunks = self.fetch([key for key, *_ in fused])
        return newest_first([Hit(chunks[key], score, b, d) for key, score, b, d in fused if key in chunks])


class MilvusStore:
    kind = "milvus"

    def __init__(self, uri: str, token: str | None = None, name: str = "qabot") -> None:
        if not _NAME.fullmatch(name):
            raise IndexProblem(f"bad Milvus collection name {name!r}", hint="use letters, digits and _")
        self.uri = _lite_path(uri)
        self.token = token
        self.name = name
        self.meta = f"{name}_meta"
        self._client: Any = None

    # -- connection and small helpers ----------------------------------------------------------
    @property
    def client(self) -> Any:
        if self._client is None:
            try:
                from pymilvus import MilvusClient

                # pymilvus (configuring its loggers on import) warns on every query iterator that Lite
                # gives no server timestamp: reads after a flush are consistent either way.
                logging.getLogger("pymilvus").setLevel(logging.ERROR)
                logging.getLogger("jieba").setLevel(logging.WARNING)  # Lite's jieba announces its dictionary
            except ImportError as exc:  # pragma: no cover - depends on the optional extra
                raise MilvusUnavailable("the Milvus store needs pymilvus", hint="pip install 'qabot[milvus]'") from exc
            try:
                self._client = MilvusClient(uri=self.uri, token=self.token or "", timeout=CONNECT_TIMEOUT)
            except Exception as exc:  # any connection failure is one line
                raise MilvusUnavailable(f"cannot connect to Milvus at {self.uri} ({one_line(exc)})") from exc
        return self._client

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except IndexProblem:
            raise
        except Exception as exc:  # pymilvus raises many types; each is one line
            raise MilvusUnavailable(f"Milvus {what} failed at {self.uri} ({one_line(exc)})") from exc

    def _ensure_meta(self) -> None:
        from pymilvus import DataType

        c = self.client
        if self._call("list", c.has_collection, self.meta):
            return
        schema = c.create_schema(auto_id=False)
        schema.add_field("key", DataType.VARCHAR, is_primary=True, max_length=512)
        schema.add_field("value", DataType.VARCHAR, max_length=MAX_TEXT)
        schema.add_field("v", DataType.FLOAT_VECTOR, dim=2)  # Milvus wants a vector field in every collection
        params = c.prepare_index_params()
        params.add_index("v", index_type="FLAT", metric_type="L2")
        self._create(self.meta, schema, params)

    def _create(self, name: str, schema: Any, params: Any) -> None:
        try:
            self.client.create_collection(name, schema=schema, index_params=params)
        except Exception as exc:
            if "already exist" not in str(exc):  # another part created it first
                raise MilvusUnavailable(f"cannot create the Milvus collection {name} ({one_line(exc)})") from exc

    def _put_blob(self, key: str, value: Any) -> None:
        """JSON too long for one VARCHAR row, stored as numbered rows plus a head row."""
        text = json.dumps(value, ensure_ascii=False, sort_keys=True)
        pieces = _split_utf8(text, MAX_TEXT - 16)
        rows = [{"key": f"{key}#{i:06d}", "value": piece, "v": [0.0, 0.0]} for i, piece in enumerate(pieces)]
        head = {"parts": len(pieces), "digest": xxhash.xxh3_128_hexdigest(text.encode("utf-8", "surrogatepass"))}
        for k in range(0, len(rows), 64):
            self._call("upsert", self.client.upsert, self.meta, rows[k : k + 64])
        self._call("upsert", self.client.upsert, self.meta, [{"key": key, "value": json.dumps(head), "v": [0.0, 0.0]}])

    def _get_blob(self, key: str) -> Any | None:
        rows = self._call("get", self.client.get, self.meta, ids=[key], output_fields=["value"])
        if not rows:
            return None
        head = json.loads(rows[0]["value"])
        ids = [f"{key}#{i:06d}" for i in range(int(head["parts"]))]
        parts: dict[str, str] = {}
        for k in range(0, len(ids), 64):
            for row in self._call("get", self.client.get, self.meta, ids=ids[k : k + 64], output_fields=["value"]):
                parts[row["key"]] = row["value"]
        text = "".join(parts.get(i, "") for i in ids)
        if xxhash.xxh3_128_hexdigest(text.encode("utf-8", "surrogatepass")) != head["digest"]:
            raise IndexDamaged(f"the Milvus manifest {key} is damaged (checksum mismatch)")
        return json.loads(text)

    def _drop_blob(self, key: str) -> None:
        self._call("delete", self.client.delete, self.meta, filter=f"key like {json.dumps(key + '%')}")

    # -- reading ---------------------------------------------------------------------------------
    def published(self) -> str | None:
        aliases = self._call("alias", self.client.list_aliases)
        if self.name not in aliases.get("aliases", []):
            return None
        return str(self._call("alias", self.client.describe_alias, self.name)["collection_name"])

    def manifest(self, collection: str) -> dict:
        self._ensure_meta()
        manifest = self._get_blob(f"manifest/{collection}")
        if not isinstance(manifest, dict):
            raise IndexDamaged(f"the Milvus build {collection} has no manifest")
        return manifest

    def open(self, embedder: Any, config: IndexConfig, bm25_weight: float, dense_weight: float) -> Snapshot:
        collection = self.published()
        if collection is None:
            raise IndexNotFound(f"no index in Milvus at {self.uri} (alias {self.name})")
        manifest = self.manifest(collection)
        check_compatible(manifest, config)
        self._call("load", self.client.load_collection, collection)
        searcher = MilvusSearcher(self.client, collection, embedder, bm25_weight, dense_weight)
        idf = bm25_idf(int(manifest["chunks"]), manifest.get("df", {}).items())
        return Snapshot(collection, manifest, int(manifest["chunks"]), searcher, idf)

    # -- building --------------------------------------------------------------------------------
    def _chunk_collection(self, name: str, dim: int) -> None:
        from pymilvus import DataType, Function, FunctionType

        c = self.client
        if self._call("list", c.has_collection, name):
            return
        schema = c.create_schema(auto_id=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("path", DataType.VARCHAR, max_length=MAX_TEXT)
        schema.add_field("text", DataType.VARCHAR, max_length=MAX_TEXT, enable_analyzer=True, analyzer_params=ANALYZER)
        schema.add_field("chunk", DataType.JSON)
        schema.add_field("dense", DataType.FLOAT_VECTOR, dim=dim)
        schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_function(
            Function(
                name="bm25", function_type=FunctionType.BM25, input_field_names=["text"], output_field_names=["sparse"]
            )
        )
        params = c.prepare_index_params()
        # FLAT: exact inner product, as the folder store's IndexFlatIP; a cluster at millions of
        # chunks would use HNSW instead (docs/deploy.md).
        params.add_index("dense", index_type="FLAT", metric_type="IP")
        params.add_index(
            "sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25", params={"bm25_k1": 1.2, "bm25_b": 0.75}
        )
        self._create(name, schema, params)

    def _scan(self, collection: str, fields: list[str], filter: str = "id >= 0") -> Iterator[dict]:
        iterator = self._call(
            "query", self.client.query_iterator, collection, batch_size=1000, filter=filter, output_fields=fields
        )
        try:
            while True:
                batch = self._call("query", iterator.next)
                if not batch:
                    return
                yield from batch
        finally:
            iterator.close()

    def _corpus(
        self, corpus_dir: Path, follow_symlinks: bool = False
    ) -> tuple[dict[str, str], dict[str, bytes], list[str]]:
        """Digest and bytes of every readable corpus file, and the files that could not be read."""
        files = corpus_files(corpus_dir, follow_symlinks=follow_symlinks)
        if not files:
            raise CorpusError(f"no .txt, .md or .jsonl files in {corpus_dir}")
        digests: dict[str, str] = {}
        data: dict[str, bytes] = {}
        skipped = []
        for path in files:
            entry, raw = read_bytes(corpus_dir, path)
            if raw is None or entry.digest is None:
                if not entry.gone:
                    skipped.append(entry.path)
                continue
            digests[entry.path] = entry.digest
            data[entry.path] = raw
        return digests, data, skipped

    def _base(self, config: IndexConfig) -> tuple[str | None, dict, int]:
        """The published build, its files (when its settings match) and the next build's number."""
        self._ensure_meta()
        current = self.published()
        if current is None:
            return None, {}, 1
        manifest = self.manifest(current)
        number = int(manifest.get("build", 0)) + 1
        try:
            check_compatible(manifest, config)
        except IndexMismatch as exc:
            log.warning("%s; re-indexing", exc.reason)
            return current, {}, number
        return current, dict(manifest.get("files", {})), number

    def _staging(self, number: int, base: str | None, config: IndexConfig) -> str:
        """The next build's collection: every part of a split build derives the same name."""
        name = f"{self.name}_b{number:06d}"
        key = f"staging/{name}"
        want = {"base": base, "signature": config.signature()}
        found = self._get_blob(key)
        if found is not None and found != want:  # left by an aborted build on other settings or another base
            self._call("drop", self.client.drop_collection, name)
            self._drop_blob(f"staged/{name}/")
            found = None
        self._chunk_collection(name, config.dim)
        if found is None:
            self._put_blob(key, want)
        return name

    def _staged(self, staging: str) -> dict[str, str]:
        """path -> digest of the files already written into `staging` (by any part)."""
        rows = self._scan(self.meta, ["value"], filter=f"key like {json.dumps(f'staged/{staging}/%')}")
        out = {}
        for row in rows:
            mark = json.loads(row["value"])
            out[mark["path"]] = mark["digest"]
        return out

    def build(
        self,
        corpus_dir: Path,
        embedder: Embedder,
        config: IndexConfig,
        progress: Progress | None = None,
        part: Part | None = None,
        on_plan: Callable[[BuildPlan], None] | None = None,
        follow_symlinks: bool = False,
    ) -> BuildReport:
        started = time.perf_counter()
        digests, data, skipped = self._corpus(corpus_dir, follow_symlinks)
        base, old_files, number = self._base(config)
        changed = [rel for rel, digest in digests.items() if old_files.get(rel) != digest]
        removed = sorted(set(old_files) - set(digests))
        if base is not None and not changed and not removed:
            manifest = self.manifest(base)
            return BuildReport(
                files=len(digests), articles=manifest.get("articles", 0), chunks=manifest.get("chunks", 0),
                embedded=0, seconds=time.perf_counter() - started, embed_seconds=0.0,
                changed=[], removed=[], unchanged=True, skipped=skipped,
            )  # fmt: skip
        staging = self._staging(number, base, config)
        staged = self._staged(staging)
        mine = [rel for rel in changed if (part is None or part.owns(rel)) and staged.get(rel) != digests[rel]]
        embedded, embed_seconds = self._embed_files(staging, mine, digests, data, embedder, config, progress, on_plan)
        if part is not None:
            return BuildReport(
                files=len(digests), articles=0, chunks=0, embedded=embedded,
                seconds=time.perf_counter() - started, embed_seconds=embed_seconds,
                changed=mine, removed=removed, unchanged=False, skipped=skipped,
            )  # fmt: skip
        report = self._publish(staging, base, digests, number, config, skipped)
        report.embedded, report.embed_seconds = embedded, embed_seconds
        report.changed, report.removed = changed, removed
        report.seconds = time.perf_counter() - started
        return report

    def _embed_files(
        self,
        staging: str,
        paths: list[str],
        digests: dict[str, str],
        data: dict[str, bytes],
        embedder: Embedder,
        config: IndexConfig,
        progress: Progress | None,
        on_plan: Callable[[BuildPlan], None] | None = None,
    ) -> tuple[int, float]:
        """Chunk, embed and write each file; a file is marked staged only once all its rows are in."""
        by_path = {}
        for rel in paths:
            docs = parse_file(rel, Path(rel).suffix.lower(), data[rel])
            by_path[rel] = chunk_documents(docs, config.chunk_size, config.chunk_overlap)
        total = sum(len(chunks) for chunks in by_path.values())
        if on_plan is not None:
            on_plan(BuildPlan(files=len(paths), chunks=total, to_embed=total, seconds=total / DEFAULT_EMBED_RATE,
                              rate=DEFAULT_EMBED_RATE))  # fmt: skip
        done, seconds = 0, 0.0
        if progress and total:
            progress(0, total)
        for rel, chunks in by_path.items():
            self._call("delete", self.client.delete, staging, filter=f"path in {_quoted([rel])}")  # a resumed part
            for k in range(0, len(chunks), INSERT_BATCH):
                batch = chunks[k : k + INSERT_BATCH]
                clock = time.perf_counter()
                vectors = np.asarray(embedder.embed_array([c.index_text() for c in batch]), dtype=np.float32)
                seconds += time.perf_counter() - clock
                norms = np.linalg.norm(vectors, axis=1, keepdims=True)
                vectors = (vectors / np.where(norms > 0, norms, 1.0)).astype(np.float32)
                rows = [_row(chunk, vector) for chunk, vector in zip(batch, vectors, strict=True)]
                self._call("insert", self.client.insert, staging, rows)
                done += len(batch)
                if progress:
                    progress(done, total)
            mark = {"path": rel, "digest": digests[rel], "chunks": len(chunks)}
            row = {"key": _staged_key(staging, rel), "value": json.dumps(mark), "v": [0.0, 0.0]}
            self._call("upsert", self.client.upsert, self.meta, [row])
        return done, seconds

    def publish(self, corpus_dir: Path, embedder: Embedder, config: IndexConfig) -> BuildReport:
        started = time.perf_counter()
        digests, _, skipped = self._corpus(corpus_dir)
        base, old_files, number = self._base(config)
        changed = [rel for rel, digest in digests.items() if old_files.get(rel) != digest]
        removed = sorted(set(old_files) - set(digests))
        if base is not None and not changed and not removed:
            return self.build(corpus_dir, embedder, config)  # the unchanged report
        staging = self._staging(number, base, config)
        staged = self._staged(staging)
        missing = [rel for rel in changed if staged.get(rel) != digests[rel]]
        if missing:
            raise IndexProblem(
                f"{len(missing)} changed file(s) are not built yet (e.g. {missing[0]})",
                hint="run every `qabot index --part K/N` for this corpus first",
            )
        report = self._publish(staging, base, digests, number, config, skipped)
        report.changed, report.removed = changed, removed
        report.seconds = time.perf_counter() - started
        return report

    def import_index(self, index: IndexData, config: IndexConfig, files: dict[str, str] | None = None) -> BuildReport:
        """Publish a loaded folder index as a Milvus build, re-using its vectors (moving to Milvus embeds nothing)."""
        started = time.perf_counter()
        check_compatible(index.manifest, config)
        digests = dict(files if files is not None else index.manifest.get("files", {}))
        base, _, number = self._base(config)
        staging = self._staging(number, base, config)
        vectors = index.vectors.reconstruct_n(0, index.vectors.ntotal) if index.vectors.ntotal else []
        for k in range(0, len(index.chunks), INSERT_BATCH):
            batch = zip(index.chunks[k : k + INSERT_BATCH], vectors[k : k + INSERT_BATCH], strict=True)
            rows = [_row(chunk, vector) for chunk, vector in batch]
            self._call("insert", self.client.insert, staging, rows)
        by_path = Counter(chunk.path for chunk in index.chunks)
        marks = [
            {"key": _staged_key(staging, rel), "value": json.dumps({"path": rel, "digest": d, "chunks": by_path[rel]}),
             "v": [0.0, 0.0]}
            for rel, d in digests.items()
        ]  # fmt: skip
        for k in range(0, len(marks), 64):
            self._call("upsert", self.client.upsert, self.meta, marks[k : k + 64])
        report = self._publish(staging, base, digests, number, config, [])
        report.seconds = time.perf_counter() - started
        return report

    def _publish(
        self, staging: str, base: str | None, digests: dict[str, str], number: int, config: IndexConfig,
        skipped: list[str],
    ) -> BuildReport:  # fmt: skip
        """Copy the unchanged files forward, write the manifest, then switch the alias (the atomic step)."""
        staged = self._staged(staging)
        kept = {rel for rel in digests if rel not in staged}
        if base is not None and kept:
            self._call("delete", self.client.delete, staging, filter=f"path in {_quoted(sorted(kept))}")
            rows: list[dict] = []
            for row in self._scan(base, ["id", "path", "text", "chunk", "dense"]):
                if row["path"] in kept:
                    rows.append(row)
                if len(rows) >= INSERT_BATCH:
                    self._call("insert", self.client.insert, staging, rows)
                    rows = []
            if rows:
                self._call("insert", self.client.insert, staging, rows)
        stale = sorted(set(staged) - set(digests))
        if stale:
            self._call("delete", self.client.delete, staging, filter=f"path in {_quoted(stale)}")
        self._call("flush", self.client.flush, staging)
        df: Counter[str] = Counter()
        articles, documents, chunks = set(), set(), 0
        for row in self._scan(staging, ["text", "chunk"]):
            chunks += 1
            df.update(set(tokenize(row["text"])))
            articles.add((row["chunk"]["doc"], row["chunk"]["article"]))
            documents.add(row["chunk"]["doc"])
        if not chunks:
            raise CorpusError("the corpus has no readable text")
        manifest = {
            **config.signature(),
            "store": "milvus",
            "build": number,
            "files": dict(sorted(digests.items())),
            "documents": len(documents),
            "articles": len(articles),
            "chunks": chunks,
            "df": dict(df),
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        self._put_blob(f"manifest/{staging}", manifest)
        self._call("load", self.client.load_collection, staging)
        if base is None:
            self._call("alias", self.client.create_alias, staging, self.name)
        else:
            self._call("alias", self.client.alter_alias, staging, self.name)  # readers switch here
        self._prune(keep={staging, base})
        return BuildReport(
            files=len(digests), articles=len(articles), chunks=chunks, embedded=0, seconds=0.0, embed_seconds=0.0,
            changed=[], removed=[], unchanged=False, skipped=skipped,
        )  # fmt: skip

    def _prune(self, keep: set[str | None]) -> None:
        """Drop older builds, keeping the previous one for readers still searching it."""
        pattern = re.compile(re.escape(self.name) + r"_b\d{6}")
        try:
            for name in self.client.list_collections():
                if pattern.fullmatch(name) and name not in keep:
                    self.client.drop_collection(name)
                    self._drop_blob(f"manifest/{name}")
                    self._drop_blob(f"staging/{name}")
                    self._drop_blob(f"staged/{name}/")
            for name in keep:
                if name:
                    self._drop_blob(f"staged/{name}/")
        except Exception as exc:  # noqa: BLE001 - housekeeping: the new build is already published
            log.warning("could not drop old Milvus builds (%s)", one_line(exc))


def _staged_key(staging: str, rel: str) -> str:
    return f"staged/{staging}/{xxhash.xxh3_128_hexdigest(rel.encode('utf-8', 'surrogatepass'))}"


def _row(chunk: Chunk, vector: np.ndarray) -> dict:
    key = _chunk_key(chunk)
    data = chunk.to_json()
    data["id"] = key
    return {
        "id": key,
        "path": chunk.path,
        "text": _clip_utf8(chunk.index_text(), MAX_TEXT),
        "chunk": data,
        "dense": vector.tolist(),
    }


def _clip_utf8(text: str, limit: int) -> str:
    raw = text.encode("utf-8", "surrogatepass")
    return text if len(raw) <= limit else raw[:limit].decode("utf-8", "ignore")


def _split_utf8(text: str, limit: int) -> list[str]:
    """Pieces of at most `limit` UTF-8 bytes, never splitting a character."""
    raw = text.encode("utf-8", "surrogatepass")
    pieces, start = [], 0
    while start < len(raw):
        end = min(len(raw), start + limit)
        while end < len(raw) and raw[end] & 0xC0 == 0x80:  # a continuation byte: back off to the character's start
            end -= 1
        pieces.append(raw[start:end].decode("utf-8", "surrogatepass"))
        start = end
    return pieces or [""]


def _lite_path(uri: str) -> str:
    """`http(s)://…` as given; a local path is Milvus Lite, which wants a file name ending in `.db`."""
    if re.match(r"^[a-z][a-z0-9+.-]*://", uri, re.IGNORECASE):
        return uri
    path = Path(uri).expanduser()
    if path.suffix != ".db":
        path = path / "milvus.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    return str(path)
