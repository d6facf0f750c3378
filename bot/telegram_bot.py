"""`qabot telegram`: the answer service in a Telegram chat (python-telegram-bot v22, asyncio).

Every text message addressed to the bot is a question. Retrieval runs in a worker thread so one
slow question never stalls other chats; updates are handled concurrently, one at a time per chat
(so follow-ups see the previous answer in their history). Sending goes through `_call`, which
retries network errors with backoff and honours flood control (`RetryAfter`); HTML that Telegram
refuses is re-sent as plain text, so an answer is never lost to markup.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dtm
import logging
import sys
import time
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from telegram import (
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    MessageEntity,
    ReplyParameters,
    Update,
)
from telegram.constants import ChatAction, ChatType, ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from .models import Answer, Turn
from .service import AnswerService, QuestionError
from .settings import Settings
from .telegram_format import (
    button_label,
    format_answer,
    format_source,
    format_sources,
    help_text,
    split_html,
    split_plain,
    to_plain,
)
from .telegram_state import AnswerStore, ChatHistory, RateLimiter

log = logging.getLogger(__name__)
T = TypeVar("T")

ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY]
REFUSED = "抱歉，这个机器人只对指定的聊天开放，无法在这里回答问题。"
RATE_LIMITED = "提问有点太频繁了，请 {s} 秒后再试。"
APOLOGY = "抱歉，处理这条消息时出了点问题，请稍后再试。"
RESET_DONE = "好的，对话记忆已清空，接下来的问题将重新开始。"
NO_ANSWER_YET = "还没有可以查看出处的回答。先问一个问题吧。"
EXPIRED = "这条回答已过期，请重新提问。"
EMPTY_QUESTION = "请发送一个问题，例如“某市总工会签订了多少份集体合同？”。"
TOO_LONG = "问题太长了（{n} 个字），请缩短到 {limit} 个字以内。"
BAD_QUESTION = "这个问题无法处理：{error}"
COMMANDS = [
    BotCommand("help", "使用说明：我知道什么、怎么提问"),
    BotCommand("sources", "查看上一个回答的完整出处"),
    BotCommand("reset", "清空对话记忆，开始新话题"),
]


class TelegramConfigError(RuntimeError):
    """The bot cannot start as configured (no token)."""


@dataclass
class BotConfig:
    """Behaviour knobs; the user-facing ones come from Settings, the rest are sane defaults."""

    allowed_chat_ids: frozenset[int] = frozenset()
    rate_limit_per_minute: int = 20
    history_turns: int = 6
    history_max_age_s: float = 1800
    draft_after_s: float = 1.0  # show a growing draft only for answers slower than this
    edit_interval_s: float = 1.5  # at most one draft edit per interval (Telegram's flood limits)
    typing_interval_s: float = 4.0  # "typing…" lasts 5 s on the client
    send_attempts: int = 5
    retry_base_s: float = 0.5
    poll_timeout_s: int = 10  # python-telegram-bot's default long-polling timeout
    concurrent_updates: int = 256
    worker_threads: int = 32  # answers computed at once (CPU-bound search shares the GIL anyway)

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> BotConfig:
        values: dict[str, Any] = dict(
            allowed_chat_ids=frozenset(settings.telegram_allowed_chat_ids),
            rate_limit_per_minute=settings.telegram_rate_limit_per_minute,
            history_turns=settings.telegram_history_turns,
            history_max_age_s=settings.telegram_history_max_age_s,
        )
        values.update(overrides)
        return cls(**values)


@dataclass
class _Draft:
    """A plain-text message that grows while a chat model streams, edited at most every interval."""

    message: Message
    edited_at: float


def _seconds(value: int | float | dtm.timedelta) -> float:
    return value.total_seconds() if isinstance(value, dtm.timedelta) else float(value)


class QABot:
    """The handlers, bound to one AnswerService and the per-chat state."""

    def __init__(self, service: AnswerService, config: BotConfig) -> None:
        self.service = service
        self.config = config
        self.history = ChatHistory(config.history_turns, config.history_max_age_s)
        self.limiter = RateLimiter(config.rate_limit_per_minute)
        self.answers = AnswerStore()
        self._locks: dict[int, asyncio.Lock] = {}
        self._handled = 0
        # Own threads: a streaming chat model holds one per answer, mostly waiting on the network.
        self._workers = ThreadPoolExecutor(max_workers=config.worker_threads, thread_name_prefix="qabot-tg")

    # -- wiring ---------------------------------------------------------------------------------
    def register(self, app: Application) -> None:
        app.add_handler(TypeHandler(Update, self.gate), group=-1)
        app.add_handler(CommandHandler(["start", "help"], self.on_help))
        app.add_handler(CommandHandler("reset", self.on_reset))
        app.add_handler(CommandHandler("sources", self.on_sources))
        app.add_handler(CallbackQueryHandler(self.on_button, pattern=r"^src:"))
        app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, self.on_question))
        app.add_error_handler(self.on_error)

    async def startup(self, app: Application) -> None:
        """Announce the commands and warn about an open bot; failures here must not stop it."""
        if not self.config.allowed_chat_ids:
            log.warning("TELEGRAM_ALLOWED_CHAT_IDS is empty: every Telegram user can ask this bot")
        try:
            await self._call(app.bot.set_my_commands, COMMANDS)
        except TelegramError as exc:
            log.warning("could not set the bot's command list: %s", exc)

    def allowed(self, chat_id: int) -> bool:
        return not self.config.allowed_chat_ids or chat_id in self.config.allowed_chat_ids

    # -- who is being addressed ----------------------------------------------------------------
    @staticmethod
    def question_text(message: Message | None, bot_id: int, username: str) -> str | None:
        """The question in a message meant for the bot, or None (groups: only mention or reply)."""
        if message is None or message.text is None:
            return None
        text = message.text
        if message.chat.type == ChatType.PRIVATE:
            return text.strip()
        reply = message.reply_to_message
        addressed = bool(reply and reply.from_user and reply.from_user.id == bot_id)
        handle = f"@{username}".lower()
        for entity, value in message.parse_entities([MessageEntity.MENTION, MessageEntity.TEXT_MENTION]).items():
            if value.lower() == handle or (entity.user is not None and entity.user.id == bot_id):
                addressed = True
                text = text.replace(value, " ")
        return " ".join(text.split()) if addressed else None

    @staticmethod
    def is_my_command(message: Message | None, username: str) -> bool:
        if message is None or not message.text or not message.text.startswith("/"):
            return False
        word = message.text.split(maxsplit=1)[0]
        return "@" not in word or word.lower().endswith(f"@{username}".lower())

    # -- handlers -------------------------------------------------------------------------------
    async def gate(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Group -1: chats outside the allow-list get one polite refusal and nothing else."""
        chat = update.effective_chat
        if chat is None or self.allowed(chat.id):
            return
        bot = context.bot
        log.info("refused update %s from chat %s (not in TELEGRAM_ALLOWED_CHAT_IDS)", update.update_id, chat.id)
        if update.callback_query is not None:
            await self._call(update.callback_query.answer, REFUSED, show_alert=True)
        else:
            message = update.effective_message
            if self.is_my_command(message, bot.username) or self.question_text(message, bot.id, bot.username) is not None:
                await self.send(bot, chat.id, REFUSED, reply_to=message.message_id if message else None, html=False)
        raise ApplicationHandlerStop

    async def on_help(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        info = await asyncio.get_running_loop().run_in_executor(self._workers, self.service.info)
        await self.send(context.bot, update.effective_chat.id, help_text(info))

    async def on_reset(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        self.history.clear(update.effective_chat.id)
        await self.send(context.bot, update.effective_chat.id, RESET_DONE, html=False)

    async def on_sources(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        answer = self.answers.last(update.effective_chat.id)
        if answer is None:
            await self.send(context.bot, update.effective_chat.id, NO_ANSWER_YET, html=False)
            return
        await self.send(context.bot, update.effective_chat.id, format_sources(answer))

    async def on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """An inline button under an answer: send that source's quote and passage."""
        query = update.callback_query
        chat_id = update.effective_chat.id
        source = None
        try:
            _, key, n = (query.data or "").split(":")
            answer = self.answers.get(chat_id, key)
            source = next((s for s in answer.sources if s.n == int(n)), None) if answer else None
        except ValueError:
            pass
        if source is None:
            await self._call(query.answer, EXPIRED)
            return
        await self._call(query.answer)
        reply_to = query.message.message_id if query.message else None
        await self.send(context.bot, chat_id, format_source(source), reply_to=reply_to)

    async def on_question(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        bot = context.bot
        message = update.effective_message
        question = self.question_text(message, bot.id, bot.username)
        if question is None:
            return
        chat_id = message.chat_id
        if not question:
            await self.send(bot, chat_id, EMPTY_QUESTION, reply_to=message.message_id, html=False)
            return
        limit = self.service.settings.max_question_chars
        if len(question) > limit:
            await self.send(bot, chat_id, TOO_LONG.format(n=len(question), limit=limit), reply_to=message.message_id, html=False)
            return
        wait = self.limiter.hit(chat_id)
        if wait:
            if self.limiter.should_warn(chat_id):
                await self.send(bot, chat_id, RATE_LIMITED.format(s=max(1, round(wait))), reply_to=message.message_id, html=False)
            return
        self._maybe_prune()
        lock = self._locks.setdefault(chat_id, asyncio.Lock())
        async with lock:  # one question at a time per chat, in arrival order
            await self._answer(bot, message, question)

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Log with the update id, apologise in the chat, and keep running."""
        update_id = update.update_id if isinstance(update, Update) else None
        log.error("error while handling update %s: %r", update_id, context.error, exc_info=context.error)
        if not isinstance(update, Update) or update.effective_chat is None:
            return
        try:
            if update.callback_query is not None:
                await update.callback_query.answer(APOLOGY)
            else:
                await self.send(context.bot, update.effective_chat.id, APOLOGY, html=False)
        except TelegramError as exc:
            log.error("could not apologise for update %s: %s", update_id, exc)

    # -- answering ------------------------------------------------------------------------------
    async def _answer(self, bot: Any, message: Message, question: str) -> None:
        chat_id = message.chat_id
        history = self.history.get(chat_id)
        typing = asyncio.create_task(self._keep_typing(bot, chat_id))
        draft: _Draft | None = None
        answer: Answer | None = None
        streamed = ""
        started = time.monotonic()
        try:
            async for kind, payload in self._events(question, history):
                if kind == "delta":
                    streamed += payload
                    draft = await self._show_draft(bot, message, draft, streamed, started)
                elif kind == "answer":
                    answer = payload
        except QuestionError as exc:
            await self.send(bot, chat_id, BAD_QUESTION.format(error=exc), reply_to=message.message_id, html=False)
            return
        finally:
            typing.cancel()
        if answer is None:
            raise RuntimeError("the answer service ended without an answer")
        key = self.answers.put(chat_id, answer)
        self.history.add(chat_id, question, answer.answer)
        buttons = InlineKeyboardMarkup(
            [[InlineKeyboardButton(button_label(s), callback_data=f"src:{key}:{s.n}")] for s in answer.sources]
        ) if answer.sources else None
        text = format_answer(answer)
        if draft is None:
            await self.send(bot, chat_id, text, reply_to=message.message_id, buttons=buttons)
            return
        parts = split_html(text)
        await self._edit(draft.message, parts[0], buttons if len(parts) == 1 else None)
        for k, part in enumerate(parts[1:], start=2):
            await self._send_part(bot, chat_id, part, buttons=buttons if k == len(parts) else None)

    async def _events(self, question: str, history: list[Turn]) -> AsyncIterator[tuple[str, Any]]:
        """`service.ask_stream` (a blocking generator) run in a worker thread, as async events."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

        def put(item: tuple[str, Any]) -> None:
            with contextlib.suppress(RuntimeError):  # the loop is gone: nobody is listening
                loop.call_soon_threadsafe(queue.put_nowait, item)

        def work() -> None:
            try:
                for event in self.service.ask_stream(question, history=history or None):
                    put(event)
            except BaseException as exc:  # re-raised on the event loop below
                put(("error", exc))
            finally:
                put(("end", None))

        worker = loop.run_in_executor(self._workers, work)  # noqa: F841  (reports through the queue)
        while True:
            kind, payload = await queue.get()
            if kind == "end":
                return
            if kind == "error":
                raise payload
            yield kind, payload

    async def _show_draft(
        self, bot: Any, message: Message, draft: _Draft | None, text: str, started: float
    ) -> _Draft | None:
        """Only slow (streamed) answers get a draft; it is edited at most once per interval."""
        now = time.monotonic()
        if draft is None:
            if now - started < self.config.draft_after_s or not text.strip():
                return None
            sent = await self._send_part(
                bot, message.chat_id, split_plain(text + " …")[0], reply_to=message.message_id, html=False
            )
            return _Draft(sent, now)
        if now - draft.edited_at >= self.config.edit_interval_s:
            draft.edited_at = now
            await self._edit(draft.message, split_plain(text + " …")[0], None, html=False)
        return draft

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
        if self._handled % 500:
            return
        self.history.prune()
        self.limiter.prune()
        for chat_id, lock in list(self._locks.items()):
            if not lock.locked():
                del self._locks[chat_id]

    # -- sending --------------------------------------------------------------------------------
    async def _call(self, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        """Call the Bot API, retrying network errors with backoff and waiting out flood control."""
        delay = self.config.retry_base_s
        for attempt in range(1, self.config.send_attempts + 1):
            try:
                return await fn(*args, **kwargs)
            except RetryAfter as exc:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    wait = _seconds(exc.retry_after)
                log.warning("flood control: waiting %.1f s before retrying %s", wait, getattr(fn, "__name__", fn))
                if attempt == self.config.send_attempts:
                    raise
                await asyncio.sleep(wait + 0.05)
            except (BadRequest, Forbidden):
                raise
            except NetworkError as exc:  # includes TimedOut
                if attempt == self.config.send_attempts:
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
            sent.append(
                await self._send_part(
                    bot,
                    chat_id,
                    part,
                    reply_to=reply_to if k == 0 else None,
                    buttons=buttons if k == len(parts) - 1 else None,
                    html=html,
                )
            )
        return sent

    async def _send_part(
        self,
        bot: Any,
        chat_id: int,
        part: str,
        *,
        reply_to: int | None = None,
        buttons: InlineKeyboardMarkup | None = None,
        html: bool = True,
    ) -> Message:
        reply = ReplyParameters(reply_to, allow_sending_without_reply=True) if reply_to else None
        if html:
            try:
                return await self._call(
                    bot.send_message, chat_id, part, parse_mode=ParseMode.HTML, reply_parameters=reply, reply_markup=buttons
                )
            except BadRequest as exc:
                log.warning("Telegram refused the HTML (%s); sending plain text", exc)
        plain = to_plain(part) if html else part
        pieces = split_plain(plain) if html else [plain]
        last = None
        for k, piece in enumerate(pieces):
            last = await self._call(
                bot.send_message,
                chat_id,
                piece,
                reply_parameters=reply if k == 0 else None,
                reply_markup=buttons if k == len(pieces) - 1 else None,
            )
        assert last is not None
        return last

    async def _edit(self, message: Message, part: str, buttons: InlineKeyboardMarkup | None, html: bool = True) -> None:
        try:
            if html:
                try:
                    await self._call(message.edit_text, part, parse_mode=ParseMode.HTML, reply_markup=buttons)
                    return
                except BadRequest as exc:
                    if "not modified" in str(exc).lower():
                        return
                    log.warning("Telegram refused the HTML edit (%s); using plain text", exc)
                    part = to_plain(part)
            await self._call(message.edit_text, part, reply_markup=buttons)
        except BadRequest as exc:
            if "not modified" not in str(exc).lower():
                raise


# -- building and running ----------------------------------------------------------------------
def api_urls(base: str) -> tuple[str, str]:
    """`TELEGRAM_API_BASE_URL` (e.g. http://localhost:8081) as python-telegram-bot's base URLs."""
    base = base.rstrip("/")
    if "{token}" in base:
        return base, base.replace("/bot{token}", "/file/bot{token}")
    if base.endswith("/bot"):
        base = base[: -len("/bot")]
    return f"{base}/bot", f"{base}/file/bot"


def build_application(
    service: AnswerService,
    config: BotConfig | None = None,
    *,
    token: str | None = None,
    base_url: str | None = None,
) -> Application:
    settings = service.settings
    config = config or BotConfig.from_settings(settings)
    if token is None and settings.telegram_bot_token is not None:
        token = settings.telegram_bot_token.get_secret_value()
    if not token:
        raise TelegramConfigError("TELEGRAM_BOT_TOKEN is not set; get a token from @BotFather")
    qabot = QABot(service, config)
    builder = (
        ApplicationBuilder()
        .token(token)
        .concurrent_updates(config.concurrent_updates)
        # a second connection lets the offset-acknowledging getUpdates at shutdown run while the
        # cancelled long poll still holds the first (seen once as "Pool timeout" in the benchmark)
        .get_updates_connection_pool_size(2)
    )
    base_url = base_url or settings.telegram_api_base_url
    if base_url:
        api, files = api_urls(base_url)
        builder = builder.base_url(api).base_file_url(files)
    app = builder.post_init(qabot.startup).build()
    qabot.register(app)
    app.bot_data["qabot"] = qabot
    return app


def qabot_of(app: Application) -> QABot:
    return app.bot_data["qabot"]


@contextlib.asynccontextmanager
async def polling(app: Application, timeout: int | None = None) -> AsyncIterator[Application]:
    """Run the bot with long polling inside an existing event loop (tests, benchmarks).

    Stopping drains the update queue and acknowledges the last offset, like `run_polling` does.
    """
    qabot = qabot_of(app)
    async with app:
        await qabot.startup(app)
        await app.updater.start_polling(
            timeout=qabot.config.poll_timeout_s if timeout is None else timeout,
            allowed_updates=ALLOWED_UPDATES,
            drop_pending_updates=False,
        )
        await app.start()
        try:
            yield app
        finally:
            await app.updater.stop()
            await app.stop()


def run(service: AnswerService, webhook_url: str | None = None) -> None:
    """Entry point of `qabot telegram`: long polling, or a webhook when a URL is given."""
    try:
        app = build_application(service)
    except TelegramConfigError as exc:
        print(f"qabot: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    config = qabot_of(app).config
    if webhook_url:
        from .telegram_webhook import run_webhook

        asyncio.run(run_webhook(app, webhook_url, service.settings))
        return
    print("qabot: Telegram bot running (long polling); Ctrl-C stops it", file=sys.stderr)
    app.run_polling(allowed_updates=ALLOWED_UPDATES, timeout=config.poll_timeout_s, drop_pending_updates=False)
