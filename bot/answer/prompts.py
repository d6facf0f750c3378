"""Prompt templates for the chat model, read from the `prompts/` folder (the package `bot.prompts`).

The wording lives in files so it can be tuned without touching code. The refusal sentence is not
one of them: it is defined once in `render.REFUSAL`, fills the system prompt's `{refusal}` slot and
is how a "not found" reply is recognised, so the prompt and the check can never drift apart.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable

from langchain_core.prompts import ChatPromptTemplate

from retrieval.search import Hit

from ..errors import PromptsMissing
from .render import REFUSAL

PACKAGE = "bot.prompts"


def prompts_dir() -> Traversable:
    """Where the prompt files are installed."""
    try:
        return resources.files(PACKAGE)
    except ModuleNotFoundError as exc:
        raise PromptsMissing(f"qabot prompts are not installed (package {PACKAGE}): reinstall qabot") from exc


@cache
def load_prompt(name: str) -> str:
    """The text of `prompts/<name>.txt`; PromptsMissing when the install lacks it."""
    try:
        return prompts_dir().joinpath(f"{name}.txt").read_text(encoding="utf-8").strip()
    except (FileNotFoundError, NotADirectoryError) as exc:
        raise PromptsMissing(f"qabot prompt '{name}' is not installed (package {PACKAGE}): reinstall qabot") from exc


def refusal_sentence() -> str:
    """The one fixed sentence the model must reply with when the sources lack the answer."""
    return REFUSAL


def answer_prompt() -> ChatPromptTemplate:
    """System rules (with the refusal sentence filled in) plus the numbered sources and question."""
    return ChatPromptTemplate.from_messages(
        [("system", load_prompt("answer_system")), ("human", load_prompt("answer_human"))]
    ).partial(refusal=REFUSAL)


def condense_prompt() -> ChatPromptTemplate:
    return ChatPromptTemplate.from_messages([("human", load_prompt("condense"))])


def format_sources(hits: list[Hit]) -> str:
    """`[n] 《title》` then the chunk text, blank-line separated; n is the citation number."""
    return "\n\n".join(
        f"[{rank}] 《{hit.chunk.title}》\n{hit.chunk.text.strip()}" for rank, hit in enumerate(hits, start=1)
    )
