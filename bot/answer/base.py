"""The one interface both answerers implement, and what the service hands them.

The service owns retrieval: it takes one index snapshot per request, retrieves, and passes the
result as `Retrieved`, so an answer never mixes two index versions even when `qabot index`
publishes a new one mid-answer. An answerer only turns that into events.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from ..models import AnswerEvent, Mode, Turn

if TYPE_CHECKING:
    from retrieval.query import Query
    from retrieval.search import Hit


@dataclass(frozen=True)
class Retrieved:
    """What one request retrieved, all from one index snapshot."""

    query: str  # what was searched: the question, or a follow-up made standalone
    hits: list[Hit]
    idf: Mapping[str, float]  # word weights of the same snapshot
    version: str  # the index version the hits come from
    analysis: Query | None = None  # the question analysed once (retrieval/query.py), when the service did


class Answerer(Protocol):
    mode: Mode

    def standalone(self, question: str, history: list[Turn]) -> str:
        """What to retrieve for a follow-up question (ModelUnavailable if the chat model fails)."""
        ...

    def stream(self, question: str, retrieved: Retrieved) -> Iterator[AnswerEvent]:
        """`Sources`, `Delta`s, then `Final`; or `Failed` at any point after `Sources`, and nothing after it."""
        ...
