"""The offline answer: the learned reader's quotes, led by the short answer, or a refusal.

The reader (bot/answer/reader.py, trained on DRCD and CMRC 2018 trial by bench/train_answerer.py) picks
one sentence per part of the question and a short answer inside it, and gives a calibrated confidence
that the sources answer the question; `found` is that confidence against QABOT_MIN_CONFIDENCE. Nothing
here looks at particular words of a question: the question is analysed once (retrieval/query.py) and
the same analysis drives retrieval and the reader.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from retrieval.query import Query, analyse
from retrieval.search import Hit

from ..models import Answer, Delta, Event, Final, Mode, Sources, Turn
from . import render
from .base import Retrieved
from .reader import Reader, Reading, index_idf, load_reader

log = logging.getLogger(__name__)

idf_from_bm25 = index_idf  # word weights of an index (one definition, in the reader)


@dataclass(frozen=True)
class ExtractiveResult:
    found: bool
    reading: Reading

    @property
    def reason(self) -> str:
        r = self.reading
        return f"type={r.answer_type} confidence={r.confidence:.3f} parts={[round(c, 3) for c in r.part_confidences]}"


@dataclass(frozen=True)
class SourceQuote:
    """What one source gives the answer: its quoted sentences and where the short answer sits in them."""

    text: str
    marks: tuple[tuple[int, int], ...]


def compose(reading: Reading) -> str:
    """`720万元。根据资料：<quote>[1]`: the short answer first, then the quotes that prove it."""
    lead = f"{reading.short_answer}。" if reading.short_answer else ""
    return lead + render.FOUND_PREFIX + "".join(f"{q.text}[{q.hit_rank + 1}]" for q in reading.quotes)


def source_quotes(reading: Reading) -> dict[int, SourceQuote]:
    """Per source number: the quoted text (in reading order) and the short answer's spans in it."""
    out: dict[int, SourceQuote] = {}
    for rank in sorted({q.hit_rank for q in reading.quotes}):
        text = ""
        marks: list[tuple[int, int]] = []
        for q in sorted((q for q in reading.quotes if q.hit_rank == rank), key=lambda q: q.start):
            if q.short and reading.short_answer:
                marks.append((len(text) + q.short[0] - q.start, len(text) + q.short[1] - q.start))
            text += q.text
        out[rank + 1] = SourceQuote(text, tuple(marks))
    return out


class ExtractiveAnswerer:
    """The offline answerer over one index snapshot (its word weights come from that snapshot)."""

    mode: Mode = "extractive"

    def __init__(
        self,
        idf: Mapping[str, float] | None = None,
        max_sentences: int = 2,
        min_confidence: float | None = None,
        reader: Reader | None = None,
    ) -> None:
        self.idf: Mapping[str, float] = idf or {}
        self._reader = reader.with_idf(self.idf) if reader else None
        self.max_sentences = max_sentences
        self._min_confidence = min_confidence

    @property
    def reader(self) -> Reader:
        """The shipped model, loaded at the first question (retrieval-only users never need it)."""
        if self._reader is None:
            self._reader = load_reader(self.idf)
        return self._reader

    @property
    def min_confidence(self) -> float:
        if self._min_confidence is None:
            return float(self.reader.spec.get("suggested_min_confidence", 0.5))
        return self._min_confidence

    def analyse(self, question: str, history: Sequence[Turn] | None = None) -> Query:
        return analyse(question, history, self.idf)

    def standalone(self, question: str, history: list[Turn]) -> str:
        """What to retrieve for a follow-up: the question with what the earlier turns supply."""
        return self.analyse(question, history).search_text

    def answer(self, query: Query, hits: Sequence[Hit]) -> ExtractiveResult:
        reading = self.reader.read(query, hits, self.max_sentences)
        return ExtractiveResult(bool(reading.quotes) and reading.confidence >= self.min_confidence, reading)

    def stream(self, question: str, retrieved: Retrieved) -> Iterator[Event]:
        """The whole answer is known at once: sources (with quotes), the text in pieces, the answer."""
        answer = self.final(question, retrieved)
        yield Sources(answer.sources)
        for piece in render.pieces(answer.answer):
            yield Delta(piece)
        yield Final(answer)

    def final(self, question: str, retrieved: Retrieved) -> Answer:
        query = retrieved.analysis or self.analyse(retrieved.query)
        result = self.answer(query, retrieved.hits)
        reading = result.reading
        quotes = source_quotes(reading) if result.found else {}
        log.debug("extractive decision for %r: found=%s %s", question, result.found, result.reason)
        return Answer(
            question=question,
            answer=compose(reading) if result.found else render.refusal_answer(),
            found=result.found,
            mode="extractive",
            sources=render.sources(
                retrieved.hits, {n: q.text for n, q in quotes.items()}, {n: list(q.marks) for n, q in quotes.items()}
            ),
            short_answer=reading.short_answer if result.found else None,
            confidence=round(reading.confidence, 4),
        )
