"""Analyse a question once: what it asks, of what type, in how many parts, and what earlier turns supply.

Retrieval searches `Query.search_text`; the answer step scores sentences against `Query.terms` and each
`Part`. The interrogative lexicon below is general Chinese grammar (谁 asks for a person, 多少 for a
quantity), not words picked from evaluation questions: which of these signals matter, and how much, is
learned by the answer model (bot/answer), trained on DRCD and CMRC 2018 trial.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import rjieba

from .tokenize import tokenize

ANSWER_TYPES = ("number", "date", "person", "place", "org", "list", "reason", "other")

# Ordered: the first matching type wins (哪一年 is a date, not a number; 哪些城市 is a place list).
# `称为什么` / `叫什么` ask for a name, not a reason: 为什么 after 称作成叫名之 is 为 + 什么.
_TYPE_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "date",
        re.compile(
            r"什么时候|何时|哪一?年|哪一?天|哪一?日|几月|几号|几日|哪个月|什么时间|何年|哪个朝代|哪个世纪|日期|年份"
        ),
    ),
    ("person", re.compile(r"谁|哪一?位|哪几位|什么人|何人|哪个人|叫什么名字|姓名")),
    ("place", re.compile(r"哪里|哪儿|何地|何处|什么地方|哪座|哪个(?:城市|省|国家|地区|县|市|州)|在哪|位于")),
    (
        "org",
        re.compile(
            r"哪家|哪个(?:公司|机构|组织|单位|部门|团体|学校|大学|球队|队)|什么(?:公司|机构|组织|单位|部门)|哪所|哪支"
        ),
    ),
    ("number", re.compile(r"多少|(?<!哪)几(?!乎)|多大|多长|多高|多久|多重|多远|多深|多宽|多快|百分之几|比例|数量")),
    ("list", re.compile(r"哪些|哪几|有什么|有哪|分别")),
    ("reason", re.compile(r"(?<![称作成叫名之])为什么|为何|什么原因|原因|为了什么|怎么会|何以")),
)
# Any interrogative: marks a clause as a part of the question (not just context).
_ASKING = re.compile("|".join(p.pattern for _, p in _TYPE_PATTERNS) + r"|什么|哪|怎样|怎么|如何|是否|吗")
# The interrogative itself: where a statement puts the answer (`投入了多少专项经费` → `投入了720万元专项经费`).
# A count takes its classifier (`多少家单位` → 家): the answer holds it (`22家`) and the words after it
# (`单位入选…`) are what the answering sentence repeats after the answer.
_CLASSIFIERS = "个位家份名项次种条届所座处户批件台辆只张本部场块间支艘架篇首期轮人元年月日天号"
_SLOT = re.compile(
    r"什么(?:时候|地方|人|样)?|哪(?:一?[年天日个位座家所支种些里儿国条艘本部只件首张项名次届场间块片类])?|哪一|谁"
    rf"|(?:多少|几)[{_CLASSIFIERS}]?|多[大长高久重远深宽快]|何(?:时|地|处|人|年)?|怎样|怎么|如何"
    r"|(?<![称作成叫名之])为什么|为何"
)
_EDGE = "？?！!。，,；;：:\"'“”‘’ \t\n"
_CLAUSE = re.compile(r"[，,；;？?！!、]")
_PRONOUN = re.compile(r"^(?:那么|那|请问)?(?:她|他|它|其|该|这|此|那)|(?:她|他|它)(?:们)?(?:的|在|是|参加|担任|曾|有)")
_HAN = re.compile(r"[\u4e00-\u9fff]")
# Nouns that name a work, and the classifiers that count works: Chinese writes a work's name in 《》.
_WORK_NOUNS = (
    "电影 影片 片子 纪录片 动画 动画片 书 书籍 著作 作品 小说 诗 诗集 歌 歌曲 专辑 节目 剧 电视剧 话剧 戏 戏剧 "
    "杂志 报纸 报 刊物 期刊 文章 游戏 漫画 条例 法律 法规 文件 决议"
)
_WORKS = frozenset(_WORK_NOUNS.split())
_WORK_ASK = re.compile(r"哪一?[部本首篇]")
# Words that only say a question is being asked: never a topic, never carried over.
_QUESTION_WORDS = (
    "什么 哪 哪些 哪个 哪位 哪里 哪儿 哪家 哪座 哪年 哪天 几 多少 怎么 怎样 如何 为什么 为何 是否 谁 "
    "请问 一下 吗 呢 吧 么 何 何时 何地 何处 甚么"
)
QUESTION_WORDS = frozenset(_QUESTION_WORDS.split())
_ENTITY_TAGS = ("nr", "ns", "nt", "nz")
_CONTENT_POS = frozenset("nvajlie")  # nouns, verbs, adjectives, idioms, abbreviations, `eng`: what a question is about


@dataclass(frozen=True)
class Part:
    """One thing the question asks (a two-part question has two)."""

    text: str
    answer_type: str
    terms: tuple[str, ...]

    @cached_property
    def _asked(self) -> re.Match[str] | None:
        """The interrogative itself, found once for `slot` and `asking_terms`."""
        return _SLOT.search(_plain(self.text))

    @cached_property
    def slot(self) -> tuple[str, str]:
        """The words before and after the interrogative: a sentence that answers often repeats them on
        either side of the answer (bot/answer/spans.py aligns them). Cached: the span features read it for
        every sentence they describe."""
        match = self._asked
        if not match:
            return self.text.strip(_EDGE), ""
        return self.text[: match.start()].strip(_EDGE), self.text[match.end() :].strip(_EDGE)

    @cached_property
    def head(self) -> str:
        """The noun the interrogative asks about (`哪一条河的支流` → `河`, `以什么模式经营` → `模式`): an
        answer often ends with it (`淡水河`, `…转移模式`). A Chinese noun phrase ends with its head, so it is
        the last of the nouns that follow the interrogative (`哪位中央政治局常委` → 常委, not 中央;
        `几位青海籍拉面人` → 人, not 青海)."""
        head = ""
        for word, tag in rjieba.tag(self.slot[1].lstrip("的是了")):
            if not head and tag[:1] in ("q", "m"):  # a classifier: `多少个岗位` asks about 岗位
                continue
            if not (tag.startswith("n") and _HAN.search(word)):
                break
            head = word
        return head

    @cached_property
    def asking_terms(self) -> tuple[str, ...]:
        """The words of the clause that holds the interrogative (`…研讨班，开班式是哪位常委主持的` →
        开班式, 常委, 主持): the sentence that answers repeats them, while the other clauses only set the
        scene and may match a neighbouring sentence better."""
        if not self._asked:
            return self.terms
        left, right = self._clause
        own = set(_terms(left + self.text[self._asked.start() : self._asked.end()] + right))
        return tuple(t for t in self.terms if t in own)

    @cached_property
    def _clause(self) -> tuple[str, str]:
        """The text of the interrogative's clause before and after it (empty when nothing is asked)."""
        match = self._asked
        if not match:
            return "", ""
        plain = _plain(self.text)
        cuts = [m.end() for m in _CLAUSE.finditer(plain[: match.start()])]
        after = _CLAUSE.search(plain, match.end())
        return self.text[cuts[-1] if cuts else 0 : match.start()], self.text[
            match.end() : after.start() if after else len(self.text)
        ]

    @cached_property
    def near_words(self) -> tuple[str, ...]:
        """The two content words on each side of the interrogative, inside its clause (`…战略合作协议有效期
        是几年` → 协议, 有效期): the attribute asked about. An on-topic question the articles cannot answer
        usually matches everything but these (the agreement is reported, its term is not)."""
        left, right = self._clause
        return tuple(dict.fromkeys(_content_words(rjieba.tag(left))[-2:] + _content_words(rjieba.tag(right))[:2]))

    @cached_property
    def asks_work(self) -> bool:
        """It asks for a work (`哪部电影`, `什么书`, `哪一首`): its answer is usually a name in 《》."""
        return bool(_WORK_ASK.search(_plain(self.text))) or self.head in _WORKS


@dataclass(frozen=True)
class Query:
    text: str  # the question as asked
    search_text: str  # what retrieval searches: carried words + the question
    answer_type: str  # the first part's type
    parts: tuple[Part, ...]
    terms: tuple[str, ...]  # search-mode words of the question and what earlier turns supply
    focus: tuple[str, ...]  # content words, rarest first
    tagged: tuple[tuple[str, str], ...]  # (word, POS) of the question, one segmentation shared by everyone
    carried: tuple[str, ...] = ()  # words taken from earlier turns

    @property
    def is_list(self) -> bool:
        return any(p.answer_type == "list" for p in self.parts) or bool(re.search(r"哪些|分别|哪几", self.text))


def _plain(text: str) -> str:
    """`甚么` is a common variant spelling of 什么 (DRCD writes it): read as 什么, with the same length so
    offsets found in the result hold for the question as asked."""
    return text.replace("甚么", "什么")


def answer_type(text: str) -> str:
    plain = _plain(text)
    for name, pattern in _TYPE_PATTERNS:
        if pattern.search(plain):
            return name
    return "other"


def _terms(text: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(t for t in tokenize(text) if t not in QUESTION_WORDS))


def split_parts(question: str) -> list[str]:
    """`…实施了多少个项目，投入了多少资金` → two parts; clauses that ask nothing attach to the next part.

    A later part borrows the first part's subject (the words before its interrogative), so
    `覆盖了多少职工` is read as `威海市去年签订了…覆盖了多少职工`.
    """
    pieces = [p.strip() for p in _CLAUSE.split(question) if p.strip()]
    parts: list[str] = []
    pending = ""
    for piece in pieces:
        if _ASKING.search(_plain(piece)):
            parts.append(pending + piece)
            pending = ""
        else:
            pending += piece
    if pending:
        if parts:
            parts[-1] += pending
        else:
            parts.append(pending)
    if len(parts) <= 1:
        return [question.strip()]
    first = _ASKING.search(_plain(parts[0]))
    subject = parts[0][: first.start()] if first else ""
    asked = list(_SLOT.finditer(_plain(parts[0])))
    # `建成多少个乡镇职工之家？目前已经建成多少？`: a later part that ends on its interrogative asks again
    # about the thing the first part named after its own last interrogative
    thing = parts[0][_root_end(asked[-1]) :].rstrip(_EDGE) if asked else ""
    kind = answer_type(parts[0])
    out = [parts[0]]
    for p in parts[1:]:
        p = p if subject in p else subject + p
        if thing and answer_type(p) == kind and _ends_asking(p):
            p = p.rstrip(_EDGE) + thing
        out.append(p)
    return out


def _root_end(match: re.Match[str]) -> int:
    """Where the interrogative ends without its classifier: `建成多少个职工之家` → before 个."""
    word = match.group(0)
    counted = word[:-1] in ("多少", "几") and word[-1] in _CLASSIFIERS
    return match.end() - 1 if counted else match.end()


def _ends_asking(text: str) -> bool:
    """The text ends on its interrogative (`目前已经建成多少？`): nothing after it says what is counted."""
    matches = list(_SLOT.finditer(_plain(text)))
    return bool(matches) and not text[matches[-1].end() :].strip(_EDGE + "呢吗")


def _turn(turn: Any) -> tuple[str, str]:
    if isinstance(turn, Mapping):
        return str(turn.get("role", "")), str(turn.get("content", ""))
    if isinstance(turn, tuple):
        return str(turn[0]), str(turn[1])
    return str(getattr(turn, "role", "")), str(getattr(turn, "content", ""))


def previous_answer_entity(answer: str, person: bool = False) -> str | None:
    """The thing an earlier answer named: its short answer (before the first `。`), else its first name.
    `person`: the question points back with 她/他, which stand for a person, so only a person's name will
    do (`江苏省南京市` led the answer, but `她` is the worker it names)."""
    head = answer.split("。", 1)[0].strip()
    short = head and len(head) <= 16 and not head.startswith("根据资料") and "资料中没有" not in head
    if short and not person:
        return head
    for word, tag in rjieba.tag(answer[:200]):  # the short answer, if any, leads it
        if tag.startswith("nr") and len(word) >= 2:
            return word
    return None


def _swapped(word: str, current: set[str]) -> bool:
    """The new question puts another word in this one's place (`二等奖` after `一等奖`, `去年` after
    `今年`): same length, one character changed. Carrying it would search for the old attribute."""
    return any(len(w) == len(word) and sum(a != b for a, b in zip(w, word, strict=True)) == 1 for w in current)


def carried_words(question: str, history: Sequence[Any], idf: Mapping[str, float] | None = None) -> list[str]:
    """Words an earlier turn supplies: the previous question's rarest words the question lacks, and
    the previous answer's entity when the question points back at it (她/他/该/这…)."""
    turns = [_turn(t) for t in history]
    previous = [content for role, content in turns if role == "user" and content.strip()]
    if not previous:
        return []
    idf = idf or {}
    points_back = bool(_PRONOUN.search(question))
    own = [t for t in _terms(question) if len(t) > 1 and _HAN.search(t)]
    if idf and any(t not in idf for t in own) and not points_back:
        return []  # it names something the articles never mention: a new topic, not a follow-up
    current = set(tokenize(question))
    borrowed = [
        t
        for t in _terms(previous[-1])
        if t not in current and len(t) > 1 and _HAN.search(t) and not _swapped(t, current)
    ]
    borrowed = sorted(dict.fromkeys(borrowed), key=lambda t: -idf.get(t, 0.0))[:4]
    answers = [content for role, content in turns if role == "assistant" and content.strip()]
    if answers and points_back:
        entity = previous_answer_entity(answers[-1], person=bool(re.search(r"[她他]", question)))
        if entity and entity not in question:
            borrowed.insert(0, entity)
    return borrowed


# Whitespace with a Chinese character or Chinese punctuation on both sides: a question pasted from a
# scan or typed with spaces (`青 海 一 共 有 …`) segments into single characters and was refused; a space
# between Latin words or numbers (`GDP 增长`, `2 月`) stays.
_CJK = r"[\u00b7\u2010-\u2027\u3000-\u303f\u4e00-\u9fff\uff01-\uff0f\uff1a-\uff1f]"  # characters, their punctuation
_CJK_GAP = re.compile(rf"(?<={_CJK})\s+(?={_CJK})")


def tidy(question: str) -> str:
    """The question without edge whitespace and without spaces between Chinese characters."""
    return _CJK_GAP.sub("", question.strip())


def analyse(question: str, history: Sequence[Any] | None = None, idf: Mapping[str, float] | None = None) -> Query:
    """The one analysis of a question (with its conversation) that retrieval and the answer step share."""
    text = tidy(question)
    carried = tuple(carried_words(text, history, idf)) if history else ()
    tagged = tuple((w, t) for w, t in rjieba.tag(text))
    parts = tuple(Part(p, answer_type(p), _terms(p)) for p in split_parts(text))
    terms = tuple(dict.fromkeys(_terms(text) + tuple(t for c in carried for t in _terms(c) or (c,))))
    idf = idf or {}
    focus = tuple(sorted(dict.fromkeys(_content_words(tagged)), key=lambda w: -idf.get(w, 0.0)))
    search_text = (" ".join(carried) + " " + text).strip() if carried else text
    return Query(text, search_text, parts[0].answer_type, parts, terms, focus, tagged, carried)


def _content_words(tagged: Iterable[tuple[str, str]]) -> list[str]:
    """What a question is about, in order: its nouns, verbs, adjectives… of two characters or more."""
    return [
        w for w, t in tagged if len(w) >= 2 and _HAN.search(w) and w not in QUESTION_WORDS and t[:1] in _CONTENT_POS
    ]


def entity_words(tagged: Sequence[tuple[str, str]]) -> set[str]:
    return {w for w, t in tagged if t.startswith(_ENTITY_TAGS)}
