"""Per-chat memory for the Telegram bot: conversation history and recent answers.

All of it lives in memory (a restart forgets conversations, which is acceptable for a Q&A bot)
and is bounded: history by turns and age, answers by count per chat, chats by idle time.
Everything here is used from the event loop only, so no locks are needed.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Callable

from ..models import Answer, Turn, exchange

Clock = Callable[[], float]


class ChatHistory:
    """The last `max_turns` turns of each chat, each forgotten after `max_age_s` seconds."""

    def __init__(self, max_turns: int, max_age_s: float, clock: Clock = time.monotonic) -> None:
        self.max_turns = max_turns
        self.max_age_s = max_age_s
        self.clock = clock
        self._chats: dict[int, deque[tuple[float, Turn]]] = {}

    def get(self, chat_id: int) -> list[Turn]:
        turns = self._chats.get(chat_id)
        if not turns:
            return []
        horizon = self.clock() - self.max_age_s
        while turns and turns[0][0] < horizon:
            turns.popleft()
        if not turns:
            del self._chats[chat_id]
        return [turn for _, turn in turns]

    def add(self, chat_id: int, question: str, answer: str) -> None:
        if self.max_turns <= 0:
            return
        turns = self._chats.setdefault(chat_id, deque())
        now = self.clock()
        turns.extend((now, turn) for turn in exchange(question, answer))
        while len(turns) > self.max_turns:
            turns.popleft()

    def clear(self, chat_id: int) -> None:
        self._chats.pop(chat_id, None)

    def prune(self) -> None:
        for chat_id in list(self._chats):
            self.get(chat_id)


class AnswerStore:
    """Recent answers per chat, for /sources and the inline source buttons."""

    def __init__(self, per_chat: int = 20) -> None:
        self.per_chat = per_chat
        self._chats: dict[int, OrderedDict[str, Answer]] = {}
        self._counter = 0
        self._boot = secrets.token_hex(2)  # keys from before a restart never match new answers

    def put(self, chat_id: int, answer: Answer) -> str:
        self._counter += 1
        key = f"{self._boot}{self._counter:x}"
        answers = self._chats.setdefault(chat_id, OrderedDict())
        answers[key] = answer
        while len(answers) > self.per_chat:
            answers.popitem(last=False)
        return key

    def get(self, chat_id: int, key: str) -> Answer | None:
        return self._chats.get(chat_id, {}).get(key)

    def last(self, chat_id: int) -> Answer | None:
        answers = self._chats.get(chat_id)
        return next(reversed(answers.values())) if answers else None
