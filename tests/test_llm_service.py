"""Generated answers through the AnswerService, against a real OpenAI-compatible server on loopback."""

from __future__ import annotations

import logging

import pytest
from pydantic import SecretStr

from bot.answer.llm import LLMAnswerer
from bot.answer.prompts import answer_prompt, refusal_sentence
from bot.errors import QuestionError
from bot.models import Answer, Delta, Event, Final, Sources, Turn
from bot.service import AnswerService

QUESTION = "青海省总工会2023年计划投入多少专项经费？"
KEY = "sk-test-DO-NOT-LEAK-4f9a2c"


def _events(service: AnswerService, question: str = QUESTION, **kwargs) -> tuple[list[Event], Answer]:
    events = list(service.ask_stream(question, **kwargs))
    assert isinstance(events[0], Sources) and isinstance(events[-1], Final)
    assert sum(isinstance(e, Sources) for e in events) == 1
    return events, events[-1].answer


def _streamed(events: list[Event]) -> str:
    return "".join(e.text for e in events if isinstance(e, Delta))


def test_echo_answer_is_generated_cited_and_quoted(with_model, fake):
    service = with_model("echo")
    events, answer = _events(service)
    assert answer.mode == "llm" and answer.found and answer.note is None
    assert "青海省总工会" in answer.answer and answer.answer.endswith("[1]")
    assert answer.sources[0].quote and answer.sources[0].quote in answer.sources[0].text
    assert answer.unsupported == []
    assert _streamed(events) == answer.answer
    prompt = fake.requests[-1]
    assert prompt.stream and prompt.authorization == f"Bearer {KEY}"
    assert QUESTION in prompt.messages[-1]["content"]


def test_quote_follows_the_claim_not_the_first_sentence(with_model):
    answer = with_model("last").ask(QUESTION)
    source = answer.sources[0]
    assert "720万元" in answer.answer
    assert "720万元" in source.quote and not source.text.startswith(source.quote)


def test_other_marker_shapes_are_normalised(with_model):
    answer = with_model("shapes").ask(QUESTION)
    assert "【" not in answer.answer and "来源" not in answer.answer
    assert "[1]" in answer.answer and "[2]" in answer.answer
    assert answer.sources[0].quote and answer.sources[1].quote


def test_citations_to_missing_sources_are_removed(with_model, fake):
    service = with_model("badcite")
    events, answer = _events(service, top_k=3)
    planted = fake.requests[-1].planted["markers"]
    for n in planted:
        assert f"[{n}]" not in answer.answer and f"【{n}】" not in answer.answer
        assert f"[{n}]" not in _streamed(events)
    assert "[1]" in answer.answer


def test_invented_number_is_flagged(with_model, fake):
    answer = with_model("number").ask(QUESTION)
    planted = fake.requests[-1].planted["number"]
    assert planted in answer.answer
    assert any(planted in sentence for sentence in answer.unsupported)
    assert all(sentence in answer.answer for sentence in answer.unsupported)


def test_refusal_sentence_sets_found_false(with_model):
    answer = with_model("refuse").ask("玉树州辅警培训班一共有多少名辅警参训？")
    assert answer.mode == "llm" and not answer.found
    assert refusal_sentence() in answer.answer
    assert all(s.quote is None for s in answer.sources)


def test_refusal_sentence_is_in_the_system_prompt():
    messages = answer_prompt().format_messages(sources="[1] 《t》\n内容", question="问")
    assert refusal_sentence() in messages[0].content


def test_deltas_arrive_while_the_model_is_still_writing(with_model, fake):
    service = with_model("slow")
    stream = service.ask_stream(QUESTION)
    kinds = []
    for event in stream:
        kinds.append(type(event))
        if isinstance(event, Delta):
            break
    record = fake.requests[-1]
    assert record.done is None  # the server has not finished sending the reply yet
    stream.close()


@pytest.mark.parametrize(
    ("model", "reason", "timeout"),
    [("http500", "HTTP 500", 30), ("badjson", "返回内容无效", 30), ("empty", "空回复", 30), ("stall", "超时", 0.5)],
)
def test_model_failure_gives_the_extractive_answer_with_a_note(with_model, caplog, model, reason, timeout):
    caplog.set_level(logging.DEBUG)
    service = with_model(model, llm_timeout=timeout)
    events, answer = _events(service)
    assert answer.mode == "extractive" and answer.found
    assert "720万元" in answer.answer
    assert answer.note and reason in answer.note
    assert _streamed(events).strip()
    assert KEY not in caplog.text and KEY not in answer.model_dump_json()
    assert any(r.name == "bot.answer.llm" and r.levelno == logging.WARNING for r in caplog.records)


def test_timeout_mid_stream_switches_visibly_to_the_extractive_answer(with_model, caplog):
    caplog.set_level(logging.DEBUG)
    events, answer = _events(with_model("slow", llm_timeout=1.5))  # tokens every 0.5 s, ~7 s in all
    streamed = _streamed(events)
    assert answer.mode == "extractive" and "超时" in answer.note
    assert streamed.endswith(answer.answer) and "离线" in streamed
    assert KEY not in caplog.text


def test_unreachable_model_falls_back(shared, embedder):
    settings = shared.settings.model_copy(
        update={
            "llm_base_url": "http://127.0.0.1:9/v1",
            "llm_model": "x",
            "llm_api_key": SecretStr(KEY),
            "llm_timeout": 1.0,
        }
    )
    shared.chat = LLMAnswerer(settings)
    try:
        answer = shared.ask(QUESTION)
    finally:
        shared.chat = None
    assert answer.mode == "extractive" and "无法连接" in answer.note


def test_follow_up_is_rewritten_by_the_model_before_retrieval(with_model, fake):
    service = with_model("echo")
    history = [Turn(role="user", content=QUESTION), Turn(role="assistant", content="720万元[1]")]
    answer = service.ask("安排了多少批职工？", history=history)
    condense, generate = fake.requests[-2], fake.requests[-1]
    assert condense.kind == "condense" and not condense.stream
    assert "用户：" + QUESTION in condense.messages[-1]["content"]
    assert "问题：青海省总工会2023年计划投入多少专项经费，安排了多少批职工？" in generate.messages[-1]["content"]
    assert answer.question == "安排了多少批职工？"
    assert answer.sources[0].title.startswith("青海省总工会")


def test_follow_up_without_a_working_model_uses_the_offline_expansion(with_model, fake):
    service = with_model("http500")
    history = [Turn(role="user", content=QUESTION)]
    before = len(fake.requests)
    events, answer = _events(service, "安排了多少批？", history=history)
    assert len(fake.requests) == before + 1  # only the rewrite was tried, not a second doomed call
    assert answer.mode == "extractive" and "HTTP 500" in answer.note
    assert answer.sources[0].title.startswith("青海省总工会")


def test_mode_extractive_skips_the_model(with_model, fake):
    service = with_model("echo")
    before = len(fake.requests)
    answer = service.ask(QUESTION, mode="extractive")
    assert answer.mode == "extractive" and answer.note is None
    assert len(fake.requests) == before


def test_mode_llm_without_a_model_is_a_question_error(shared):
    with pytest.raises(QuestionError):
        shared.ask(QUESTION, mode="llm")


def test_a_configured_chat_model_is_used_by_default(tiny_service, embedder, fake):
    settings = tiny_service.settings.model_copy(update={"llm_base_url": fake.base_url, "llm_model": "echo"})
    service = AnswerService(settings, embedder=embedder)
    assert isinstance(service.chat, LLMAnswerer)
    assert service.info()["mode"] == "llm"
    assert service.ask(QUESTION).mode == "llm"
    assert fake.requests[-1].authorization == "Bearer not-needed"  # no key configured (local servers)


def test_only_unparseable_model_output_counts_as_an_invalid_reply():
    import json

    from bot.answer.llm import failure_reason

    assert failure_reason(json.JSONDecodeError("Expecting value", "{x", 1)) == "返回内容无效"
    for bug in (ValueError("bug"), KeyError("sources"), TypeError("NoneType")):
        assert failure_reason(bug) is None


def test_a_bug_in_the_model_path_is_raised_not_reported_as_a_bad_reply(with_model, monkeypatch, caplog):
    service = with_model("echo")

    def broken(chunk):
        raise KeyError("a bug, not the model's fault")

    monkeypatch.setattr("bot.answer.llm.chunk_text", broken)
    with pytest.raises(KeyError, match="a bug"):
        service.ask(QUESTION)
    assert "返回内容无效" not in caplog.text
