"""The Telegram bot's knobs: the user-facing ones come from Settings, the rest are sane defaults."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..models import HISTORY_TURNS
from ..settings import Settings


@dataclass
class BotConfig:
    allowed_chat_ids: frozenset[int] = frozenset()
    admin_chat_ids: frozenset[int] = frozenset()  # may add articles (a document, a link, /add URL)
    max_upload_bytes: int = 20_000_000
    rate_limit_per_minute: int = 20
    history_turns: int = HISTORY_TURNS
    history_max_age_s: float = 1800
    draft_after_s: float = 1.0  # show a growing draft only for answers slower than this
    edit_interval_s: float = 1.5  # at most one draft edit per interval (Telegram's flood limits)
    typing_interval_s: float = 4.0  # "typing…" lasts 5 s on the client
    send_attempts: int = 5
    retry_base_s: float = 0.5
    poll_timeout_s: int = 10  # python-telegram-bot's default long-polling timeout
    concurrent_updates: int = 256
    memory_path: Path | None = None  # SQLite file for history and answers; None = in memory only
    start_attempts: int = 0  # tries to reach the Bot API at start (0 = until it answers)
    start_retry_s: float = 1.0  # first wait between them, doubled up to a minute
    worker_threads: int = 32  # answers computed at once (a streaming chat model holds one, mostly waiting)

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> BotConfig:
        values: dict[str, Any] = dict(
            allowed_chat_ids=frozenset(settings.telegram_allowed_chat_ids),
            admin_chat_ids=frozenset(settings.telegram_admin_chat_ids),
            max_upload_bytes=settings.max_upload_bytes,
            rate_limit_per_minute=settings.telegram_rate_limit_per_minute,
            history_turns=settings.telegram_history_turns,
            history_max_age_s=settings.telegram_history_max_age_s,
            memory_path=settings.telegram_memory_path or settings.index_dir / "telegram.sqlite3",
        )
        values.update(overrides)
        return cls(**values)
