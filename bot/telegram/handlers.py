"""The bot's behaviour: the allow-list gate, commands, questions and the one error handler.

Every text message addressed to the bot is a question. Answers are computed in worker threads
(`bot.workers`), so one slow question never stalls other chats; updates are handled concurrently,
one at a time per chat (so follow-ups see the previous answer in their history). `on_error` is the
one place errors become chat messages: qabot's own errors (a bad question, no index) a short
message, anything else a logged traceback and an apology.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from telegram import BotCommand, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.constants import ChatAction
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from ..errors import QabotError, QuestionError
from ..models import Answer, Delta, Final
from ..ratelimit import RateLimiter
from ..service import AnswerService, check_question
from ..workers import WorkerPool
from .addressing import is_my_command, question_text
from .config import BotConfig
from .drafts import Draft
from .format import button_label, format_answer, format_source, format_sources, help_text
from .sending import Sender
from .state import AnswerStore, ChatHistory, open_memory
from .texts import APOLOGY, COMMANDS, EXPIRED, NO_ANSWER_YET, RATE_LIMITED, REFUSED, RESET_DONE, question_hint

log = logging.getLogger(__name__)

ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY]  # what `register` handles
PRUNE_EVERY = 500  # questions between clean-ups of idle chats' state


class QABot:
    """The handlers, bound to one AnswerService and the per-chat state."""

    def __init__(self, service: AnswerService, config: BotConfig) -> None:
        self.service = service
        self.config = config
        self.sender = Sender(config.send_attempts, config.retry_base_s)
        memory = open_memory(config.memory_path)  # survives restarts (SQLite)
        self.history = ChatHistory(config.history_turns, config.history_max_age_s, db=memory)
        self.limiter = RateLimiter(config.rate_limit_per_minute)
        self.answers = AnswerStore(db=memory)
        self.pool = WorkerPool(config.worker_threads)
        self._locks: dict[int, asyncio.Lock] = {}
        self._handled = 0

    # -- wiring ---------------------------------------------------------------------------------
    def register(self, app: Application[Any, Any, Any, Any, Any, Any]) -> None:
        app.add_handler(TypeHandler(Update, self.gate), group=-1)
        app.add_handler(CommandHandler(["start", "help"], self.on_help))
        app.add_handler(CommandHandler("reset", self.on_reset))
        app.add_handler(CommandHandler("sources", self.on_sources))
        app.add_handler(CallbackQueryHandler(self.on_button, pattern=r"^src:"))
        app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, self.on_question))
        app.add_error_handler(self.on_error)
        app.bot_data["qabot"] = self

    async def startup(self, app: Application[Any, Any, Any, Any, Any, Any]) -> None:
        """Announce the commands and warn about an open bot; failures here must not stop it."""
        if not self.config.allowed_chat_ids:
            log.warning("TELEGRAM_ALLOWED_CHAT_IDS is empty: every Telegram user can ask this bot")
        try:
            await self.sender.call(app.bot.set_my_commands, [BotCommand(name, text) for name, text in COMMANDS])
        except TelegramError as exc:
            log.warning("could not set the bot's command list: %s", exc)

    def allowed(self, chat_id: int) -> bool:
        return not self.config.allowed_chat_ids or chat_id in self.config.allowed_chat_ids

    # -- handlers -------------------------------------------------------------------------------
    async def gate(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Group -1: chats outside the allow-list get one polite refusal and nothing else."""
        chat = update.effective_chat
        if chat is None or self.allowed(chat.id):
            return
        bot = context.bot
        log.info("refused update %s from chat %s (not in TELEGRAM_ALLOWED_CHAT_IDS)", update.update_id, chat.id)
        if update.callback_query is not None:
            await self.sender.call(update.callback_query.answer, REFUSED, show_alert=True)
        else:
            message = update.effective_message
            if is_my_command(message, bot.username) or question_text(message, bot.id, bot.username) is not None:
                reply_to = message.message_id if message else None
                await self.sender.send(bot, chat.id, REFUSED, reply_to=reply_to, html=False)
        raise ApplicationHandlerStop

    async def on_help(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        chat_id = _chat_id(update)
        info = await self.pool.run(self.service.info)
        await self.sender.send(context.bot, chat_id, help_text(info))

    async def on_reset(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        chat_id = _chat_id(update)
        self.history.clear(chat_id)
        await self.sender.send(context.bot, chat_id, RESET_DONE, html=False)

    async def on_sources(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        chat_id = _chat_id(update)
        answer = self.answers.last(chat_id)
        if answer is None:
            await self.sender.send(context.bot, chat_id, NO_ANSWER_YET, html=False)
            return
        await self.sender.send(context.bot, chat_id, format_sources(answer))

    async def on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """An inline button under an answer: send that source's quote and passage."""
        query = update.callback_query
        if query is None:
            return
        chat_id = _chat_id(update)
        source = None
        try:
            _, key, n = (query.data or "").split(":")
            answer = self.answers.get(chat_id, key)
            source = next((s for s in answer.sources if s.n == int(n)), None) if answer else None
        except ValueError:
            pass
        if source is None:
            await self.sender.call(query.answer, EXPIRED)
            return
        await self.sender.call(query.answer)
        reply_to = query.message.message_id if query.message else None
        await self.sender.send(context.bot, chat_id, format_source(source), reply_to=reply_to)

    async def on_question(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        bot = context.bot
        message = update.effective_message
        text = question_text(message, bot.id, bot.username)
        if message is None or text is None:
            return
        question = check_question(text, self.service.settings.max_question_chars)  # QuestionError → on_error
        chat_id = message.chat_id
        wait = self.limiter.hit(chat_id)
        if wait:
            if self.limiter.should_warn(chat_id):
                hint = RATE_LIMITED.format(s=max(1, round(wait)))
                await self.sender.send(bot, chat_id, hint, reply_to=message.message_id, html=False)
            return
        self._maybe_prune()
        lock = self._locks.setdefault(chat_id, asyncio.Lock())
        async with lock:  # one question at a time per chat, in arrival order
            await self._answer(bot, message, question)

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """The one mapping of errors to the chat: a hint for a bad question, otherwise an apology."""
        error = context.error
        update_id = update.update_id if isinstance(update, Update) else None
        if isinstance(error, QabotError):
            log.warning("update %s: %s: %s", update_id, type(error).__name__, error)
        else:
            log.error("error while handling update %s: %r", update_id, error, exc_info=error)
        if not isinstance(update, Update) or update.effective_chat is None:
            return
        try:
            if update.callback_query is not None:
                await update.callback_query.answer(APOLOGY)
            elif isinstance(error, QuestionError):
                message = update.effective_message
                reply_to = message.message_id if message else None
                await self.sender.send(
                    context.bot, update.effective_chat.id, question_hint(error), reply_to=reply_to, html=False
                )
            else:
                await self.sender.send(context.bot, update.effective_chat.id, APOLOGY, html=False)
        except TelegramError as exc:
            log.error("could not apologise for update %s: %s", update_id, exc)

    # -- answering ------------------------------------------------------------------------------
    async def _answer(self, bot: Any, message: Message, question: str) -> None:
        chat_id = message.chat_id
        history = self.history.get(chat_id)
        typing = asyncio.create_task(self._keep_typing(bot, chat_id))
        draft = Draft(self.sender, bot, message, self.config.draft_after_s, self.config.edit_interval_s)
        answer: Answer | None = None
        try:
            async for event in self.pool.stream(self.service.ask_stream(question, history=history or None)):
                if isinstance(event, Delta):
                    await draft.grow(event.text)
                elif isinstance(event, Final):
                    answer = event.answer
        finally:
            typing.cancel()
        if answer is None:
            raise RuntimeError("the answer service ended without an answer")
        key = self.answers.put(chat_id, answer)
        self.history.add(chat_id, question, answer.answer)
        buttons = (
            InlineKeyboardMarkup(
                [[InlineKeyboardButton(button_label(s), callback_data=f"src:{key}:{s.n}")] for s in answer.sources]
            )
            if answer.sources
            else None
        )
        await draft.finish(format_answer(answer), buttons)

    async def _keep_typing(self, bot: Any, chat_id: int) -> None:
        """Show "typing…" until cancelled; a failed chat action is not worth an error."""
        while True:
            try:
                await bot.send_chat_action(chat_id, ChatAction.TYPING)
            except TelegramError as exc:
                log.debug("sendChatAction failed: %s", exc)
            await asyncio.sleep(self.config.typing_interval_s)

    def _maybe_prune(self) -> None:
        self._handled += 1
        if self._handled % PRUNE_EVERY:
            return
        self.history.prune()
        self.limiter.prune()
        for chat_id, lock in list(self._locks.items()):
            if not lock.locked():
                del self._locks[chat_id]


def qabot_of(app: Application[Any, Any, Any, Any, Any, Any]) -> QABot:
    """The QABot registered on an Application."""
    qabot = app.bot_data["qabot"]
    assert isinstance(qabot, QABot)
    return qabot


def _chat_id(update: Update) -> int:
    chat = update.effective_chat
    if chat is None:  # pragma: no cover - commands and buttons always come from a chat
        raise ValueError("update without a chat")
    return chat.id
