"""Hybrid retrieval: BM25 over Chinese words fused with dense e5 vectors.

Fusion adds the two scores after putting them on one scale (BM25 divided by the best BM25 score,
cosine min-max scaled over the top 100). Measured on seed-dev and CMRC 2018 dev
(bench/fusion.py, 300-character chunks), it beats reciprocal rank fusion at every weight from
0.7/0.3 to 0.4/0.6; at 0.5/0.5 top-1 is 0.967 vs 0.900 on seed-dev and 0.934 vs 0.905 on CMRC.
BM25 alone: 0.933 / 0.898; dense alone: 0.700 / 0.861.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from .chunking import Chunk
from .index import IndexData
from .tokenize import tokenize

CANDIDATES = 100


@dataclass
class Hit:
    chunk: Chunk
    score: float
    bm25_rank: int | None = None
    dense_rank: int | None = None


class QueryEmbedder(Protocol):
    def embed_query_array(self, text: str) -> np.ndarray: ...


class HybridSearcher:
    """Searches one loaded index; thread-safe for concurrent readers."""

    def __init__(self, index: IndexData, embedder: QueryEmbedder, bm25_weight: float, dense_weight: float) -> None:
        self.index = index
        self.embedder = embedder
        self.bm25_weight = bm25_weight
        self.dense_weight = dense_weight
        self._vocab = index.bm25.vocab_dict

    def bm25_ranking(self, query: str, k: int = CANDIDATES) -> list[tuple[int, float]]:
        ids = [self._vocab[t] for t in tokenize(query) if t in self._vocab]
        n = len(self.index.chunks)
        if not ids or n == 0:
            return []
        scores = self.index.bm25.get_scores(ids)
        k = min(k, n)
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(int(i), float(scores[i])) for i in top if scores[i] > 0]

    def dense_ranking(self, query: str, k: int = CANDIDATES) -> list[tuple[int, float]]:
        n = self.index.vectors.ntotal
        if n == 0 or self.dense_weight <= 0:
            return []
        vector = np.asarray(self.embedder.embed_query_array(query), dtype=np.float32).reshape(1, -1)
        norm = np.linalg.norm(vector)
        if norm > 0:
            vector = vector / norm
        scores, ids = self.index.vectors.search(vector, min(k, n))
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]

    def search(self, query: str, top_k: int = 5) -> list[Hit]:
        bm25 = self.bm25_ranking(query) if self.bm25_weight > 0 else []
        dense = self.dense_ranking(query)
        fused = fuse(bm25, dense, self.bm25_weight, self.dense_weight)[:top_k]
        return [Hit(self.index.chunks[key], score, b, d) for key, score, b, d in fused]


def fuse(
    bm25: list[tuple[int, float]], dense: list[tuple[int, float]], bm25_weight: float, dense_weight: float
) -> list[tuple[int, float, int | None, int | None]]:
    """(key, score, BM25 rank, dense rank), best first; ties go to the smaller key. Shared by every store."""
    scores: dict[int, float] = {}
    ranks: dict[int, list[int | None]] = {}
    if bm25:
        top = bm25[0][1] or 1.0
        for rank, (key, score) in enumerate(bm25):
            scores[key] = scores.get(key, 0.0) + bm25_weight * score / top
            ranks.setdefault(key, [None, None])[0] = rank + 1
    if dense:
        high, low = dense[0][1], dense[-1][1]
        span = max(high - low, 1e-6)
        for rank, (key, score) in enumerate(dense):
            scores[key] = scores.get(key, 0.0) + dense_weight * (score - low) / span
            ranks.setdefault(key, [None, None])[1] = rank + 1
    ordered = sorted(scores, key=lambda key: (-scores[key], key))
    return [(key, scores[key], ranks[key][0], ranks[key][1]) for key in ordered]
