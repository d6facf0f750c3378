"""The answer service: the one object every front end talks to.

It owns the loaded index and the embedding model (loaded once, shared by concurrent requests),
validates questions, retrieves, and answers extractively or through a configured chat model.
A new index published by `qabot index` is picked up between requests without a restart.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from retrieval.embeddings import load_embeddings
from retrieval.index import (
    BuildReport,
    IndexConfig,
    IndexData,
    IndexNotFound,
    build_index,
    current_version,
    load_index,
)
from retrieval.search import Hit, HybridSearcher
from retrieval.tokenize import tokenize

from .extractive import REFUSAL, ExtractiveAnswerer, idf_from_bm25
from .models import Answer, Source, Turn
from .settings import Settings, get_settings

log = logging.getLogger(__name__)


class QuestionError(ValueError):
    """The question itself is unusable (empty, too long); front ends map this to 4xx / exit 2."""


@dataclass
class _Loaded:
    index: IndexData
    searcher: HybridSearcher
    answerer: ExtractiveAnswerer


class AnswerService:
    def __init__(self, settings: Settings | None = None, embedder: Any = None) -> None:
        self.settings = settings or get_settings()
        self._embedder = embedder
        self._lock = threading.RLock()
        self._loaded: _Loaded | None = None
        self._version: Path | None = None
        self._checked_at = 0.0
        self.llm = None  # set by bot.llm when a chat model is configured

    # -- setup -------------------------------------------------------------------------------
    @property
    def embedder(self):
        if self._embedder is None:
            with self._lock:
                if self._embedder is None:
                    self._embedder = load_embeddings(self.settings.embeddings, threads=self.settings.embed_threads)
        return self._embedder

    def index_config(self) -> IndexConfig:
        embedder = self.embedder
        return IndexConfig(
            embedder=embedder.name,
            dim=embedder.dim,
            chunk_size=self.settings.chunk_size,
            chunk_overlap=self.settings.chunk_overlap,
        )

    def build(self, corpus_dir: Path | None = None, progress: Callable[[int, int], None] | None = None) -> BuildReport:
        report = build_index(
            corpus_dir or self.settings.corpus_dir,
            self.settings.index_dir,
            self.embedder,
            self.index_config(),
            progress=progress,
        )
        self._loaded = None  # next request loads the new version
        return report

    def ensure_index(self, progress: Callable[[int, int], None] | None = None) -> BuildReport | None:
        """Build the index if there is none yet (first run); otherwise leave it alone."""
        if current_version(self.settings.index_dir) is None:
            return self.build(progress=progress)
        return None

    def _load(self) -> _Loaded:
        index = load_index(self.settings.index_dir, self.index_config())
        searcher = HybridSearcher(index, self.embedder, self.settings.bm25_weight, self.settings.dense_weight)
        answerer = ExtractiveAnswerer(idf_from_bm25(index.bm25), max_sentences=self.settings.answer_sentences)
        return _Loaded(index, searcher, answerer)

    def loaded(self) -> _Loaded:
        """The current index, reloading (at most once a second) when a new version is published."""
        now = time.monotonic()
        if self._loaded is not None and now - self._checked_at < 1.0:
            return self._loaded
        self._checked_at = now
        version = current_version(self.settings.index_dir)
        if self._loaded is None or version != self._version:
            with self._lock:
                if self._loaded is None or version != self._version:
                    if version is None:
                        raise IndexNotFound(f"no index in {self.settings.index_dir}; run `qabot index` first")
                    fresh = self._load()
                    self._loaded, self._version = fresh, fresh.index.path  # one assignment: readers see old or new
                    log.info("loaded index %s (%d chunks)", fresh.index.version, len(fresh.index.chunks))
        return self._loaded

    def info(self) -> dict:
        loaded = self.loaded()
        manifest = loaded.index.manifest
        return {
            "index_version": loaded.index.version,
            "chunks": len(loaded.index.chunks),
            "articles": manifest.get("articles"),
            "files": sorted(manifest.get("files", {})),
            "embedder": manifest.get("embedder"),
            "mode": "llm" if self.llm is not None else "extractive",
        }

    # -- questions ---------------------------------------------------------------------------
    def validate(self, question: str) -> str:
        if not isinstance(question, str) or not question.strip():
            raise QuestionError("the question is empty")
        question = question.strip()
        limit = self.settings.max_question_chars
        if len(question) > limit:
            raise QuestionError(f"the question is too long ({len(question)} characters; the limit is {limit})")
        return question

    def _top_k(self, top_k: int | None) -> int:
        k = self.settings.top_k if top_k is None else top_k
        if not 1 <= k <= self.settings.max_top_k:
            raise QuestionError(f"top_k must be between 1 and {self.settings.max_top_k}")
        return k

    def retrieval_query(self, question: str, history: list[Turn] | None) -> str:
        """Without a chat model, a follow-up borrows the previous question's rarest words."""
        if not history:
            return question
        previous = [t.content for t in history if t.role == "user" and t.content.strip()]
        if not previous:
            return question
        current = set(tokenize(question))
        idf = self.loaded().answerer.idf
        borrowed = [t for t in tokenize(previous[-1]) if t not in current and len(t) > 1]
        borrowed = sorted(dict.fromkeys(borrowed), key=lambda t: -idf.get(t, 0.0))[:4]
        return (" ".join(borrowed) + " " + question).strip() if borrowed else question

    def search(self, question: str, top_k: int | None = None, history: list[Turn] | None = None) -> list[Hit]:
        question = self.validate(question)
        k = self._top_k(top_k)
        loaded = self.loaded()
        return loaded.searcher.search(self.retrieval_query(question, history), k)

    def ask(
        self,
        question: str,
        top_k: int | None = None,
        history: list[Turn] | None = None,
        mode: str | None = None,
    ) -> Answer:
        answer = None
        for kind, payload in self.ask_stream(question, top_k=top_k, history=history, mode=mode):
            if kind == "answer":
                answer = payload
        assert answer is not None
        return answer

    def ask_stream(
        self,
        question: str,
        top_k: int | None = None,
        history: list[Turn] | None = None,
        mode: str | None = None,
    ) -> Iterator[tuple[str, Any]]:
        """Events: ("sources", [Source]), then ("delta", str)..., then ("answer", Answer)."""
        question = self.validate(question)
        k = self._top_k(top_k)
        if mode not in (None, "extractive", "llm"):
            raise QuestionError("mode must be 'extractive' or 'llm'")
        if mode == "llm" and self.llm is None:
            raise QuestionError("no chat model is configured (set QABOT_LLM_BASE_URL and QABOT_LLM_MODEL)")
        use_llm = self.llm is not None and mode != "extractive"
        if use_llm:
            yield from self.llm.answer_stream(self, question, k, history)
            return
        query = self.retrieval_query(question, history)
        loaded = self.loaded()
        hits = loaded.searcher.search(query, k)
        answer = self.extractive_answer(question, hits, query=query)
        yield "sources", answer.sources
        for piece in _pieces(answer.answer):
            yield "delta", piece
        yield "answer", answer

    def extractive_answer(self, question: str, hits: list[Hit], query: str | None = None, note: str | None = None) -> Answer:
        result = self.loaded().answerer.answer(query or question, hits)
        quotes: dict[int, list[str]] = {}
        for cand in result.chosen if result.found else []:
            quotes.setdefault(cand.hit_rank, []).append(cand.text)
        sources = [
            Source(
                n=rank + 1,
                title=hit.chunk.title,
                file=hit.chunk.doc,
                start=hit.chunk.start,
                end=hit.chunk.end,
                text=hit.chunk.text,
                quote="".join(quotes[rank]) if rank in quotes else None,
                score=round(hit.score, 6),
            )
            for rank, hit in enumerate(hits)
        ]
        if result.found:
            text = "".join(f"{cand.text}[{cand.hit_rank + 1}]" for cand in result.chosen)
            body = f"根据资料：{text}"
        else:
            body = REFUSAL.format(q=question)
        log.debug("extractive decision for %r: %s", question, result.reason)
        return Answer(question=question, answer=body, found=result.found, mode="extractive", sources=sources, note=note)


def _pieces(text: str, size: int = 40) -> Iterator[str]:
    for k in range(0, len(text), size):
        yield text[k : k + size]
