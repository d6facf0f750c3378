"""The Telegram bot end to end: the real python-telegram-bot Application, real HTTP on loopback,
a Bot API stand-in (tests/fakes/telegram_standin.py), and a real AnswerService over a tiny corpus.
Assertions are on what a user would see in the chat."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from bot.models import Answer, Delta, Final, Source, Sources
from bot.service import AnswerService
from bot.telegram.app import build_application, polling
from bot.telegram.config import BotConfig
from bot.telegram.format import format_answer, to_plain
from bot.telegram.handlers import qabot_of
from bot.telegram.texts import APOLOGY, EXPIRED, NO_ANSWER_YET, REFUSED, RESET_DONE
from tests.common import make_settings
from tests.fakes.telegram_standin import Sent, TelegramStandIn

QUESTION = "青海省总工会2023年计划投入多少专项经费？"
GROUP = -1001234


class Spy:
    """Wraps an AnswerService: records questions and histories, can block or fail on cue."""

    def __init__(
        self,
        inner: AnswerService,
        fail_on: str | None = None,
        gate: threading.Event | None = None,
        gate_on: str | None = None,
    ) -> None:
        self.inner = inner
        self.settings = inner.settings
        self.calls: list[tuple[str, list]] = []
        self.fail_on, self.gate, self.gate_on = fail_on, gate, gate_on

    def info(self) -> dict:
        return self.inner.info()

    def ask_stream(self, question: str, top_k: int | None = None, history: Any = None, mode: str | None = None):
        self.calls.append((question, list(history or [])))
        if self.fail_on and self.fail_on in question:
            raise RuntimeError("boom: the index is on fire")
        if self.gate is not None and self.gate_on and self.gate_on in question:
            assert self.gate.wait(10), "test gate never opened"
        yield from self.inner.ask_stream(question, top_k=top_k, history=history, mode=mode)


class Canned:
    """A service that streams a fixed answer slowly, like a chat model would."""

    def __init__(self, inner: AnswerService, answer: Answer, pieces: int = 4, pause: float = 0.05) -> None:
        self.inner, self.settings, self.answer = inner, inner.settings, answer
        self.pieces, self.pause = pieces, pause

    def info(self) -> dict:
        return self.inner.info()

    def ask_stream(self, question: str, top_k: int | None = None, history: Any = None, mode: str | None = None):
        import time

        yield Sources(self.answer.sources)
        size = max(1, len(self.answer.answer) // self.pieces + 1)
        for k in range(0, len(self.answer.answer), size):
            time.sleep(self.pause)
            yield Delta(self.answer.answer[k : k + size])
        yield Final(self.answer)


@contextlib.asynccontextmanager
async def bot_running(service: Any, standin: TelegramStandIn, **config: Any) -> AsyncIterator[Any]:
    cfg = BotConfig(**{"rate_limit_per_minute": 0, "retry_base_s": 0.05, **config})
    app = build_application(service, cfg, token=standin.token, base_url=standin.base_url)
    async with polling(app, timeout=1) as running:
        try:
            yield qabot_of(running)
        finally:
            standin.wake()


def texts(sent: list[Sent]) -> list[str]:
    return [s.text for s in sent]


# -- answering ---------------------------------------------------------------------------------
async def test_question_gets_answer_with_quoted_sources(tiny_service, standin):
    async with bot_running(tiny_service, standin):
        standin.user_says(1, QUESTION)
        [reply] = await standin.wait_sent(1)
        await standin.idle()
    assert reply.parse_mode == "HTML"
    assert "720万元" in reply.text and "[1]" in reply.text
    assert "来源" in reply.text and "青海省总工会启动2023年疗休养工作" in reply.text
    assert "安排32批1520名劳模" in reply.text  # the quoted sentence is under the answer
    assert reply.reply_to is not None  # it answers the question message
    actions = standin.calls_of("sendChatAction")
    assert actions and actions[0]["action"] == "typing"
    labels = [b["text"] for b in reply.buttons]
    assert labels and labels[0].startswith("[1] ")
    assert all(b["callback_data"].startswith("src:") for b in reply.buttons)
    assert len(standin.sent_to(1)) == 1  # exactly one reply


async def test_start_and_help_explain_the_corpus(tiny_service, standin):
    async with bot_running(tiny_service, standin):
        standin.user_says(1, "/start")
        standin.user_says(1, "/help")
        start, help_ = await standin.wait_sent(1, 2)
    for reply in (start, help_):
        assert "4 篇文章" in reply.text and "news.md" in reply.text and "paper.txt" in reply.text
        assert "/reset" in reply.text and "/sources" in reply.text
    commands = {c["command"] for c in standin.state.commands}
    assert {"help", "sources", "reset"} <= commands


async def test_unanswerable_question_says_so_and_shows_nearest(tiny_service, standin):
    async with bot_running(tiny_service, standin):
        standin.user_says(1, "火星上有几座城市？")
        [reply] = await standin.wait_sent(1)
    assert "没有找到" in reply.text and "最接近的资料" in reply.text


async def test_too_long_and_empty_questions_get_a_hint(tiny_service, standin):
    async with bot_running(tiny_service, standin):
        standin.user_says(1, "问" * 600)
        standin.user_says(1, "   ")
        sent = await standin.wait_sent(1, 2)
    # updates are handled concurrently, so replies may come in either order: pair them by what they answer
    too_long, empty = sorted(sent, key=lambda s: s.reply_to or 0)
    assert "太长" in too_long.text and "500" in too_long.text
    assert "请发送一个问题" in empty.text


# -- escaping and splitting -------------------------------------------------------------------
@pytest.fixture(scope="module")
def hostile_service(tmp_path_factory, embedder) -> AnswerService:
    corpus = tmp_path_factory.mktemp("hostile")
    (corpus / "hostile.md").write_text(
        "# <b>警告</b> & 公告 <script>\n\n"
        "蓝湾市总工会宣布，2023年<b>加粗</b>计划&amp;投入 3 < 5 && 7 > 2 的专项经费860万元，用于建设职工书屋<i>。\n",
        encoding="utf-8",
    )
    (corpus / "other.txt").write_text(
        "绿谷县图书馆\n\n绿谷县图书馆今年新增藏书两万册，全年接待读者十万人次。\n", encoding="utf-8"
    )
    service = AnswerService(make_settings(tmp_path_factory.mktemp("hostile-index"), corpus), embedder=embedder)
    service.build()
    return service


async def test_hostile_article_text_is_escaped_everywhere(hostile_service, standin):
    async with bot_running(hostile_service, standin):
        standin.user_says(5, "蓝湾市总工会计划投入多少专项经费？")
        [reply] = await standin.wait_sent(5)
        standin.user_says(5, "/sources")
        await standin.wait_sent(5, 2)
        standin.press_button(reply, reply.buttons[0]["callback_data"])
        answer, sources, quote = await standin.wait_sent(5, 3)
    for sent in (answer, sources, quote):
        assert sent.parse_mode == "HTML"  # Telegram accepted the markup: nothing fell back
    assert "860万元" in answer.text
    # the reader sees the article's characters literally, not as markup
    assert "<b>加粗</b>计划&amp;投入 3 < 5 && 7 > 2" in answer.text
    assert "<b>警告</b> & 公告 <script>" in answer.text
    assert "<b>加粗</b>" in sources.text and "<script>" in quote.text


LONG_PARAGRAPH = "第{k}段：工会&职工<服务>持续推进，“暖心驿站”覆盖全市。各地总工会还举办了培训。"


def long_answer(paragraphs: int = 200) -> Answer:
    text = "\n\n".join(LONG_PARAGRAPH.format(k=k) for k in range(paragraphs)) + "[1]"
    source = Source(
        n=1, title="<i>长文</i>", file="long.md", start=0, end=10, text="工会 & 职工", quote="工会 & 职工", score=1.0
    )
    return Answer(question="长问题", answer=text, found=True, mode="llm", sources=[source])


async def test_long_answer_is_split_at_paragraphs_and_keeps_markup(tiny_service, standin):
    answer = long_answer()
    assert len(format_answer(answer)) > 2 * 4096
    async with bot_running(Canned(tiny_service, answer, pause=0), standin, draft_after_s=60):
        standin.user_says(1, "长问题")
        await standin.wait_for(lambda: any(s.buttons for s in standin.sent_to(1)), what="the last part")
        await standin.idle()
    parts = standin.sent_to(1)
    assert len(parts) >= 3 and all(p.parse_mode == "HTML" for p in parts)
    assert [bool(p.buttons) for p in parts] == [False] * (len(parts) - 1) + [True]
    assert parts[0].reply_to is not None and all(p.reply_to is None for p in parts[1:])
    for part in parts[:-1]:
        assert part.text.rstrip().endswith("。")  # cut between paragraphs
    joined = "\n\n".join(p.text.strip() for p in parts)
    assert joined == to_plain(format_answer(answer)).strip()


async def test_html_refused_by_telegram_falls_back_to_plain_text(tiny_service, standin):
    standin.inject("sendMessage", "refuse_html", count=1)
    async with bot_running(tiny_service, standin):
        standin.user_says(1, QUESTION)
        [reply] = await standin.wait_sent(1)
    assert reply.parse_mode is None
    assert "720万元" in reply.text and "来源" in reply.text and "<b>" not in reply.text
    assert reply.buttons  # the buttons survive the fallback


async def test_flood_control_and_network_errors_are_retried(tiny_service, standin):
    standin.inject("sendMessage", "retry_after", count=1, retry_after=1)
    standin.inject("sendMessage", "bad_gateway", count=1)
    async with bot_running(tiny_service, standin):
        standin.user_says(1, QUESTION)
        [reply] = await standin.wait_sent(1)
        await standin.idle()
    assert "720万元" in reply.text
    assert len(standin.calls_of("sendMessage")) == 3  # refused twice, then delivered once
    assert len(standin.sent_to(1)) == 1


# -- access and limits -------------------------------------------------------------------------
async def test_allow_list_refuses_other_chats_without_corpus_text(tiny_service, standin):
    spy = Spy(tiny_service)
    async with bot_running(spy, standin, allowed_chat_ids=frozenset({1})):
        standin.user_says(2, QUESTION)
        standin.user_says(2, "/help")
        standin.user_says(1, QUESTION)
        [first] = await standin.wait_sent(1)
        refusals = await standin.wait_sent(2, 2)
        await standin.idle()
    assert texts(refusals) == [REFUSED, REFUSED]
    assert [q for q, _ in spy.calls] == [QUESTION]  # only chat 1 reached the service
    assert "720万元" in first.text


async def test_open_bot_warns_at_start_up(tiny_service, standin, caplog):
    with caplog.at_level(logging.WARNING, logger="bot.telegram"):
        async with bot_running(tiny_service, standin):
            pass
    assert any("TELEGRAM_ALLOWED_CHAT_IDS is empty" in r.getMessage() for r in caplog.records)


async def test_refused_button_press_from_other_chat(tiny_service, standin):
    async with bot_running(tiny_service, standin, allowed_chat_ids=frozenset({1})):
        fake = Sent(2, 99, "x", "x", None, None, None, 0.0)
        standin.press_button(fake, "src:abc:1")
        await standin.wait_for(lambda: standin.calls_of("answerCallbackQuery"), what="callback answer")
        await standin.idle()
    assert standin.calls_of("answerCallbackQuery")[0]["text"] == REFUSED
    assert standin.sent_to(2) == []


async def test_rate_limit_answers_politely_once(tiny_service, standin):
    async with bot_running(tiny_service, standin, rate_limit_per_minute=2):
        for _ in range(4):
            standin.user_says(3, QUESTION)
        await standin.wait_sent(3, 3)
        await standin.idle()
        standin.user_says(4, QUESTION)  # other chats are not affected
        await standin.wait_sent(4)
    sent = texts(standin.sent_to(3))
    assert len(sent) == 3
    assert sum("720万元" in t for t in sent) == 2
    assert sum("太频繁" in t for t in sent) == 1


# -- conversation ------------------------------------------------------------------------------
async def test_follow_up_uses_history_and_reset_clears_it(tiny_service, standin):
    spy = Spy(tiny_service)
    async with bot_running(spy, standin):
        standin.user_says(7, "威海市总工会签订了多少份集体合同？")
        await standin.wait_sent(7, 1)
        standin.user_says(7, "帮扶了多少困难职工？")
        await standin.wait_sent(7, 2)
        standin.user_says(7, "/reset")
        await standin.wait_sent(7, 3)
        standin.user_says(7, "帮扶了多少困难职工？")
        first, follow, reset, after = await standin.wait_sent(7, 4)
        standin.user_says(8, "帮扶了多少困难职工？")  # another chat has its own (empty) history
        await standin.wait_sent(8)
    assert "1780份" in first.text and "804人次" in follow.text and reset.text == RESET_DONE
    follow_history = spy.calls[1][1]
    assert [t.role for t in follow_history] == ["user", "assistant"]
    assert follow_history[0].content == "威海市总工会签订了多少份集体合同？"
    assert "1780份" in follow_history[1].content
    assert spy.calls[2][1] == [] and spy.calls[3][1] == []
    assert len(spy.calls) == 4  # /reset never reaches the service


async def test_history_is_bounded_by_turns(tiny_service, standin):
    spy = Spy(tiny_service)
    async with bot_running(spy, standin, history_turns=2):
        for k, q in enumerate(["威海市总工会签订了多少份集体合同？", QUESTION, "共评出几项特等奖？"], start=1):
            standin.user_says(9, q)
            await standin.wait_sent(9, k)
    assert [t.content for t in spy.calls[2][1]][0] == QUESTION  # only the last exchange is kept
    assert len(spy.calls[2][1]) == 2


async def test_sources_command_and_inline_buttons(tiny_service, standin):
    async with bot_running(tiny_service, standin):
        standin.user_says(11, "/sources")
        [none_yet] = await standin.wait_sent(11)
        standin.user_says(11, QUESTION)
        _, reply = await standin.wait_sent(11, 2)
        standin.user_says(11, "/sources")
        _, _, sources = await standin.wait_sent(11, 3)
        second = reply.buttons[1]
        standin.press_button(reply, second["callback_data"])
        *_, opened = await standin.wait_sent(11, 4)
        standin.press_button(reply, "src:gone:1")
        await standin.wait_for(lambda: len(standin.calls_of("answerCallbackQuery")) >= 2, what="2 callback answers")
        await standin.idle()
    assert none_yet.text == NO_ANSWER_YET
    assert QUESTION in sources.text and "[1] 青海省总工会启动2023年疗休养工作" in sources.text
    assert "安排32批1520名劳模" in sources.text and "原文段落" in sources.text
    assert opened.text.startswith("[2] ") and opened.reply_to == reply.message_id
    assert second["text"].split()[1][:4] in opened.text
    answers = standin.calls_of("answerCallbackQuery")
    assert "text" not in answers[0] and answers[1]["text"] == EXPIRED
    assert len(standin.sent_to(11)) == 4  # the expired button sent nothing to the chat


async def test_group_answers_only_when_addressed(tiny_service, standin):
    spy = Spy(tiny_service)
    async with bot_running(spy, standin):
        standin.user_says(GROUP, QUESTION, chat_type="supergroup", user_id=50)
        standin.user_says(GROUP, "/help@some_other_bot", chat_type="supergroup", user_id=50)
        await standin.idle()
        assert standin.sent_to(GROUP) == []
        standin.user_says(GROUP, f"@qabot_test_bot {QUESTION}", chat_type="supergroup", user_id=50)
        [mentioned] = await standin.wait_sent(GROUP)
        standin.user_says(GROUP, "共评出几项特等奖？", chat_type="supergroup", user_id=51, reply_to=mentioned)
        await standin.wait_sent(GROUP, 2)
        standin.user_says(GROUP, "/help@qabot_test_bot", chat_type="supergroup", user_id=50)
        _, replied, help_ = await standin.wait_sent(GROUP, 3)
        await standin.idle()
    assert "720万元" in mentioned.text
    assert "两项特等奖" in replied.text
    assert "篇文章" in help_.text
    assert [q for q, _ in spy.calls] == [QUESTION, "共评出几项特等奖？"]  # mention stripped
    assert len(standin.sent_to(GROUP)) == 3


# -- robustness --------------------------------------------------------------------------------
async def test_handler_error_is_logged_apologised_and_bot_keeps_running(tiny_service, standin, caplog):
    spy = Spy(tiny_service, fail_on="爆炸")
    with caplog.at_level(logging.ERROR, logger="bot.telegram"):
        async with bot_running(spy, standin):
            bad = standin.user_says(12, "这个问题会爆炸吗？")
            [apology] = await standin.wait_sent(12)
            standin.user_says(12, QUESTION)
            _, answer = await standin.wait_sent(12, 2)
    assert apology.text == APOLOGY and "720万元" in answer.text
    logged = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert any(str(bad) in r.getMessage() for r in logged)
    assert any(r.exc_info and "boom" in str(r.exc_info[1]) for r in logged)


async def test_slow_chat_does_not_stall_others(tiny_service, standin):
    gate = threading.Event()
    spy = Spy(tiny_service, gate=gate, gate_on="威海")
    try:
        async with bot_running(spy, standin):
            standin.user_says(21, "威海市总工会签订了多少份集体合同？")
            await standin.wait_for(lambda: spy.calls, what="the slow question to start")
            standin.user_says(22, QUESTION)
            [other] = await standin.wait_sent(22)  # answered while chat 21 is still blocked
            assert standin.sent_to(21) == []
            gate.set()
            [slow] = await standin.wait_sent(21)
    finally:
        gate.set()
    assert "720万元" in other.text and "1780份" in slow.text


async def test_streamed_answer_grows_a_draft_then_becomes_the_answer(tiny_service, standin):
    answer = tiny_service.ask(QUESTION)
    async with bot_running(Canned(tiny_service, answer, pieces=4), standin, draft_after_s=0, edit_interval_s=0):
        standin.user_says(13, QUESTION)
        await standin.wait_for(lambda: any(s.buttons for s in standin.sent_to(13)), what="the final edit")
        await standin.idle()
    [message] = standin.sent_to(13)  # one message, edited in place
    assert message.edits >= 2  # grew at least once, then became the formatted answer
    assert message.parse_mode == "HTML" and message.text == to_plain(format_answer(answer))
    edits = standin.calls_of("editMessageText")
    assert any("parse_mode" not in e and e["text"].endswith(" …") for e in edits)


async def test_restart_loses_and_repeats_nothing(tiny_service, standin):
    spy = Spy(tiny_service)
    async with bot_running(spy, standin):
        for chat in range(30, 36):
            standin.user_says(chat, QUESTION)
        await standin.wait_for(lambda: len(spy.calls) >= 6, what="6 questions")
    for chat in range(30, 36):  # arrive while the bot is down
        standin.user_says(chat, "共评出几项特等奖？")
    async with bot_running(spy, standin):
        for chat in range(30, 36):
            await standin.wait_sent(chat, 2)
        await standin.idle()
    for chat in range(30, 36):
        first, second = standin.sent_to(chat)
        assert "720万元" in first.text and "两项特等奖" in second.text
    assert len(spy.calls) == 12
    replied_to = [s.reply_to for s in standin.state.sent]
    assert len(replied_to) == 12 and len(set(replied_to)) == 12  # each question answered exactly once


# -- webhook -----------------------------------------------------------------------------------
async def test_webhook_accepts_updates_only_with_the_secret(tiny_service, standin):
    from bot.telegram.webhook import SECRET_HEADER, start_webhook, stop_webhook

    settings = tiny_service.settings.model_copy(update={"telegram_webhook_secret": SecretStr("s3cret-token_1")})
    service = Spy(tiny_service)
    service.settings = settings
    app = build_application(service, BotConfig(rate_limit_per_minute=0), token=standin.token, base_url=standin.base_url)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/tg/hook"
    server = await start_webhook(app, url, settings, sock=sock)
    try:
        [hook] = standin.calls_of("setWebhook")
        assert hook["url"] == url and hook["secret_token"] == "s3cret-token_1"
        async with httpx.AsyncClient() as client:
            update = standin.update_json(14, QUESTION)
            refused = await client.post(url, json=update)
            wrong = await client.post(url, json=update, headers={SECRET_HEADER: "nope"})
            await standin.idle()
            assert refused.status_code == 403 and wrong.status_code == 403
            assert standin.sent_to(14) == []
            ok = await client.post(url, json=update, headers={SECRET_HEADER: "s3cret-token_1"})
            assert ok.status_code == 200
            [reply] = await standin.wait_sent(14)
    finally:
        await stop_webhook(app, server)
        sock.close()
    assert "720万元" in reply.text and reply.parse_mode == "HTML"
    assert len(service.calls) == 1


# -- the command ---------------------------------------------------------------------------------
async def test_qabot_telegram_command_polls_answers_and_stops_cleanly(tiny_corpus, standin, tmp_path):
    """`qabot telegram` as a user runs it: env configuration, long polling, Ctrl-C."""
    import os
    import signal
    import subprocess
    import sys

    env = {
        **os.environ,
        "TELEGRAM_BOT_TOKEN": standin.token,
        "TELEGRAM_API_BASE_URL": standin.base_url,
        "QABOT_CORPUS_DIR": str(tiny_corpus),
        "QABOT_INDEX_DIR": str(tmp_path / "index"),
    }
    env.pop("QABOT_LLM_BASE_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-c", "from bot.cli import main; main()", "telegram"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        standin.user_says(15, QUESTION)
        [reply] = await standin.wait_sent(15, timeout=60)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "720万元" in reply.text
    assert proc.returncode == 0, err
    assert "TELEGRAM_ALLOWED_CHAT_IDS is empty" in err
    assert standin.calls_of("deleteWebhook")  # polling starts by removing any webhook
    assert int(standin.calls_of("getUpdates")[-1]["offset"]) > 0  # the answered update was acknowledged
