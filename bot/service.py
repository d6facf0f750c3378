"""The answer service: the one object every front end talks to.

It owns the embedding model (loaded once, shared by concurrent requests) and the index snapshot,
validates requests, retrieves, and answers with the chat model when one is configured, falling
back to the extractive answer when the model fails. Each request takes one index snapshot and
uses nothing else, so a new index published by `qabot index` is picked up between requests
without a restart and never mixes into an answer already under way.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import TypedDict

from retrieval.embeddings import load_embeddings
from retrieval.filters import DateRange, FilterError
from retrieval.index import BuildPlan, BuildReport, IndexConfig
from retrieval.search import Hit
from retrieval.store import IndexStore, Part, make_store

from .answer import render
from .answer.base import Answerer, Retrieved
from .errors import (
    EmptyQuestion,
    IndexMissing,
    IndexUnavailable,
    ModelUnavailable,
    QuestionError,
    QuestionTooLong,
    WordlessQuestion,
    retrieval_errors,
)
from .models import HISTORY_TURNS, Answer, Delta, Event, Failed, Final, Mode, Sources, Turn
from .sanitize import clean_text
from .settings import Settings, get_settings
from .snapshot import Embedder, Snapshot, load_snapshot

log = logging.getLogger(__name__)

RELOAD_CHECK_S = 1.0  # how often a request looks for a newly published index version


class ServiceInfo(TypedDict):
    index_version: str
    chunks: int
    articles: int | None
    files: list[str]
    embedder: str | None
    mode: Mode
    problem: str | None  # the published index cannot be loaded; the one above is still served
    embedding_runtime: str | None  # what embeds questions now; None until the model is loaded


def check_question(question: object, max_chars: int) -> str:
    """The question, cleaned and stripped; EmptyQuestion or QuestionTooLong when it is unusable."""
    if isinstance(question, str):
        question = clean_text(question)  # the one place odd characters leave (bot/sanitize.py)
    if not isinstance(question, str) or not question.strip():
        raise EmptyQuestion()
    question = question.strip()
    if len(question) > max_chars:
        raise QuestionTooLong(len(question), max_chars)
    if not any(ch.isalnum() for ch in question):  # letters, digits and Chinese characters are alphanumeric
        raise WordlessQuestion()
    return question


class AnswerService:
    def __init__(
        self, settings: Settings | None = None, embedder: Embedder | None = None, chat: Answerer | None = None
    ) -> None:
        self.settings = settings or get_settings()
        self._embedder = embedder
        self._lock = threading.RLock()
        self._snapshot: Snapshot | None = None
        self._checked_at = 0.0
        self.problem: str | None = None  # why the published index is not the one served, if it is not
        self._failed: str | None = None  # a published version that failed to load (not retried)
        self._store: IndexStore | None = None
        if chat is None and self.settings.llm_enabled:
            from .answer.llm import LLMAnswerer  # LangChain and the OpenAI client load only when used

            chat = LLMAnswerer(self.settings)
        self.chat: Answerer | None = chat  # answers in "llm" mode; None = extractive only

    # -- setup -------------------------------------------------------------------------------
    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            with self._lock, retrieval_errors():
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

    @property
    def store(self) -> IndexStore:
        """Where the index lives (`QABOT_STORE`): the index folder, or Milvus."""
        if self._store is None:
            s = self.settings
            token = s.milvus_token.get_secret_value() if s.milvus_token else None
            with retrieval_errors():
                self._store = make_store(s.store, s.index_dir, s.milvus_uri, token, s.milvus_collection)
        return self._store

    def build(
        self,
        progress: Callable[[int, int], None] | None = None,
        on_plan: Callable[[BuildPlan], None] | None = None,
        part: Part | None = None,
    ) -> BuildReport:
        """Build, update or repair the index from `settings.corpus_dir` and publish it; with `part`, only
        embed that part's share of the changed files (`publish` then assembles the parts)."""
        with retrieval_errors():
            report = self.store.build(
                self.settings.corpus_dir,
                self.embedder,
                self.index_config(),
                progress=progress,
                part=part,
                on_plan=on_plan,
                follow_symlinks=self.settings.follow_symlinks,
            )
        self._snapshot = None  # the next request loads the new version
        return report

    def publish(self) -> BuildReport:
        """Publish the build the `--part` runs wrote (the one step after a split build)."""
        with retrieval_errors():
            report = self.store.publish(self.settings.corpus_dir, self.embedder, self.index_config())
        self._snapshot = None
        return report

    def ensure_index(
        self, progress: Callable[[int, int], None] | None = None, on_plan: Callable[[BuildPlan], None] | None = None
    ) -> BuildReport | None:
        """Build the index if there is none yet (first run); otherwise leave it alone."""
        with retrieval_errors():
            missing = self.store.published() is None
        return self.build(progress=progress, on_plan=on_plan) if missing else None

    def snapshot(self) -> Snapshot:
        """The current index version, reloaded (checked at most once a second) when a new one is published.

        When the published index cannot be read (an unreadable `CURRENT`, a damaged new version),
        the index already in memory keeps answering and `problem` says why (shown by /health).
        """
        now = time.monotonic()
        current = self._snapshot
        if current is not None and now - self._checked_at < RELOAD_CHECK_S:
            return current
        self._checked_at = now
        try:
            with retrieval_errors():
                version = self.store.published()
        except IndexUnavailable as exc:
            return self._keep(current, exc)
        if current is not None and version == current.version:
            self.problem = self._failed = None
            return current
        if current is not None and version is not None and version == self._failed:
            return current  # already failed to load: do not re-read it every second
        with self._lock:
            current = self._snapshot
            if current is None or version != current.version:
                if version is None:
                    where = self.settings.index_dir if self.settings.store == "folder" else "Milvus"
                    return self._keep(current, IndexMissing(f"no index in {where}"))
                try:
                    fresh = load_snapshot(self.store, self.settings, self.embedder, self.index_config())
                except IndexUnavailable as exc:
                    self._failed = version
                    return self._keep(current, exc)
                self._snapshot = current = fresh  # one assignment: readers see the old or the new one
                self.problem = self._failed = None
                log.info("loaded index %s (%d chunks)", current.version, current.chunks)
        return current

    def _keep(self, current: Snapshot | None, problem: IndexUnavailable) -> Snapshot:
        """Serve the index in memory despite `problem`; raise it when there is none."""
        if current is None:
            raise problem
        if str(problem) != self.problem:
            log.warning("still serving index %s: %s", current.version, problem)
        self.problem = str(problem)
        return current

    def info(self) -> ServiceInfo:
        snapshot = self.snapshot()
        manifest = snapshot.manifest
        return ServiceInfo(
            index_version=snapshot.version,
            chunks=snapshot.chunks,
            articles=manifest.get("articles"),
            files=sorted(manifest.get("files", {})),
            embedder=manifest.get("embedder"),
            mode=self.chat.mode if self.chat is not None else "extractive",
            problem=self.problem,
            embedding_runtime=getattr(self._embedder, "runtime", None),
        )

    # -- requests ----------------------------------------------------------------------------
    def validate(self, question: object) -> str:
        return check_question(question, self.settings.max_question_chars)

    def _top_k(self, top_k: int | None) -> int:
        k = self.settings.top_k if top_k is None else top_k
        if not 1 <= k <= self.settings.max_top_k:
            raise QuestionError(f"top_k must be between 1 and {self.settings.max_top_k}")
        return k

    def _answerer(self, mode: str | None) -> Answerer | None:
        """The chat model for this request, or None for the extractive answer."""
        if mode not in (None, "extractive", "llm"):
            raise QuestionError("mode must be 'extractive' or 'llm'")
        if mode == "llm" and self.chat is None:
            raise QuestionError("no chat model is configured (set QABOT_LLM_BASE_URL and QABOT_LLM_MODEL)")
        return None if mode == "extractive" else self.chat

    @staticmethod
    def date_range(date_from: str | None, date_to: str | None) -> DateRange | None:
        """The publication-date filter of a request (ISO dates, both ends inclusive); QuestionError if unusable."""
        try:
            return DateRange.parse(date_from, date_to)
        except FilterError as exc:
            raise QuestionError(str(exc)) from None

    def warm(self) -> None:
        """Load the index and make every model ready now, for a front end that will answer many questions."""
        self.search("预热", 1)
        warm = getattr(self.embedder, "warm", None)  # embedders passed in need not have it
        if warm is not None:
            with retrieval_errors():
                warm()
        self.snapshot().extractive.reader.warm()

    def search(
        self,
        question: str,
        top_k: int | None = None,
        history: list[Turn] | None = None,
        date_from: str | None = None,
        date_to: str | None = None,
    ) -> list[Hit]:
        """Retrieval only (what the extractive answer would read)."""
        question, k, dates = self.validate(question), self._top_k(top_k), self.date_range(date_from, date_to)
        snapshot = self.snapshot()
        return snapshot.retrieve(
            snapshot.extractive.analyse(question, history[-HISTORY_TURNS:] if history else None), k, dates
        ).hits

    def ask(
        self,
        question: str,
        top_k: int | None = None,
        history: list[Turn] | None = None,
        mode: str | None = None,
        date_from: str | None = None,
        date_to: str | None = None,
    ) -> Answer:
        dates = {"date_from": date_from, "date_to": date_to}
        for event in self.ask_stream(question, top_k=top_k, history=history, mode=mode, **dates):
            if isinstance(event, Final):
                return event.answer
        raise RuntimeError("the answer stream ended without an answer")  # pragma: no cover

    def ask_stream(
        self,
        question: str,
        top_k: int | None = None,
        history: list[Turn] | None = None,
        mode: str | None = None,
        date_from: str | None = None,
        date_to: str | None = None,
    ) -> Iterator[Event]:
        """`Sources`, then `Delta` pieces, then `Final`. A bad request raises QuestionError here, at
        once; index problems (IndexUnavailable) surface at the first event. `date_from`/`date_to`
        (ISO, inclusive) limit the sources to articles published in that range."""
        question, k, chat = self.validate(question), self._top_k(top_k), self._answerer(mode)
        dates = self.date_range(date_from, date_to)
        return self._events(question, k, list(history or [])[-HISTORY_TURNS:], chat, dates)

    def _events(
        self, question: str, k: int, history: list[Turn], chat: Answerer | None, dates: DateRange | None = None
    ) -> Iterator[Event]:
        snapshot = self.snapshot()  # the only one this request uses
        offline = snapshot.extractive
        if chat is None:
            analysis = offline.analyse(question, history)  # once: retrieval and the reader share it
            yield from offline.stream(question, snapshot.retrieve(analysis, k, dates))
            return
        try:
            query = chat.standalone(question, history) if history else question
        except ModelUnavailable as exc:  # the rewrite failed: do not try the model a second time
            retrieved = snapshot.retrieve(offline.analyse(question, history), k, dates)
            yield from self._fallback(snapshot, question, retrieved, exc.reason, sources_sent=False, streamed=False)
            return
        retrieved = snapshot.retrieve(query, k, dates)
        sources_sent = streamed = False
        for event in chat.stream(question, retrieved):
            if isinstance(event, Failed):
                yield from self._fallback(snapshot, question, retrieved, event.reason, sources_sent, streamed)
                return
            sources_sent = sources_sent or isinstance(event, Sources)
            streamed = streamed or isinstance(event, Delta)
            yield event

    def _fallback(
        self, snapshot: Snapshot, question: str, retrieved: Retrieved, reason: str, sources_sent: bool, streamed: bool
    ) -> Iterator[Event]:
        """The extractive answer with a note; after partial model text, a visible switch first."""
        if streamed:
            yield Delta(render.SWITCH)
        for event in snapshot.extractive.stream(question, retrieved):
            if isinstance(event, Sources) and sources_sent:
                continue
            if isinstance(event, Final):
                event = Final(event.answer.model_copy(update={"note": render.unavailable_note(reason)}))
            yield event
