"""The Telegram bot answering through a chat model: the real python-telegram-bot Application, the
Bot API stand-in (tests/fakes/telegram_standin.py) and the fake OpenAI-compatible model
(tests/fakes/fake_openai.py), all on loopback. Assertions are on what a user would see in the chat."""

from __future__ import annotations

import html
import json

import pytest

from bot.models import Delta
from bot.service import AnswerService
from tests.common import make_settings
from tests.fakes.telegram_standin import TelegramStandIn, parse_html
from tests.test_telegram_bot import QUESTION, bot_running

KEY = "sk-telegram-DO-NOT-LEAK-9c1e"
UNSUPPORTED_HEAD = "以下内容未在来源中找到依据"


def everything_sent(standin: TelegramStandIn) -> str:
    """Every parameter of every Bot API call the bot made, as one string."""
    with standin.cond:
        return json.dumps([params for _, params, _ in standin.state.calls], ensure_ascii=False)


async def test_llm_answer_has_citations_and_the_cited_quotes(with_model, standin, fake):
    service = with_model("echo")
    async with bot_running(service, standin):
        standin.user_says(41, QUESTION)
        [reply] = await standin.wait_sent(41)
        await standin.idle()
    record = fake.requests[-1]
    assert record.kind == "answer" and record.authorization == f"Bearer {KEY}"
    generated = record.reply.removesuffix("[1]")  # the fake model's sentence, cited [1]
    assert reply.parse_mode == "HTML"
    assert generated + "[1]" in reply.text
    assert "来源" in reply.text and "[1] 青海省总工会启动2023年疗休养工作" in reply.text
    assert f"<blockquote>{generated}</blockquote>" in reply.raw  # the quote is the sentence the claim came from
    assert "⚠️" not in reply.text and UNSUPPORTED_HEAD not in reply.text and "注意" not in reply.text
    assert reply.buttons and reply.buttons[0]["text"].startswith("[1] ")
    assert KEY not in everything_sent(standin)


async def test_the_draft_grows_while_the_model_streams(with_model, standin, fake):
    """Tokens every 0.5 s and a 1.2 s timeout: a few tokens arrive, then the offline answer."""
    service = with_model("slow", llm_timeout=1.2)
    async with bot_running(service, standin, draft_after_s=0, edit_interval_s=0):
        standin.user_says(42, QUESTION)
        await standin.wait_for(lambda: any(s.buttons for s in standin.sent_to(42)), what="the final edit")
        await standin.idle()
    record = next(r for r in reversed(fake.requests) if r.kind == "answer")
    model_text = record.reply
    [message] = standin.sent_to(42)  # one message, edited in place
    with standin.cond:
        drafts = [
            (p["text"], at)
            for name, p, at in standin.state.calls
            if name in ("sendMessage", "editMessageText") and "parse_mode" not in p
        ]
    partial = [text.removesuffix(" …") for text, _ in drafts if model_text.startswith(text.removesuffix(" …"))]
    assert len(partial) >= 2 and len(set(partial)) == len(partial)  # it grew, token by token
    assert len(partial[-1]) < len(model_text)  # ... while the model had more to say
    first_draft_at = drafts[0][1]
    assert first_draft_at < record.wait_done()  # shown before the model's server stopped writing
    # the model timed out: the offline answer replaces the draft, with the note
    assert message.parse_mode == "HTML" and "720万元" in message.text
    assert "注意：聊天模型暂时不可用（超时）" in message.text
    assert "以下改为离线摘录的答案" not in message.text  # the switch notice was only in the draft
    assert KEY not in everything_sent(standin)


async def test_draft_edits_are_throttled(with_model, standin, fake):
    """The same stream with a long edit interval: one draft, no intermediate edits, one final edit."""
    service = with_model("slow", llm_timeout=1.2)
    events = list(service.ask_stream(QUESTION))
    deltas = [e.text for e in events if isinstance(e, Delta)]
    assert len(deltas) >= 4  # what the bot is about to receive: many pieces
    async with bot_running(service, standin, draft_after_s=0, edit_interval_s=600):
        standin.user_says(43, QUESTION)
        await standin.wait_for(lambda: any(s.buttons for s in standin.sent_to(43)), what="the final edit")
        await standin.idle()
    [message] = standin.sent_to(43)
    sends, edits = standin.calls_of("sendMessage"), standin.calls_of("editMessageText")
    assert len(sends) == 1 and "parse_mode" not in sends[0]  # the draft
    assert len(edits) == 1 and edits[0]["parse_mode"] == "HTML"  # straight to the final answer
    assert message.edits == 1 and "720万元" in message.text


@pytest.mark.parametrize(("model", "reason"), [("http500", "HTTP 500"), ("badjson", "返回内容无效")])
async def test_model_failure_still_answers_with_a_note_and_no_key(with_model, standin, fake, model, reason):
    service = with_model(model)
    async with bot_running(service, standin):
        standin.user_says(44, QUESTION)
        [reply] = await standin.wait_sent(44)
        await standin.idle()
    assert fake.requests[-1].model == model  # the model was really asked
    assert reply.parse_mode == "HTML"
    assert "720万元" in reply.text and "[1]" in reply.text and "安排32批1520名劳模" in reply.text
    assert f"注意：聊天模型暂时不可用（{reason}）" in reply.text
    assert KEY not in everything_sent(standin)  # http500's error body echoes the key back


async def test_unsupported_sentence_is_marked(with_model, standin, fake):
    service = with_model("number")
    async with bot_running(service, standin):
        standin.user_says(45, QUESTION)
        [reply] = await standin.wait_sent(45)
        await standin.idle()
    planted = fake.requests[-1].planted
    sentence = planted["sentence"]
    assert planted["number"] in reply.text
    assert reply.parse_mode == "HTML"
    # in place: the flagged sentence is underlined and followed by the warning sign
    assert f"<u>{sentence}[1]</u>⚠️" in reply.raw or f"<u>{sentence}</u>⚠️" in reply.raw
    # and listed under the answer
    assert f"⚠️ {UNSUPPORTED_HEAD}：" in reply.text
    listed = reply.text.split(UNSUPPORTED_HEAD, 1)[1]
    assert sentence in listed
    assert KEY not in everything_sent(standin)


@pytest.fixture(scope="module")
def hostile_llm_service(tmp_path_factory, embedder) -> AnswerService:
    corpus = tmp_path_factory.mktemp("hostile-llm")
    (corpus / "hostile.md").write_text(
        "# 蓝湾 <b>公告</b>\n\n"
        "蓝湾市总工会宣布，2023年<b>加粗</b>计划投入 3 < 5 && 7 > 2 的专项经费860万元，用于建设职工书屋<i>。\n",
        encoding="utf-8",
    )
    (corpus / "other.txt").write_text(
        "绿谷县图书馆\n\n绿谷县图书馆今年新增藏书两万册，全年接待读者十万人次。\n", encoding="utf-8"
    )
    service = AnswerService(make_settings(tmp_path_factory.mktemp("hostile-llm-index"), corpus), embedder=embedder)
    service.build()
    return service


async def test_flagged_sentence_with_markup_characters_is_escaped(with_model, hostile_llm_service, standin, fake):
    service = with_model("number", service=hostile_llm_service)
    try:
        async with bot_running(service, standin):
            standin.user_says(46, "蓝湾市总工会计划投入多少专项经费呢？")
            [reply] = await standin.wait_sent(46)
            await standin.idle()
    finally:
        hostile_llm_service.chat = None
    sentence = fake.requests[-1].planted["sentence"]
    assert "<b>加粗</b>" in sentence and "&&" in sentence  # the flagged sentence carries markup characters
    assert reply.parse_mode == "HTML"  # Telegram accepted the markup: nothing fell back to plain text
    assert parse_html(reply.raw) == reply.text
    assert sentence in reply.text and "⚠️" in reply.text  # the reader sees the characters literally
    assert f"{sentence}[1]</u>⚠️" in html.unescape(reply.raw)  # marked in place
    assert reply.text.count("<b>加粗</b>计划投入 3 < 5 && 7 > 2") >= 3  # answer, flagged list, quote
