"""Candidate short answers inside a chosen sentence, and their features for the learned span ranker.

Candidates are runs of up to `MAX_WORDS` segmented words inside one clause (plus quoted and bracketed
strings, which may hold a comma); the model (trained on DRCD and CMRC 2018 trial gold answers) ranks
them by what the question asks for (its type and asked-for unit), the words around the candidate that
the question repeats, and how much of the candidate the question already says.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from retrieval.query import ANSWER_TYPES

from .features import _DATE, _NUMBER, PartView, SentenceInfo, normalise

MAX_WORDS = 7
MAX_CHARS = 40
MAX_CLAUSES = 6
_CLAUSE_CUT = re.compile(r"[，,；;：:]")
_STOP = re.compile(r"[，,。；;！!？?：:\n]")
_OPEN = "“「『《（(【〈"
_CLOSE = "”」』》）)】〉"
_ENCLOSED = re.compile(r"[“「『《（(【〈]([^“”「」『』《》（）()【】〈〉]{1,40})[”」』》）)】〉]")
_TAG_GROUPS = ("n", "nr", "ns", "nt", "nz", "m", "q", "v", "a", "t", "eng", "x")

SPAN_FEATURES = (
    "chars", "words", "in_question_frac", "whole_in_question", "left_dist", "right_dist",
    "left_ctx_q", "right_ctx_q", "left_word_q", "right_word_q", "has_number", "starts_number",
    "ends_unit", "has_date", "enclosed", "clause", "left_punct", "right_punct", "unit_match", "list_marks",
    "pos_rel", "sentence_chars",
    *(f"first_{t}" for t in _TAG_GROUPS), *(f"last_{t}" for t in _TAG_GROUPS),
    *(f"q_{t}" for t in ANSWER_TYPES),
)  # fmt: skip


@dataclass(frozen=True)
class Span:
    start: int  # offsets in the sentence
    end: int
    text: str


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
            if _STOP.search(last) or last.isspace():
                break
            if last_tag == "x" and last not in _CLOSE and j - 1 > i:
                continue
            a, b = offsets[i], offsets[j - 1] + len(last)
            if b - a > MAX_CHARS:
                break
            if (a, b) not in seen and text[a:b].strip():
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
            if b > a and (a, b) not in seen:
                seen.add((a, b))
                out.append((Span(a, b, text[a:b]), -1, -1))
    return tuple(out)


def _word_index(info: SentenceInfo, at: int) -> int:
    pos = 0
    for k, (w, _) in enumerate(info.tagged):
        if pos + len(w) > at:
            return k
        pos += len(w)
    return len(info.tagged)


def span_features(view: PartView, info: SentenceInfo) -> tuple[np.ndarray, list[Span]]:
    cands = candidate_spans(info)
    if not cands:
        return np.zeros((0, len(SPAN_FEATURES)), dtype=np.float32), []
    text = info.text
    q_text = normalise(view.part.text + "".join(view.part.terms))
    q_chars = set(q_text)
    # where the question's words sit in the sentence: an answer is usually right next to them
    hits = [(m.start(), m.end()) for t in view.terms if len(t) >= 2 for m in re.finditer(re.escape(t), text)]
    words = info.tagged
    tags = [_group(t) for _, t in words]
    type_onehot = [1.0 if view.part.answer_type == t else 0.0 for t in ANSWER_TYPES]
    n_chars = float(len(text))
    rows = []
    spans = []
    for span, i, j in cands:
        a, b = span.start, span.end
        if i < 0:
            i, j = _word_index(info, a), _word_index(info, b - 1) + 1
        norm = normalise(span.text)
        if not norm:
            continue
        left_d = min((a - e for s, e in hits if e <= a), default=99)
        right_d = min((s - b for s, e in hits if s >= b), default=99)
        left_ctx = normalise(text[max(0, a - 4) : a])
        right_ctx = normalise(text[b : b + 4])
        first_tag, last_tag = tags[i] if i < len(tags) else "x", tags[j - 1] if 0 < j <= len(tags) else "x"
        rows.append(
            [
                float(len(norm)),
                float(j - i),
                sum(1 for c in norm if c in q_chars) / len(norm),
                float(norm in q_text),
                float(min(left_d, 99)),
                float(min(right_d, 99)),
                sum(1 for k in range(len(left_ctx) - 1) if left_ctx[k : k + 2] in view.bigrams) / 3.0,
                sum(1 for k in range(len(right_ctx) - 1) if right_ctx[k : k + 2] in view.bigrams) / 3.0,
                float(i > 0 and words[i - 1][0] in view.words),
                float(j < len(words) and words[j][0] in view.words),
                float(bool(_NUMBER.search(span.text))),
                float(bool(_NUMBER.match(span.text))),
                float(last_tag in ("m", "q") and not span.text[-1].isdigit()),
                float(bool(_DATE.search(span.text))),
                float(
                    span.text[:1] in _OPEN or (a > 0 and text[a - 1] in _OPEN and b < len(text) and text[b] in _CLOSE)
                ),
                float((a == 0 or bool(_STOP.match(text[a - 1]))) and (b >= len(text) or bool(_STOP.match(text[b])))),
                float(a == 0 or not text[a - 1].isalnum()),
                float(b >= len(text) or not text[b].isalnum()),
                float(bool(view.unit) and span.text.endswith(view.unit or "")),
                float(span.text.count("、") + span.text.count("和")),
                a / max(1.0, n_chars),
                n_chars,
                *(1.0 if first_tag == g else 0.0 for g in _TAG_GROUPS),
                *(1.0 if last_tag == g else 0.0 for g in _TAG_GROUPS),
                *type_onehot,
            ]
        )
        spans.append(span)
    return np.asarray(rows, dtype=np.float32).reshape(-1, len(SPAN_FEATURES)), spans
