"""The HTTP API answering through a chat model (the fake OpenAI-compatible server on loopback):
what a client sees from `/ask`, `/ask/stream` and `/v1/chat/completions`, streaming and not, when
the model invents a number (`number`) or fails (`http500`)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import openai
import pytest
from pydantic import SecretStr

from bot.answer.llm import LLMAnswerer
from bot.http import ServerThread, create_app
from bot.http.openai import strip_tail
from bot.service import AnswerService
from tests.test_http_api import sse_events

QUESTION = "青海省总工会2023年计划投入多少专项经费？"
KEY = "sk-http-DO-NOT-LEAK-31d7"
UNSUPPORTED_HEAD = "⚠️ 以下内容未在来源中找到依据："
NOTE_500 = "聊天模型暂时不可用（HTTP 500）"


@pytest.fixture(scope="module")
def served(tiny_service, embedder, fake) -> Iterator[tuple[AnswerService, str]]:
    """One server over a service whose chat model the tests switch (see `use_model`)."""
    settings = tiny_service.settings.model_copy(update={"rate_limit_per_minute": 0})
    service = AnswerService(settings, embedder=embedder)
    with ServerThread(create_app(service)) as url:
        yield service, url


@pytest.fixture
def use_model(served, fake):
    service, url = served

    def switch(model: str) -> str:
        settings = service.settings.model_copy(
            update={"llm_base_url": fake.base_url, "llm_model": model, "llm_api_key": SecretStr(KEY)}
        )
        service.chat = LLMAnswerer(settings)
        return url

    yield switch
    service.chat = None


def ask_both(url: str) -> tuple[dict, list[tuple[str, dict]], str]:
    """(POST /ask body, POST /ask/stream events, both raw response texts joined)."""
    with httpx.Client(base_url=url, timeout=30) as c:
        plain = c.post("/ask", json={"question": QUESTION})
        assert plain.status_code == 200, plain.text
        with c.stream("POST", "/ask/stream", json={"question": QUESTION}) as r:
            assert r.status_code == 200
            raw = r.read().decode()
    return plain.json(), sse_events(raw), plain.text + raw


def test_ask_and_stream_carry_unsupported_sentences(use_model, fake):
    url = use_model("number")
    body, events, raw = ask_both(url)
    planted = fake.requests[-1].planted
    for answer in (body, events[-1][1]):
        assert answer["mode"] == "llm" and answer["note"] is None
        assert planted["number"] in answer["answer"]
        assert answer["unsupported"] and any(planted["sentence"] in s for s in answer["unsupported"])
        assert all(s in answer["answer"] for s in answer["unsupported"])  # exact pieces to mark
    assert events[-1][0] == "answer"
    streamed = "".join(data["text"] for kind, data in events if kind == "delta")
    assert streamed.strip() == events[-1][1]["answer"]
    assert KEY not in raw


def test_failing_model_gives_the_offline_answer_with_a_note(use_model, fake):
    url = use_model("http500")
    body, events, raw = ask_both(url)
    assert fake.requests[-1].model == "http500" and KEY in fake.requests[-1].authorization
    for answer in (body, events[-1][1]):
        assert answer["mode"] == "extractive" and answer["found"] and "720万元" in answer["answer"]
        assert NOTE_500 in answer["note"] and answer["unsupported"] == []
    assert "".join(data["text"] for kind, data in events if kind == "delta").strip()
    assert KEY not in raw  # the model's error body echoed the key; none of it reaches the client


def _openai(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key="none", max_retries=0, timeout=30)


def _completion_both(url: str) -> tuple[str, dict, str, dict]:
    """(text, extensions) of a chat completion, not streamed and streamed."""
    with _openai(url) as client:
        messages = [{"role": "user", "content": QUESTION}]
        resp = client.chat.completions.create(model="qabot", messages=messages)
        chunks = list(client.chat.completions.create(model="qabot", messages=messages, stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    final = next(c for c in chunks if c.choices and c.choices[0].finish_reason == "stop")
    return resp.choices[0].message.content, resp.model_extra, text, final.model_extra


def test_openai_text_lists_unsupported_statements_after_the_references(use_model, fake):
    url = use_model("number")
    content, extra, streamed, final_extra = _completion_both(url)
    sentence = fake.requests[-1].planted["sentence"]  # the same question plants the same sentence
    for text, ext in ((content, extra), (streamed, final_extra)):
        refs = text.index("来源：\n[1] 青海省总工会启动2023年疗休养工作（news.md）")
        head = text.index(UNSUPPORTED_HEAD)
        assert refs < head  # in the reference list, after the sources
        listed = text[head:].splitlines()[1]
        assert listed.startswith("- ") and listed[2:] in ext["unsupported"]
        assert ext["unsupported"] and ext["note"] is None and sentence in listed
        assert "注意：" not in text


def test_openai_text_carries_the_note_when_the_model_fails(use_model):
    url = use_model("http500")
    content, extra, streamed, final_extra = _completion_both(url)
    for text, ext in ((content, extra), (streamed, final_extra)):
        assert "720万元" in text and "来源：\n[1]" in text
        assert text.rstrip().endswith(f"注意：{ext['note']}") and NOTE_500 in ext["note"]
        assert UNSUPPORTED_HEAD not in text and ext["unsupported"] == []
        assert KEY not in text


def test_the_tail_is_not_sent_back_as_history(use_model, fake):
    url = use_model("number")
    with _openai(url) as client:
        first = client.chat.completions.create(model="qabot", messages=[{"role": "user", "content": QUESTION}])
        earlier = first.choices[0].message.content
        assert UNSUPPORTED_HEAD in earlier
        client.chat.completions.create(
            model="qabot",
            messages=[
                {"role": "user", "content": QUESTION},
                {"role": "assistant", "content": earlier},
                {"role": "user", "content": "安排了多少批？"},
            ],
        )
    condense = next(r for r in reversed(fake.requests) if r.kind == "condense")
    prompt = condense.messages[-1]["content"]
    assert "助手：" + " ".join(strip_tail(earlier).split()) in prompt
    assert "来源：" not in prompt and "以下内容未在来源中找到依据" not in prompt


def test_strip_tail():
    assert strip_tail("答[1]\n\n来源：\n[1] t（f）\n\n⚠️ 以下内容未在来源中找到依据：\n- x\n\n注意：n") == "答[1]"
    assert strip_tail("答\n\n注意：模型不可用") == "答"
    assert strip_tail("答\n\n⚠️ 以下内容未在来源中找到依据：\n- 答") == "答"
    assert strip_tail("没有尾巴") == "没有尾巴"
