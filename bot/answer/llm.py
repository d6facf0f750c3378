"""Generated answers from any OpenAI-compatible chat model, with verified citations.

The chain is `answer prompt | ChatOpenAI` (prompts from `prompts/`), streamed so the front ends can
forward tokens as the model writes them. Citation markers are normalised while streaming (only an
unclosed bracket is held back) and the whole reply is verified before the `Final` event. A model
failure (error, timeout, unparseable reply, an empty reply) ends the stream with `Failed(reason)`;
the service then gives the extractive answer with a note. Errors that are not the model's (a bug
here or in LangChain) are not dressed up as model failures: they propagate. The API key is never
logged.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Generator, Iterator
from contextlib import closing
from typing import Any

import httpx
import openai
import pydantic
from langchain_core.runnables import Runnable
from langchain_openai import ChatOpenAI

from .. import redact
from ..errors import ModelUnavailable
from ..models import Answer, AnswerEvent, Delta, Failed, Final, Mode, Sources, Turn
from ..settings import Settings
from . import render
from .base import Retrieved
from .citations import StreamingMarkerFilter, verify
from .condense import condense_chain, format_history
from .prompts import answer_prompt, format_sources

log = logging.getLogger(__name__)

NO_KEY = "not-needed"  # local servers (Ollama, llama.cpp) accept any key; never read OPENAI_API_KEY
_HAN = re.compile(r"[\u4e00-\u9fff]")
_SQUASH = re.compile(r"[\s\W_]+|\[\d+\]")
# what the client raises when the model's output cannot be parsed: the only "返回内容无效" case
_UNPARSEABLE = (json.JSONDecodeError, openai.APIResponseValidationError, pydantic.ValidationError)


def chat_model(settings: Settings) -> ChatOpenAI:
    """ChatOpenAI at the configured endpoint; no retries, so the timeout bounds the wait.

    `streaming` is left unset on purpose: setting it (even to False) makes `.stream()` fall back
    to one blocking call, while unset lets `.stream()` stream and `.invoke()` not.
    """
    return ChatOpenAI(
        model=settings.llm_model or "",
        base_url=settings.llm_base_url,
        api_key=_secret_value(settings) or NO_KEY,
        timeout=settings.llm_timeout,
        max_retries=0,
        temperature=settings.llm_temperature,
    )


def _secret_value(settings: Settings) -> str:
    """The key as a plain string ("" when unset)."""
    return settings.llm_api_key.get_secret_value() if settings.llm_api_key is not None else ""


def answer_chain(model: ChatOpenAI) -> Runnable[dict[str, Any], Any]:
    """{sources, question} → the model's reply as a stream of message chunks.

    No output parser at the end on purpose: LangChain's parsers tee their input for tracing and,
    when the reader stops early (timeout, client gone), drain the rest of the model's stream
    before closing. Without one, closing the stream closes the HTTP response at once.
    """
    return answer_prompt() | model


def chunk_text(chunk: Any) -> str:
    """The text of a streamed message chunk (string content or a list of content blocks)."""
    content = getattr(chunk, "content", chunk)
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            b if isinstance(b, str) else str(b.get("text", "")) for b in content if isinstance(b, (str, dict))
        )
    return ""


def _squash(text: str) -> str:
    return _SQUASH.sub("", text)


def failure_reason(exc: BaseException) -> str | None:
    """A short, key-free reason for a failure of the model or its connection; None when it is not one."""
    if isinstance(exc, ModelUnavailable):
        return exc.reason
    if isinstance(exc, (openai.APITimeoutError, httpx.TimeoutException, TimeoutError)):
        return "超时"
    if isinstance(exc, openai.APIStatusError):
        return f"HTTP {exc.status_code}"
    if isinstance(exc, (openai.APIConnectionError, httpx.TransportError, ConnectionError)):
        return "无法连接"
    if isinstance(exc, _UNPARSEABLE):
        return "返回内容无效"
    if isinstance(exc, (openai.OpenAIError, httpx.HTTPError)):
        return "调用出错"
    return None


class LLMAnswerer:
    """The chat-model answerer; one instance serves concurrent requests (no per-call state)."""

    mode: Mode = "llm"

    def __init__(self, settings: Settings, model: ChatOpenAI | None = None) -> None:
        self.settings = settings
        self.model = model or chat_model(settings)
        self.answer_chain = answer_chain(self.model)
        self.condense_chain = condense_chain(self.model)
        self._secret = _secret_value(settings)
        redact.register(self._secret)
        redact.register_url(settings.llm_base_url)  # `http://user:pass@host/v1`: its error bodies echo it

    # -- failures ----------------------------------------------------------------------------
    def _redact(self, text: str) -> str:
        return redact.redact(text.replace(self._secret, "***") if self._secret else text)

    def _unavailable(self, exc: Exception, stage: str) -> ModelUnavailable:
        """The model failed: log the type and a redacted message. Anything else is re-raised as is."""
        reason = failure_reason(exc)
        if reason is None:
            raise exc
        log.warning(
            "chat model unavailable during %s (%s): %s: %s",
            stage,
            reason,
            type(exc).__name__,
            self._redact(str(exc))[:300],
        )
        return ModelUnavailable(reason)

    # -- the steps ---------------------------------------------------------------------------
    def standalone(self, question: str, history: list[Turn]) -> str:
        """The follow-up rewritten by the model (the question itself if the rewrite is unusable).

        Raises ModelUnavailable when the model fails."""
        try:
            rewritten = self.condense_chain.invoke({"history": format_history(history), "question": question})
        except Exception as exc:
            raise self._unavailable(exc, "condense") from None
        if not rewritten or len(rewritten) > 2 * self.settings.max_question_chars:
            return question
        return str(rewritten)

    def stream_reply(self, inputs: dict[str, Any]) -> Generator[str, None, None]:
        """Reply pieces as the model sends them; raises ModelUnavailable (also past the timeout)."""
        deadline = time.monotonic() + self.settings.llm_timeout
        pieces = self.answer_chain.stream(inputs)
        try:
            for chunk in pieces:
                if time.monotonic() > deadline:
                    raise ModelUnavailable("超时")
                piece = chunk_text(chunk)
                if piece:
                    yield piece
        except Exception as exc:
            raise self._unavailable(exc, "answer") from None
        finally:
            close = getattr(pieces, "close", None)
            if close is not None:
                close()  # releases the HTTP response when the reader stops early

    def check_reply(self, raw: str) -> None:
        if not raw.strip():
            raise self._unavailable(ModelUnavailable("空回复"), "answer")
        if not _HAN.search(raw):
            raise self._unavailable(ModelUnavailable("返回内容无效"), "answer")

    def is_refusal(self, text: str) -> bool:
        return _squash(render.REFUSAL) in _squash(text)

    # -- the answerer interface --------------------------------------------------------------
    def stream(self, question: str, retrieved: Retrieved) -> Iterator[AnswerEvent]:
        """Sources, the reply's pieces as the model writes them, then the verified answer (or Failed)."""
        hits = retrieved.hits
        yield Sources(render.sources(hits))
        marker_filter = StreamingMarkerFilter(len(hits))
        parts: list[str] = []
        try:
            # closing(): a reader that stops early (client gone) closes the model's HTTP stream now
            with closing(self.stream_reply({"sources": format_sources(hits), "question": retrieved.query})) as reply:
                for piece in reply:
                    parts.append(piece)
                    out = marker_filter.feed(piece)
                    if out:
                        yield Delta(out)
            out = marker_filter.flush()
            if out:
                yield Delta(out)
            raw = "".join(parts)
            self.check_reply(raw)
        except ModelUnavailable as exc:
            yield Failed(exc.reason)
            return
        yield Final(self.final(question, raw, retrieved))

    def final(self, question: str, raw: str, retrieved: Retrieved) -> Answer:
        checked = verify(raw, [hit.chunk for hit in retrieved.hits], retrieved.idf)
        if checked.removed:
            log.info("removed citation markers to missing sources: %s", checked.removed)
        found = not self.is_refusal(checked.text)
        return Answer(
            question=question,
            answer=checked.text,
            found=found,
            mode="llm",
            sources=render.sources(retrieved.hits, checked.quotes if found else None),
            unsupported=checked.unsupported,
        )
