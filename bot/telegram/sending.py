"""Talking to the Bot API: retries, long messages in parts, and plain text when HTML is refused.

Network errors are retried with backoff and flood control (`RetryAfter`) is waited out; HTML that
Telegram refuses is re-sent as plain text, so an answer is never lost to markup.
"""

from __future__ import annotations

import asyncio
import datetime as dtm
import logging
import warnings
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from telegram import InlineKeyboardMarkup, Message, ReplyParameters
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter

from .format import split_html, split_plain, to_plain

log = logging.getLogger(__name__)
T = TypeVar("T")


def _seconds(value: int | float | dtm.timedelta) -> float:
    return value.total_seconds() if isinstance(value, dtm.timedelta) else float(value)


class Sender:
    def __init__(self, attempts: int, retry_base_s: float) -> None:
        self.attempts = attempts
        self.retry_base_s = retry_base_s

    async def call(self, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        """Call the Bot API, retrying network errors with backoff and waiting out flood control."""
        delay = self.retry_base_s
        for attempt in range(1, self.attempts + 1):
            try:
                return await fn(*args, **kwargs)
            except RetryAfter as exc:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    wait = _seconds(exc.retry_after)
                log.warning("flood control: waiting %.1f s before retrying %s", wait, getattr(fn, "__name__", fn))
                if attempt == self.attempts:
                    raise
                await asyncio.sleep(wait + 0.05)
            except (BadRequest, Forbidden):
                raise
            except NetworkError as exc:  # includes TimedOut
                if attempt == self.attempts:
                    raise
                log.warning("network error (%s); retry %d in %.1f s", exc, attempt, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
        raise AssertionError("unreachable")

    async def send(
        self,
        bot: Any,
        chat_id: int,
        text: str,
        *,
        reply_to: int | None = None,
        buttons: InlineKeyboardMarkup | None = None,
        html: bool = True,
    ) -> list[Message]:
        """Send a possibly long message in parts; the first replies to `reply_to`, the last has the buttons."""
        parts = split_html(text) if html else split_plain(text)
        sent = []
        for k, part in enumerate(parts):
            last = k == len(parts) - 1
            reply = reply_to if k == 0 else None
            sent.append(
                await self.send_part(bot, chat_id, part, reply_to=reply, buttons=buttons if last else None, html=html)
            )
        return sent

    async def send_part(
        self,
        bot: Any,
        chat_id: int,
        part: str,
        *,
        reply_to: int | None = None,
        buttons: InlineKeyboardMarkup | None = None,
        html: bool = True,
    ) -> Message:
        """One message under the length limit; refused HTML is sent again as plain text."""
        reply = ReplyParameters(reply_to, allow_sending_without_reply=True) if reply_to else None
        if html:
            try:
                return await self.call(
                    bot.send_message,
                    chat_id,
                    part,
                    parse_mode=ParseMode.HTML,
                    reply_parameters=reply,
                    reply_markup=buttons,
                )
            except BadRequest as exc:
                log.warning("Telegram refused the HTML (%s); sending plain text", exc)
        pieces = split_plain(to_plain(part)) if html else [part]
        last = None
        for k, piece in enumerate(pieces):
            last = await self.call(
                bot.send_message,
                chat_id,
                piece,
                reply_parameters=reply if k == 0 else None,
                reply_markup=buttons if k == len(pieces) - 1 else None,
            )
        assert last is not None
        return last

    async def edit(self, message: Message, part: str, buttons: InlineKeyboardMarkup | None, html: bool = True) -> None:
        """Replace a message's text; an edit that changes nothing is not an error."""
        try:
            if html:
                try:
                    await self.call(message.edit_text, part, parse_mode=ParseMode.HTML, reply_markup=buttons)
                    return
                except BadRequest as exc:
                    if "not modified" in str(exc).lower():
                        return
                    log.warning("Telegram refused the HTML edit (%s); using plain text", exc)
                    part = to_plain(part)
            await self.call(message.edit_text, part, reply_markup=buttons)
        except BadRequest as exc:
            if "not modified" not in str(exc).lower():
                raise
