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
