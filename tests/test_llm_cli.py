"""`qabot ask` with a chat model configured through environment variables, as a user runs it."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.settings import get_settings
from tests.fakes.fake_openai import FakeOpenAI

QUESTION = "青海省总工会2023年计划投入多少专项经费？"
KEY = "sk-cli-DO-NOT-LEAK-77e1"


@pytest.fixture
def env(tiny_service, tiny_corpus, fake, embedder, tmp_path, monkeypatch) -> dict[str, str]:
    """Variables pointing qabot at the tiny index and the fake model; no `.env` in the cwd.

    In-process runs share the session's embedding model instead of loading it again."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("bot.service.load_embeddings", lambda name, **options: embedder)
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

    def run(*args: str, _input: str | None = None, **overrides: str | None) -> tuple[int, str]:
        for name, value in {**env, **overrides}.items():
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        result = CliRunner().invoke(app, list(args), input=_input)
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


# -- streaming to the terminal -----------------------------------------------------------------
class Recorder(io.StringIO):
    """The terminal: remembers, for each write, whether the model's server was still writing."""

    def __init__(self, fake: FakeOpenAI) -> None:
        super().__init__()
        self.fake = fake
        self.writes: list[tuple[str, bool]] = []

    def write(self, text: str) -> int:
        answers = [r for r in self.fake.requests if r.kind == "answer"]
        self.writes.append((text, bool(answers) and answers[-1].done is None))
        return super().write(text)

    def isatty(self) -> bool:
        return False


@pytest.fixture
def terminal(fake, monkeypatch):
    """`bot.cli.out` writing to a Recorder (wide, no colours), so the order of writes can be checked."""
    from rich.console import Console

    import bot.cli

    recorder = Recorder(fake)
    monkeypatch.setattr(bot.cli, "out", Console(file=recorder, width=1000, color_system=None))
    return recorder


def _model_reply(fake: FakeOpenAI) -> str:
    return next(r for r in reversed(fake.requests) if r.kind == "answer").reply


def test_ask_prints_the_answer_as_the_model_writes_it(qabot, fake, terminal):
    """Tokens every 0.5 s and a 1.2 s timeout: the first tokens are printed at once, then the
    offline answer follows with the note; the answer is printed once, then the sources."""
    code, _ = qabot("ask", QUESTION, QABOT_LLM_MODEL="slow", QABOT_LLM_TIMEOUT="1.2")
    assert code == 0
    reply = _model_reply(fake)
    first = next(k for k, (text, _) in enumerate(terminal.writes) if text.strip())
    text, model_still_writing = terminal.writes[first]
    assert reply.startswith(text) and len(text) < len(reply)  # a piece of the model's reply ...
    assert model_still_writing  # ... printed before the model had finished
    output = terminal.getvalue()
    answer_at = output.index("根据资料：")
    assert output.index(text) < output.index("以下改为离线摘录的答案") < answer_at
    assert answer_at < output.index("注意：聊天模型暂时不可用（超时）") < output.index("来源：")
    assert output.count("720万元专项经费") == 2  # the streamed answer and its quote, not printed twice
    assert "核对后的答案" not in output


def test_ask_marks_unsupported_sentences_after_the_streamed_answer(qabot, fake, terminal):
    code, _ = qabot("ask", QUESTION, QABOT_LLM_MODEL="number")
    assert code == 0
    planted = fake.requests[-1].planted
    output = terminal.getvalue()
    head = output.index("⚠️ 以下内容未在来源中找到依据：")
    assert output.index(planted["sentence"]) < head  # the streamed answer ...
    assert planted["sentence"] in output[head:].splitlines()[1]  # ... then each flagged sentence, listed
    assert head < output.index("来源：")
    assert any(planted["number"] in text for text, _ in terminal.writes[:3])  # it came as streamed text


def test_json_output_is_one_object_per_line_with_a_model(qabot):
    questions = f"{QUESTION}\n\n威海市签订了多少份集体合同？\n"
    code, output = qabot("ask", "-", "--json", _input=questions, QABOT_LLM_MODEL="number")
    assert code == 0, output
    rows = [json.loads(line) for line in output.strip().splitlines()]  # nothing streamed around the JSON
    assert [r["question"] for r in rows] == [QUESTION, "威海市签订了多少份集体合同？"]
    assert all(r["mode"] == "llm" for r in rows) and rows[0]["unsupported"]


def test_chat_streams_each_answer_and_shows_the_note(qabot, fake, terminal, monkeypatch):
    """`qabot chat` with a model that times out mid-answer: each answer's first tokens are printed
    while the model is still writing, then the offline answer and the note; the follow-up is
    rewritten by the model first."""
    monkeypatch.setattr("builtins.input", _scripted_input(f"{QUESTION}\n安排了多少批职工？\n", terminal))
    before = len(fake.requests)
    code, _ = qabot("chat", QABOT_LLM_MODEL="slow", QABOT_LLM_TIMEOUT="1.2")
    assert code == 0
    records = fake.requests[before:]
    assert [r.kind for r in records] == ["answer", "condense", "answer"]
    for record in (records[0], records[2]):
        early = [text for text, still in terminal.writes if still and text.strip() and record.reply.startswith(text)]
        assert early  # a piece of this reply reached the terminal while the model was still writing
    output = terminal.getvalue()
    assert output.count("注意：聊天模型暂时不可用（超时）") == 2
    assert output.count("来源：") == 2 and "720万元" in output
    assert KEY not in output


def _scripted_input(script: str, terminal: Recorder):
    """`input()` for `qabot chat`: echoes the prompt to the terminal, then EOF after the script."""
    lines = iter(script.splitlines())

    def fake_input(prompt: str = "") -> str:
        terminal.write(prompt)
        try:
            return next(lines)
        except StopIteration:
            raise EOFError from None

    return fake_input


def test_missing_prompt_files_are_one_line_and_exit_1(qabot, monkeypatch):
    """A broken install (no prompt files) is a QabotError like any other: one line, no traceback."""
    from bot.answer import prompts

    monkeypatch.setattr(prompts, "PACKAGE", "bot.no_such_prompts")
    prompts.load_prompt.cache_clear()
    try:
        code, output = qabot("ask", QUESTION)
    finally:
        prompts.load_prompt.cache_clear()
    assert code == 1
    assert "reinstall qabot" in output and len(output.strip().splitlines()) == 1
    assert "Traceback" not in output
