"""A streamed answer shown as it grows: a plain-text draft, edited at most once per interval, that
finally becomes the formatted answer (further parts follow as new messages).

Only slow answers get a draft (a chat model streaming); a fast one is sent once, formatted.
"""

from __future__ import annotations

import time
from typing import Any

from telegram import InlineKeyboardMarkup, Message

from .format import split_html, split_plain
from .sending import Sender

GROWING = " …"  # the end of a draft that is still growing


class Draft:
    def __init__(self, sender: Sender, bot: Any, question: Message, after_s: float, interval_s: float) -> None:
        self.sender, self.bot, self.question = sender, bot, question
        self.after_s, self.interval_s = after_s, interval_s
        self.started = time.monotonic()
        self.text = ""
        self.message: Message | None = None
        self.edited_at = 0.0

    async def grow(self, piece: str) -> None:
        """Add streamed text; show or edit the draft when it is due."""
        self.text += piece
        now = time.monotonic()
        if self.message is None:
            if now - self.started < self.after_s or not self.text.strip():
                return
            self.message = await self.sender.send_part(
                self.bot, self.question.chat_id, self._shown(), reply_to=self.question.message_id, html=False
            )
            self.edited_at = now
        elif now - self.edited_at >= self.interval_s:
            self.edited_at = now
            await self.sender.edit(self.message, self._shown(), None, html=False)

    def _shown(self) -> str:
        return split_plain(self.text + GROWING)[0]

    async def finish(self, html: str, buttons: InlineKeyboardMarkup | None) -> None:
        """The formatted answer: in place of the draft (and in further messages), or as a new reply."""
        chat_id = self.question.chat_id
        if self.message is None:
            await self.sender.send(self.bot, chat_id, html, reply_to=self.question.message_id, buttons=buttons)
            return
        parts = split_html(html)
        await self.sender.edit(self.message, parts[0], buttons if len(parts) == 1 else None)
        for k, part in enumerate(parts[1:], start=2):
            await self.sender.send_part(self.bot, chat_id, part, buttons=buttons if k == len(parts) else None)
