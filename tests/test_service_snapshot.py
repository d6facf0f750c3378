"""One index snapshot per request: a version published by `qabot index` while an answer is being
streamed never mixes into that answer, and the next request sees it."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

import bot.service
from bot.answer import render
from bot.answer.base import Retrieved
from bot.models import AnswerEvent, Delta, Failed, Final, Mode, Sources, Turn
from bot.service import AnswerService
from tests.common import make_settings

QUESTION = "青海省总工会2023年计划投入多少专项经费？"


class HalfWrittenModel:
    """A chat answerer that writes a little and then fails, so the service falls back mid-stream."""

    mode: Mode = "llm"

    def __init__(self) -> None:
        self.versions: list[str] = []

    def standalone(self, question: str, history: list[Turn]) -> str:
        return question

    def stream(self, question: str, retrieved: Retrieved) -> Iterator[AnswerEvent]:
        self.versions.append(retrieved.version)
        yield Sources(render.sources(retrieved.hits))
        yield Delta("青海省总工会计划")
        yield Failed("超时")


@pytest.fixture
def publishing(tmp_path, tiny_corpus, embedder, monkeypatch):
    """(service, publish): `publish()` rewrites the news article and publishes a new index version,
    as `qabot index` run elsewhere would. Every request checks for a new version (no 1 s grace)."""
    corpus = tmp_path / "corpus"
    shutil.copytree(tiny_corpus, corpus)
    settings = make_settings(tmp_path, corpus)
    service = AnswerService(settings, embedder=embedder, chat=HalfWrittenModel())
    service.build()
    monkeypatch.setattr(bot.service, "RELOAD_CHECK_S", 0.0)

    def publish() -> str:
        news = corpus / "news.md"
        news.write_text(news.read_text(encoding="utf-8").replace("720万元", "950万元"), encoding="utf-8")
        AnswerService(settings, embedder=embedder).build()
        return service.snapshot().index.version

    return service, publish


def _texts(service: AnswerService) -> set[str]:
    return {chunk.text for chunk in service.snapshot().index.chunks}


@pytest.mark.parametrize("mode", ["llm", "extractive"])
def test_index_published_mid_answer_does_not_mix_into_it(publishing, monkeypatch, mode):
    service, publish = publishing
    before = _texts(service)
    taken: list[str] = []
    snapshot = service.snapshot

    def counted():
        current = snapshot()
        taken.append(current.index.version)
        return current

    monkeypatch.setattr(service, "snapshot", counted)
    stream = service.ask_stream(QUESTION, mode=mode)
    first = next(stream)
    assert isinstance(first, Sources) and "720万元" in first.sources[0].text
    monkeypatch.setattr(service, "snapshot", snapshot)  # publishing reads the new version itself
    new_version = publish()
    monkeypatch.setattr(service, "snapshot", counted)
    rest = list(stream)

    final = rest[-1]
    assert isinstance(final, Final)
    assert len(taken) == 1 and taken[0] != new_version  # one snapshot for the whole request: the old one
    sources = first.sources + final.answer.sources
    assert all(source.text in before for source in sources)  # every source from the version it started on
    assert "720万元" in final.answer.answer and "950万元" not in final.answer.answer
    if mode == "llm":
        assert service.chat.versions == [taken[0]]
        assert final.answer.mode == "extractive" and "超时" in final.answer.note
    after = service.ask(QUESTION, mode="extractive")  # the next request answers from the new version
    assert "950万元" in after.answer and after.sources[0].text not in before


def test_a_request_takes_one_snapshot_even_when_it_falls_back(publishing, monkeypatch):
    service, _ = publishing
    calls = []
    snapshot = service.snapshot
    monkeypatch.setattr(service, "snapshot", lambda: calls.append(1) or snapshot())
    events = list(service.ask_stream(QUESTION, history=[Turn(role="user", content="青海省总工会的疗休养")]))
    assert len(calls) == 1
    assert render.SWITCH in "".join(e.text for e in events if isinstance(e, Delta))
