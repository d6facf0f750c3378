"""A stand-in for the Telegram Bot API: a real HTTP server on 127.0.0.1, for tests and benchmarks.

It implements the methods the bot uses (getMe, getUpdates with long polling, sendMessage,
editMessageText, sendChatAction, setMyCommands, answerCallbackQuery, deleteWebhook, setWebhook)
and refuses what Telegram refuses: text over 4096 characters after entity parsing, malformed or
unsupported HTML, empty text, callback data over 64 bytes, getUpdates while a webhook is set.
Faults (flood control, 502s, refused HTML) can be injected. It runs in its own threads, so it
works the same under any event loop; async helpers poll its state without blocking the loop.
"""

from __future__ import annotations

import asyncio
import html
import itertools
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

LIMIT = 4096
BOT_ID = 777000111
ALLOWED_TAGS = {
    "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre",
    "span", "tg-spoiler", "blockquote", "tg-emoji",
}  # fmt: skip
_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[a-zA-Z-]+(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s>\"']+))?)*)\s*>")
_ENTITY = re.compile(r"&(lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);")


class ApiError(Exception):
    def __init__(self, code: int, description: str, parameters: dict | None = None) -> None:
        super().__init__(description)
        self.code, self.description, self.parameters = code, description, parameters


def utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def parse_html(text: str) -> str:
    """Telegram's HTML parse mode, strictly: returns the plain text or raises ApiError(400)."""
    out: list[str] = []
    stack: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "<":
            m = _TAG.match(text, i)
            if not m:
                raise ApiError(
                    400,
                    f"Bad Request: can't parse entities: Unexpected character at byte offset {len(text[:i].encode())}",
                )
            closing, name = m.group(1) == "/", m.group(2).lower()
            if name not in ALLOWED_TAGS:
                raise ApiError(
                    400,
                    "Bad Request: can't parse entities: "
                    f'Unsupported start tag "{name}" at byte offset {len(text[:i].encode())}',
                )
            if closing:
                if not stack or stack[-1] != name:
                    raise ApiError(
                        400,
                        "Bad Request: can't parse entities: "
                        f"Unmatched end tag at byte offset {len(text[:i].encode())}, "
                        f'expected "</{stack[-1] if stack else ""}>", found "</{name}>"',
                    )
                stack.pop()
            else:
                stack.append(name)
            i = m.end()
        elif ch == "&":
            m = _ENTITY.match(text, i)
            if not m:
                raise ApiError(
                    400,
                    "Bad Request: can't parse entities: "
                    f"Character entity expected at byte offset {len(text[:i].encode())}",
                )
            out.append(html.unescape(m.group(0)))
            i = m.end()
        else:
            out.append(ch)
            i += 1
    if stack:
        raise ApiError(
            400, f"Bad Request: can't parse entities: Can't find end tag corresponding to start tag \"{stack[-1]}\""
        )
    return "".join(out)


def entities_for(text: str) -> list[dict]:
    """The entities Telegram would attach to an incoming text: leading bot command, @mentions."""
    found = []
    m = re.match(r"/[A-Za-z0-9_]+(?:@[A-Za-z0-9_]+)?", text)
    if m:
        found.append({"type": "bot_command", "offset": 0, "length": utf16(m.group(0))})
    for m in re.finditer(r"@[A-Za-z0-9_]{5,32}", text):
        if (
            m.start() == 0
            or text[m.start() - 1] not in "/abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"
        ):
            found.append({"type": "mention", "offset": utf16(text[: m.start()]), "length": utf16(m.group(0))})
    return found


@dataclass
class Sent:
    """A message the bot sent (or its latest edit), as a user would see it."""

    chat_id: int
    message_id: int
    text: str  # after entity parsing: what the user reads
    raw: str  # as the bot sent it
    parse_mode: str | None
    reply_to: int | None
    reply_markup: dict | None
    at: float
    edits: int = 0

    @property
    def buttons(self) -> list[dict]:
        rows = (self.reply_markup or {}).get("inline_keyboard", [])
        return [b for row in rows for b in row]


@dataclass
class Fault:
    method: str
    kind: str  # "retry_after" | "bad_gateway" | "refuse_html"
    count: int
    retry_after: int = 1


@dataclass
class StandInState:
    updates: list[dict] = field(default_factory=list)  # not yet confirmed by an offset
    delivered: dict[int, int] = field(default_factory=dict)  # update_id -> times handed out
    enqueued_at: dict[int, float] = field(default_factory=dict)
    messages: dict[tuple[int, int], Sent] = field(default_factory=dict)
    sent: list[Sent] = field(default_factory=list)
    calls: list[tuple[str, dict, float]] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    asked: dict[int, int] = field(default_factory=dict)  # user message_id -> update_id
    webhook: dict | None = None
    commands: list[dict] = field(default_factory=list)
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # file_id -> (file_path, bytes)


class TelegramStandIn:
    def __init__(self, token: str = "123:TEST", username: str = "qabot_test_bot") -> None:
        self.token = token
        self.username = username
        self.state = StandInState()
        self.cond = threading.Condition()
        self._update_ids = itertools.count(1000)
        self._message_ids = itertools.count(1)
        self._closing = False
        self._wakes = 0
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                self._handle()

            def do_POST(self) -> None:
                self._handle()

            def _handle(self) -> None:
                url = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                files = f"/file/bot{standin.token}/"
                if unquote(url.path).startswith(files):  # python-telegram-bot quotes the token's ':'
                    return self._download(unquote(url.path)[len(files) :])
                try:
                    prefix = f"/bot{standin.token}/"
                    if not url.path.startswith(prefix):
                        raise ApiError(
                            401 if url.path.startswith("/bot") else 404,
                            "Unauthorized" if url.path.startswith("/bot") else "Not Found",
                        )
                    method = url.path[len(prefix) :]
                    params = dict(parse_qsl(url.query))
                    params.update(_decode_body(self.headers.get("Content-Type", ""), body))
                    result = standin.dispatch(method, params)
                    payload = {"ok": True, "result": result}
                    code = 200
                except ApiError as exc:
                    code = exc.code
                    payload = {"ok": False, "error_code": exc.code, "description": exc.description}
                    if exc.parameters:
                        payload["parameters"] = exc.parameters
                data = json.dumps(payload, ensure_ascii=False).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _download(self, file_path: str) -> None:
                """A file as the Bot API serves it after getFile (documents sent by users)."""
                found = [data for path, data in standin.state.files.values() if path == file_path]
                self.send_response(200 if found else 404)
                data = found[0] if found else b""
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="telegram-standin", daemon=True)

    # -- lifecycle ------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> TelegramStandIn:
        self.thread.start()
        return self

    def stop(self) -> None:
        with self.cond:
            self._closing = True
            self.cond.notify_all()
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> TelegramStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what users do ---------------------------------------------------------------------------
    def user_says(
        self,
        chat_id: int,
        text: str,
        *,
        chat_type: str = "private",
        user_id: int | None = None,
        reply_to: Sent | None = None,
    ) -> int:
        """Queue a text message from a user; returns its update id."""
        user = {
            "id": user_id or abs(chat_id),
            "is_bot": False,
            "first_name": "用户",
            "username": f"user{abs(user_id or chat_id)}",
        }
        chat = {"id": chat_id, "type": chat_type}
        if chat_type == "private":
            chat["first_name"] = "用户"
        else:
            chat["title"] = "测试群"
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": chat,
            "from": user,
            "text": text,
        }
        entities = entities_for(text)
        if entities:
            message["entities"] = entities
        if reply_to is not None:
            message["reply_to_message"] = self._message_json(reply_to)
        update_id = self.push({"message": message})
        with self.cond:
            self.state.asked[message["message_id"]] = update_id
        return update_id

    def user_sends_document(self, chat_id: int, name: str, data: bytes, mime_type: str, caption: str = "") -> int:
        """Queue a message with a document (a private chat); its bytes are served after getFile."""
        file_id = f"doc{next(self._message_ids)}"
        with self.cond:
            self.state.files[file_id] = (f"documents/{file_id}_{name}", data)
        document = {
            "file_id": file_id,
            "file_unique_id": f"u{file_id}",
            "file_name": name,
            "mime_type": mime_type,
            "file_size": len(data),
        }
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private", "first_name": "用户"},
            "from": {"id": abs(chat_id), "is_bot": False, "first_name": "用户"},
            "document": document,
        }
        if caption:
            message["caption"] = caption
        return self.push({"message": message})

    def press_button(self, sent: Sent, data: str, user_id: int | None = None) -> int:
        user = {"id": user_id or abs(sent.chat_id), "is_bot": False, "first_name": "用户"}
        query = {
            "id": str(next(self._message_ids) + 10**6),
            "from": user,
            "chat_instance": f"ci{sent.chat_id}",
            "data": data,
            "message": self._message_json(sent),
        }
        return self.push({"callback_query": query})

    def push(self, update: dict) -> int:
        with self.cond:
            update_id = next(self._update_ids)
            self.state.updates.append({"update_id": update_id, **update})
            self.state.enqueued_at[update_id] = time.perf_counter()
            self.cond.notify_all()
            return update_id

    def update_json(self, chat_id: int, text: str, **kwargs: Any) -> dict:
        """An update as Telegram would POST it to a webhook (not queued for getUpdates)."""
        update_id = self.user_says(chat_id, text, **kwargs)
        with self.cond:
            update = next(u for u in self.state.updates if u["update_id"] == update_id)
            self.state.updates.remove(update)
        return update

    def wake(self) -> None:
        """End the long polls in progress now (so a stopping bot need not wait out its timeout)."""
        with self.cond:
            self._wakes += 1
            self.cond.notify_all()

    def inject(self, method: str, kind: str, count: int = 1, retry_after: int = 1) -> None:
        with self.cond:
            self.state.faults.append(Fault(method, kind, count, retry_after))

    # -- what tests look at ----------------------------------------------------------------------
    def sent_to(self, chat_id: int) -> list[Sent]:
        with self.cond:
            return [s for s in self.state.sent if s.chat_id == chat_id]

    def calls_of(self, method: str) -> list[dict]:
        with self.cond:
            return [params for name, params, _ in self.state.calls if name == method]

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out waiting for {what}; sent so far: {[s.text[:60] for s in self.state.sent]}"
                )
            await asyncio.sleep(0.01)

    async def wait_sent(self, chat_id: int, count: int = 1, timeout: float = 10.0) -> list[Sent]:
        return await self.wait_for(
            lambda: (lambda got: got if len(got) >= count else None)(self.sent_to(chat_id)),
            timeout,
            f"{count} message(s) to chat {chat_id}",
        )

    async def idle(self, quiet: float = 0.3) -> None:
        """Wait until the bot has sent nothing for `quiet` seconds (to check nothing more comes)."""
        last = -1
        while True:
            with self.cond:
                count = len(self.state.calls)
            if count == last:
                return
            last = count
            await asyncio.sleep(quiet)

    # -- the API ---------------------------------------------------------------------------------
    def dispatch(self, method: str, params: dict) -> Any:
        with self.cond:
            self.state.calls.append((method, params, time.perf_counter()))
            for fault in self.state.faults:
                if (
                    fault.method == method
                    and fault.count > 0
                    and (fault.kind != "refuse_html" or params.get("parse_mode"))
                ):
                    fault.count -= 1
                    if fault.kind == "retry_after":
                        raise ApiError(
                            429,
                            f"Too Many Requests: retry after {fault.retry_after}",
                            {"retry_after": fault.retry_after},
                        )
                    if fault.kind == "bad_gateway":
                        raise ApiError(502, "Bad Gateway")
                    if fault.kind == "refuse_html":
                        raise ApiError(
                            400, 'Bad Request: can\'t parse entities: Unsupported start tag "x" at byte offset 0'
                        )
        handler = getattr(self, f"api_{method}", None)
        if handler is None:
            raise ApiError(404, "Not Found: method not found")
        return handler(params)

    def api_getMe(self, params: dict) -> dict:
        return self._bot_user() | {
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    def api_getUpdates(self, params: dict) -> list[dict]:
        offset = int(params.get("offset") or 0)
        limit = int(params.get("limit") or 100)
        timeout = float(params.get("timeout") or 0)
        deadline = time.monotonic() + timeout
        with self.cond:
            wakes = self._wakes
            if self.state.webhook is not None:
                raise ApiError(
                    409,
                    "Conflict: can't use getUpdates method while webhook is active; "
                    "use deleteWebhook to delete the webhook first",
                )
            while True:
                if offset:
                    self.state.updates = [u for u in self.state.updates if u["update_id"] >= offset]
                ready = self.state.updates[:limit]
                remaining = deadline - time.monotonic()
                if ready or remaining <= 0 or self._closing or self._wakes != wakes:
                    for u in ready:
                        self.state.delivered[u["update_id"]] = self.state.delivered.get(u["update_id"], 0) + 1
                    return ready
                self.cond.wait(remaining)

    def api_sendMessage(self, params: dict) -> dict:
        chat_id = int(params["chat_id"])
        raw = str(params.get("text", ""))
        parse_mode = params.get("parse_mode") or None
        text = self._parse(raw, parse_mode)
        markup = self._markup(params.get("reply_markup"))
        reply = params.get("reply_parameters")
        reply_to = None
        if reply:
            reply = json.loads(reply) if isinstance(reply, str) else reply
            reply_to = int(reply["message_id"])
        with self.cond:
            sent = Sent(chat_id, next(self._message_ids), text, raw, parse_mode, reply_to, markup, time.perf_counter())
            self.state.messages[(chat_id, sent.message_id)] = sent
            self.state.sent.append(sent)
            return self._message_json(sent)

    def api_editMessageText(self, params: dict) -> dict:
        chat_id, message_id = int(params["chat_id"]), int(params["message_id"])
        parse_mode = params.get("parse_mode") or None
        text = self._parse(str(params.get("text", "")), parse_mode)
        markup = self._markup(params.get("reply_markup"))
        with self.cond:
            sent = self.state.messages.get((chat_id, message_id))
            if sent is None:
                raise ApiError(400, "Bad Request: message to edit not found")
            if sent.text == text and sent.reply_markup == markup:
                raise ApiError(
                    400,
                    "Bad Request: message is not modified: specified new message content and reply markup "
                    "are exactly the same as a current content and reply markup of the message",
                )
            sent.text, sent.raw, sent.parse_mode, sent.reply_markup = text, str(params.get("text")), parse_mode, markup
            sent.edits += 1
            sent.at = time.perf_counter()
            return self._message_json(sent)

    def api_getFile(self, params: dict) -> dict:
        file_id = str(params.get("file_id"))
        if file_id not in self.state.files:
            raise ApiError(400, "Bad Request: invalid file_id")
        path, data = self.state.files[file_id]
        return {"file_id": file_id, "file_unique_id": f"u{file_id}", "file_size": len(data), "file_path": path}

    def api_sendChatAction(self, params: dict) -> bool:
        return True

    def api_setMyCommands(self, params: dict) -> bool:
        commands = params.get("commands")
        with self.cond:
            self.state.commands = json.loads(commands) if isinstance(commands, str) else list(commands or [])
        return True

    def api_answerCallbackQuery(self, params: dict) -> bool:
        if len(str(params.get("text", ""))) > 200:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        return True

    def api_deleteWebhook(self, params: dict) -> bool:
        with self.cond:
            self.state.webhook = None
            if str(params.get("drop_pending_updates", "")).lower() == "true":
                self.state.updates.clear()
        return True

    def api_setWebhook(self, params: dict) -> bool:
        secret = params.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", str(secret)):
            raise ApiError(400, "Bad Request: secret token contains unallowed characters")
        with self.cond:
            self.state.webhook = dict(params)
        return True

    def api_getWebhookInfo(self, params: dict) -> dict:
        with self.cond:
            hook = self.state.webhook or {}
            return {
                "url": hook.get("url", ""),
                "has_custom_certificate": False,
                "pending_update_count": len(self.state.updates),
            }

    # -- helpers ---------------------------------------------------------------------------------
    def _bot_user(self) -> dict:
        return {"id": BOT_ID, "is_bot": True, "first_name": "qabot", "username": self.username}

    @staticmethod
    def _parse(raw: str, parse_mode: str | None) -> str:
        if parse_mode not in (None, "HTML"):
            raise ApiError(400, f"Bad Request: unsupported parse_mode {parse_mode}")
        text = parse_html(raw) if parse_mode == "HTML" else raw
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if utf16(text) > LIMIT:
            raise ApiError(400, "Bad Request: message is too long")
        return text

    @staticmethod
    def _markup(value: Any) -> dict | None:
        if not value:
            return None
        markup = json.loads(value) if isinstance(value, str) else value
        for row in markup.get("inline_keyboard", []):
            for button in row:
                data = button.get("callback_data")
                if data is not None and not 1 <= len(data.encode()) <= 64:
                    raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
                if not button.get("text"):
                    raise ApiError(400, "Bad Request: text buttons are unallowed in the inline keyboard")
        return markup

    def _message_json(self, sent: Sent) -> dict:
        chat = {"id": sent.chat_id, "type": "private" if sent.chat_id > 0 else "supergroup"}
        message: dict[str, Any] = {
            "message_id": sent.message_id,
            "date": int(time.time()),
            "chat": chat,
            "from": self._bot_user(),
            "text": sent.text,
        }
        if sent.reply_markup:
            message["reply_markup"] = sent.reply_markup
        return message


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up (a cancelled long poll) is normal, not worth a traceback."""
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def _decode_body(content_type: str, body: bytes) -> dict:
    """python-telegram-bot posts url-encoded forms whose non-string values are JSON; accept JSON too."""
    if not body:
        return {}
    if content_type.startswith("application/json"):
        return json.loads(body)
    if content_type.startswith("application/x-www-form-urlencoded"):
        return dict(parse_qsl(body.decode(), keep_blank_values=True))
    raise ApiError(400, f"Bad Request: unsupported content type {content_type}")
