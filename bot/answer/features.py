"""Features of (question part, retrieved sentence) pairs for the learned sentence scorer.

Everything a rule used to decide is a feature here, and the weights are learned (bench/train_answerer.py):
how much of the question the sentence, its neighbours and its title cover (idf-weighted words and
character n-grams), whether it holds what the question asks for (a new number with the asked-for unit,
a date, a person, place or organisation name, a list, a reason), where retrieval ranked it, and its
position and length. A sentence's own analysis (segmentation, POS tags) is cached per chunk, so a
warm question only pays for the comparisons.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import rjieba

from retrieval.query import ANSWER_TYPES, QUESTION_WORDS, Part, Query, entity_words
from retrieval.search import Hit
from retrieval.tokenize import CHINESE_NUMERALS, MAGNITUDES, pos_tag, tokenize

NUM = rf"[0-9０-９]+(?:[.．,][0-9]+)*|[{CHINESE_NUMERALS}]+"
_NUMBER = re.compile(NUM)
_NUM_UNIT = re.compile(rf"(?:{NUM})\s*(?:余|多|多万|余万|万|亿|千|百)?\s*[\u4e00-\u9fff%％]")
_DATE = re.compile(
    rf"(?:{NUM})\s*(?:年|月|日|号|世纪|年代)|[上下]午|年底|年初|月底|月初|今年|去年|明年|前夕|期间|朝|时期"
)
_QUOTE = re.compile(r"[“「『《][^”」』》]{1,40}[”」』》]")
_REASON = re.compile(r"因为|由于|为了|因此|所以|以便|旨在|目的|原因|导致|使得|从而|是为|为此|之所以")
_HAN = re.compile(r"[\u4e00-\u9fff]")
_DIGIT = re.compile(r"[0-9０-９]")
_NUMERAL_TAGS = ("m", "t")  # numerals and time words: 七百, 十八个, 十月


def numeric_mask(text: str, tagged: Sequence[tuple[str, str]]) -> tuple[bool, ...]:
    """Which characters belong to a number. A digit always does; a Chinese numeral only inside a word the
    tagger calls a numeral or a time (`十八个`, `七百`), not inside a name or a noun (`四川省`, `二十大`,
    `两地`). Without the tags, a 多少 question found a number in `四川省` and led with it. A magnitude
    (万, 亿) is part of a number only after one (`30 万`, `三万`): alone (`万职工`, tagged a numeral) it
    counts nothing, and a 多少 question once led with `万职工`."""
    mask = [bool(_DIGIT.match(ch)) for ch in text]
    at = 0
    for word, tag in tagged:
        if tag.startswith(_NUMERAL_TAGS):
            for k in range(at, min(at + len(word), len(mask))):
                mask[k] = mask[k] or bool(_NUMBER.match(text[k]))
        at += len(word)
    before = False  # the last character that is not a space belongs to a number
    for k, ch in enumerate(text):
        if ch in MAGNITUDES and not before:
            mask[k] = False
        if not ch.isspace():
            before = mask[k]
    return tuple(mask)


def numbers_in(text: str, mask: Sequence[bool]) -> frozenset[str]:
    return frozenset(m.group(0) for m in _NUMBER.finditer(text) if mask[m.start()])


_ASKED_UNIT = re.compile(r"(?:多少|几)个?([\u4e00-\u9fff])")
_PUNCT = re.compile(r"[\s\W_]+")
_ASKING_WORDS = re.compile("|".join(sorted(QUESTION_WORDS, key=len, reverse=True)))

FEATURES = (
    "cov_s", "cov_w", "cov_t", "cov_all", "bi_s", "bi_w", "tri_s", "uni_s",
    "focus_s", "focus_w", "focus3_s", "cov_rel", "bi_rel", "cov_rank",
    "hit_rank", "hit_score", "hit_score_rel", "bm25_rank", "dense_rank",
    "sent_pos", "sent_pos_rel", "sent_len", "q_len",
    *(f"q_{t}" for t in ANSWER_TYPES),
    "s_number_new", "s_num_unit", "s_date", "s_person_new", "s_place_new", "s_org_new",
    "s_quote", "s_list_sep", "s_reason", "type_match", "new_frac", "unit_match", "q_is_list",
    "part_index", "parts", "work_fit", "asking_cov_s", "asking_cov_rel", "head_s", "near_s",
)  # fmt: skip
INDEX = {name: k for k, name in enumerate(FEATURES)}
# Words an earlier turn supplies count half of the question's own (no effect on a first question). On the
# follow-up dev pairs (bench/data/followup-dev.jsonl, built from seed-dev) 14 of 17 second turns were
# answered with their evidence at 1.0 and 16 of 17 at 0.5, the only other value tried.
CARRIED_WEIGHT = 0.5


@dataclass(frozen=True)
class SentenceInfo:
    start: int  # span in the chunk's text
    end: int
    text: str
    norm: str  # without punctuation or spaces, lower-case: what substring checks look at
    terms: frozenset[str]
    bigrams: frozenset[str]
    chars: frozenset[str]
    tagged: tuple[tuple[str, str], ...]
    numbers: frozenset[str]
    numeric: tuple[bool, ...]  # per character: part of a number (numeric_mask)
    persons: frozenset[str]
    places: frozenset[str]
    orgs: frozenset[str]
    bylines: tuple[tuple[int, int], ...]  # where a news byline (BYLINE) lies in the sentence
    units: tuple[str, ...]  # the character after each number
    has_date: bool
    has_quote: bool
    list_sep: int
    has_reason: bool


@dataclass(frozen=True)
class ChunkInfo:
    title_terms: frozenset[str]
    title_norm: str
    sentences: tuple[SentenceInfo, ...]


def normalise(text: str) -> str:
    return _PUNCT.sub("", text.lower())


def char_ngrams(text: str, n: int) -> set[str]:
    text = normalise(text)
    return {text[k : k + n] for k in range(len(text) - n + 1)}


# A news byline, `本报讯(记者田国全 通讯员魏丹丹)`, names who reported the story, not who is in it.
BYLINE = re.compile(r"[（(【][^（）()【】]{0,40}?(?:记者|通讯员)[^（）()【】]{0,40}[)）】]")


def _names(tagged: Sequence[tuple[str, str]], tag: str, skip: Sequence[tuple[int, int]] = ()) -> frozenset[str]:
    """Words of two or more characters tagged `tag` (nr, ns, nt), except those inside `skip`."""
    out, at = set(), 0
    for word, pos in tagged:
        if pos.startswith(tag) and len(word) >= 2 and not any(a <= at < b for a, b in skip):
            out.add(word)
        at += len(word)
    return frozenset(out)


def analyse_sentence(text: str, start: int = 0, end: int | None = None) -> SentenceInfo:
    tagged = tuple(pos_tag(text))
    bylines = tuple(m.span() for m in BYLINE.finditer(text))
    norm = normalise(text)
    numeric = numeric_mask(text, tagged)
    units = tuple(m.group(0)[-1] for m in _NUM_UNIT.finditer(text) if numeric[m.start()])
    return SentenceInfo(
        start=start,
        end=len(text) + start if end is None else end,
        text=text,
        norm=norm,
        terms=frozenset(tokenize(text)),
        bigrams=frozenset(norm[k : k + 2] for k in range(len(norm) - 1)),
        chars=frozenset(c for c in norm if _HAN.match(c)),
        tagged=tagged,
        numbers=numbers_in(text, numeric),
        numeric=numeric,
        # the reporters of a byline are nobody a question asks about: without them, `…是谁夺冠的？` no
        # longer finds a person in the sentence that only says where the final took place (the scorer
        # still prefers that sentence; no seed-dev, fresh or news figure changed)
        persons=_names(tagged, "nr", bylines),
        places=_names(tagged, "ns"),
        orgs=_names(tagged, "nt"),
        bylines=bylines,
        units=units,
        has_date=bool(_DATE.search(text)),
        has_quote=bool(_QUOTE.search(text)),
        list_sep=text.count("、"),
        has_reason=bool(_REASON.search(text)),
    )


@lru_cache(maxsize=8192)
def _chunk_info(title: str, text: str, spans: tuple[tuple[int, int], ...]) -> ChunkInfo:
    sentences = tuple(analyse_sentence(text[a:b], a, b) for a, b in spans)
    return ChunkInfo(frozenset(tokenize(title)), normalise(title), sentences)


def chunk_info(hit: Hit) -> ChunkInfo:
    chunk = hit.chunk
    spans = tuple(tuple(s) for s in chunk.sentences) or ((0, len(chunk.text)),)
    return _chunk_info(chunk.title, chunk.text, spans)


@dataclass(frozen=True)
class PartView:
    """What the features compare a sentence with: one part of the question, plus the carried words."""

    part: Part
    index: int
    parts: int
    terms: tuple[str, ...]
    weights: tuple[float, ...]
    bigrams: frozenset[str]
    trigrams: frozenset[str]
    chars: frozenset[str]
    focus: tuple[str, ...]
    numbers: frozenset[str]
    words: frozenset[str]
    unit: str | None
    is_list: bool
    names: tuple[str, ...] = ()  # the part's own names of places, people and organisations


def part_view(query: Query, index: int, idf: Mapping[str, float], unknown_idf: float) -> PartView:
    part = query.parts[index]
    text = _ASKING_WORDS.sub(" ", part.text + " " + " ".join(query.carried))
    carried = tuple(t for t in query.terms if any(t in c for c in query.carried))
    terms = tuple(dict.fromkeys(part.terms + carried))
    own = set(part.terms)
    # words an earlier turn supplies set the scene; the question's own words say what it asks now
    weights = tuple(idf.get(t, unknown_idf) * (1.0 if t in own else CARRIED_WEIGHT) for t in terms)
    unit = _ASKED_UNIT.search(part.text)
    focus = tuple(f for f in query.focus if f in part.text or any(f in c for c in query.carried)) or query.focus
    return PartView(
        part=part,
        index=index,
        parts=len(query.parts),
        terms=terms,
        weights=weights,
        bigrams=frozenset(char_ngrams(text, 2)),
        trigrams=frozenset(char_ngrams(text, 3)),
        chars=frozenset(c for c in normalise(text) if _HAN.match(c)),
        focus=focus[:3],
        numbers=numbers_in(part.text, numeric_mask(part.text, rjieba.tag(part.text))),
        words=frozenset(w for w, _ in query.tagged) | frozenset(query.carried),
        unit=unit.group(1) if unit else None,
        is_list=query.is_list,
        names=tuple(w for w in entity_words(query.tagged) if len(w) >= 2 and w in part.text),
    )


def _coverage_of(weighted: Iterable[tuple[str, float]], terms: frozenset[str] | set[str], total: float) -> float:
    """The (idf-)weighted share of `weighted`'s words that occur in `terms`."""
    return sum(w for t, w in weighted if t in terms) / total


def _coverage(view: PartView, terms: frozenset[str] | set[str], total: float) -> float:
    return _coverage_of(zip(view.terms, view.weights, strict=True), terms, total)


def _frac(grams: frozenset[str], found: frozenset[str] | set[str]) -> float:
    return len(grams & found) / len(grams) if grams else 0.0


@dataclass(frozen=True)
class SentenceRef:
    hit_rank: int
    sentence: int
    info: SentenceInfo


def sentence_features(view: PartView, hits: Sequence[Hit]) -> tuple[np.ndarray, list[SentenceRef]]:
    """One row of `FEATURES` per sentence of every hit, in hit then sentence order. A sentence that
    overlapping chunks share is scored once, under the better-ranked hit: a copy would otherwise pass
    for a close second-best sentence and halve the confidence gap (`泽库县…什么时候投入使用`)."""
    refs: list[SentenceRef] = []
    seen: set[str] = set()
    rows: list[list[float]] = []
    total = sum(view.weights) or 1.0
    top_score = max((h.score for h in hits), default=1.0) or 1.0
    type_onehot = [1.0 if view.part.answer_type == t else 0.0 for t in ANSWER_TYPES]
    q_len = float(len(view.part.text))
    asking_set = set(view.part.asking_terms)
    near = view.part.near_words
    asking = [(t, w) for t, w in zip(view.terms, view.weights, strict=True) if t in asking_set]
    asking_total = sum(w for _, w in asking) or 1.0
    head = view.part.head
    for rank, hit in enumerate(hits):
        info = chunk_info(hit)
        sentences = info.sentences
        n = len(sentences)
        for k, s in enumerate(sentences):
            if s.text in seen:
                continue
            seen.add(s.text)
            window_terms = set(s.terms)
            window_bigrams = set(s.bigrams)
            window_text = s.norm
            if k > 0:
                window_terms |= sentences[k - 1].terms
                window_bigrams |= sentences[k - 1].bigrams
                window_text = sentences[k - 1].norm + window_text
            if k + 1 < n:
                window_terms |= sentences[k + 1].terms
                window_bigrams |= sentences[k + 1].bigrams
                window_text += sentences[k + 1].norm
            cov_s = _coverage(view, s.terms, total)
            focus = view.focus
            focus_s = 1.0 if focus and focus[0] in s.norm else 0.0
            focus_w = 1.0 if focus and (focus[0] in window_text or focus[0] in info.title_norm) else 0.0
            focus3 = sum(1 for f in focus if f in s.norm) / len(focus) if focus else 0.0
            number_new = bool(s.numbers - view.numbers)
            num_unit = bool(s.units) and number_new
            person_new = bool(s.persons - view.words)
            place_new = bool(s.places - view.words)
            org_new = bool(s.orgs - view.words)
            content = [w for w, t in s.tagged if len(w) >= 2]
            new_frac = sum(1 for w in content if w not in view.words) / len(content) if content else 0.0
            match = {
                "number": num_unit or number_new,
                "date": s.has_date,
                "person": person_new,
                "place": place_new or org_new,
                "org": org_new or s.has_quote,
                "list": s.list_sep > 0 or "和" in s.text or "及" in s.text,
                "reason": s.has_reason,
                "other": True,
            }[view.part.answer_type]
            rows.append(
                [
                    cov_s,
                    _coverage(view, window_terms, total),
                    _coverage(view, info.title_terms, total),
                    _coverage(view, window_terms | info.title_terms, total),
                    _frac(view.bigrams, s.bigrams),
                    _frac(view.bigrams, window_bigrams),
                    sum(1 for g in view.trigrams if g in s.norm) / len(view.trigrams) if view.trigrams else 0.0,
                    _frac(view.chars, s.chars),
                    focus_s,
                    focus_w,
                    focus3,
                    0.0,  # cov_rel, filled below
                    0.0,  # bi_rel
                    0.0,  # cov_rank
                    float(rank),
                    float(hit.score),
                    float(hit.score / top_score),
                    float(hit.bm25_rank or 101),
                    float(hit.dense_rank or 101),
                    float(k),
                    k / max(1, n - 1),
                    float(len(s.text)),
                    q_len,
                    *type_onehot,
                    float(number_new),
                    float(num_unit),
                    float(s.has_date),
                    float(person_new),
                    float(place_new),
                    float(org_new),
                    float(s.has_quote),
                    float(min(s.list_sep, 10)),
                    float(s.has_reason),
                    float(match),
                    new_frac,
                    float(bool(view.unit) and view.unit in s.units and number_new),
                    float(view.is_list),
                    float(view.index),
                    float(view.parts),
                    float(view.part.asks_work and "《" in s.text),
                    _coverage_of(asking, s.terms, asking_total),
                    0.0,  # asking_cov_rel, filled below
                    float(bool(head) and head in s.text),
                    sum(1 for w in near if w.lower() in s.norm) / len(near) if near else 1.0,
                ]
            )
            refs.append(SentenceRef(rank, k, s))
    if not rows:
        return np.zeros((0, len(FEATURES)), dtype=np.float32), refs
    matrix = np.asarray(rows, dtype=np.float32)
    cov, bi = matrix[:, INDEX["cov_s"]], matrix[:, INDEX["bi_s"]]
    matrix[:, INDEX["cov_rel"]] = cov - cov.max()
    matrix[:, INDEX["bi_rel"]] = bi - bi.max()
    asking_cov = matrix[:, INDEX["asking_cov_s"]]
    matrix[:, INDEX["asking_cov_rel"]] = asking_cov - asking_cov.max()
    order = np.argsort(-cov, kind="stable")
    ranks = np.empty(len(cov), dtype=np.float32)
    ranks[order] = np.arange(len(cov), dtype=np.float32)
    matrix[:, INDEX["cov_rank"]] = np.minimum(ranks, 30)
    return matrix, refs


def _names_missing(view: PartView, where: str | None) -> float:
    """The share of the names the question gives (places, people, organisations) that the chosen sentence's
    chunk and title (`where`) never mention: `威海市总工会…` answered from a chunk about another city's union."""
    if not view.names or where is None:
        return 0.0
    return sum(1 for name in view.names if name not in where) / len(view.names)


def _missing_weight(view: PartView, where: str | None) -> float:
    """The idf-weighted share of the question's words that the chosen sentence's chunk and title (`where`)
    never mention. A word the index never saw weighs most: `火星上有多少个工会？` over union news finds 工会
    and a count, but nothing about 火星."""
    if where is None or not view.terms:
        return 0.0
    where = where.lower()
    total = sum(view.weights) or 1.0
    return sum(w for t, w in zip(view.terms, view.weights, strict=True) if t.lower() not in where) / total


# -- question-level features: does the best sentence answer at all? -----------------------------------
TYPED_ANSWERS = ("number", "date", "person", "place", "org")  # types whose answer is a kind of span (a number, …)
CONFIDENCE_FEATURES = (
    "best_logit", "second_logit", "gap", "best_cov_s", "best_cov_all", "best_bi_s", "best_focus_w",
    "best_type_match", "best_hit_rank", "top_hit_score", "unknown_frac", "q_terms",
    "span_top", "span_align", "span_fit", "names_missing", "focus_unknown", "missing_weight", "best_near_s",
    "asks_unit", "best_unit_match",
    *(f"q_{t}" for t in ANSWER_TYPES),
)  # fmt: skip


def confidence_features(
    view: PartView,
    rows: np.ndarray,
    logits: np.ndarray,
    idf: Mapping[str, float],
    hits: Sequence[Hit],
    span_top: float,
    span_align: float,
    span_fit: float,
    chosen: int | None = None,
) -> np.ndarray:
    """Question-level evidence that the chosen sentence (by default the best-scored) answers: how it scored
    against the others, what it shares with the question, and whether a span in it fits the question's
    gap (`span_top`, the span ranker's best score; `span_align`, how much of the question's wording sits
    right around that span)."""
    at = int(np.argmax(logits)) if chosen is None else chosen
    best = rows[at]
    others = np.delete(logits, at)
    second = float(others.max()) if len(others) else -10.0
    unknown = sum(1 for t in view.terms if t not in idf) / max(1, len(view.terms))
    hit = hits[int(best[INDEX["hit_rank"]])] if hits else None
    where = hit.chunk.title + hit.chunk.text if hit else None  # the chosen sentence's chunk and title
    return np.asarray(
        [
            float(logits[at]),
            second,
            float(logits[at]) - second,
            best[INDEX["cov_s"]],
            best[INDEX["cov_all"]],
            best[INDEX["bi_s"]],
            best[INDEX["focus_w"]],
            best[INDEX["type_match"]],
            best[INDEX["hit_rank"]],
            float(hits[0].score) if hits else 0.0,
            unknown,
            float(len(view.terms)),
            span_top,
            span_align,
            span_fit if view.part.answer_type in TYPED_ANSWERS else 1.0,
            _names_missing(view, where),
            # no content word of the question occurs in the index (`focus` sorts an unknown word last)
            float(bool(view.focus) and view.focus[0] not in idf),
            _missing_weight(view, where),
            best[INDEX["near_s"]],
            float(bool(view.unit)),
            best[INDEX["unit_match"]],
            *(1.0 if view.part.answer_type == t else 0.0 for t in ANSWER_TYPES),
        ],
        dtype=np.float32,
    )
