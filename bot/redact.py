"""Secrets never reach a log line, an error or a note: URL credentials, API keys, bot tokens.

A chat-model base URL such as `http://user:pass@host/v1` is sent as HTTP Basic auth, and a server's
error body can echo it back base64-encoded; that body used to reach the log and the answer's note
(issue 12). `redact` removes every configured secret (also base64- and percent-encoded) and the
credentials of any URL in the text; `RedactingFilter` applies it to every log record of a handler.
"""

from __future__ import annotations

import base64
import logging
import re
from typing import Any
from urllib.parse import unquote, urlsplit

_URL_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@:]*(?::[^/\s@]*)?@")
MASK = "***"
_secrets: set[str] = set()


def url_secrets(url: str | None) -> set[str]:
    """The credentials in `url` in every form they may travel in (raw, decoded, Basic auth)."""
    if not url:
        return set()
    try:
        parts = urlsplit(url)
    except ValueError:
        return set()
    found: set[str] = set()
    if parts.username is None and parts.password is None:
        return found
    user, password = parts.username or "", parts.password or ""
    for pair in (f"{user}:{password}", f"{unquote(user)}:{unquote(password)}"):
        found.add(pair)
        found.add(base64.b64encode(pair.encode()).decode())
        found.add(base64.b64encode(pair.encode()).decode().rstrip("="))
    for piece in (password, unquote(password)):
        if len(piece) >= 4:
            found.add(piece)
    return {s for s in found if len(s) >= 4}


def register(*values: str | None) -> None:
    """Secrets to remove from now on (API keys, tokens, the credentials of configured URLs)."""
    for value in values:
        if value and len(value) >= 4:
            _secrets.add(value)
    _install()


def register_url(url: str | None) -> None:
    _secrets.update(url_secrets(url))
    _install()


def redact(text: str) -> str:
    if "@" in text:
        text = _URL_CREDENTIALS.sub(lambda m: f"{m.group(1)}{MASK}@", text)
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    return text


class RedactingFilter(logging.Filter):
    """Redacts the formatted message (and exception text) of every record passing a handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


_installed = False


def _install() -> None:
    """Redact every log record as it is created, whichever library logs it (httpx logs request URLs)."""
    global _installed
    if _installed:
        return
    make = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make(*args, **kwargs)
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return record

    logging.setLogRecordFactory(factory)
    _installed = True
