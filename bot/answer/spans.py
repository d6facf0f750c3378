"""Candidate short answers inside a chosen sentence, and their features for the learned span ranker.

Candidates are runs of up to `MAX_WORDS` segmented words inside one clause (plus quoted and bracketed
strings, which may hold a comma); the model (trained on DRCD and CMRC 2018 trial gold answers) ranks
them by what the question asks for (its type and asked-for unit), the words around the candidate that
the question repeats, and how much of the candidate the question already says.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from retrieval.query import ANSWER_TYPES

from .features import _DATE, _HAN, _PUNCT, MAGNITUDES, NUM, PartView, SentenceInfo, char_ngrams, normalise

MAX_WORDS = 7
MAX_CHARS = 40
MAX_CLAUSES = 6
WINDOW = 12  # characters either side of a span in which the question's own words are counted
# A soft version of the exact slot match: the share of the question's bigrams next to its interrogative that
# the sentence repeats next to the span, on the same side (`多少家单位入选全省…` against `22家全省…` and
# `14家全市…`: the exact match is 0 for both, the right-hand share 4/7 against 2/7).
ALIGN = 8
_CLAUSE_CUT = re.compile(r"[，,；;：:]")
_STOP = re.compile(r"[，,。；;！!？?：:\n]")
_OPEN = "“「『《（(【〈"
_CLOSE = "”」』》）)】〉"
_ENCLOSED = re.compile(r"[“「『《（(【〈]([^“”「」『』《》（）()【】〈〉]{1,40})[”」』》）)】〉]")
_TAG_GROUPS = ("n", "nr", "ns", "nt", "nz", "m", "q", "v", "a", "t", "eng", "x")
_UNIT_TAGS = (_TAG_GROUPS.index("m"), _TAG_GROUPS.index("q"))

SPAN_FEATURES = (
    "chars", "words", "in_question_frac", "whole_in_question", "left_dist", "right_dist",
    "left_ctx_q", "right_ctx_q", "left_word_q", "right_word_q", "has_number", "starts_number",
    "ends_unit", "has_date", "enclosed", "clause", "left_punct", "right_punct", "unit_match", "list_marks",
    "pos_rel", "sentence_chars",
    "slot_left_match", "slot_right_match", "slot_left_dist", "slot_right_dist", "slot_left_empty",
    "slot_right_empty", "holds_anchor", "after_copula", "after_de", "before_de", "before_deng",
    "window_left", "window_right", "inside_terms", "type_fit", "head_suffix", "head_inside", "after_head",
    "work_fit", "q_work", "slot_left_soft", "slot_right_soft",
    *(f"first_{t}" for t in _TAG_GROUPS), *(f"last_{t}" for t in _TAG_GROUPS),
    *(f"q_{t}" for t in ANSWER_TYPES),
)  # fmt: skip


@dataclass(frozen=True)
class Span:
    start: int  # offsets in the sentence
    end: int
    text: str


_LEFT_FUNCTION = "是为的了在于有被把将叫称由和与及"
_RIGHT_FUNCTION = "是的了有呢吗个位种次年名"


def _anchors(slot: tuple[str, str]) -> tuple[str, str]:
    """Two characters on each side of the interrogative, past function words (`投入了多少` → `投入`)."""
    left = slot[0].rstrip(_LEFT_FUNCTION)
    right = slot[1].lstrip(_RIGHT_FUNCTION)
    return (left[-2:] if len(left) >= 2 else ""), (right[:2] if len(right) >= 2 else "")


def _common_suffix(text: str, end: int, other: str, cap: int = 10) -> int:
    k = 0
    while k < cap and k < end and k < len(other) and text[end - 1 - k] == other[-1 - k]:
        k += 1
    return k


def _common_prefix(text: str, start: int, other: str, cap: int = 10) -> int:
    k = 0
    while k < cap and start + k < len(text) and k < len(other) and text[start + k] == other[k]:
        k += 1
    return k


# A name in a news byline (features.BYLINE) answers no question but one about the reporting: a 谁 question
# once led with the reporter.
_ASKS_REPORTER = re.compile(r"记者|通讯员|报道|作者|撰稿|采写")


def in_byline(info: SentenceInfo, question: str, spans: Sequence[Span]) -> np.ndarray:
    """Which candidates lie inside the sentence's byline (all False when the question asks about the
    reporting)."""
    bylines = () if _ASKS_REPORTER.search(question) else info.bylines
    return np.asarray([any(a <= s.start and s.end <= b for a, b in bylines) for s in spans], dtype=bool)


def _balanced(piece: str) -> bool:
    """Quote marks and brackets only in pairs, each opened before it closes: `“陇原工匠` and `178”(易企办`
    are no answers to show."""
    depth = 0
    for c in piece:
        if c in _OPEN:
            depth += 1
        elif c in _CLOSE:
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


def _group(tag: str) -> str:
    for g in ("nr", "ns", "nt", "nz", "eng"):
        if tag.startswith(g):
            return g
    return tag[:1] if tag[:1] in ("n", "m", "q", "v", "a", "t", "x") else "other"


@lru_cache(maxsize=4096)
def candidate_spans(info: SentenceInfo) -> tuple[tuple[Span, int, int], ...]:
    """(span, first word, last word + 1) for every candidate; enclosed strings use word bounds -1."""
    words = info.tagged
    offsets = []
    pos = 0
    for w, _ in words:
        offsets.append(pos)
        pos += len(w)
    text = info.text
    seen: set[tuple[int, int]] = set()
    out: list[tuple[Span, int, int]] = []
    n = len(words)
    for i in range(n):
        w, tag = words[i]
        if tag == "x" and w not in _OPEN:
            continue
        for j in range(i + 1, min(n, i + MAX_WORDS) + 1):
            last, last_tag = words[j - 1]
            if _STOP.search(last):  # a space inside a line does not end a span: scans print `技术工人 100.5 万人次`
                break
            if last_tag == "x" and last not in _CLOSE and j - 1 > i:
                continue
            a, b = offsets[i], offsets[j - 1] + len(last)
            if b - a > MAX_CHARS:
                break
            if (a, b) not in seen and text[a:b].strip() and _balanced(text[a:b]):
                seen.add((a, b))
                out.append((Span(a, b, text[a:b]), i, j))
    for m in _ENCLOSED.finditer(text):
        for a, b in ((m.start(), m.end()), (m.start(1), m.end(1))):
            if (a, b) not in seen:
                seen.add((a, b))
                out.append((Span(a, b, text[a:b]), -1, -1))
    # runs of whole clauses, up to the whole sentence: many answers (reasons, descriptions) are clauses
    cuts = [0] + [m.end() for m in _CLAUSE_CUT.finditer(text)] + [len(text)]
    clauses = [
        (a, a + len(text[a:b].rstrip("，,；;：: 。！？!?")))
        for a, b in zip(cuts, cuts[1:], strict=False)
        if text[a:b].strip()
    ]
    for i in range(len(clauses)):
        for j in range(i, min(len(clauses), i + MAX_CLAUSES)):
            a, b = clauses[i][0], clauses[j][1]
            while a < b and text[a].isspace():
                a += 1
            if b > a and (a, b) not in seen and _balanced(text[a:b]):
                seen.add((a, b))
                out.append((Span(a, b, text[a:b]), -1, -1))
    return tuple(out)


def whole_enumeration(info: SentenceInfo, start: int, end: int) -> tuple[int, int]:
    """The span grown, item by item, over the enumeration it belongs to (`广州、上海` in
    `在广州、上海、海口联合举办` → `广州、上海、海口`): a question that asks for a list wants every item.
    An item is a run of whole words about as long as the span's longest item (the last item has no mark
    where it ends). On held-out DRCD and CMRC trial list questions this changed 7 of 84 top spans, whose
    mean F1 rose from 0.36 to 0.53; on other questions it changed 48 of 1,275 and lowered their F1 from
    0.37 to 0.29, so the reader grows the answers of list questions only. A list inside quotation marks is
    taken whole: news quotes slogans as lists, whose items the word-length rule cuts (`上的京津冀`); on the
    held-out list questions, which quote no lists, this changes nothing."""
    text = info.text
    starts = _word_starts(info)
    longest = max(len(item) for item in text[start:end].split("、")) + 1
    while start > 1 and text[start - 1] == "、":
        k = bisect_left(starts, start - 1)  # the word after which the previous item ends
        item = start - 1
        while k > 0 and start - 1 - starts[k - 1] <= longest and not _STOP.search(text[starts[k - 1] : item]):
            k -= 1
            item = starts[k]
            if start - 1 - item >= longest - 1:
                break
        if item == start - 1 or "、" in text[item : start - 1]:
            break
        start = item
    while end < len(text) - 1 and text[end] == "、":
        k = bisect_right(starts, end + 1) - 1
        item = end + 1
        while k + 1 < len(starts) and starts[k + 1] - end - 1 <= longest:
            if _STOP.search(text[item : starts[k + 1]]) or "、" in text[item : starts[k + 1]]:
                break
            k += 1
            item = starts[k]
            if item - end - 1 >= longest - 1:
                break
        if item == end + 1:
            break
        end = item
    for m in _ENCLOSED.finditer(text):  # a quoted list is one list: `“轨道上的京津冀、创新京津冀、美丽京津冀”`
        if m.start(1) <= start and end <= m.end(1) and "、" in m.group(1) and (start, end) != m.span(1):
            return m.start(1), m.end(1)
    return start, end


def without_asked_words(info: SentenceInfo, start: int, end: int, question: str) -> tuple[int, int]:
    """A number's span without the question's own words in front (`专项资金100万元` asked `多少专项资金`
    → `100万元`): `多少` asks for the quantity. Whole words of two or more characters only, and the rest
    must start with the number (`容量为101` stays). On held-out DRCD and CMRC trial number questions this
    changes 2 of 106 top spans, both to the gold answer (`有效期二十年` → `二十年`); on other types a
    trim of the question's words lowered F1 (−0.4 points overall), so only number questions are trimmed."""
    starts = _word_starts(info)
    k = bisect_left(starts, start)
    while k + 1 < len(starts) and starts[k] == start and starts[k + 1] < end:
        word = info.text[starts[k] : starts[k + 1]]
        if len(word) < 2 or word not in question or not info.numeric[starts[k + 1]]:
            break
        k += 1
        start = starts[k]
    return start, end


def with_its_number(info: SentenceInfo, start: int, end: int) -> tuple[int, int]:
    """A span that starts right after a number starts with that number: `日至28日` of `26日至28日` is no
    answer to show. The measure-word split (retrieval.tokenize.pos_tag) made `日` a word of its own, and the
    ranker once led with it. On held-out DRCD and CMRC trial questions it changes one short answer
    (`公里的路段` → `2.8公里的路段`)."""
    text, numeric = info.text, info.numeric
    if 0 < start < end and not numeric[start] and numeric[start - 1]:
        while start > 0 and (numeric[start - 1] or text[start - 1] in " .．,"):
            start -= 1
    return start, end


def without_loose_ends(info: SentenceInfo, start: int, end: int) -> tuple[int, int]:
    """The span without a conjunction or particle dangling at either end: no answer ends with `和`, `而`,
    `的`, `了` or `所` (`王羲之的` → `王羲之`, `新浪和` → `新浪`), nor starts with a conjunction (`而同姓者…`).
    Single-character words the tagger calls a conjunction (c) or a particle (u; at the end only). On
    held-out DRCD and CMRC trial questions this changed 20 of 1,189 shown short answers: EM 0.407 → 0.410,
    F1 0.6264 → 0.6269."""
    words, starts = info.tagged, _word_starts(info)
    first = bisect_left(starts, start)
    last = bisect_left(starts, end) - 1  # the word that ends at `end`, when spans end on word bounds
    while first < last and starts[first] == start and len(words[first][0]) == 1 and words[first][1][:1] == "c":
        first += 1
        start = starts[first]
    while last > first and starts[last + 1] == end and len(words[last][0]) == 1 and words[last][1][:1] in "cu":
        end = starts[last]
        last -= 1
    return start, end


_RANGE_MARK = r"\s*(?:至|到|~|～|－|—|-)\s*"
_RANGE_END = rf"(?:{NUM})(?:\s*(?:余|多))?(?:\s*(?:万|亿))?(?:\s*[\u4e00-\u9fff%％])?"
_RANGE_AFTER = re.compile(_RANGE_MARK + _RANGE_END)
_RANGE_BEFORE = re.compile(_RANGE_END + _RANGE_MARK + "$")


def whole_range(info: SentenceInfo, start: int, end: int) -> tuple[int, int]:
    """A number that is one end of a range answers with the whole range (`50米` of `50米至1,520米`, `20厘米`
    of `15至20厘米`): the question asks how much, and the text says between what. On held-out DRCD and
    CMRC trial number questions this changed 6 of 102 short answers, each to the range: F1 0.714 → 0.727."""
    text = info.text
    if not any(info.numeric[start:end]):
        return start, end
    after = _RANGE_AFTER.match(text, end)
    if after:
        end = after.end()
    window = text[max(0, start - 16) : start]
    before = _RANGE_BEFORE.search(window)
    if before:
        start -= len(window) - before.start()
    return start, end


_ASKS_DAY = re.compile(r"哪一?天|哪日|几号|几日|何日|日期")
_ASKS_YEAR = re.compile(r"哪一?年|何年|哪个年份|什么年份")
_DATE_PIECE = re.compile(rf"(?:{NUM}|[元正])\s*(?:年|月|日|号)")


def asked_date_precision(info: SentenceInfo, start: int, end: int, question: str) -> tuple[int, int]:
    """A date as precise as the question asks: `哪一天` wants the day, so `2014年` grows over the run of
    date pieces it starts (`2014年1月1日`); `哪一年` wants the year, so `嘉靖七年二月` loses its month. The
    ranker, trained on questions that mostly ask a year, led with `2014年` for `从哪一天开始施行的？`. On
    held-out DRCD and CMRC trial date questions (2 of 163 ask a day, 88 a year) F1/EM went from 0.787/0.640
    to 0.789/0.646; two news questions that ask a day are now answered exactly. Growing every date to its
    whole run, asked or not, lowered held-out F1 (0.787 → 0.773)."""
    text = info.text
    runs: list[list[int]] = []  # maximal runs of adjacent date pieces: 2014年 1月 1日
    for m in _DATE_PIECE.finditer(text):
        if runs and m.start() == runs[-1][1]:
            runs[-1][1] = m.end()
        else:
            runs.append([m.start(), m.end()])
    if _ASKS_DAY.search(question):
        for a, b in runs:
            if a < end and start < b:
                return min(start, a), max(end, b)
    elif _ASKS_YEAR.search(question):
        for m in _DATE_PIECE.finditer(text, start, end):
            if m.group(0).endswith("年") and m.end() < end and _DATE_PIECE.match(text, m.end()):
                return start, m.end()
    return start, end


_DATE_MODIFIER = re.compile(r"[代初底末前后中旬左右上下多余]")  # `1980年代`, `2月底`, `9500万年前`: part of it


def ends_with_its_date(info: SentenceInfo, start: int, end: int) -> tuple[int, int]:
    """A date's short answer ends with its last date piece, not with the word or two after it (`1981年时`
    → `1981年`, `1589年7月17日发生` → `1589年7月17日`), unless that word modifies the date (`1980年代`,
    `2月底`). On held-out DRCD and CMRC trial date questions this changed 7 of 161 short answers, each to
    the gold answer or closer: F1/EM 0.789/0.646 → 0.795/0.671."""
    text = info.text
    last = None
    for m in _DATE_PIECE.finditer(text, start, end):
        last = m
    if (
        last is not None
        and 0 < end - last.end() <= 2
        and not _DATE_MODIFIER.match(text, last.end())
        and all(_HAN.match(ch) for ch in text[last.end() : end])
    ):
        return start, last.end()
    return start, end


_SPACE_BY_HAN = re.compile(r"[ \t\u3000]+(?=[\u4e00-\u9fff])|(?<=[\u4e00-\u9fff])[ \t\u3000]+")


def shown_text(span: str) -> str:
    """A short answer as it leads the reply: a scan's spaces next to Chinese characters dropped
    (`100.5 万人次` → `100.5万人次`); the quote keeps the article's text, and the span's offsets into it."""
    return _SPACE_BY_HAN.sub("", span)


def _in_title_marks(text: str, a: int, b: int) -> bool:
    """The span is a name in 《》, with or without the marks."""
    marked = text[a] == "《" and text[b - 1] == "》"
    return marked or (a > 0 and b < len(text) and text[a - 1] == "《" and text[b] == "》")


def _word_starts(info: SentenceInfo) -> list[int]:
    starts = [0]
    for w, _ in info.tagged:
        starts.append(starts[-1] + len(w))
    return starts


def _bigram_hits(text: str, grams: frozenset[str]) -> float:
    norm = normalise(text)
    return sum(1 for k in range(len(norm) - 1) if norm[k : k + 2] in grams) / 3.0


def _side_grams(side: str, at_end: bool) -> frozenset[str]:
    """Bigrams of the question's words next to the interrogative, on one side (8 characters)."""
    norm = normalise(side)
    return frozenset(char_ngrams(norm[-ALIGN:] if at_end else norm[:ALIGN], 2))


def _share(window: str, grams: frozenset[str]) -> float:
    return len(char_ngrams(window, 2) & grams) / len(grams) if grams else 0.0


def _prefix(flags: list[bool] | list[int]) -> np.ndarray:
    """Counts before each position: a span [a, b) holds `out[b] - out[a]`."""
    return np.concatenate([[0], np.cumsum(np.asarray(flags, dtype=np.int64))])


def _inside(
    occurrences: list[tuple[int, int, int]], weights: tuple[float, ...], total: float, a: np.ndarray, b: np.ndarray
) -> np.ndarray:
    """Per range [a, b) (a candidate, or the window either side of it): the share of the question's
    (idf-weighted) words that occur inside it."""
    if not occurrences:
        return np.zeros(len(a))
    starts = np.asarray([o[0] for o in occurrences])
    ends = np.asarray([o[1] for o in occurrences])
    terms = np.asarray([o[2] for o in occurrences])
    inside = (starts[None, :] >= a[:, None]) & (ends[None, :] <= b[:, None])  # [candidate, occurrence]
    present = np.zeros((len(a), len(weights)), dtype=bool)
    for k in np.unique(terms).tolist():
        present[:, k] = inside[:, terms == k].any(axis=1)
    return present @ np.asarray(weights, dtype=np.float64) / total


def span_features(view: PartView, info: SentenceInfo) -> tuple[np.ndarray, list[Span]]:
    """One row per candidate, computed a column at a time: what depends on where a span starts or ends
    (its context, its distance to the question's words) once per position, what it holds from prefix
    counts. A sentence has a few hundred candidates and this runs on every question: issue 8 asks ≤ 10 ms
    for the whole answer step, and a loop over candidates took 6–9 ms a sentence."""
    cands = candidate_spans(info)
    text = info.text
    size = len(text)
    lowered = ["" if _PUNCT.match(ch) else ch.lower() for ch in text]
    kept = _prefix([len(low) for low in lowered])
    keep = [(span, i, j) for span, i, j in cands if kept[span.end] > kept[span.start]]
    if not keep:
        return np.zeros((0, len(SPAN_FEATURES)), dtype=np.float32), []
    q_text = normalise(view.part.text + "".join(view.part.terms))
    q_chars = set(q_text)
    norm_text = "".join(lowered)
    in_q = _prefix([sum(1 for c in low if c in q_chars) for low in lowered])
    # a span holds a number when it holds a numeral, not only the magnitude of one outside it (`亿元` of
    # `1.1 亿元`, which a 多少 question led with)
    numeric = _prefix([n and ch not in MAGNITUDES for ch, n in zip(text, info.numeric, strict=True)])
    marks = _prefix([ch in "、和" for ch in text])
    date_spans = [(m.start(), m.end()) for m in _DATE.finditer(text)]
    # where the question's words sit in the sentence: an answer is usually right next to them
    occurrences = [
        (m.start(), m.end(), k)
        for k, t in enumerate(view.terms)
        if len(t) >= 2
        for m in re.finditer(re.escape(t), text)
    ]
    hits = [(start, end) for start, end, _ in occurrences]
    total_weight = sum(view.weights) or 1.0

    hit_ends = sorted(e for _, e in hits)
    hit_starts = sorted(s for s, _ in hits)
    words = info.tagged
    starts = _word_starts(info)
    word_at = [len(words)] * (size + 1)
    for k in range(len(words)):
        for pos in range(starts[k], min(starts[k + 1], size)):
            word_at[pos] = k
    group_index = {g: k for k, g in enumerate(_TAG_GROUPS)}
    tag_ids = [group_index.get(_group(t), -1) for _, t in words] + [group_index["x"]]
    word_in_q = [w in view.words for w, _ in words] + [False]
    # does the span hold what the question asks for: a name of the asked kind, a number, a date
    asked = view.part.answer_type
    kind = {"person": ("nr",), "place": ("ns",), "org": ("nt", "nz")}.get(asked, ())
    kind_words = _prefix([bool(kind) and t.startswith(kind) for _, t in words] + [False])
    slot = view.part.slot
    head = view.part.head  # `哪一条河` → 河: `淡水河` ends with it
    left_anchor, right_anchor = _anchors(slot)
    left_grams, right_grams = _side_grams(slot[0], True), _side_grams(slot[1], False)
    left_ends = sorted(m.end() for m in re.finditer(re.escape(left_anchor), text)) if left_anchor else []
    right_starts = sorted(m.start() for m in re.finditer(re.escape(right_anchor), text)) if right_anchor else []

    def at_start(a: int) -> tuple[float, ...]:
        k = bisect_right(hit_ends, a)
        m = bisect_right(left_ends, a)
        before = text[a - 1] if a > 0 else ""
        return (
            float(min(a - hit_ends[k - 1], 99)) if k else 99.0,
            _bigram_hits(text[max(0, a - 4) : a], view.bigrams),
            float(a == 0 or bool(_STOP.match(before))),
            float(a == 0 or not before.isalnum()),
            float(_common_suffix(text, a, slot[0])),
            float(a - left_ends[m - 1]) if m else 99.0,
            float(before != "" and before in "是为"),
            float(before != "" and before in _OPEN),
            float(a < size and text[a] in _OPEN),
            float(a < size and info.numeric[a]),
            float(before == "的"),
            _share(text[max(0, a - ALIGN - 2) : a], left_grams),
        )

    def at_end(b: int) -> tuple[float, ...]:
        k = bisect_left(hit_starts, b)
        m = bisect_left(right_starts, b)
        after = text[b] if b < size else ""
        return (
            float(min(hit_starts[k] - b, 99)) if k < len(hit_starts) else 99.0,
            _bigram_hits(text[b : b + 4], view.bigrams),
            float(b >= size or bool(_STOP.match(after))),
            float(b >= size or not after.isalnum()),
            float(_common_prefix(text, b, slot[1])),
            float(right_starts[m] - b) if m < len(right_starts) else 99.0,
            float(after != "" and after in _CLOSE),
            float(b > 0 and text[b - 1].isdigit()),
            float(bool(view.unit) and text[max(0, b - len(view.unit or "")) : b] == view.unit),
            float(after == "的"),
            float(after == "等"),
            _share(text[b : b + ALIGN + 2], right_grams),
        )

    a = np.asarray([span.start for span, _, _ in keep])
    b = np.asarray([span.end for span, _, _ in keep])
    # per position, only where some candidate starts or ends (word boundaries: about half the positions)
    left = np.zeros((size + 1, len(at_start(0))))
    right = np.zeros((size + 1, len(at_end(size))))
    for pos in np.unique(a).tolist():
        left[pos] = at_start(pos)
    for pos in np.unique(b).tolist():
        right[pos] = at_end(pos)
    i = np.asarray([i if i >= 0 else word_at[span.start] for span, i, _ in keep])
    j = np.asarray([j if i >= 0 else word_at[span.end - 1] + 1 for span, i, j in keep])
    first = np.asarray(tag_ids)[np.minimum(i, len(words))]
    last = np.asarray(tag_ids)[np.where(j > 0, j - 1, len(words))]
    length = (kept[b] - kept[a]).astype(np.float64)
    if asked == "number":
        type_fit = (numeric[b] - numeric[a] > 0).astype(np.float64)
    elif asked == "date":
        type_fit = np.asarray([any(x <= d0 and d1 <= y for d0, d1 in date_spans) for x, y in zip(a, b, strict=True)])
    else:
        type_fit = (kind_words[j] - kind_words[np.minimum(i, len(words))] > 0).astype(np.float64)
    n_chars = float(size)
    columns = [
        length,
        (j - i).astype(np.float64),
        (in_q[b] - in_q[a]) / length,
        np.asarray([norm_text[kept[x] : kept[y]] in q_text for x, y in zip(a, b, strict=True)], dtype=np.float64),
        left[a, 0],
        right[b, 0],
        left[a, 1],
        right[b, 1],
        np.asarray(word_in_q)[np.maximum(i - 1, 0)] * (i > 0),
        np.asarray(word_in_q)[np.minimum(j, len(words))] * (j < len(words)),
        (numeric[b] - numeric[a] > 0).astype(np.float64),
        left[a, 9],
        np.isin(first * 0 + last, _UNIT_TAGS) * (1 - right[b, 7]),
        np.asarray([any(a0 >= x and b0 <= y for a0, b0 in date_spans) for x, y in zip(a, b, strict=True)], dtype=float),
        np.maximum(left[a, 8], left[a, 7] * right[b, 6]),
        left[a, 2] * right[b, 2],
        left[a, 3],
        right[b, 3],
        right[b, 8],
        (marks[b] - marks[a]).astype(np.float64),
        a / max(1.0, n_chars),
        np.full(len(a), n_chars),
        left[a, 4],
        right[b, 4],
        left[a, 5],
        right[b, 5],
        np.full(len(a), float(not slot[0])),
        np.full(len(a), float(not slot[1])),
        np.asarray(
            [
                bool(left_anchor and left_anchor in span.text) or bool(right_anchor and right_anchor in span.text)
                for span, _, _ in keep
            ],
            dtype=np.float64,
        ),
        left[a, 6],
        left[a, 10],
        right[b, 9],
        right[b, 10],
        _inside(occurrences, view.weights, total_weight, a - WINDOW, a),
        _inside(occurrences, view.weights, total_weight, b, b + WINDOW),
        _inside(occurrences, view.weights, total_weight, a, b),
        type_fit,
        np.asarray([_common_suffix(span.text, len(span.text), head, 4) for span, _, _ in keep], dtype=np.float64),
        np.asarray([bool(head) and head in span.text for span, _, _ in keep], dtype=np.float64),
        # apposition: `常委李强`, `艺名纳豆`, `电影《流浪地球2》`: the asked noun right before the answer
        np.asarray([bool(head) and head in text[max(0, x - len(head) - 2) : x] for x in a.tolist()], dtype=np.float64),
        np.asarray([_in_title_marks(text, x, y) for x, y in zip(a.tolist(), b.tolist(), strict=True)], dtype=np.float64)
        * float(view.part.asks_work),
        np.full(len(a), float(view.part.asks_work)),
        left[a, 11],
        right[b, 11],
    ]
    out = np.zeros((len(keep), len(SPAN_FEATURES)), dtype=np.float32)
    out[:, : len(columns)] = np.stack(columns, axis=1)
    groups = len(_TAG_GROUPS)
    rows = np.arange(len(keep))
    base = len(columns)
    out[rows[first >= 0], base + first[first >= 0]] = 1.0
    out[rows[last >= 0], base + groups + last[last >= 0]] = 1.0
    if view.part.answer_type in ANSWER_TYPES:
        out[:, base + 2 * groups + ANSWER_TYPES.index(view.part.answer_type)] = 1.0
    return out, [span for span, _, _ in keep]
