"""The bot's behaviour: the allow-list gate, commands, questions and the one error handler.

Every text message addressed to the bot is a question, except that an admin chat
(`TELEGRAM_ADMIN_CHAT_IDS`) adds an article by sending a document, a message that is only a link,
or `/add URL`; anyone else who tries is refused. Answers are computed in worker threads
(`bot.workers`), so one slow question never stalls other chats; updates are handled concurrently,
one at a time per chat (so follow-ups see the previous answer in their history). `on_error` is the
one place errors become chat messages: qabot's own errors (a bad question, no index) a short
message, anything else a logged traceback and an apology.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from telegram import BotCommand, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.constants import ChatAction, ChatType
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

from retrieval.ingest.adding import is_url

from ..errors import ArticleRefused, QabotError, QuestionError
from ..library import AddResult, Library
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
from .texts import (
    ADD_FAILED,
    ADD_REFUSED,
    ADD_USAGE,
    APOLOGY,
    COMMANDS,
    EXPIRED,
    FILE_TOO_LARGE,
    NO_ANSWER_YET,
    RATE_LIMITED,
    REFUSED,
    RESET_DONE,
    added_text,
    question_hint,
)

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
        self._library: Library | None = None

    # -- wiring ---------------------------------------------------------------------------------
    def register(self, app: Application[Any, Any, Any, Any, Any, Any]) -> None:
        app.add_handler(TypeHandler(Update, self.gate), group=-1)
        app.add_handler(CommandHandler(["start", "help"], self.on_help))
        app.add_handler(CommandHandler("reset", self.on_reset))
        app.add_handler(CommandHandler("sources", self.on_sources))
        app.add_handler(CommandHandler("add", self.on_add))
        app.add_handler(MessageHandler(filters.Document.ALL, self.on_document))
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
        ids = self.config.allowed_chat_ids
        return not ids or chat_id in ids or chat_id in self.config.admin_chat_ids

    @property
    def library(self) -> Library:
        """Adding articles (made on first use: most bots never add one)."""
        if self._library is None:
            self._library = Library(self.service)
        return self._library

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

    async def on_add(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """`/add URL` from an admin chat."""
        message = update.effective_message
        if message is None:
            return
        words = (message.text or "").split()
        if self._refused(message):
            await self._refuse(context.bot, message)
        elif len(words) != 2 or not is_url(words[1]):
            await self.sender.send(context.bot, message.chat_id, ADD_USAGE, reply_to=message.message_id, html=False)
        else:
            await self._add(context.bot, message, self.library.add_url, words[1])

    async def on_document(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A file sent by an admin chat (in a group: only as a reply to the bot or mentioning it)."""
        message = update.effective_message
        if message is None or message.document is None:
            return
        if message.chat.type != ChatType.PRIVATE and not _addressed(message, context.bot.id, context.bot.username):
            return
        if self._refused(message):
            await self._refuse(context.bot, message)
            return
        document = message.document
        limit = self.config.max_upload_bytes
        if document.file_size and document.file_size > limit:
            raise ArticleRefused(FILE_TOO_LARGE.format(size=document.file_size, limit=limit))
        name = document.file_name or "document"
        await self._add(context.bot, message, self._add_document, document.file_id, name, context.bot)

    async def _add_document(self, file_id: str, name: str, bot: Any) -> AddResult:
        file = await self.sender.call(bot.get_file, file_id)
        data = bytes(await file.download_as_bytearray())
        return await self.pool.run(self.library.add_upload, data, name)

    def _refused(self, message: Message) -> bool:
        return message.chat_id not in self.config.admin_chat_ids

    async def _refuse(self, bot: Any, message: Message) -> None:
        log.info("refused to add an article for chat %s (not in TELEGRAM_ADMIN_CHAT_IDS)", message.chat_id)
        await self.sender.send(bot, message.chat_id, ADD_REFUSED, reply_to=message.message_id, html=False)

    async def _add(self, bot: Any, message: Message, add: Callable[..., Any], *args: Any) -> None:
        """Add (for an admin chat) and reply with the chunks indexed."""
        chat_id = message.chat_id
        typing = asyncio.create_task(self._keep_typing(bot, chat_id))
        try:
            result = await add(*args) if asyncio.iscoroutinefunction(add) else await self.pool.run(add, *args)
        finally:
            typing.cancel()
        await self.sender.send(bot, chat_id, added_text(result), reply_to=message.message_id, html=False)

    async def on_question(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        bot = context.bot
        message = update.effective_message
        text = question_text(message, bot.id, bot.username)
        if message is None or text is None:
            return
        if is_url(text) and len(text.split()) == 1:  # a bare link: an admin adds its article
            if self._refused(message):
                await self._refuse(bot, message)
            else:
                await self._add(bot, message, self.library.add_url, text)
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
            elif isinstance(error, (QuestionError, ArticleRefused)):
                message = update.effective_message
                reply_to = message.message_id if message else None
                hint = question_hint(error) if isinstance(error, QuestionError) else ADD_FAILED.format(error=error)
                await self.sender.send(context.bot, update.effective_chat.id, hint, reply_to=reply_to, html=False)
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


def _addressed(message: Message, bot_id: int, username: str) -> bool:
    """A group message meant for the bot: a reply to it, or a caption mentioning it."""
    reply = message.reply_to_message
    if reply is not None and reply.from_user is not None and reply.from_user.id == bot_id:
        return True
    return f"@{username}".lower() in (message.caption or "").lower()
