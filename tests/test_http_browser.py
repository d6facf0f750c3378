"""The chat page in real headless Chromium (Debian's package, driven by Playwright; never downloaded)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from pydantic import SecretStr

from bot.http import ServerThread, create_app
from bot.service import AnswerService

pytestmark = pytest.mark.browser

CHROMIUM = next(
    (
        p
        for p in ("/usr/bin/chromium", shutil.which("chromium") or "", shutil.which("chromium-browser") or "")
        if p and Path(p).exists()
    ),
    None,
)
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
QUESTION = "青海省总工会2023年计划投入多少专项经费？"


@pytest.fixture(scope="module")
def page():
    if CHROMIUM is None:
        pytest.skip("no Chromium installed (apt-get install chromium; scripts/test.sh does it when run as root)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        context = browser.new_context()
        tab = context.new_page()
        tab.set_default_timeout(20_000)
        errors: list[str] = []
        tab.on("pageerror", lambda exc: errors.append(str(exc)))
        tab.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        yield tab, errors
        context.close()
        browser.close()


def serve(tiny_service, **update):
    settings = tiny_service.settings.model_copy(update={"rate_limit_per_minute": 0, **update})
    return ServerThread(create_app(AnswerService(settings, embedder=tiny_service.embedder)))


def ask(tab, question: str) -> None:
    tab.fill("#question", question)
    tab.click("#send")


def test_chat_page_streams_answer_and_quotes(page, tiny_service):
    tab, errors = page
    with serve(tiny_service) as url:
        tab.goto(url + "/")
        ask(tab, QUESTION)
        tab.wait_for_selector(".turn .sources .quote")
        answer = tab.inner_text(".turn .answer")
        assert "720万元" in answer and "[1]" in answer
        assert "[1] 青海省总工会启动2023年疗休养工作 — news.md" in tab.inner_text(".turn .sources .title")
        assert "720万元" in tab.inner_text(".turn .sources .quote")
        ask(tab, "火星上有多少座城市？")  # not in the articles: says so, shows the nearest material
        tab.wait_for_selector(".turn:nth-of-type(2) .sources li.label")
        assert "最接近的资料" in tab.inner_text(".turn:nth-of-type(2) .sources")
        ask(tab, " " * 3 + "x" * 600)  # too long: the server's message is shown, not a crash
        tab.wait_for_selector(".turn:nth-of-type(3) .answer.error")
        assert "too long" in tab.inner_text(".turn:nth-of-type(3) .answer")
    assert errors == [msg for msg in errors if "422" in msg]  # no script or CSP errors, only the 422 fetch


def test_chat_page_asks_for_the_api_key(page, tiny_service):
    tab, errors = page
    with serve(tiny_service, api_key=SecretStr("page-key")) as url:
        tab.goto(url + "/")
        tab.evaluate("sessionStorage.clear()")
        tab.reload()
        ask(tab, QUESTION)
        tab.wait_for_selector("#keybox:not([hidden])")
        assert tab.locator(".turn").count() == 0
        tab.fill("#key", "page-key")
        tab.click("#savekey")
        tab.wait_for_selector(".turn .sources .quote")
        assert "720万元" in tab.inner_text(".turn .answer")


def test_chat_page_marks_unsupported_sentences_and_shows_the_note(page, tiny_service):
    """With a chat model: the final answer replaces the streamed text, flagged sentences are
    marked ⚠️ in place and listed, and a model failure shows the note over the offline answer."""
    from bot.answer.llm import LLMAnswerer
    from tests.fakes.fake_openai import FakeOpenAI

    tab, errors = page
    seen = len(errors)  # the page (and its error list) is shared by this module's tests
    with FakeOpenAI() as fake:
        settings = tiny_service.settings.model_copy(update={"rate_limit_per_minute": 0, "llm_base_url": fake.base_url})
        service = AnswerService(settings, embedder=tiny_service.embedder)
        service.chat = LLMAnswerer(settings.model_copy(update={"llm_model": "number"}))
        with ServerThread(create_app(service)) as url:
            tab.goto(url + "/")
            ask(tab, QUESTION)
            tab.wait_for_selector(".turn .answer mark.unsupported")
            sentence = fake.requests[-1].planted["sentence"]
            marked = tab.inner_text(".turn .answer mark.unsupported")
            assert sentence in marked and fake.requests[-1].planted["number"] in marked
            assert tab.inner_text(".turn .answer mark.unsupported + .flag") == "⚠️"
            assert "以下内容未在来源中找到依据" in tab.inner_text(".turn .checks .warning")
            assert sentence in tab.inner_text(".turn .checks .unsupported-list")
            assert tab.locator(".turn .checks .note").count() == 0
            assert tab.locator(".turn .sources .quote").count() >= 1
            service.chat = LLMAnswerer(settings.model_copy(update={"llm_model": "http500"}))
            ask(tab, QUESTION)
            tab.wait_for_selector(".turn:nth-of-type(2) .checks .note")
            assert "聊天模型暂时不可用（HTTP 500）" in tab.inner_text(".turn:nth-of-type(2) .checks .note")
            assert "720万元" in tab.inner_text(".turn:nth-of-type(2) .answer")
            assert tab.locator(".turn:nth-of-type(2) mark.unsupported").count() == 0
    assert errors[seen:] == []  # no script or CSP errors
