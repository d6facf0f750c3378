"""Checking a generated answer against the sources it cites, before anyone sees the final text.

Models cite in many shapes (`【1】`, `[1,2]`, `(来源1)`), cite sources that were never shown, and
change numbers. This module normalises every marker to `[n]`, drops markers to sources that do
not exist, picks for each cited source the chunk sentence that best supports its claim (the
`quote`), and lists answer sentences carrying a number or a name that none of their cited
sources contains (a number counts as found only with the same unit after it, so `1520批` does
not pass for a source's `1520名`). Pure functions over strings and chunks: no model, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import rjieba

from retrieval.chunking import ENTITY_BEFORE, Chunk
from retrieval.tokenize import CHINESE_NUMERALS, MAGNITUDES, tokenize

_FULLWIDTH = str.maketrans("０１２３４５６７８９［］，．", "0123456789[],.")
_NUMS = r"[0-9０-９]+(?:\s*(?:[,，、;；/和及]|-|–|~|～|至)\s*[0-9０-９]+)*"
_PREFIX = r"(?:参考资料|参考|来源|资料|文献|出处|引用|source)\s*[:：#]?\s*"
# `[1]` `[1,2]` `【1】` `［１］` `[^1]` `[来源1]` ; leading blanks are swallowed with the marker
_SQUARE = re.compile(rf"[ \t]*[\[【［]\s*\^?\s*(?:{_PREFIX})?(?P<nums>{_NUMS})\s*[\]】］]", re.IGNORECASE)
# `(来源1)` `（来源：1、2）` `（见资料1）`: round brackets only with a source word (plain `（1）` is a list item)
_ROUND = re.compile(rf"[ \t]*[(（]\s*(?:见|参见|据)?\s*{_PREFIX}(?P<nums>{_NUMS})\s*[)）]", re.IGNORECASE)
# `（[1]）` `（来源[1][2]）` after the markers inside were normalised
_WRAPPED = re.compile(rf"[ \t]*[(（]\s*(?:见|参见|据)?\s*(?:{_PREFIX})?(?P<inner>(?:\[\d+\]\s*)+)[)）]", re.IGNORECASE)
_MARKER = re.compile(r"\[(\d+)\]")
_ADJACENT = re.compile(r"\](?:[ \t]+)\[")

TERMINALS = "。！？!?；;"
_CLOSERS = '”’"」』）)'
_TRAILING_MARKERS = re.compile(r"(?:[ \t]*\[\d+\])+")

_ARABIC = re.compile(r"\d+(?:,\d{3})*(?:\.\d+)?")
_CN_RUN = re.compile(rf"[{CHINESE_NUMERALS}]+")
_CN_DIGIT = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_CN_UNIT = {"十": 10, "百": 100, "千": 1000}
_NAME_TAGS = ("nr", "nrt", "nrfg", "ns", "nt")
_HAN_CHAR = re.compile(r"[\u4e00-\u9fff]")


@dataclass
class Normalised:
    text: str
    removed: list[int] = field(default_factory=list)  # marker numbers that pointed to no source


def _expand(nums: str) -> list[int]:
    out: list[int] = []
    nums = nums.translate(_FULLWIDTH)
    for part in re.split(r"\s*(?:[,，、;；/和及])\s*", nums):
        bounds = re.split(r"\s*(?:-|–|~|～|至)\s*", part)
        if len(bounds) == 2 and bounds[0].isdigit() and bounds[1].isdigit():
            low, high = int(bounds[0]), int(bounds[1])
            out.extend(range(low, high + 1) if 0 <= high - low <= 20 else (low, high))
        else:
            out.extend(int(b) for b in bounds if b.isdigit())
    return out


def normalise_markers(text: str, n_sources: int) -> Normalised:
    """Every citation shape becomes `[n]`; markers outside 1..n_sources are removed."""
    removed: list[int] = []

    def replace(match: re.Match) -> str:
        kept: list[int] = []
        for n in _expand(match.group("nums")):
            if 1 <= n <= n_sources:
                if n not in kept:
                    kept.append(n)
            else:
                removed.append(n)
        return "".join(f"[{n}]" for n in kept)

    text = _SQUARE.sub(replace, text)
    text = _ROUND.sub(replace, text)
    text = _WRAPPED.sub(lambda m: re.sub(r"\s+", "", m.group("inner")), text)
    text = _ADJACENT.sub("][", text)
    text = re.sub(r"(\[\d+\])\1+", r"\1", text)
    return Normalised(text, removed)


class StreamingMarkerFilter:
    """Normalises markers in a token stream, holding back only an unclosed bracket (≤ 24 chars).

    Text outside brackets passes through at once, so forwarding latency stays at zero for it.
    """

    OPENERS, CLOSERS, HOLD = "[【［(（", "]】］)）", 24

    def __init__(self, n_sources: int) -> None:
        self.n_sources = n_sources
        self.pending = ""

    def feed(self, piece: str) -> str:
        self.pending += piece
        depth, opened = 0, None
        for i, ch in enumerate(self.pending):
            if ch in self.OPENERS:
                if depth == 0:
                    opened = i
                depth += 1
            elif ch in self.CLOSERS and depth:
                depth -= 1
        cut = len(self.pending)
        if depth and opened is not None and len(self.pending) - opened <= self.HOLD:
            cut = opened
        # hold trailing blanks too: a marker that follows (and may be removed) swallows them
        while cut > 0 and self.pending[cut - 1] in " \t":
            cut -= 1
        ready, self.pending = self.pending[:cut], self.pending[cut:]
        return normalise_markers(ready, self.n_sources).text if ready else ""

    def flush(self) -> str:
        ready, self.pending = self.pending, ""
        return normalise_markers(ready, self.n_sources).text if ready else ""


# -- sentences of the answer -----------------------------------------------------------------
@dataclass
class Claim:
    text: str  # as it appears in the answer, markers included
    body: str  # without markers
    cites: list[int]  # its own markers
    support: list[int]  # the sources it is checked against (own markers, else a neighbour's)


def _ends_sentence(text: str, i: int) -> bool:
    """`;` ends a sentence (scans use it for `；`), except the one that closes `&amp;`."""
    ch = text[i]
    if ch == "\n":
        return True
    if ch == ";" and ENTITY_BEFORE.search(text, max(0, i - 10), i):
        return False
    return ch in TERMINALS


def split_claims(text: str) -> list[Claim]:
    """Sentences of the answer; markers right after the full stop belong to the sentence before."""
    spans: list[tuple[int, int]] = []
    start = i = 0
    n = len(text)
    while i < n:
        if _ends_sentence(text, i):
            j = i + 1
            if text[i] != "\n":
                while j < n and text[j] in TERMINALS:
                    j += 1
                while j < n and text[j] in _CLOSERS:
                    j += 1
            tail = _TRAILING_MARKERS.match(text, j)
            j = tail.end() if tail else j
            spans.append((start, j))
            start = i = j
        else:
            i += 1
    if start < n:
        spans.append((start, n))
    claims = []
    for a, b in spans:
        raw = text[a:b].strip()
        if not raw:
            continue
        cites = list(dict.fromkeys(int(m) for m in _MARKER.findall(raw)))
        claims.append(Claim(raw, _MARKER.sub("", raw).strip(), cites, list(cites)))
    for k, claim in enumerate(claims):
        if claim.cites:
            continue
        after = next((c.cites for c in claims[k + 1 :] if c.cites), None)
        before = next((c.cites for c in reversed(claims[:k]) if c.cites), None)
        claim.support = list(after or before or [])
    return claims


# -- numbers and names -----------------------------------------------------------------------
def _cn_to_int(run: str) -> int | None:
    """`一千五百二十` → 1520, `两` → 2, `十三` → 13; None for runs that are not one number."""
    total = section = digit = 0
    seen_digit = False
    for ch in run:
        if ch in _CN_DIGIT:
            if seen_digit and digit:
                return None  # `一二`: two numbers side by side
            digit, seen_digit = _CN_DIGIT[ch], True
        elif ch in _CN_UNIT:
            section += (digit or 1) * _CN_UNIT[ch]
            digit, seen_digit = 0, False
        elif ch in MAGNITUDES:
            scale = 10_000 if ch == "万" else 100_000_000
            total = (total + section + digit) * scale
            section = digit = 0
            seen_digit = False
        else:
            return None
    return total + section + digit


def _canonical(number: str) -> str:
    number = number.replace(",", "")
    if "." in number:
        whole, frac = number.split(".", 1)
        frac = frac.rstrip("0")
        return f"{int(whole)}.{frac}" if frac else str(int(whole))
    return str(int(number))


_SKIP_AFTER = "万亿余多几"
_UNIT_CLASS = {"名": "人", "位": "人"}


def number_units(text: str, strict: bool = True) -> set[tuple[str, str]]:
    """(canonical number, the unit written after it) pairs: `32万余人` → ("32", "人").

    The unit is the first Han character (or %) after the number, past 万/亿/余/多; "" when the
    number is followed by punctuation or the end. `strict` (for answers) skips lone Chinese
    numerals inside words such as 一线 or 十分.
    """
    text = text.translate(_FULLWIDTH).replace("％", "%")
    found: set[tuple[str, str]] = set()

    def unit_at(k: int) -> str:
        while k < len(text) and (text[k] in _SKIP_AFTER or text[k] in " \t"):
            k += 1
        if k < len(text) and (_HAN_CHAR.match(text[k]) or text[k] == "%"):
            return _UNIT_CLASS.get(text[k], text[k])
        return ""

    for m in _ARABIC.finditer(text):
        found.add((_canonical(m.group(0)), unit_at(m.end())))
    for m in _CN_RUN.finditer(text):
        run = m.group(0)
        if strict and (len(run) < 2 or run[0] in "万亿千百"):
            continue
        value = _cn_to_int(run)
        if value is not None:
            found.add((str(value), unit_at(m.end())))
    return found


def numbers_in(text: str, strict: bool = True) -> set[str]:
    """Canonical numbers in text: `1,520` / `一千五百二十` → "1520"."""
    return {number for number, _ in number_units(text, strict)}


def unsupported_numbers(claim: set[tuple[str, str]], source: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """Claim numbers the sources lack, or carry only with another unit (`32批` vs `32名`)."""
    numbers = {n for n, _ in source}
    return {
        (n, unit)
        for n, unit in claim
        if n not in numbers or not (unit == "" or (n, unit) in source or (n, "") in source)
    }


def names_in(text: str) -> set[str]:
    """People, places and organisations (jieba tags) of two or more characters."""
    return {w for w, tag in rjieba.tag(text) if tag in _NAME_TAGS and len(w) >= 2}


# -- quotes and verification -----------------------------------------------------------------
def chunk_sentences(chunk: Chunk) -> list[str]:
    spans = chunk.sentences or [(0, len(chunk.text))]
    return [s for s in (chunk.text[a:b].strip() for a, b in spans) if s]


def best_sentence(claims: Iterable[str], chunk: Chunk, idf: Mapping[str, float]) -> str | None:
    """The chunk sentence sharing the most (idf-weighted) words and numbers with a claim."""
    sentences = chunk_sentences(chunk)
    if not sentences:
        return None
    sent_terms = [set(tokenize(s)) for s in sentences]
    sent_numbers = [numbers_in(s, strict=False) for s in sentences]
    best, best_score = sentences[0], -1.0
    for claim in claims:
        terms = set(tokenize(claim))
        numbers = numbers_in(claim)
        total = sum(idf.get(t, 1.0) for t in terms) or 1.0
        for k, sentence in enumerate(sentences):
            score = sum(idf.get(t, 1.0) for t in terms & sent_terms[k]) / total + 0.5 * len(numbers & sent_numbers[k])
            if score > best_score:
                best, best_score = sentence, score
    return best


@dataclass
class Verified:
    text: str
    quotes: dict[int, str]  # source number → best-supporting sentence of its chunk
    unsupported: list[str]  # answer sentences (as in `text`) with a number or name no cited source has
    removed: list[int]  # markers dropped because they pointed to no source


def verify(raw: str, chunks: list[Chunk], idf: Mapping[str, float] | None = None) -> Verified:
    """Normalise markers, choose quotes, flag unsupported numbers and names."""
    idf = idf or {}
    normalised = normalise_markers(raw.strip(), len(chunks))
    text = normalised.text
    claims = split_claims(text)
    by_source: dict[int, list[str]] = {}
    for claim in claims:
        for n in claim.cites:
            by_source.setdefault(n, []).append(claim.body)
    quotes = {}
    for n, bodies in sorted(by_source.items()):
        quote = best_sentence(bodies, chunks[n - 1], idf)
        if quote:
            quotes[n] = quote
    source_numbers = [number_units(c.title + "\n" + c.text, strict=False) for c in chunks]
    unsupported = []
    for claim in claims:
        numbers, names = number_units(claim.body), names_in(claim.body)
        if not numbers and not names:
            continue
        cited = [chunks[n - 1] for n in claim.support]
        known_numbers = set().union(*(source_numbers[n - 1] for n in claim.support))
        missing_number = unsupported_numbers(numbers, known_numbers)
        missing_name = {w for w in names if not any(w in c.text or w in c.title for c in cited)}
        if missing_number or missing_name:
            unsupported.append(claim.text)
    return Verified(text, quotes, unsupported, normalised.removed)
