"""Per-chat memory for the Telegram bot: conversation history and recent answers, in SQLite.

Kept in one SQLite file (stdlib `sqlite3`; `QABOT_TELEGRAM_MEMORY_PATH`, by default
`telegram.sqlite3` in the index folder), so a restart no longer forgets conversations or the
answers behind `/sources` and the source buttons (issue 12). Bounded as before: history by turns
and age, answers by count per chat. Turns are stamped with wall-clock time, which, unlike a
monotonic clock, survives a restart. Used from the event loop only; each call touches a few rows.
"""

from __future__ import annotations

import logging
import secrets
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from pydantic import ValidationError

from ..models import Answer, Turn, exchange

log = logging.getLogger(__name__)
Clock = Callable[[], float]

SCHEMA = """
CREATE TABLE IF NOT EXISTS turns (
    id INTEGER PRIMARY KEY AUTOINCREMENT, chat INTEGER NOT NULL, at REAL NOT NULL,
    role TEXT NOT NULL, content TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS turns_by_chat ON turns (chat, id);
CREATE TABLE IF NOT EXISTS answers (
    id INTEGER PRIMARY KEY AUTOINCREMENT, chat INTEGER NOT NULL, key TEXT NOT NULL UNIQUE, body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS answers_by_chat ON answers (chat, id);
"""


def open_memory(path: Path | None = None) -> sqlite3.Connection:
    """The memory database at `path`, or in memory (with a warning when `path` cannot be used)."""
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            db.executescript(SCHEMA)
            return db
        except (OSError, sqlite3.Error) as exc:
            log.warning("cannot keep conversations in %s (%s); they last until the bot stops", path, exc)
    db = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
    db.executescript(SCHEMA)
    return db


class ChatHistory:
    """The last `max_turns` turns of each chat, each forgotten after `max_age_s` seconds."""

    def __init__(
        self, max_turns: int, max_age_s: float, clock: Clock = time.time, db: sqlite3.Connection | None = None
    ) -> None:
        self.max_turns = max_turns
        self.max_age_s = max_age_s
        self.clock = clock
        self.db = db if db is not None else open_memory()

    def get(self, chat_id: int) -> list[Turn]:
        self.db.execute("DELETE FROM turns WHERE chat = ? AND at < ?", (chat_id, self.clock() - self.max_age_s))
        rows = self.db.execute("SELECT role, content FROM turns WHERE chat = ? ORDER BY id", (chat_id,)).fetchall()
        return [Turn(role=role, content=content) for role, content in rows]

    def add(self, chat_id: int, question: str, answer: str) -> None:
        if self.max_turns <= 0:
            return
        now = self.clock()
        rows = [(chat_id, now, turn.role, turn.content) for turn in exchange(question, answer)]
        with self.db:
            self.db.executemany("INSERT INTO turns (chat, at, role, content) VALUES (?, ?, ?, ?)", rows)
            self.db.execute(
                "DELETE FROM turns WHERE chat = ? AND id NOT IN "
                "(SELECT id FROM turns WHERE chat = ? ORDER BY id DESC LIMIT ?)",
                (chat_id, chat_id, self.max_turns),
            )

    def clear(self, chat_id: int) -> None:
        self.db.execute("DELETE FROM turns WHERE chat = ?", (chat_id,))

    def prune(self) -> None:
        self.db.execute("DELETE FROM turns WHERE at < ?", (self.clock() - self.max_age_s,))


class AnswerStore:
    """Recent answers per chat, for /sources and the inline source buttons (also after a restart)."""

    def __init__(self, per_chat: int = 20, db: sqlite3.Connection | None = None) -> None:
        self.per_chat = per_chat
        self.db = db if db is not None else open_memory()

    def put(self, chat_id: int, answer: Answer) -> str:
        key = secrets.token_hex(5)  # `src:<key>:<n>` must fit Telegram's 64-byte callback data
        with self.db:
            self.db.execute(
                "INSERT INTO answers (chat, key, body) VALUES (?, ?, ?)", (chat_id, key, answer.model_dump_json())
            )
            self.db.execute(
                "DELETE FROM answers WHERE chat = ? AND id NOT IN "
                "(SELECT id FROM answers WHERE chat = ? ORDER BY id DESC LIMIT ?)",
                (chat_id, chat_id, self.per_chat),
            )
        return key

    def get(self, chat_id: int, key: str) -> Answer | None:
        row = self.db.execute("SELECT body FROM answers WHERE chat = ? AND key = ?", (chat_id, key)).fetchone()
        return _answer(row)

    def last(self, chat_id: int) -> Answer | None:
        row = self.db.execute("SELECT body FROM answers WHERE chat = ? ORDER BY id DESC LIMIT 1", (chat_id,)).fetchone()
        return _answer(row)


def _answer(row: tuple[str] | None) -> Answer | None:
    if row is None:
        return None
    try:
        return Answer.model_validate_json(row[0])
    except ValidationError:
        return None  # stored by another version of qabot
