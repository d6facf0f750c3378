"""Generated answers from any OpenAI-compatible chat model, with verified citations.

The chain is `answer prompt | ChatOpenAI | str parser` (prompts from `prompts/`), streamed so the
front ends can forward tokens as the model writes them. Citation markers are normalised while
streaming (only an unclosed bracket is held back) and the whole reply is verified before the final
`answer` event. Any model failure — error, timeout, garbage, an empty reply — falls back to the
extractive answer with a note; the user never gets an empty reply and the API key is never logged.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterator
from contextlib import closing
from typing import TYPE_CHECKING, Any

import httpx
import openai
from langchain_core.runnables import Runnable
from langchain_openai import ChatOpenAI

from .citations import StreamingMarkerFilter, verify
from .condense import condense_chain, format_history
from .models import Answer, Source, Turn
from .prompts import answer_prompt, format_sources, refusal_sentence
from .settings import Settings

if TYPE_CHECKING:
    from retrieval.search import Hit

    from .service import AnswerService

log = logging.getLogger(__name__)

NO_KEY = "not-needed"  # local servers (Ollama, llama.cpp) accept any key; never read OPENAI_API_KEY
UNAVAILABLE_NOTE = "聊天模型暂时不可用（{reason}），以下是离线摘录的答案。"
SWITCH_DELTA = "\n\n（聊天模型中途失败，以下改为离线摘录的答案）\n"
_HAN = re.compile(r"[\u4e00-\u9fff]")
_SQUASH = re.compile(r"[\s\W_]+|\[\d+\]")


class ModelUnavailable(Exception):
    """The chat model could not give a usable reply; `reason` is short, Chinese and key-free."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def chat_model(settings: Settings) -> ChatOpenAI:
    """ChatOpenAI at the configured endpoint; no retries, so the timeout bounds the wait.

    `streaming` is left unset on purpose: setting it (even to False) makes `.stream()` fall back
    to one blocking call, while unset lets `.stream()` stream and `.invoke()` not.
    """
    key = _secret_value(settings)
    return ChatOpenAI(
        model=settings.llm_model,
        base_url=settings.llm_base_url,
        api_key=key or NO_KEY,
        timeout=settings.llm_timeout,
        max_retries=0,
        temperature=settings.llm_temperature,
    )


def _secret_value(settings: Settings) -> str:
    """The key as a plain string ("" when unset); tolerant of settings built without validation."""
    key = settings.llm_api_key
    if key is None:
        return ""
    return key.get_secret_value() if hasattr(key, "get_secret_value") else str(key)


def answer_chain(model: ChatOpenAI) -> Runnable:
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
        return "".join(b if isinstance(b, str) else str(b.get("text", "")) for b in content if isinstance(b, (str, dict)))
    return ""


def _squash(text: str) -> str:
    return _SQUASH.sub("", text)


class LLMAnswerer:
    """Plugged into `AnswerService.llm`; one instance serves concurrent requests (no per-call state)."""

    def __init__(self, settings: Settings, model: ChatOpenAI | None = None) -> None:
        self.settings = settings
        self.model = model or chat_model(settings)
        self.answer_chain = answer_chain(self.model)
        self.condense_chain = condense_chain(self.model)
        self.refusal = refusal_sentence()
        self._secret = _secret_value(settings)

    # -- failure handling --------------------------------------------------------------------
    def _redact(self, text: str) -> str:
        return text.replace(self._secret, "***") if self._secret else text

    def _unavailable(self, exc: BaseException, stage: str) -> ModelUnavailable:
        """Map any client error to a short reason; log the type and a redacted message."""
        if isinstance(exc, ModelUnavailable):
            reason = exc.reason
        elif isinstance(exc, (openai.APITimeoutError, httpx.TimeoutException, TimeoutError)):
            reason = "超时"
        elif isinstance(exc, openai.APIStatusError):
            reason = f"HTTP {exc.status_code}"
        elif isinstance(exc, (openai.APIConnectionError, httpx.TransportError, ConnectionError)):
            reason = "无法连接"
        elif isinstance(exc, (json.JSONDecodeError, openai.APIResponseValidationError, ValueError, KeyError, TypeError)):
            reason = "返回内容无效"
        else:
            reason = "调用出错"
        log.warning("chat model unavailable during %s (%s): %s: %s", stage, reason, type(exc).__name__, self._redact(str(exc))[:300])
        return ModelUnavailable(reason)

    # -- the steps ---------------------------------------------------------------------------
    def standalone_question(self, question: str, history: list[Turn]) -> str:
        """The follow-up rewritten by the model; falls back to the question if the rewrite is unusable."""
        try:
            rewritten = self.condense_chain.invoke({"history": format_history(history), "question": question})
        except Exception as exc:  # noqa: BLE001 - every client failure means "model unavailable"
            raise self._unavailable(exc, "condense") from None
        if not rewritten or len(rewritten) > 2 * self.settings.max_question_chars:
            return question
        return rewritten

    def stream_reply(self, inputs: dict[str, Any]) -> Iterator[str]:
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
        except Exception as exc:  # noqa: BLE001
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
        return _squash(self.refusal) in _squash(text)

    # -- the service hook --------------------------------------------------------------------
    def answer_stream(
        self, service: AnswerService, question: str, top_k: int, history: list[Turn] | None
    ) -> Iterator[tuple[str, Any]]:
        """Events as the extractive path: ("sources", [Source]), ("delta", str)..., ("answer", Answer)."""
        loaded = service.loaded()
        standalone = question
        if history:
            try:
                standalone = self.standalone_question(question, history)
            except ModelUnavailable as exc:
                hits = loaded.searcher.search(service.retrieval_query(question, history), top_k)
                yield from self._fallback(service, question, hits, None, exc.reason, sources_sent=False, streamed=False)
                return
        hits = loaded.searcher.search(standalone, top_k)
        yield "sources", [_source(rank, hit) for rank, hit in enumerate(hits, start=1)]

        marker_filter = StreamingMarkerFilter(len(hits))
        parts: list[str] = []
        streamed = False
        try:
            # closing(): a reader that stops early (client gone) closes the model's HTTP stream now
            with closing(self.stream_reply({"sources": format_sources(hits), "question": standalone})) as reply:
                for piece in reply:
                    parts.append(piece)
                    out = marker_filter.feed(piece)
                    if out:
                        streamed = True
                        yield "delta", out
            out = marker_filter.flush()
            if out:
                streamed = True
                yield "delta", out
            raw = "".join(parts)
            self.check_reply(raw)
        except ModelUnavailable as exc:
            yield from self._fallback(service, question, hits, standalone, exc.reason, sources_sent=True, streamed=streamed)
            return
        yield "answer", self._final(question, raw, hits, loaded.answerer.idf)

    def _final(self, question: str, raw: str, hits: list[Hit], idf: dict[str, float]) -> Answer:
        checked = verify(raw, [hit.chunk for hit in hits], idf)
        if checked.removed:
            log.info("removed citation markers to missing sources: %s", checked.removed)
        found = not self.is_refusal(checked.text)
        quotes = checked.quotes if found else {}
        sources = [_source(rank, hit, quotes.get(rank)) for rank, hit in enumerate(hits, start=1)]
        return Answer(
            question=question,
            answer=checked.text,
            found=found,
            mode="llm",
            sources=sources,
            unsupported=checked.unsupported,
        )

    def _fallback(
        self,
        service: AnswerService,
        question: str,
        hits: list[Hit],
        query: str | None,
        reason: str,
        sources_sent: bool,
        streamed: bool,
    ) -> Iterator[tuple[str, Any]]:
        """The extractive answer, with a note; after partial model text, a visible switch first."""
        answer = service.extractive_answer(question, hits, query=query, note=UNAVAILABLE_NOTE.format(reason=reason))
        if not sources_sent:
            yield "sources", answer.sources
        if streamed:
            yield "delta", SWITCH_DELTA
        for k in range(0, len(answer.answer), 40):
            yield "delta", answer.answer[k : k + 40]
        yield "answer", answer


def _source(n: int, hit: Hit, quote: str | None = None) -> Source:
    chunk = hit.chunk
    return Source(
        n=n,
        title=chunk.title,
        file=chunk.doc,
        start=chunk.start,
        end=chunk.end,
        text=chunk.text,
        quote=quote,
        score=round(hit.score, 6),
    )


def attach_llm(service: AnswerService) -> None:
    """Called by the front ends when QABOT_LLM_BASE_URL and QABOT_LLM_MODEL are set."""
    service.llm = LLMAnswerer(service.settings)
