"""Follow-up questions: the chat model rewrites them into standalone questions before retrieval.

"那西宁呢？" retrieves nothing useful on its own; the rewrite (prompt in `prompts/condense.txt`)
restores the subject from the conversation so retrieval and the answer prompt see a full question.
"""

from __future__ import annotations

import re

from langchain_core.language_models import BaseChatModel
from langchain_core.output_parsers import StrOutputParser
from langchain_core.runnables import Runnable, RunnableLambda

from ..models import HISTORY_TURNS, Turn
from .prompts import condense_prompt

_ROLES = {"user": "用户", "assistant": "助手"}
_LABEL = re.compile(r"^(?:改写后的问题|独立问题|问题)\s*[:：]\s*")


def format_history(history: list[Turn], max_turns: int = HISTORY_TURNS, max_chars: int = 300) -> str:
    """The last turns as `用户：…` / `助手：…` lines, each cut to keep the prompt short."""
    lines = []
    for turn in history[-max_turns:]:
        text = " ".join(turn.content.split())
        if len(text) > max_chars:
            text = text[:max_chars] + "…"
        lines.append(f"{_ROLES[turn.role]}：{text}")
    return "\n".join(lines)


def clean_rewrite(text: str) -> str:
    """First non-empty line, without a `问题：` label or wrapping quotes; "" when unusable."""
    line = next((ln.strip() for ln in text.strip().splitlines() if ln.strip()), "")
    line = _LABEL.sub("", line).strip().strip("“”\"'「」")
    return line


def condense_chain(model: BaseChatModel) -> Runnable:
    """{history, question} → standalone question (a string, possibly empty)."""
    return condense_prompt() | model | StrOutputParser() | RunnableLambda(clean_rewrite)
