"""Prompt templates for the chat model, read from the `prompts/` folder.

The wording lives in files so it can be tuned without touching code; the refusal sentence is
defined once (`prompts/refusal.txt`) and used both inside the system prompt and to recognise a
"not found" reply, so the two can never drift apart.
"""

from __future__ import annotations

import sys
from functools import lru_cache
from pathlib import Path

from langchain_core.prompts import ChatPromptTemplate

from retrieval.search import Hit

_CANDIDATES = (
    Path(__file__).resolve().parent.parent / "prompts",  # source checkout / editable install
    Path(sys.prefix) / "share" / "qabot" / "prompts",  # wheel install (pyproject data-files)
)


class PromptsMissing(RuntimeError):
    """The prompts folder is not where the package expects it (a broken install)."""


def prompts_dir() -> Path:
    for candidate in _CANDIDATES:
        if (candidate / "answer_system.txt").is_file():
            return candidate
    raise PromptsMissing("qabot prompts not found in " + " or ".join(str(c) for c in _CANDIDATES))


@lru_cache(maxsize=None)
def load_prompt(name: str) -> str:
    return (prompts_dir() / f"{name}.txt").read_text(encoding="utf-8").strip()


def refusal_sentence() -> str:
    """The one fixed sentence the model must reply with when the sources lack the answer."""
    return load_prompt("refusal")


def answer_prompt() -> ChatPromptTemplate:
    """System rules (with the refusal sentence filled in) plus the numbered sources and question."""
    return ChatPromptTemplate.from_messages(
        [("system", load_prompt("answer_system")), ("human", load_prompt("answer_human"))]
    ).partial(refusal=refusal_sentence())


def condense_prompt() -> ChatPromptTemplate:
    return ChatPromptTemplate.from_messages([("human", load_prompt("condense"))])


def format_sources(hits: list[Hit]) -> str:
    """`[n] 《title》` then the chunk text, blank-line separated; n is the citation number."""
    return "\n\n".join(f"[{rank}] 《{hit.chunk.title}》\n{hit.chunk.text.strip()}" for rank, hit in enumerate(hits, start=1))
