"""The OpenAI-compatible endpoints, spoken to by the official `openai` client and LangChain."""

from __future__ import annotations

import httpx
import openai
import pytest
from pydantic import SecretStr

from bot.http import ServerThread, create_app
from bot.service import AnswerService

QUESTION = "青海省总工会2023年计划投入多少专项经费？"
KEY = "test-key-123"


@pytest.fixture(scope="module")
def base_url(tiny_service, embedder):
    settings = tiny_service.settings.model_copy(update={"rate_limit_per_minute": 0, "api_key": SecretStr(KEY)})
    with ServerThread(create_app(AnswerService(settings, embedder=embedder))) as url:
        yield url + "/v1"


@pytest.fixture()
def client(base_url):
    with openai.OpenAI(base_url=base_url, api_key=KEY, max_retries=0, timeout=30) as c:
        yield c


def test_models_list(client):
    ids = [m.id for m in client.models.list()]
    assert ids == ["qabot", "qabot-extractive"]  # no chat model configured: no qabot-llm


def test_chat_completion_cites_sources(client):
    resp = client.chat.completions.create(
        model="qabot",
        messages=[
            {"role": "system", "content": "ignored"},
            {"role": "user", "content": QUESTION},
        ],
    )
    content = resp.choices[0].message.content
    assert resp.object == "chat.completion" and resp.choices[0].finish_reason == "stop"
    assert "720万元" in content and "[1]" in content
    assert "来源：\n[1] 青海省总工会启动2023年疗休养工作（news.md）" in content
    extra = resp.model_extra
    assert extra["found"] is True and extra["sources"][0]["quote"] and extra["sources"][0]["n"] == 1
    assert resp.usage.completion_tokens == len(content)


def test_chat_completion_stream(client):
    stream = client.chat.completions.create(
        model="qabot-extractive",
        stream=True,
        stream_options={"include_usage": True},
        messages=[{"role": "user", "content": [{"type": "text", "text": QUESTION}]}],
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) >= 3  # streamed in pieces
    assert "720万元" in text and "来源：" in text
    final = next(c for c in chunks if c.choices and c.choices[0].finish_reason == "stop")
    assert final.model_extra["sources"][0]["title"] == "青海省总工会启动2023年疗休养工作"
    assert chunks[-1].usage.completion_tokens == len(text)


def test_history_reaches_the_service(client):
    first = client.chat.completions.create(model="qabot", messages=[{"role": "user", "content": QUESTION}])
    resp = client.chat.completions.create(
        model="qabot",
        messages=[
            {"role": "user", "content": QUESTION},
            {"role": "assistant", "content": first.choices[0].message.content},
            {"role": "user", "content": "安排了多少批？"},
        ],
    )
    assert resp.model_extra["sources"][0]["file"] == "news.md"


def test_openai_errors(client, base_url):
    with pytest.raises(openai.NotFoundError, match="unknown model"):
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": QUESTION}])
    with pytest.raises(openai.UnprocessableEntityError, match="empty"):
        client.chat.completions.create(model="qabot", messages=[{"role": "user", "content": " "}])
    with pytest.raises(openai.UnprocessableEntityError, match="empty"):
        client.chat.completions.create(model="qabot", stream=True, messages=[{"role": "user", "content": ""}])
    with pytest.raises(openai.BadRequestError, match="last message"):
        client.chat.completions.create(model="qabot", messages=[{"role": "assistant", "content": "hi"}])
    with pytest.raises(openai.UnprocessableEntityError, match="messages"):
        client.chat.completions.create(model="qabot", messages=[])
    with pytest.raises(openai.UnprocessableEntityError, match="n:"):
        client.chat.completions.create(model="qabot", n=2, messages=[{"role": "user", "content": QUESTION}])
    with (
        openai.OpenAI(base_url=base_url, api_key="wrong", max_retries=0) as wrong,
        pytest.raises(openai.AuthenticationError, match="API key"),
    ):
        wrong.models.list()


def test_raw_http_shape(base_url):
    r = httpx.post(
        f"{base_url}/chat/completions",
        headers={"Authorization": f"Bearer {KEY}"},
        json={"model": "qabot", "messages": [{"role": "user", "content": QUESTION}], "stream": True},
    )
    lines = [line for line in r.text.split("\n") if line]
    assert r.headers["content-type"].startswith("text/event-stream")
    assert all(line.startswith("data: ") for line in lines) and lines[-1] == "data: [DONE]"


def test_langchain_chat_openai(base_url):
    from langchain_core.messages import AIMessage, HumanMessage
    from langchain_openai import ChatOpenAI

    llm = ChatOpenAI(base_url=base_url, api_key=KEY, model="qabot", max_retries=0, timeout=30)
    reply = llm.invoke([HumanMessage(QUESTION)])
    assert "720万元" in reply.content and "来源：" in reply.content
    pieces = list(llm.stream([HumanMessage(QUESTION), AIMessage(reply.content), HumanMessage("安排了多少批？")]))
    text = "".join(p.content for p in pieces)
    assert len(pieces) >= 3 and "[1]" in text
