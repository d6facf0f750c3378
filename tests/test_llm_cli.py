"""`qabot ask` with a chat model configured through environment variables, as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.settings import get_settings
from fake_openai import FakeOpenAI

QUESTION = "青海省总工会2023年计划投入多少专项经费？"
KEY = "sk-cli-DO-NOT-LEAK-77e1"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def env(tiny_service, tiny_corpus, fake, tmp_path, monkeypatch) -> dict[str, str]:
    """Variables pointing qabot at the tiny index and the fake model; no `.env` in the cwd."""
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield {
        "QABOT_CORPUS_DIR": str(tiny_corpus),
        "QABOT_INDEX_DIR": str(tiny_service.settings.index_dir),
        "QABOT_LLM_BASE_URL": fake.base_url,
        "QABOT_LLM_API_KEY": KEY,
        "QABOT_LLM_MODEL": "echo",
        "QABOT_LLM_TIMEOUT": "30",
    }
    get_settings.cache_clear()


@pytest.fixture
def qabot(env, monkeypatch):
    """`qabot("ask", ..., QABOT_LLM_MODEL="number")` → (exit code, output) via typer's CliRunner."""

    def run(*args: str, **overrides: str | None) -> tuple[int, str]:
        for name, value in {**env, **overrides}.items():
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        result = CliRunner().invoke(app, list(args))
        return result.exit_code, result.output

    return run


def test_ask_json_answers_in_llm_mode(qabot):
    code, output = qabot("ask", QUESTION, "--json")
    assert code == 0, output
    answer = json.loads(output.strip().splitlines()[-1])
    assert answer["mode"] == "llm" and answer["found"]
    assert answer["answer"].endswith("[1]")
    assert answer["sources"][0]["quote"]


def test_ask_mode_extractive_does_not_call_the_model(qabot, fake):
    before = len(fake.requests)
    code, output = qabot("ask", QUESTION, "--json", "--mode", "extractive")
    assert code == 0, output
    answer = json.loads(output.strip().splitlines()[-1])
    assert answer["mode"] == "extractive" and "720万元" in answer["answer"]
    assert len(fake.requests) == before


def test_ask_marks_unsupported_sentences(qabot):
    code, output = qabot("ask", QUESTION, QABOT_LLM_MODEL="number")
    assert code == 0, output
    assert "以下内容未在来源中找到依据" in output


def test_failing_model_in_a_real_process_prints_the_extractive_answer_without_the_key(env):
    """A subprocess, so `qabot`'s own logging setup (stderr) is what is checked for the key."""
    process_env = {**os.environ, **env, "QABOT_LLM_MODEL": "http500"}
    result = subprocess.run(
        [sys.executable, "-c", "from bot.cli import main; main()", "ask", QUESTION],
        env=process_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "720万元" in result.stdout
    assert "聊天模型暂时不可用（HTTP 500）" in result.stdout
    assert "chat model unavailable" in result.stderr  # the failure is logged ...
    assert KEY not in result.stdout and KEY not in result.stderr  # ... without the key


def test_no_model_configured_and_mode_llm_is_bad_input(qabot):
    code, output = qabot("ask", QUESTION, "--mode", "llm", QABOT_LLM_BASE_URL=None, QABOT_LLM_MODEL=None)
    assert code == 2
    assert "QABOT_LLM_BASE_URL" in output
