"""Where the index lives, behind one interface: a folder (FAISS + bm25s, the default) or Milvus.

A store builds (only changed files are embedded), publishes atomically, and opens the published
version as a `Snapshot` that answers searches. A serving process asks `published()` at most once
a second and opens the new version when it changes, so a build published anywhere reaches every
process without a restart. `Part` splits a build's embedding work across machines: each part
embeds the changed files it owns, and one final `publish` assembles them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import xxhash

from .filters import DateRange
from .index import (
    BuildPlan,
    BuildReport,
    Embedder,
    IndexConfig,
    IndexData,
    IndexProblem,
    build_index,
    current_version,
    load_index,
)
from .search import Hit, HybridSearcher

Progress = Callable[[int, int], None]
STORES = ("folder", "milvus")


class Searcher(Protocol):
    def search(self, query: str, top_k: int = 5, dates: DateRange | None = None) -> list[Hit]: ...


@dataclass
class Snapshot:
    """One published version, opened: a serving process answers from it until a newer one appears."""

    version: str
    manifest: dict
    chunks: int
    searcher: Searcher
    idf: dict[str, float]  # inverse document frequency of every indexed word (the answer step weighs words by it)
    index: IndexData | None = None  # the folder store's loaded files, for tools that read them directly
    extra: dict[str, Any] = field(default_factory=dict)


class PartError(IndexProblem):
    hint = "use --part K/N with 1 ≤ K ≤ N"


@dataclass(frozen=True)
class Part:
    """Part `k` of `n` of a split build: it owns the changed files whose path hashes to it.

    Hashing the path (not counting files) lets every machine agree on the split without talking to
    the others, and keeps a file in the same part when other files change.
    """

    k: int
    n: int

    @classmethod
    def parse(cls, text: str) -> Part:
        try:
            k, n = (int(x) for x in text.split("/"))
        except ValueError:
            raise PartError(f"--part must look like K/N, not {text!r}") from None
        if not 1 <= k <= n or n > 10_000:
            raise PartError(f"--part {text}: K must be between 1 and N")
        return cls(k, n)

    def owns(self, path: str) -> bool:
        return xxhash.xxh3_64_intdigest(path.encode("utf-8", "surrogatepass")) % self.n == self.k - 1

    def __str__(self) -> str:
        return f"{self.k}/{self.n}"


class IndexStore(Protocol):
    kind: str

    def published(self) -> str | None:
        """The published version's name (cheap: a serving process calls it once a second)."""
        ...

    def open(self, embedder: Any, config: IndexConfig, bm25_weight: float, dense_weight: float) -> Snapshot: ...

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
        """Embed the changed files (all, or `part`'s share); without `part` also publish."""
        ...

    def publish(self, corpus_dir: Path, embedder: Embedder, config: IndexConfig) -> BuildReport:
        """Assemble the parts built for the current corpus and switch readers to it."""
        ...


def bm25_idf(num_docs: int, doc_freqs: Iterable[tuple[str, int]]) -> dict[str, float]:
    """Lucene's BM25 idf, the one bm25s uses, so both stores weigh a word alike."""
    n = max(1, num_docs)
    return {tok: math.log(1 + (n - df + 0.5) / (df + 0.5)) for tok, df in doc_freqs}


class FolderStore:
    """The index folder of `retrieval.index` (FAISS + bm25s + manifest, published by a pointer file)."""

    kind = "folder"

    def __init__(self, index_dir: Path) -> None:
        self.index_dir = index_dir

    def published(self) -> str | None:
        version = current_version(self.index_dir)
        return None if version is None else version.name

    def open(self, embedder: Any, config: IndexConfig, bm25_weight: float, dense_weight: float) -> Snapshot:
        index = load_index(self.index_dir, config)
        searcher = HybridSearcher(index, embedder, bm25_weight, dense_weight)
        indptr = index.bm25.scores["indptr"]
        df = indptr[1:] - indptr[:-1]
        idf = bm25_idf(
            int(index.bm25.scores["num_docs"]),
            ((tok, int(df[i])) for tok, i in index.bm25.vocab_dict.items() if i < len(df)),
        )
        return Snapshot(index.version, index.manifest, len(index.chunks), searcher, idf, index=index)

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
        if part is not None:
            raise PartError(
                "split builds (--part) need the Milvus store (QABOT_STORE=milvus)", hint="see docs/deploy.md"
            )
        return build_index(
            corpus_dir, self.index_dir, embedder, config, progress=progress, on_plan=on_plan,
            follow_symlinks=follow_symlinks,
        )  # fmt: skip

    def publish(self, corpus_dir: Path, embedder: Embedder, config: IndexConfig) -> BuildReport:
        """A folder build publishes as it finishes; this only brings the index up to date."""
        return build_index(corpus_dir, self.index_dir, embedder, config)


def make_store(
    kind: str,
    index_dir: Path,
    milvus_uri: str = "",
    milvus_token: str | None = None,
    milvus_collection: str = "qabot",
) -> IndexStore:
    """The store the settings name (`QABOT_STORE`); Milvus is imported only when asked for."""
    if kind == "folder":
        return FolderStore(index_dir)
    if kind == "milvus":
        from .milvus_store import MilvusStore

        return MilvusStore(milvus_uri or str(index_dir / "milvus.db"), token=milvus_token, name=milvus_collection)
    raise IndexProblem(f"unknown store {kind!r}", hint="set QABOT_STORE to 'folder' or 'milvus'")
