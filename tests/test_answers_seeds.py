"""End to end on the real seed corpus: quoted answers, honest refusals, offsets that point home."""

from __future__ import annotations

import re

import pytest

from retrieval.langchain_retriever import QabotRetriever
from tests.common import SEEDS


def _ws(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _check_citations(answer) -> None:
    cited = {int(n) for n in re.findall(r"\[(\d+)\]", answer.answer)}
    for n in cited:
        source = answer.sources[n - 1]
        assert source.n == n and source.quote, n
        assert source.quote in source.text  # verbatim
        original = (SEEDS / source.file).read_text(encoding="utf-8")[source.start : source.end]
        it = iter(_ws(original))
        assert all(ch in it for ch in _ws(source.quote))  # the quote is in the file at those offsets


def test_readme_question_is_answered_with_its_number(seed_service):
    answer = seed_service.ask("吉安市有多少家单位入选全省“六有六规范”工会示范点？")
    assert answer.found
    assert "22家" in answer.answer
    assert answer.sources[0].file == "001_2d0f6f6617ea2597.txt"
    _check_citations(answer)


def test_readme_question_leads_with_its_number(seed_service):
    assert seed_service.ask("吉安市有多少家单位入选全省“六有六规范”工会示范点？").short_answer == "22家"


@pytest.mark.parametrize(
    "question, expected",
    [
        ("在中央党校举行的研讨班开班式是哪位中央政治局常委主持的？", "李强"),
        ("威海市去年签订了多少份集体合同，覆盖了多少职工？", "1780份"),
        ("泽库县的“高原职工氧吧”计划什么时候投入使用？", "2023年10月前"),
        ("二十届二中全会公报说我国经济仍面临哪“三重压力”？", "需求收缩、供给冲击、预期转弱"),
    ],
)
def test_answers_keep_numbers_names_and_lists_intact(seed_service, question, expected):
    answer = seed_service.ask(question)
    assert answer.found and expected in _ws(answer.answer), answer.answer
    _check_citations(answer)


@pytest.mark.parametrize(
    "question",
    [
        "唐明英在文章里提到西藏全区目前有多少名工会会员？",
        "火星上有多少个工会？",  # off topic: nothing in the articles is about it
        "2022年世界杯冠军是哪支球队？",
        "威海市总工会2022年帮助职工追回了多少欠薪？",
        "洛阳市总工会和成都市总工会签订的战略合作协议有效期是几年？",
    ],
)
def test_on_topic_questions_without_an_answer_are_refused(seed_service, question):
    answer = seed_service.ask(question)
    assert not answer.found
    assert "没有找到" in answer.answer and not re.search(r"\[\d+\]", answer.answer)
    assert answer.sources and all(s.quote is None for s in answer.sources)


def test_articles_do_not_bleed_into_each_other(seed_service):
    chunks = seed_service.snapshot().index.chunks
    # the magazine's table of contents is not answerable text
    assert not any("\t3\n" in c.text or re.search(r"\t\d+$", c.text, re.M) for c in chunks)
    # page-jump markers are gone
    assert not any(re.search(r"[（(]\s*[上下][接转]第", c.text) for c in chunks)
    # the masthead stays searchable
    assert any("2023年第2期" in c.text for c in chunks)


def test_langchain_retriever_returns_documents_with_offsets(seed_service):
    retriever = QabotRetriever(searcher=seed_service.snapshot().searcher, k=3)
    docs = retriever.invoke("青海省总工会2023年首批劳模疗休养活动在哪里举办？")
    assert len(docs) == 3
    assert "三亚" in docs[0].page_content
    assert {"title", "file", "start", "end", "score"} <= set(docs[0].metadata)
