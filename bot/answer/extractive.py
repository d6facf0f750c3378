"""The offline answer: quote the sentences that answer the question, or say nothing was found.

Retrieval scores cannot tell an answerable question from an on-topic unanswerable one, so the
decision is made here, on the chosen sentences: do they cover the question's rare words, and do
they carry the kind of thing the question asks for (a number with the asked-for unit, a date, a
person, a place)?
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import rjieba

from retrieval.search import Hit
from retrieval.tokenize import STOPWORDS, tokenize

from ..models import Answer, Delta, Event, Final, Mode, Sources, Turn
from . import render
from .base import Retrieved

log = logging.getLogger(__name__)

NUM = r"[0-9０-９]+(?:[.．][0-9]+)?|[零〇一二两三四五六七八九十百千万亿]+"
_NUMBER_Q = re.compile(r"多少|几(?!乎)|第几|数量|多大|多长|多高|多久|多重|百分之几")
_WHEN_Q = re.compile(r"什么时候|何时|哪一?天|哪一?年|几月|几号|哪个月|什么时间|日期")
_WHO_Q = re.compile(r"谁|哪位|哪几位|什么人|叫什么名字|名字|姓名")
_WHERE_Q = re.compile(r"哪里|哪儿|何地|什么地方|哪座城市|哪个城市|哪些城市|哪几座城市|在哪|哪个省|哪个国家")
_WHY_Q = re.compile(r"为什么|为何|什么原因|原因")
_CLASSIFIER = re.compile(r"(?:多少|几)(?:个)?([名家个项份次人元亿万岁年天条届批所座位场件户篇部台辆吨只支期轮列层种]|人次|万人|万元|亿元)")
_DATE = re.compile(r"[0-9０-９一二三四五六七八九十〇]+(?:年|月|日|号)|[上下]午|年底|年初|月底|月初|今年|去年|明年|前|之前|期间")
_HAN = re.compile(r"[\u4e00-\u9fff]")


@dataclass
class Candidate:
    hit_rank: int  # 0-based rank of the chunk in the hits
    span: tuple[int, int]
    text: str
    score: float = 0.0
    coverage: float = 0.0
    typed: bool = False
    terms: set[str] = field(default_factory=set)
    window: str = ""  # the title and the text within two sentences: where the question's focus must be


@dataclass
class ExtractiveResult:
    found: bool
    chosen: list[Candidate]
    reason: str


@dataclass
class Thresholds:
    """Coverage floors for `found`, set on seed-dev and CMRC dev with bench/quality.py.

    Coverage alone does not separate unanswerable questions (seed-dev's six unanswerable ones
    reach 0.27–0.75, its answerable ones 0.20–1.0): these floors only drop near-empty matches;
    the typed, number-binding and focus checks in `ExtractiveAnswerer.answer` do the rest.
    """

    min_coverage: float = 0.3
    min_coverage_untyped: float = 0.4


_LIST_Q = re.compile(r"哪些|哪几(?!位|座|天|年|月)|哪几个|有什么|分别")
_WHY_MARK = re.compile(r"为了|因为|由于|旨在|目的|意义|要求|需要|是为|以便|从而|为此|原因")
_PEOPLE = {"名", "位", "人"}
TYPED = ("number", "when", "who", "where")


def question_type(question: str) -> str:
    if _LIST_Q.search(question) and not _CLASSIFIER.search(question.replace("哪几", "")):
        return "list"
    if _WHEN_Q.search(question):
        return "when"
    if _WHO_Q.search(question):
        return "who"
    if _WHERE_Q.search(question):
        return "where"
    if _NUMBER_Q.search(question):
        return "number"
    if _WHY_Q.search(question):
        return "why"
    return "other"


def _numbers(text: str) -> list[str]:
    return re.findall(NUM, text)


def carries_answer(qtype: str, question: str, sentence: str) -> bool:
    """Does the sentence hold the kind of thing the question asks for (beyond what it repeats)?"""
    if qtype == "number":
        unit = _CLASSIFIER.search(question)
        q_numbers = set(_numbers(question))
        if unit:
            want = unit.group(1)
            units = "|".join(sorted(_PEOPLE, key=len)) if want in _PEOPLE else re.escape(want)
            pattern = rf"(?:{NUM})\s*(?:余|多|余万|万余|万|亿)?\s*(?:{units})"
            found = [m.group(0) for m in re.finditer(pattern, sentence)]
            if want == "年":
                found = [f for f in found if not re.match(r"[0-9]{4}", f)]  # a date, not a duration
            return any(re.sub(r"\D", "", f) not in {re.sub(r"\D", "", q) for q in q_numbers} or not q_numbers for f in found)
        return any(n not in q_numbers for n in _numbers(sentence))
    if qtype == "list":
        return bool(re.search(r"[、]|[\u4e00-\u9fff]和[\u4e00-\u9fff]|以及|及", sentence))
    if qtype == "why":
        return bool(_WHY_MARK.search(sentence))
    if qtype == "when":
        return bool(_DATE.search(sentence))
    if qtype in ("who", "where"):
        want = ("nr",) if qtype == "who" else ("ns",)
        q_words = set(rjieba.cut(question))
        return any(tag.startswith(want) and word not in q_words for word, tag in rjieba.tag(sentence))
    return True


class ExtractiveAnswerer:
    """The offline answerer over one index snapshot (its word weights come from that snapshot)."""

    mode: Mode = "extractive"

    def __init__(
        self, idf: Mapping[str, float] | None = None, thresholds: Thresholds | None = None, max_sentences: int = 2
    ) -> None:
        self.idf: Mapping[str, float] = idf or {}
        self.thresholds = thresholds or Thresholds()
        self.max_sentences = max_sentences

    def _weight(self, term: str) -> float:
        if term in self.idf:
            return self.idf[term]
        return 1.0 + 0.5 * len(term) if self.idf else float(len(term))

    def candidates(self, question: str, hits: list[Hit]) -> list[Candidate]:
        q_terms = set(tokenize(question))
        total = sum(self._weight(t) for t in q_terms) or 1.0
        qtype = question_type(question)
        out: list[Candidate] = []
        for rank, hit in enumerate(hits):
            chunk = hit.chunk
            all_title = set(tokenize(chunk.title))
            title_terms = all_title & q_terms
            texts = [chunk.text[a:b] for a, b in chunk.sentences]
            full_sets = [set(tokenize(t)) for t in texts]
            term_sets = [f & q_terms for f in full_sets]
            for k, span in enumerate(chunk.sentences):
                text = texts[k]
                if len(_HAN.findall(text)) < 4 and not re.search(r"[0-9]", text):
                    continue
                matched = term_sets[k]
                neighbours = (term_sets[k - 1] if k else set()) | (term_sets[k + 1] if k + 1 < len(texts) else set())
                context = (title_terms | neighbours) - matched
                coverage = (sum(self._weight(t) for t in matched) + 0.5 * sum(self._weight(t) for t in context)) / total
                typed = carries_answer(qtype, question, text)
                score = coverage + (0.15 if typed else 0.0) - 0.02 * rank
                window = chunk.title + "".join(texts[max(0, k - 2) : k + 3])
                out.append(Candidate(rank, span, text, score, coverage, typed, matched | context, window))
        out.sort(key=lambda c: -c.score)
        return out

    def answer(self, question: str, hits: list[Hit]) -> ExtractiveResult:
        if not hits:
            return ExtractiveResult(False, [], "no sources")
        cands = self.candidates(question, hits)
        if not cands:
            return ExtractiveResult(False, [], "no sentences")
        qtype = question_type(question)
        th = self.thresholds
        if qtype in TYPED:
            # the answer must carry what is asked for: look a little further than the top sentence
            best = next((c for c in cands[:5] if c.typed and c.coverage >= th.min_coverage), None)
            found = best is not None
            best = best or cands[0]
        else:
            best = cands[0]
            found = best.coverage >= th.min_coverage_untyped
        focus = self.focus_terms(question)
        if found and qtype == "number":
            found = number_bound(question, best.text)
        elif found and focus and not _present(focus[0], best.window):
            found = False  # the rarest thing the question is about is not where the answer is
        reason = f"type={qtype} typed={best.typed} coverage={best.coverage:.2f} focus={focus[:1]}"
        chosen = [best]
        covered = set(best.terms)
        for cand in cands[:12]:
            if len(chosen) >= self.max_sentences:
                break
            if cand is best or cand.score < 0.75 * best.score:
                continue
            if cand.terms - covered or (qtype in TYPED and cand.typed and not best.typed):
                chosen.append(cand)
                covered |= cand.terms
        chosen.sort(key=lambda c: (c.hit_rank, c.span))  # reading order
        if chosen[0] is not best:
            chosen.remove(best)
            chosen.insert(0, best)  # the sentence that decided comes first
        return ExtractiveResult(found, chosen, reason)

    def standalone(self, question: str, history: list[Turn]) -> str:
        """What to retrieve for a follow-up: the question with the previous question's rarest words."""
        return expand_follow_up(question, history, self.idf)

    def stream(self, question: str, retrieved: Retrieved) -> Iterator[Event]:
        """The whole answer is known at once: sources (with quotes), the text in pieces, the answer."""
        answer = self.final(question, retrieved)
        yield Sources(answer.sources)
        for piece in render.pieces(answer.answer):
            yield Delta(piece)
        yield Final(answer)

    def final(self, question: str, retrieved: Retrieved) -> Answer:
        """Sentences are chosen for what was searched (a follow-up borrows words from the one before)."""
        result = self.answer(retrieved.query, retrieved.hits)
        quotes: dict[int, str] = {}
        for cand in result.chosen if result.found else []:
            quotes[cand.hit_rank + 1] = quotes.get(cand.hit_rank + 1, "") + cand.text
        if result.found:
            body = render.FOUND_PREFIX + "".join(f"{cand.text}[{cand.hit_rank + 1}]" for cand in result.chosen)
        else:
            body = render.refusal_answer()
        log.debug("extractive decision for %r: %s", question, result.reason)
        return Answer(
            question=question,
            answer=body,
            found=result.found,
            mode="extractive",
            sources=render.sources(retrieved.hits, quotes),
        )

    def focus_terms(self, question: str) -> list[str]:
        """The question's content words that occur in the corpus, rarest first."""
        question = re.sub(r"除了[^，,？?]*[，,]", "", question)  # `除了X，…` says X is not what is asked
        words = [w for w in dict.fromkeys(rjieba.cut(question.lower())) if w not in STOPWORDS and _HAN.search(w) and len(w) >= 2]
        known = [w for w in words if w in self.idf or any(p in self.idf for p in _parts(w))]
        return sorted(known, key=lambda w: -self.idf.get(w, max((self.idf.get(p, 0.0) for p in _parts(w)), default=0.0)))


def _content_words(text: str) -> set[str]:
    return {w for w in rjieba.cut_for_search(text) if len(w) >= 2 and _HAN.search(w) and w not in STOPWORDS}


def _bigrams(words: set[str]) -> set[str]:
    return {w[k : k + 2] for w in words for k in range(len(w) - 1) if _HAN.match(w[k]) and _HAN.match(w[k + 1])}


def number_bound(question: str, sentence: str) -> bool:
    """Is a number in the sentence about what the question counts?

    `追回了多少欠薪` is not answered by `发放救助金292万元`: the clause holding the number must
    share a word with the words the question attaches to its 多少/几.
    """
    wanted: list[set[str]] = []
    for clause in re.split(r"[，,；;？?。！!]", question):
        marker = re.search(r"多少|几", clause)
        if not marker:
            continue
        after = _content_words(clause[marker.end() :])
        before = _content_words(clause[: marker.start()][-8:])
        wanted.append(after or before)
    wanted = [w for w in wanted if w]
    if not wanted:
        return True
    clauses = [c for c in re.split(r"[，,；;。！!？?]", sentence) if re.search(NUM, c)]
    # character bigrams: `体长` must match `最大体长` however either side was segmented
    return any(_bigrams(words) & _bigrams({c}) for c in clauses for words in wanted)


def _parts(word: str) -> list[str]:
    return [p for p in rjieba.cut_for_search(word) if len(p) >= 2 and p != word]


def _present(word: str, window: str) -> bool:
    """Substring, not token, match: segmentation of names differs between question and text."""
    return word in window or any(p in window for p in _parts(word))


def expand_follow_up(question: str, history: list[Turn], idf: Mapping[str, float]) -> str:
    """Without a chat model, a follow-up borrows the previous question's rarest words for retrieval."""
    previous = [t.content for t in history if t.role == "user" and t.content.strip()]
    if not previous:
        return question
    current = set(tokenize(question))
    borrowed = [t for t in tokenize(previous[-1]) if t not in current and len(t) > 1]
    borrowed = sorted(dict.fromkeys(borrowed), key=lambda t: -idf.get(t, 0.0))[:4]
    return (" ".join(borrowed) + " " + question).strip() if borrowed else question


def idf_from_bm25(bm25: Any) -> dict[str, float]:
    """Document frequencies straight from the bm25s index (no second pass over the corpus)."""
    indptr = bm25.scores["indptr"]
    n = max(1, int(bm25.scores["num_docs"]))
    df = indptr[1:] - indptr[:-1]
    return {tok: math.log(1 + (n - df[i] + 0.5) / (df[i] + 0.5)) for tok, i in bm25.vocab_dict.items() if i < len(df)}
