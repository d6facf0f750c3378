"""Formatting, splitting and per-chat state, without a network: the rules Telegram enforces,
checked with the stand-in's own strict HTML parser."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.models import Answer, Source
from bot.ratelimit import RateLimiter
from bot.telegram.app import api_urls
from bot.telegram.format import esc, format_answer, format_source, split_html, split_plain, to_plain, units
from bot.telegram.state import AnswerStore, ChatHistory
from tests.fakes.telegram_standin import ApiError, parse_html

HOSTILE = [
    "<b>",
    "</i>",
    "&",
    "&amp;",
    "<",
    ">",
    '"',
    "'",
    "&#x27;",
    "<script>alert(1)</script>",
    "😀",
    "。",
    "\n",
    "\n\n",
    " ",
]


def _check_parts(parts: list[str], limit: int) -> str:
    plain = []
    for part in parts:
        assert units(part) <= limit, part
        plain.append(parse_html(part))  # raises if a tag or entity was cut
    return "".join(plain)


def _squash(text: str) -> str:
    return "".join(text.split())


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.sampled_from(HOSTILE) | st.text(alphabet="工会职工服务ab 。", min_size=1, max_size=30), max_size=120),
    st.integers(min_value=60, max_value=400),
)
def test_split_never_breaks_tags_or_entities(pieces, limit):
    text = "".join(pieces)
    markup = f"<b>标题</b>\n\n{esc(text)}\n<blockquote expandable>{esc(text)}</blockquote><i>{esc(text[:50])}</i>"
    parts = split_html(markup, limit)
    assert _squash(_check_parts(parts, limit)) == _squash(to_plain(markup))


def test_split_prefers_paragraphs_then_sentences():
    paragraphs = ["甲" * 30 + "。" + "乙" * 30 + "。" for _ in range(6)]
    parts = split_html("\n\n".join(paragraphs), limit=150)
    assert all(p.endswith("。") for p in parts)
    assert all("\n\n" not in p[-3:] for p in parts)
    one_paragraph = "。".join(["丙" * 40] * 8) + "。"
    parts = split_html(one_paragraph, limit=100)
    assert len(parts) > 1 and all(p.endswith("。") for p in parts)


def test_split_reopens_tags_with_attributes():
    markup = "<blockquote expandable>" + "。".join(["引用内容&amp;" * 5] * 10) + "</blockquote>"
    parts = split_html(markup, limit=120)
    assert len(parts) > 2
    for part in parts:
        assert part.startswith("<blockquote expandable>") and part.endswith("</blockquote>")
        parse_html(part)


def test_split_plain_keeps_every_character():
    text = "a&b<c>" * 500
    parts = split_plain(text, limit=100)
    assert "".join(parts) == text and all(units(p) <= 100 for p in parts)


def test_stand_in_refuses_what_telegram_refuses():
    for bad in ["<b>x", "a < b", "x & y", "<script>x</script>", "<b><i>x</b></i>"]:
        with pytest.raises(ApiError):
            parse_html(bad)
    assert parse_html("<b>a</b> &lt;b&gt; &amp; <blockquote expandable>q</blockquote>") == "a <b> & q"


def test_answer_formatting_escapes_everything():
    source = Source(
        n=1,
        title="<b>标题</b> & 副题",
        file="a<b>.md",
        start=0,
        end=5,
        text="正文 <i> & </i>",
        quote="引用 <b>粗</b> & 细",
        score=0.5,
    )
    answer = Answer(
        question="q",
        answer="答案 <tg-spoiler> & [1]",
        found=True,
        mode="extractive",
        sources=[source],
        note="模型 <不可用>",
        unsupported=["无据 & <x>"],
    )
    for markup in (format_answer(answer), format_source(source)):
        plain = parse_html(markup)
        assert "<b>标题</b> & 副题" in plain
    plain = parse_html(format_answer(answer))
    assert "答案 <tg-spoiler> & [1]" in plain and "引用 <b>粗</b> & 细" in plain
    assert "模型 <不可用>" in plain and "无据 & <x>" in plain


def test_history_bounded_by_turns_and_age():
    now = [0.0]
    history = ChatHistory(max_turns=4, max_age_s=100, clock=lambda: now[0])
    for k in range(3):
        history.add(1, f"问{k}", f"答{k}")
        now[0] += 10
    assert [t.content for t in history.get(1)] == ["问1", "答1", "问2", "答2"]
    assert history.get(2) == []
    now[0] += 85  # 问1 is 105 s old, 问2 95 s
    assert [t.content for t in history.get(1)] == ["问2", "答2"]
    now[0] += 10
    assert history.get(1) == []
    history.add(1, "新", "答")
    history.clear(1)
    assert history.get(1) == []


def test_rate_limiter_window_and_single_warning():
    now = [0.0]
    limiter = RateLimiter(2, clock=lambda: now[0])
    assert limiter.hit(1) == 0 and limiter.hit(1) == 0
    assert limiter.hit(1) > 0 and limiter.should_warn(1) and not limiter.should_warn(1)
    assert limiter.hit(2) == 0  # per chat
    now[0] += 61
    assert limiter.hit(1) == 0 and limiter.hit(1) == 0 and limiter.hit(1) > 0
    assert limiter.should_warn(1)  # a new blocked stretch warns again
    assert RateLimiter(0).hit(1) == 0


def test_answer_store_keys_are_per_chat_and_bounded():
    store = AnswerStore(per_chat=2)
    answers = [Answer(question=str(k), answer="a", found=False, mode="extractive", sources=[]) for k in range(3)]
    keys = [store.put(1, a) for a in answers]
    assert store.get(1, keys[0]) is None and store.get(1, keys[2]) == answers[2]
    assert store.get(2, keys[2]) is None and store.last(1) == answers[2]
    assert len(f"src:{keys[2]}:20".encode()) <= 64


def test_api_base_url_forms():
    assert api_urls("http://localhost:8081") == ("http://localhost:8081/bot", "http://localhost:8081/file/bot")
    assert api_urls("http://localhost:8081/bot/") == ("http://localhost:8081/bot", "http://localhost:8081/file/bot")
    assert api_urls("https://x/bot{token}/test")[0] == "https://x/bot{token}/test"


def test_unsupported_sentences_are_marked_in_place_and_escaped():
    flagged = "共有<b>4844</b>名 & 职工参加。[1]"
    text = f"资料显示 3 < 5。{flagged}另一句。{flagged}"
    answer = Answer(question="q", answer=text, found=True, mode="llm", sources=[], unsupported=[flagged, flagged])
    markup = format_answer(answer)
    plain = parse_html(markup)  # Telegram would accept it
    assert plain.startswith(f"资料显示 3 < 5。{flagged}⚠️另一句。{flagged}⚠️")  # every occurrence, in place
    assert markup.count(f"<u>{esc(flagged)}</u>⚠️") == 2
    assert plain.count("以下内容未在来源中找到依据") == 1 and plain.count("• ") == 1  # listed once
    plain_answer = Answer(question="q", answer=text, found=True, mode="llm", sources=[])
    assert "⚠️" not in format_answer(plain_answer) and "<u>" not in format_answer(plain_answer)
