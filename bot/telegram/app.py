"""Building and running the bot: the Application with the QABot handlers, long polling or a webhook."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from telegram.error import InvalidToken, NetworkError, TimedOut
from telegram.ext import Application, ApplicationBuilder

from ..errors import ConfigError, QabotError
from ..service import AnswerService
from .config import BotConfig
from .handlers import ALLOWED_UPDATES, QABot, qabot_of
from .webhook import run_webhook

log = logging.getLogger(__name__)
App = Application[Any, Any, Any, Any, Any, Any]


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
) -> App:
    """The Application with qabot's handlers; ConfigError without a token."""
    settings = service.settings
    config = config or BotConfig.from_settings(settings)
    if token is None and settings.telegram_bot_token is not None:
        token = settings.telegram_bot_token.get_secret_value()
    if not token:
        raise ConfigError("TELEGRAM_BOT_TOKEN is not set; get a token from @BotFather")
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
    return app


@contextlib.asynccontextmanager
async def polling(app: App, timeout: int | None = None) -> AsyncIterator[App]:
    """Run the bot with long polling inside an existing event loop (tests, benchmarks).

    Stopping drains the update queue and acknowledges the last offset, like `run_polling` does.
    """
    qabot = qabot_of(app)
    updater = app.updater
    assert updater is not None
    async with app:
        await qabot.startup(app)
        await updater.start_polling(
            timeout=qabot.config.poll_timeout_s if timeout is None else timeout,
            allowed_updates=ALLOWED_UPDATES,
            drop_pending_updates=False,
        )
        await app.start()
        try:
            yield app
        finally:
            await updater.stop()
            await app.stop()


async def reach_api(app: App, attempts: int = 0, first_wait_s: float = 1.0, max_wait_s: float = 60.0) -> None:
    """Wait until the Bot API answers `getMe`: one log line per failed attempt, waits doubling up to a minute.

    An unreachable Bot API at start used to end `qabot telegram` with a 565-line traceback (issue 12).
    A refused token is a ConfigError at once; `attempts` = 0 tries until the API answers.
    """
    wait, attempt = first_wait_s, 1
    while True:
        try:
            async with app.bot:
                await app.bot.get_me()
            return
        except InvalidToken as exc:
            raise ConfigError(f"Telegram refused the bot token ({exc}); check TELEGRAM_BOT_TOKEN") from None
        except (NetworkError, TimedOut) as exc:
            if attempts and attempt >= attempts:
                raise ConfigError(f"the Telegram Bot API is unreachable after {attempt} attempts ({exc})") from None
            log.warning("Telegram Bot API unreachable (attempt %d: %s); retrying in %.0f s", attempt, exc, wait)
        await asyncio.sleep(wait)
        wait, attempt = min(max_wait_s, wait * 2), attempt + 1


def run(service: AnswerService, webhook_url: str | None = None) -> None:
    """Entry point of `qabot telegram`: long polling, or a webhook when a URL is given."""
    import sys

    app = build_application(service)
    config = qabot_of(app).config
    try:  # load the index and the models now, not on the first user's message
        service.warm()
    except QabotError as exc:  # the bot still starts; each answer then says what is wrong
        log.warning("index not ready at start-up: %s", exc)
    asyncio.run(reach_api(app, config.start_attempts, config.start_retry_s))
    if webhook_url:
        asyncio.run(run_webhook(app, webhook_url, service.settings))
        return
    print("qabot: Telegram bot running (long polling); Ctrl-C stops it", file=sys.stderr)
    timeout = qabot_of(app).config.poll_timeout_s
    # bootstrap_retries=-1: a Bot API that flaps while polling starts is retried, not a traceback
    app.run_polling(allowed_updates=ALLOWED_UPDATES, timeout=timeout, drop_pending_updates=False, bootstrap_retries=-1)
