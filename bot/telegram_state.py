"""Per-chat memory for the Telegram bot: conversation history, rate limits, recent answers.

All of it lives in memory (a restart forgets conversations, which is acceptable for a Q&A bot)
and is bounded: history by turns and age, answers by count per chat, chats by idle time.
Everything here is used from the event loop only, so no locks are needed.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Callable

from .models import Answer, Turn

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
        turns.append((now, Turn(role="user", content=question[:4000])))
        turns.append((now, Turn(role="assistant", content=answer[:2000])))
        while len(turns) > self.max_turns:
            turns.popleft()

    def clear(self, chat_id: int) -> None:
        self._chats.pop(chat_id, None)

    def prune(self) -> None:
        for chat_id in list(self._chats):
            self.get(chat_id)


class RateLimiter:
    """A sliding one-minute window per chat. `hit` returns 0 when allowed, else seconds to wait."""

    def __init__(self, per_minute: int, clock: Clock = time.monotonic, window_s: float = 60.0) -> None:
        self.per_minute = per_minute
        self.window_s = window_s
        self.clock = clock
        self._hits: dict[int, deque[float]] = {}
        self._warned: set[int] = set()

    def hit(self, chat_id: int) -> float:
        if self.per_minute <= 0:
            return 0.0
        now = self.clock()
        hits = self._hits.setdefault(chat_id, deque())
        while hits and hits[0] <= now - self.window_s:
            hits.popleft()
        if len(hits) >= self.per_minute:
            return max(0.1, hits[0] + self.window_s - now)
        hits.append(now)
        self._warned.discard(chat_id)
        return 0.0

    def should_warn(self, chat_id: int) -> bool:
        """Warn once per blocked stretch, so a flood of questions does not get a flood of replies."""
        if chat_id in self._warned:
            return False
        self._warned.add(chat_id)
        return True

    def prune(self) -> None:
        horizon = self.clock() - self.window_s
        for chat_id, hits in list(self._hits.items()):
            if not hits or hits[-1] <= horizon:
                del self._hits[chat_id]
                self._warned.discard(chat_id)


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
