"""Prompt files: found where the package looks, with the variables the chains fill in."""

from __future__ import annotations

from bot.answer.condense import clean_rewrite, format_history
from bot.answer.prompts import answer_prompt, condense_prompt, load_prompt, prompts_dir, refusal_sentence
from bot.models import Turn


def test_prompt_files_are_found_next_to_the_package():
    assert (prompts_dir() / "answer_system.txt").is_file()


def test_refusal_sentence_is_defined_once():
    sentence = refusal_sentence()
    assert sentence and "\n" not in sentence
    assert sentence not in load_prompt("answer_system")  # the system prompt only has the {refusal} slot
    assert "{refusal}" in load_prompt("answer_system")


def test_templates_take_exactly_the_chain_inputs():
    assert set(answer_prompt().input_variables) == {"sources", "question"}
    assert set(condense_prompt().input_variables) == {"history", "question"}


def test_history_is_formatted_for_the_condense_prompt():
    history = [Turn(role="user", content="青海投入多少？"), Turn(role="assistant", content="720万元" + "很" * 400)]
    text = format_history(history)
    assert text.splitlines()[0] == "用户：青海投入多少？"
    assert text.splitlines()[1].startswith("助手：720万元") and text.endswith("…")


def test_rewrite_is_cleaned_of_labels_and_quotes():
    assert clean_rewrite("改写后的问题：“西宁建了多少个服务站？”\n解释：……") == "西宁建了多少个服务站？"
    assert clean_rewrite("  \n") == ""
