import pytest

from bot.errors import QuestionError


def test_tiny_answer_quotes_source(tiny_service):
    answer = tiny_service.ask("青海省总工会2023年计划投入多少专项经费？")
    assert answer.found, answer.answer
    assert "720万元" in answer.answer
    cited = [s for s in answer.sources if s.quote]
    assert cited and f"[{cited[0].n}]" in answer.answer


def test_empty_question_rejected(tiny_service):
    with pytest.raises(QuestionError):
        tiny_service.ask("   ")


@pytest.mark.parametrize(
    "question",
    [
        "2022年世界杯冠军是哪支球队？",
        "长沙市总工会为多少名环卫工人发放了防暑降温物资？",
        "火星上有多少个工会？",
    ],
)
def test_questions_the_articles_never_cover_are_refused(tiny_service, question):
    answer = tiny_service.ask(question)
    assert not answer.found, (answer.confidence, answer.answer)
    assert answer.short_answer is None and answer.sources  # the closest material is still listed
