"""Chinese word segmentation for the keyword index (rjieba: jieba's dictionary, in Rust)."""

from __future__ import annotations

import re

import rjieba

_KEEP = re.compile(r"[\w\u4e00-\u9fff]")
# Function words that match everywhere and carry no topic, and interrogatives (they say what is asked,
# not what it is about). Content words once listed here because particular dev questions used them
# (拿到, 职务, 部位, 指代, 目前, 文章, …) were removed: BM25 answer-in-top-5 without them is 0.9878 vs
# 0.9881 on DRCD (3,524 questions) and 0.982 vs 0.982 on CMRC 2018 trial, data they were not fitted on.
_STOPWORD_LIST = (
    "的 了 是 在 和 与 及 有 为 对 从 把 被 将 也 都 就 而 等 之 以 于 并 或 其 这 那 个 上 下 中 "
    "吗 呢 吧 啊 么 哪 什么 哪些 哪个 哪位 哪里 哪家 哪座 哪部 哪几 哪一天 哪天 哪一年 哪年 谁 几 多少 "
    "怎么 怎样 如何 为什么 是否 请问 一下 我们 他们 你们 它 他 她 "
    "几年 几个 几项 几期 几届 几天 几座 几位 几名 几家 几次"
)
STOPWORDS = frozenset(_STOPWORD_LIST.split())


_SURROGATE = re.compile(r"[\ud800-\udfff]")


def encodable(text: str) -> str:
    """`text` with lone surrogates (which no UTF-8 library accepts) replaced by U+FFFD, one for one.

    Front ends reject them at the edge; this keeps a library call from raising UnicodeEncodeError
    should one slip through (rjieba and the embedding engine both encode to UTF-8).
    """
    return _SURROGATE.sub("\ufffd", text)


CHINESE_NUMERALS = "零〇一二两三四五六七八九十百千万亿"
MAGNITUDES = "万亿"  # a magnitude counts as part of a number only after one (`30 万`)
_ENDS_NUMERAL = re.compile(rf"[0-9０-９{CHINESE_NUMERALS}]$")
_HAN = re.compile(r"[\u4e00-\u9fff]")
_MAX_REPAIRS = 32  # each repair tags the rest of the text again: a sentence needs a few, a table of numbers many


def pos_tag(text: str) -> list[tuple[str, str]]:
    """Part-of-speech tagging (rjieba) with one repair: right after a number, a word the dictionary does not
    know loses its first character, the measure word, to a word of its own (`4个赛项` → `4 个 赛项`, not
    `4 个赛 项`; `1892年出生` → `1892 年 出 生于`, not `1892 年出 生于`). jieba's HMM glues a measure word
    to the unknown word after it, and a short answer built from words then ends inside a word (`4个赛`,
    `1892年出`). Dictionary words stay whole (`2022年度`, `3个人`), and so does a magnitude's word (`30
    万人`: split, the ranker led with `1037万` for `1037万人`). With the shipped model, held-out DRCD and
    CMRC trial short answers went from EM/F1 0.399/0.624 to 0.403/0.625, and the 118 news questions of
    `bench/answer_eval.py` from 0.441/0.625 to 0.458/0.628."""
    rest = encodable(text)
    out: list[tuple[str, str]] = []
    repairs = 0
    while True:
        at = 0
        for word, pos in rjieba.tag(rest):
            if (
                repairs < _MAX_REPAIRS
                and out
                and out[-1][1].startswith("m")
                and _ENDS_NUMERAL.search(out[-1][0])
                and len(word) >= 2
                and _HAN.match(word)
                and word[0] not in MAGNITUDES
                and not rjieba.has_word(word)
            ):
                out.append(rjieba.tag(word[0], False)[0])  # its tag on its own: 个 q, 年 m
                rest = rest[at + 1 :]  # what follows the measure word, tagged again on its own
                repairs += 1
                break
            out.append((word, pos))
            at += len(word)
        else:
            return out


def tokenize(text: str) -> list[str]:
    """Search-mode segmentation: whole words plus their dictionary sub-words (总工会 → 工会)."""
    tokens = []
    for token in rjieba.cut_for_search(encodable(text).lower()):
        token = token.strip()
        if not token or not _KEEP.search(token) or token in STOPWORDS:
            continue
        tokens.append(token)
    return tokens
