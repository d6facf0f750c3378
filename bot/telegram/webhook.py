"""Webhook mode: Telegram POSTs updates to us instead of being polled.

python-telegram-bot's own webhook server needs tornado; qabot already ships starlette and uvicorn
(for the HTTP API), so a small ASGI app receives updates, checks Telegram's secret-token header,
and hands them to the Application's update queue. The webhook stays registered on shutdown, so
Telegram keeps undelivered updates until the bot is back.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import secrets
import socket
import sys
from urllib.parse import urlsplit

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from telegram import Update
from telegram.ext import Application

from ..settings import Settings
from .handlers import ALLOWED_UPDATES, qabot_of

log = logging.getLogger(__name__)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


MAX_DEPTH = 32  # Telegram's updates nest about 6 deep; deeper JSON is not an update


def webhook_app(application: Application, secret: str, path: str = "/", max_bytes: int = 1_048_576) -> Starlette:
    """An ASGI app accepting updates at `path` only with the right secret-token header.

    Anything that is not an update (a JSON list, string or null, a `message` of the wrong type,
    deeply nested JSON) is a 400 and a body over `max_bytes` a 413: they were 500s, and a 20 MB
    body was read whole (issue 12).
    """

    async def receive(request: Request) -> PlainTextResponse:
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), secret.encode()):
            log.warning("webhook request without the right secret token from %s", request.client)
            return PlainTextResponse("forbidden", status_code=403)
        length = request.headers.get("content-length", "")
        if length and (not length.isdigit() or int(length) > max_bytes):
            return PlainTextResponse("too large", status_code=413)
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > max_bytes:
                return PlainTextResponse("too large", status_code=413)
        problem = _not_an_update(bytes(body))
        if problem is None:
            try:
                update = Update.de_json(json.loads(body), application.bot)
            except Exception as exc:  # noqa: BLE001 - whatever python-telegram-bot cannot read is a bad update
                problem = f"{type(exc).__name__}: {exc}"
            else:
                if update is None:
                    problem = "empty update"
        if problem is not None:
            log.warning("malformed webhook update: %s", str(problem)[:200])
            return PlainTextResponse("bad update", status_code=400)
        await application.update_queue.put(update)
        return PlainTextResponse("ok")

    return Starlette(routes=[Route(path or "/", receive, methods=["POST"])])


def _not_an_update(body: bytes) -> str | None:
    """Why `body` cannot be a Telegram update, or None when it may be one."""
    depth = 0
    for byte in body:  # bound the nesting before json.loads recurses into it
        if byte in b"[{":
            depth += 1
            if depth > MAX_DEPTH:
                return f"nested deeper than {MAX_DEPTH}"
        elif byte in b"]}":
            depth -= 1
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:
        return f"not JSON ({exc})"
    if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
        return f"a JSON {type(data).__name__} without an integer update_id"
    for key in ("message", "edited_message", "callback_query", "channel_post"):
        if key in data and not isinstance(data[key], dict):
            return f"'{key}' is a {type(data[key]).__name__}"
    return None


class WebhookServer:
    """uvicorn serving `webhook_app` inside the running event loop."""

    def __init__(
        self, application: Application, secret: str, path: str, host: str, port: int, max_bytes: int = 1_048_576
    ) -> None:
        app = webhook_app(application, secret, path, max_bytes)
        config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off", proxy_headers=False)
        self.server = uvicorn.Server(config)
        self.host, self.port = host, port
        self._task: asyncio.Task | None = None

    async def start(self, sock: socket.socket | None = None) -> None:
        self._task = asyncio.create_task(self.server.serve(sockets=[sock] if sock else None))
        while not self.server.started:
            if self._task.done():
                self._task.result()  # surfaces "address already in use" and the like
                raise RuntimeError("the webhook server stopped while starting")
            await asyncio.sleep(0.01)

    async def wait(self) -> None:
        assert self._task is not None
        await self._task

    async def stop(self) -> None:
        self.server.should_exit = True
        if self._task is not None:
            await self._task


def webhook_secret(settings: Settings) -> str:
    """The configured secret, or a fresh random one (Telegram learns it from setWebhook)."""
    if settings.telegram_webhook_secret is not None and settings.telegram_webhook_secret.get_secret_value():
        return settings.telegram_webhook_secret.get_secret_value()
    return secrets.token_urlsafe(32)


async def start_webhook(
    application: Application,
    webhook_url: str,
    settings: Settings,
    *,
    sock: socket.socket | None = None,
) -> WebhookServer:
    """Start the Application and the receiving server, then tell Telegram where to post."""
    qabot = qabot_of(application)
    secret = webhook_secret(settings)
    path = urlsplit(webhook_url).path or "/"
    await application.initialize()
    await qabot.startup(application)
    await application.start()
    server = WebhookServer(
        application, secret, path, settings.host, settings.telegram_webhook_port, settings.telegram_webhook_max_bytes
    )
    await server.start(sock)
    await qabot.sender.call(
        application.bot.set_webhook,
        webhook_url,
        secret_token=secret,
        allowed_updates=ALLOWED_UPDATES,
        drop_pending_updates=False,
    )
    return server


async def stop_webhook(application: Application, server: WebhookServer) -> None:
    await server.stop()
    await application.stop()  # handles the updates already queued
    await application.shutdown()


async def run_webhook(application: Application, webhook_url: str, settings: Settings) -> None:
    server = await start_webhook(application, webhook_url, settings)
    print(
        f"qabot: Telegram webhook listening on {settings.host}:{settings.telegram_webhook_port} "
        f"for {webhook_url}; Ctrl-C stops it",
        file=sys.stderr,
    )
    try:
        await server.wait()  # uvicorn returns on SIGINT/SIGTERM
    finally:
        await stop_webhook(application, server)
