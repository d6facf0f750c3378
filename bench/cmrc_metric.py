"""The official CMRC 2018 metric (cmrc2018_evaluate.py): exact match after removing punctuation, and
character F1 from the longest common substring of the mixed segmentation (Chinese characters one by
one, other runs as words), the best over the gold answers."""

from __future__ import annotations

import re

_SP_CHAR = set("-:_*^/\\~`+=，。：？！“”；’《》……·、「」（）－～『』")
_HAN = re.compile(r"[\u4e00-\u9fa5]")
_WORDS = re.compile(r"\w+|[^\w\s]")  # stands in for nltk.word_tokenize on the non-Chinese runs


def mixed_segmentation(text: str, rm_punc: bool = False) -> list[str]:
    text = str(text).lower().strip()
    out: list[str] = []
    temp = ""
    for char in text:
        if rm_punc and char in _SP_CHAR:
            continue
        if _HAN.match(char) or char in _SP_CHAR:
            if temp:
                out.extend(_WORDS.findall(temp))
                temp = ""
            out.append(char)
        else:
            temp += char
    if temp:
        out.extend(_WORDS.findall(temp))
    return out


def remove_punctuation(text: str) -> str:
    return "".join(c for c in str(text).lower().strip() if c not in _SP_CHAR)


def _lcs(a: list[str], b: list[str]) -> int:
    best = 0
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0] * (len(b) + 1)
        for j, y in enumerate(b):
            if x == y:
                cur[j + 1] = prev[j] + 1
                best = max(best, cur[j + 1])
        prev = cur
    return best


def f1(answers: list[str], prediction: str | None) -> float:
    if not prediction:
        return 0.0
    scores = []
    pred = mixed_segmentation(prediction, rm_punc=True)
    for ans in answers:
        gold = mixed_segmentation(ans, rm_punc=True)
        common = _lcs(gold, pred)
        if common == 0 or not pred or not gold:
            scores.append(0.0)
            continue
        p, r = common / len(pred), common / len(gold)
        scores.append(2 * p * r / (p + r))
    return max(scores, default=0.0)


def exact(answers: list[str], prediction: str | None) -> float:
    if not prediction:
        return 0.0
    pred = remove_punctuation(prediction)
    return float(any(remove_punctuation(a) == pred for a in answers))
