"""The learned answer step: which sentences to quote, the short answer inside them, and how sure it is.

`Reader.read(query, hits)` scores every sentence of the retrieved chunks for each part of the question
(bot/answer/features.py), quotes the best one per part, extracts a short answer from it when the span
ranker is confident enough (bot/answer/spans.py; when the ranker is unsure, the e5 model reads question and
sentence together for a second opinion: bot/answer/cross_reader.py), and gives a calibrated `confidence`
that the sources answer the question. The models ship in `models/answerer.json` (trees exported from
LightGBM and logistic weights, as JSON arrays: nothing that runs code on load), rebuilt by
`python bench/train_answerer.py`, which also records what they were trained on.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.query import Query
from retrieval.search import Hit

from ..errors import QabotError
from .cross_reader import READ_FEATURES, CrossReader, TokenHeads, TunedFile
from .features import (
    CONFIDENCE_FEATURES,
    FEATURES,
    PartView,
    SentenceInfo,
    SentenceRef,
    confidence_features,
    part_view,
    sentence_features,
)
from .spans import (
    SPAN_FEATURES,
    Span,
    asked_date_precision,
    ends_with_its_date,
    in_byline,
    shown_text,
    span_features,
    whole_enumeration,
    whole_range,
    with_its_number,
    without_asked_words,
    without_loose_ends,
)

MODEL_PATH = Path(__file__).parent / "models" / "answerer.json"
MAX_SHORT_CHARS = 30  # over half a quoted sentence (the seed index's sentences have a median of 52 characters)


class ModelFileError(QabotError):
    """The shipped answer model is missing or does not match this code's features."""


class Scorer:
    """A binary scorer from its JSON description: boosted trees (exported from LightGBM) or standardised
    logistic weights. Trees are evaluated with numpy, all at once, so answering needs no LightGBM."""

    def __init__(self, spec: Mapping[str, Any], features: Sequence[str]) -> None:
        if list(spec.get("features", [])) != list(features):
            raise ModelFileError("the answer model was trained on other features; run bench/train_answerer.py")
        self.kind = spec["kind"]
        if self.kind == "trees":
            self._complete(
                np.asarray(spec["feature"], dtype=np.int64),  # [tree, node]
                np.asarray(spec["threshold"], dtype=np.float64),
                np.asarray(spec["left"], dtype=np.int64),  # child node, or ~leaf when negative
                np.asarray(spec["right"], dtype=np.int64),
                np.asarray(spec["leaf_value"], dtype=np.float64),  # [tree, leaf]
            )
        elif self.kind == "logistic":
            self.mean = np.asarray(spec["mean"], dtype=np.float64)
            self.scale = np.asarray(spec["scale"], dtype=np.float64)
            self.coef = np.asarray(spec["coef"], dtype=np.float64)
            self.intercept = float(spec["intercept"])
        else:
            raise ModelFileError(f"unknown scorer kind {self.kind!r}")

    def _complete(
        self, feature: np.ndarray, threshold: np.ndarray, left: np.ndarray, right: np.ndarray, leaves: np.ndarray
    ) -> None:
        """Lay every tree out as a complete binary tree of the deepest tree's depth (a leaf above the bottom
        becomes splits that always go left), so scoring is `depth` vectorised steps with no bookkeeping of
        which rows have reached a leaf: 3× faster than walking the trees as stored (bench/answer_eval.py)."""

        def depth(t: int, node: int) -> int:
            if node < 0:
                return 0
            return 1 + max(depth(t, int(left[t, node])), depth(t, int(right[t, node])))

        self.depth = max(depth(t, 0) for t in range(len(feature)))
        inner, bottom = 2**self.depth - 1, 2**self.depth
        self.feature = np.zeros((len(feature), max(1, inner)), dtype=np.int64)
        self.threshold = np.full((len(feature), max(1, inner)), np.inf)
        self.leaf_value = np.zeros((len(feature), bottom))
        for t in range(len(feature)):
            stack = [(0, 0, 0)]  # (stored node, complete position, level)
            while stack:
                node, at, level = stack.pop()
                if node < 0:  # a leaf: the bottom cell its always-left path reaches
                    self.leaf_value[t, (at << (self.depth - level)) + (2 ** (self.depth - level) - 1) - inner] = leaves[
                        t, ~node
                    ]
                    continue
                self.feature[t, at] = feature[t, node]
                self.threshold[t, at] = threshold[t, node]
                stack.append((int(left[t, node]), 2 * at + 1, level + 1))
                stack.append((int(right[t, node]), 2 * at + 2, level + 1))
        self.trees = np.arange(len(feature))
        # flat copies and per-tree offsets: 1-D `take` is cheaper than 2-D fancy indexing (3.3 → 2.1 ms
        # for the span model on 150 candidates)
        self._features_flat = self.feature.ravel()
        self._thresholds_flat = self.threshold.ravel()
        self._leaves_flat = self.leaf_value.ravel()
        self._node_base = (self.trees * self.feature.shape[1])[None, :]
        self._leaf_base = (self.trees * 2**self.depth - (2**self.depth - 1))[None, :]

    def logits(self, rows: np.ndarray) -> np.ndarray:
        if len(rows) == 0:
            return np.zeros(0)
        x = np.asarray(rows, dtype=np.float64)
        if self.kind == "logistic":
            return ((x - self.mean) / self.scale) @ self.coef + self.intercept
        if len(x) > 1024:  # bounded memory for big batches (training); a question has a few hundred rows
            return np.concatenate([self.logits(x[k : k + 1024]) for k in range(0, len(x), 1024)])
        node = np.zeros((len(x), len(self.trees)), dtype=np.int64)  # position in each complete tree
        flat = x.ravel()
        row_base = (np.arange(len(x), dtype=np.int64) * x.shape[1])[:, None]
        for _ in range(self.depth):
            at = node + self._node_base
            # a flat `take` instead of take_along_axis: the same values, less indexing overhead
            value = flat.take(row_base + self._features_flat.take(at))
            node = 2 * node + 1 + (value > self._thresholds_flat.take(at))
        return self._leaves_flat.take(node + self._leaf_base).sum(axis=1)


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, x))))


@dataclass(frozen=True)
class Quote:
    """A quoted sentence: `start`/`end` are offsets in the hit's chunk text."""

    hit_rank: int  # 0-based rank of the hit
    start: int
    end: int
    text: str
    part: int
    score: float
    short: tuple[int, int] | None = None  # the short answer's span in the chunk text


@dataclass(frozen=True)
class Reading:
    quotes: tuple[Quote, ...]
    short_answer: str | None
    confidence: float
    answer_type: str
    part_confidences: tuple[float, ...] = ()
    best_span: str | None = None  # the best span even when too unsure to show (for measuring)


@dataclass(frozen=True)
class _Pick:
    index: int  # of the chosen sentence among the part's sentence rows
    confidence: float
    span_rows: np.ndarray
    span_logits: np.ndarray
    spans: list[Span]
    read: bool = False  # span_logits are the cross reader's (bot/answer/cross_reader.py)


class Reader:
    def __init__(
        self, spec: Mapping[str, Any], idf: Mapping[str, float] | None = None, models_dir: Path = MODEL_PATH.parent
    ) -> None:
        self.spec = spec
        self.sentences = Scorer(spec["sentence_model"], FEATURES)
        # A ranking model orders one question's sentences well, but its scores say less about whether any of
        # them answers (held-out AUC across questions 0.902 against 0.920 for the pointwise model), so the
        # confidence reads a pointwise model's scores when the file has one.
        judge = spec.get("sentence_judge")
        self.judge = Scorer(judge, FEATURES) if judge else self.sentences
        self.spans = Scorer(spec["span_model"], SPAN_FEATURES)
        self.confidence = Scorer(spec["confidence_model"], CONFIDENCE_FEATURES)
        self.second_ratio = float(spec.get("second_sentence_ratio", 0.5))
        self.rival_ratio = float(spec.get("rival_ratio", 1.0))  # 1.0: always answer from the best-scored sentence
        self.span_min = float(spec.get("span_min_prob", 0.3))
        self.span_min_by_type: Mapping[str, float] = spec.get("span_min_prob_by_type", {})
        self.no_short = frozenset(spec.get("no_short_answer_types", ["reason"]))
        # the span ranker's top score and whether that span holds what is asked (a number for 多少, …) →
        # probability that the span is right (F1 ≥ 0.5), logistic, fitted on held-out data
        calibration = [float(v) for v in spec.get("span_calibration", (1.0, 0.0))]
        self.span_calibration = calibration if len(calibration) == 3 else [calibration[0], 0.0, calibration[1]]
        # the second opinion on the short answer, asked when the ranker's best score is below `read_below`
        self.cross: CrossReader | None = None
        self.read_below = -math.inf
        self.read_calibration = [float(v) for v in spec.get("span_calibration_read", self.span_calibration)]
        if "cross_reader" in spec:
            self.cross = CrossReader(TokenHeads.from_spec(spec["cross_reader"]), _tuned_file(spec, models_dir))
            self.read_spans = Scorer(spec["read_span_model"], (*SPAN_FEATURES, *READ_FEATURES))
            self.read_below = float(spec["read_below"])
        # when the two best sentences score close, the cross reader reads both and may swap them
        rerank = spec.get("sentence_rerank") if self.cross is not None else None
        self.rerank: tuple[float, float, float, float] | None = None
        if rerank:
            w_gap, w_read = (float(c) for c in rerank["coef"])
            self.rerank = (float(rerank["max_gap"]), w_gap, w_read, float(rerank["intercept"]))
        self.idf: Mapping[str, float] = idf or {}
        self.unknown_idf = max(self.idf.values(), default=10.0)

    def span_probability(self, span_logit: float, fits: float, read: bool = False) -> float:
        """Calibrated probability that the top span is right (F1 ≥ 0.5). `fits`: 0 when the question asks
        for a kind of thing (a number, a date, a name) the span does not hold, else 1. `read`: the logit is
        the cross reader's, calibrated on its own."""
        w_logit, w_fit, shift = self.read_calibration if read else self.span_calibration
        return sigmoid(w_logit * span_logit + w_fit * fits + shift)

    def second_opinion(
        self,
        question: str,
        info: SentenceInfo,
        rows: np.ndarray,
        logits: np.ndarray,
        spans: Sequence[Span],
        known: np.ndarray | None = None,
    ) -> tuple[np.ndarray, bool]:
        """The candidates' scores after the question and the sentence are read together, when the ranker is
        unsure (its best score below `read_below`, chosen by the trainer so that about half of held-out
        answer sentences are read: the median question does not pay for the pass); else its own scores.
        `known`: the read scores when `reread` already read this sentence."""
        if self.cross is None or len(rows) == 0 or not float(logits.max()) < self.read_below:
            return logits, False
        if known is not None:
            return known, True
        read = self.read_scores(question, info, rows, spans)
        return (logits, False) if read is None else (read, True)

    def read_scores(
        self, question: str, info: SentenceInfo, rows: np.ndarray, spans: Sequence[Span]
    ) -> np.ndarray | None:
        """The candidates' scores once the cross reader has read the question and the sentence together;
        None when there is nothing to read or the reader is unavailable."""
        read = self.cross.features(question, info.text, spans) if self.cross is not None and spans else None
        return None if read is None else self.read_spans.logits(np.hstack([rows, read]))

    def reread(
        self, question: str, view: PartView, refs: Sequence[SentenceRef], logits: np.ndarray, order: np.ndarray
    ) -> tuple[np.ndarray, dict[int, np.ndarray]]:
        """The sentences best first, after the cross reader has read the best two when the scorer ranks
        them close (logit gap below `max_gap`): a logistic over the gap and the difference of the two
        sentences' best read span scores may swap them. On held-out DRCD and CMRC trial questions the
        scorer's first sentence held the answer for 1,019 of the 1,103 whose best two disagree; with the
        swap, for 1,030 (5-fold cross-validated); on the 118 news questions of `bench/answer_eval.py` the
        first quote held the answer for 96 instead of 94. But it made the answer step's median on seed-dev
        19 ms instead of 7, so the trainer writes it only when asked (`--rerank`). Also returns the read
        span scores of the sentences it read."""
        read: dict[int, np.ndarray] = {}
        if self.rerank is None or self.cross is None or len(order) < 2:
            return order, read
        max_gap, w_gap, w_read, shift = self.rerank
        first, second = int(order[0]), int(order[1])
        gap = float(logits[first] - logits[second])
        if not gap < max_gap or refs[first].info.text == refs[second].info.text:
            return order, read
        best = []
        for k in (first, second):
            scores = self.read_scores(question, refs[k].info, *span_features(view, refs[k].info))
            if scores is None:  # nothing to read, or the reader is unavailable: the scorer's order stands
                return order, {}
            read[k] = scores
            best.append(float(scores.max()))
        if w_gap * gap + w_read * (best[0] - best[1]) + shift < 0:
            order = np.concatenate([[second, first], order[2:]]).astype(order.dtype)
        return order, read

    def warm(self) -> None:
        """Load the cross reader's model now instead of at the first unsure question."""
        if self.cross is not None:
            self.cross.warm()

    def shows(self, answer_type: str, probability: float, text: str) -> bool:
        """Lead with this span? Only when the calibrated probability that it is right clears the
        threshold chosen for the question type, and when it is short: a span longer than
        MAX_SHORT_CHARS is no shorter than the quote that follows it."""
        if answer_type in self.no_short or len(text) > MAX_SHORT_CHARS:
            return False
        return probability >= self.span_min_by_type.get(answer_type, self.span_min)

    @staticmethod
    def short_span(view: PartView, info: SentenceInfo, span: Span) -> tuple[int, int]:
        """Where the short answer lies in the sentence: the top span, started at its number when it starts
        right after one, grown over its whole enumeration when the question asks for a list, else without
        a conjunction or particle at its ends; a number without the question's words in front and over the
        range it ends; a date as precise as the question asks, ending with its date. The trainer chooses
        thresholds on exactly this text."""
        start, end = with_its_number(info, span.start, span.end)
        if view.is_list:
            return whole_enumeration(info, start, end)
        start, end = without_loose_ends(info, start, end)
        if view.part.answer_type == "number":
            return whole_range(info, *without_asked_words(info, start, end, view.part.text))
        if view.part.answer_type == "date":
            return ends_with_its_date(info, *asked_date_precision(info, start, end, view.part.text))
        return start, end

    def with_idf(self, idf: Mapping[str, float]) -> Reader:
        """The same models with the document frequencies of another index (cheap: models are shared)."""
        other = object.__new__(Reader)
        other.__dict__.update(self.__dict__)
        other.idf = idf
        other.unknown_idf = max(idf.values(), default=10.0)
        return other

    def _pick(
        self,
        view: PartView,
        rows: np.ndarray,
        logits: np.ndarray,
        judged: np.ndarray,
        order: np.ndarray,
        refs: Sequence[SentenceRef],
        hits: Sequence[Hit],
        settled: bool = False,
    ) -> _Pick:
        """The sentence to answer from: the best-scored one, or a runner-up the scorer nearly tied with it
        (within `rival_ratio` of its probability) when the confidence model is surer of the runner-up.
        Both are quoted either way; this decides which leads, gives the short answer and the confidence.
        `settled`: the cross reader has read both (`reread`), and its choice stands."""
        picks = [order[0]]
        if self.rival_ratio < 1.0 and len(order) > 1 and not settled:
            runner = int(order[1])
            if refs[runner].info.text != refs[picks[0]].info.text and sigmoid(
                float(logits[runner])
            ) >= self.rival_ratio * sigmoid(float(logits[order[0]])):
                picks.append(runner)
        out: _Pick | None = None
        for index in picks:
            span_rows, spans = span_features(view, refs[index].info)
            span_logits = self.spans.logits(span_rows)
            top, align, fit = span_summary(span_logits, span_rows)
            conf_rows = confidence_features(view, rows, judged, self.idf, hits, top, align, fit, int(index))
            confidence = sigmoid(float(self.confidence.logits(conf_rows.reshape(1, -1))[0]))
            if out is None or confidence > out.confidence:
                out = _Pick(int(index), confidence, span_rows, span_logits, spans)
        assert out is not None
        return out

    @staticmethod
    def _top_span(
        view: PartView, pick: _Pick, hit: int, info: SentenceInfo, given: Sequence[tuple[int, int, int]]
    ) -> int:
        """The best-scored candidate that no earlier part of the question took: two parts ask two things
        (`签订了多少份集体合同，覆盖了多少职工` must not answer `1780份` twice). For a number or a date, a
        candidate that holds one goes first: news reorders what Wikipedia questions keep in place
        (`新发展了多少…会员` against `新发展…会员1037万人`), and the ranker, trained on Wikipedia, then led
        with `深入开展新`. On held-out DRCD and CMRC trial questions this changes 3 of 269 answers (F1 +0.3
        points on number questions, date unchanged). A candidate short enough to lead (MAX_SHORT_CHARS) goes
        before a longer one, which could never be shown: the tuned cross reader sometimes prefers a whole
        clause. With it, held-out short answers were shown for 0.875 of answered questions instead of 0.80
        (F1 over those 0.623 against 0.638), and on the 118 news questions of `bench/answer_eval.py --only
        news` the short answer's F1 rose from 0.605 to 0.618."""
        for k in span_order(view, pick.span_rows, pick.span_logits, pick.spans, info).tolist():
            span = pick.spans[k]
            a, b = info.start + span.start, info.start + span.end
            if not any(h == hit and a < end and start < b for h, start, end in given):
                return int(k)
        return int(np.argmax(pick.span_logits))

    def read(self, query: Query, hits: Sequence[Hit], max_sentences: int = 2) -> Reading:
        if not hits:
            return Reading((), None, 0.0, query.answer_type)
        quotes: list[Quote] = []
        confidences: list[float] = []
        shorts: list[str | None] = []
        best_spans: list[str] = []
        taken: set[str] = set()
        given: list[tuple[int, int, int]] = []  # (hit, start, end) of each part's short answer in its chunk
        extra: list[Quote] = []
        for p in range(len(query.parts)):
            view = part_view(query, p, self.idf, self.unknown_idf)
            rows, refs = sentence_features(view, hits)
            if not refs:
                continue
            logits = self.sentences.logits(rows)
            order, reads = self.reread(asked_text(query, p), view, refs, logits, np.argsort(-logits, kind="stable"))
            judged = logits if self.judge is self.sentences else self.judge.logits(rows)
            pick = self._pick(view, rows, logits, judged, order, refs, hits, settled=bool(reads))
            confidences.append(pick.confidence)
            best, info = refs[pick.index], refs[pick.index].info
            short: tuple[int, int] | None = None
            text: str | None = None
            if pick.spans:
                if view.part.answer_type not in self.no_short:  # never shown: not worth a second opinion
                    span_logits, was_read = self.second_opinion(
                        asked_text(query, p), info, pick.span_rows, pick.span_logits, pick.spans, reads.get(pick.index)
                    )
                    pick = replace(pick, span_logits=span_logits, read=was_read)
                k = self._top_span(view, pick, best.hit_rank, info, given)
                a, b = self.short_span(view, info, pick.spans[k])
                given.append((best.hit_rank, info.start + a, info.start + b))
                best_spans.append(info.text[a:b])
                probability = self.span_probability(
                    float(pick.span_logits[k]), span_fits(view, pick.span_rows[k]), pick.read
                )
                if self.shows(view.part.answer_type, probability, info.text[a:b]):
                    short = (info.start + a, info.start + b)
                    text = shown_text(info.text[a:b])
            shorts.append(text)
            if info.text not in taken:
                taken.add(info.text)
                score = float(logits[pick.index])
                quotes.append(Quote(best.hit_rank, info.start, info.end, info.text, p, score, short))
            if p == 0:
                top = sigmoid(float(logits[order[0]]))
                for k in order[:6]:  # the best-scored sentence too, when a runner-up was picked to lead
                    ref = refs[k]
                    if ref.info.text in taken or sigmoid(float(logits[k])) < self.second_ratio * top:
                        continue
                    extra.append(Quote(ref.hit_rank, ref.info.start, ref.info.end, ref.info.text, 0, float(logits[k])))
                    taken.add(ref.info.text)
        for quote in extra:
            if len(quotes) >= max(max_sentences, len(query.parts)):
                break
            quotes.append(quote)
        confidence = float(np.mean(confidences)) if confidences else 0.0
        short_answer = "，".join(s for s in shorts if s) if shorts and all(shorts) else None
        return Reading(
            tuple(quotes),
            short_answer,
            confidence,
            query.answer_type,
            tuple(confidences),
            "，".join(best_spans) or None,
        )


def asked_text(query: Query, part: int) -> str:
    """What the cross reader reads as the question: the part, after the words earlier turns supply."""
    return " ".join((*query.carried, query.parts[part].text)) if query.carried else query.parts[part].text


_ALIGN = (SPAN_FEATURES.index("slot_left_match"), SPAN_FEATURES.index("slot_right_match"))
_FIT = SPAN_FEATURES.index("type_fit")


def span_summary(logits: np.ndarray, rows: np.ndarray) -> tuple[float, float, float]:
    """Confidence features from the span ranker on the best sentence: its best score, how much question
    wording surrounds that span (characters shared with the words before and after the interrogative),
    and whether the sentence holds anything of the asked kind at all (a person's name for 谁, a number
    for 多少, …: `上海市总工会主席是谁？` over a sentence that names no one)."""
    if len(rows) == 0:
        return -10.0, 0.0, 0.0
    k = int(np.argmax(logits))
    return float(logits[k]), float(rows[k, _ALIGN[0]] + rows[k, _ALIGN[1]]), float(rows[:, _FIT].max())


# The types whose fit the features check reliably: a number or a date is plain to see, while the tagger
# misses many names. On held-out DRCD and CMRC trial questions, a top span without a number or date had a
# mean F1 of 0.24 (number, 11 questions) and 0.11 (date, 14), below the break-even of 1/3 (and it led with
# `本报讯` for `…有效期是几年？`); one without a tagged name did as well as one with it (person 0.54 vs 0.59,
# place 0.54 vs 0.53).
CHECKED_TYPES = ("number", "date")


def span_order(
    view: PartView, rows: np.ndarray, logits: np.ndarray, spans: Sequence[Span], info: SentenceInfo
) -> np.ndarray:
    """Candidates best first: by score, except that those short enough to lead go first and, for a number
    or a date, those that hold one (why: `Reader._top_span`); a name in the sentence's byline goes last
    (`spans.in_byline`)."""
    if len(rows) == 0:
        return np.zeros(0, dtype=int)
    too_long = np.asarray([len(span.text) > MAX_SHORT_CHARS for span in spans])
    byline = in_byline(info, view.part.text, spans)
    if view.part.answer_type not in CHECKED_TYPES:  # span_fits is 1.0 for every candidate
        return np.lexsort((-logits, too_long, byline))
    return np.lexsort((-logits, -rows[:, _FIT], too_long, byline))


def span_fits(view: PartView, row: np.ndarray) -> float:
    """Does this span hold what the question asks for? 1.0 for the types not in CHECKED_TYPES; the span
    calibration learns what a miss costs."""
    return float(row[_FIT]) if view.part.answer_type in CHECKED_TYPES else 1.0


def index_idf(bm25: Any) -> dict[str, float]:
    """Document frequencies straight from the bm25s index (no second pass over the corpus)."""
    indptr = bm25.scores["indptr"]
    n = max(1, int(bm25.scores["num_docs"]))
    df = indptr[1:] - indptr[:-1]
    return {tok: math.log(1 + (n - df[i] + 0.5) / (df[i] + 0.5)) for tok, i in bm25.vocab_dict.items() if i < len(df)}


@lru_cache(maxsize=4)
def _load_spec(path: Path) -> dict:
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ModelFileError(f"answer model not found: {path}; run bench/train_answerer.py") from exc
    except json.JSONDecodeError as exc:
        raise ModelFileError(f"answer model {path} is not valid JSON ({exc.msg})") from exc
    if spec.get("format") != 1:
        raise ModelFileError(f"answer model {path} has an unknown format")
    return spec


def _tuned_file(spec: Mapping[str, Any], models_dir: Path) -> TunedFile | None:
    """The cross reader's tuned layers named by the model file, which must be beside it."""
    tuned = spec["cross_reader"].get("tuned")
    if tuned is None:
        return None
    path = models_dir / str(tuned["file"])
    if not path.is_file():
        raise ModelFileError(f"answer model part not found: {path}; run bench/train_answerer.py")
    return TunedFile(path, str(tuned["sha256"]))


def load_reader(idf: Mapping[str, float] | None = None, path: Path = MODEL_PATH) -> Reader:
    return Reader(_load_spec(path), idf, path.parent)
