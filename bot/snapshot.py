"""One loaded index version and everything derived from it, shared read-only by requests.

A request takes one `Snapshot` and uses nothing else: its hits, the word weights that score them
and the extractive answerer all come from the same version, however many versions `qabot index`
publishes meanwhile.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from retrieval.filters import DateRange
from retrieval.index import IndexConfig, IndexData
from retrieval.query import Query
from retrieval.store import IndexStore, Searcher

from .answer.base import Retrieved
from .answer.extractive import ExtractiveAnswerer
from .errors import retrieval_errors
from .settings import Settings


class Embedder(Protocol):
    """What qabot needs of an embedding model (`retrieval.embeddings` provides them)."""

    name: str
    dim: int

    def embed_array(self, texts: list[str]) -> Any: ...

    def embed_query_array(self, text: str) -> Any: ...


@dataclass(frozen=True)
class Snapshot:
    version: str  # the store's name for this build (folder: the version folder; Milvus: the collection)
    manifest: Mapping[str, Any]
    chunks: int
    searcher: Searcher
    extractive: ExtractiveAnswerer
    index: IndexData | None = None  # the folder store's files (None with Milvus)

    @property
    def path(self) -> Path | None:
        return None if self.index is None else self.index.path

    @property
    def idf(self) -> Mapping[str, float]:
        return self.extractive.idf

    def retrieve(self, query: str | Query, top_k: int, dates: DateRange | None = None) -> Retrieved:
        """Search a question, or an analysed one (its search text; the analysis goes on to the answerer),
        among the chunks published inside `dates` when given."""
        if isinstance(query, Query):
            hits = self.searcher.search(query.search_text, top_k, dates=dates)
            return Retrieved(query.search_text, hits, self.idf, self.version, query)
        return Retrieved(query, self.searcher.search(query, top_k, dates=dates), self.idf, self.version)


def load_snapshot(store: IndexStore, settings: Settings, embedder: Embedder, config: IndexConfig) -> Snapshot:
    """The published index version, checked against the settings; IndexUnavailable if unusable."""
    with retrieval_errors():
        opened = store.open(embedder, config, settings.bm25_weight, settings.dense_weight)
    answerer = ExtractiveAnswerer(
        opened.idf, max_sentences=settings.answer_sentences, min_confidence=settings.min_confidence
    )
    return Snapshot(opened.version, opened.manifest, opened.chunks, opened.searcher, answerer, index=opened.index)
