"""Admin chats add articles through the Telegram bot (a document, a bare link, /add URL); others are refused.

Runs the real bot against the Bot API stand-in (tests/fakes/telegram_standin.py) and a real
AnswerService over a fresh copy of the tiny corpus, so added articles are really indexed.
"""

from __future__ import annotations

import re
import shutil
from typing import Any

import pytest
from test_ingest_feeds import site  # noqa: F401 - pages served from 127.0.0.1

from bot.service import AnswerService
from bot.telegram import texts
from tests.common import DATA, make_settings
from tests.fakes.telegram_standin import TelegramStandIn
from tests.test_telegram_bot import bot_running as running_bot

ADMIN, OTHER = 11, 22
PAGE = """<html><head><title>市图书馆延长开放时间</title><meta name="date" content="2023-03-02"></head><body>
<article><h1>市图书馆延长开放时间</h1><p>本报讯 市图书馆自4月起每天开放至晚上十点，周末增设少儿阅读专场。</p>
<p>馆方表示，新增的夜间时段由三十名志愿者协助服务。</p></article></body></html>"""


@pytest.fixture
def service(tmp_path, embedder) -> AnswerService:
    corpus = tmp_path / "corpus"
    shutil.copytree(DATA / "tiny", corpus)
    built = AnswerService(make_settings(tmp_path, corpus, allow_private_urls=True), embedder=embedder)
    built.build()
    return built


def bot_running(service: AnswerService, standin: TelegramStandIn, **config: Any) -> Any:
    """The bot of tests/test_telegram_bot.py, with ADMIN as its one admin chat unless told otherwise."""
    return running_bot(service, standin, **{"admin_chat_ids": frozenset({ADMIN}), **config})


async def test_an_admin_document_is_added_indexed_and_answerable(service, standin):
    async with bot_running(service, standin):
        standin.user_sends_document(ADMIN, "library.html", PAGE.encode("utf-8"), "text/html")
        [reply] = await standin.wait_sent(ADMIN, timeout=60)
        match = re.fullmatch(r"已添加《市图书馆延长开放时间》（2023-03-02），索引了 (\d+) 段。", reply.text)
        assert match and int(match.group(1)) >= 1
        standin.user_sends_document(ADMIN, "again.html", PAGE.encode("utf-8"), "text/html")
        _, again = await standin.wait_sent(ADMIN, 2, timeout=60)
        assert again.text == texts.ALREADY_ADDED.format(title="市图书馆延长开放时间")
        standin.user_says(ADMIN, "市图书馆每天开放到几点？")
        *_, answer = await standin.wait_sent(ADMIN, 3, timeout=60)
        assert "十点" in answer.text and "2023-03-02" in answer.text
    assert [a.title for a in service_library(service)] == ["市图书馆延长开放时间"]


async def test_links_and_add_command_from_an_admin(service, standin, site):  # noqa: F811
    async with bot_running(service, standin):
        standin.user_says(ADMIN, f"{site.base}/news/1.html")
        [first] = await standin.wait_sent(ADMIN, timeout=60)
        assert re.fullmatch(r"已添加《全市公交票价下调》.*索引了 [1-9]\d* 段。", first.text)
        standin.user_says(ADMIN, f"/add {site.base}/news/1.html")
        _, second = await standin.wait_sent(ADMIN, 2, timeout=60)
        assert second.text == texts.ALREADY_ADDED.format(title="全市公交票价下调")
        standin.user_says(ADMIN, "/add")
        *_, usage = await standin.wait_sent(ADMIN, 3, timeout=30)
        assert usage.text == texts.ADD_USAGE
        standin.user_says(ADMIN, "/add ftp://example.com/x.html")
        *_, usage_again = await standin.wait_sent(ADMIN, 4, timeout=30)
        assert usage_again.text == texts.ADD_USAGE
        standin.user_says(ADMIN, f"{site.base}/missing-page.html")
        *_, failed = await standin.wait_sent(ADMIN, 5, timeout=30)
        assert failed.text.startswith("无法添加：") and "404" in failed.text


async def test_a_bad_document_is_one_line_and_nothing_is_stored(service, standin):
    async with bot_running(service, standin):
        standin.user_sends_document(ADMIN, "scan.pdf", b"not a pdf", "application/pdf")
        [reply] = await standin.wait_sent(ADMIN, timeout=60)
        assert reply.text.startswith("无法添加：") and "scan.pdf" in reply.text and "\n" not in reply.text
    assert service_library(service) == []


async def test_other_chats_are_refused_and_nothing_is_added(service, standin, site):  # noqa: F811
    async with bot_running(service, standin):
        standin.user_sends_document(OTHER, "library.html", PAGE.encode("utf-8"), "text/html")
        standin.user_says(OTHER, f"{site.base}/news/1.html")
        standin.user_says(OTHER, f"/add {site.base}/news/1.html")
        replies = await standin.wait_sent(OTHER, 3, timeout=30)
        assert [r.text for r in replies] == [texts.ADD_REFUSED] * 3
        assert not standin.calls_of("getFile")
    assert service_library(service) == []


def service_library(service: AnswerService) -> list[Any]:
    from bot.library import Library

    return Library(service).articles()
