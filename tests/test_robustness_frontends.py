"""Hostile input at the other front ends (issue 12 §2, §5, §6): Telegram webhook bodies, Telegram
start-up and memory, bad settings, odd characters and piped output in the CLI, redacted secrets."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from rich.cells import cell_len

from bot.models import Answer
from bot.redact import RedactingFilter, redact, register_url
from bot.settings import Settings, describe_error
from bot.telegram.state import AnswerStore, ChatHistory, open_memory

QABOT = str(Path(sys.executable).parent / "qabot")
QUESTION = "威海市签订了多少份集体合同？"
KEY = "sk-robust-DO-NOT-LEAK-7e1"  # the chat-model key `with_model` uses in this module


def _cli(args: list, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    full = {**os.environ, "COLUMNS": "80", **env}
    full.pop("QABOT_LLM_BASE_URL", None)
    return subprocess.run([QABOT, *args], check=False, cwd=cwd, env=full, capture_output=True, timeout=300)


# -- Telegram webhook ---------------------------------------------------------------------------
@pytest.fixture
def webhook(tiny_service):
    from bot.telegram.app import build_application
    from bot.telegram.webhook import SECRET_HEADER, webhook_app

    application = build_application(tiny_service, token="123:TEST", base_url="http://127.0.0.1:9")
    app = webhook_app(application, "s3cret", "/tg", max_bytes=4096)
    transport = httpx.ASGITransport(app=app)
    client = httpx.AsyncClient(transport=transport, base_url="http://test", headers={SECRET_HEADER: "s3cret"})
    return client, application


BAD_UPDATES = {
    "list": b"[1, 2]",
    "string": b'"update"',
    "null": b"null",
    "message is a string": b'{"update_id": 1, "message": "hello"}',
    "message is a list": b'{"update_id": 1, "message": [1]}',
    "no update_id": b'{"message": {}}',
    "deep nesting": b'{"update_id": 1, "message": ' + b'{"a": ' * 2000 + b"1" + b"}" * 2001,
    "deep list": b"[" * 100_000 + b"]" * 100_000,
    "not JSON": b"{update",
    "wrong types inside": b'{"update_id": 1, "message": {"message_id": "x", "date": [], "chat": 5}}',
}


@pytest.mark.parametrize("name", sorted(BAD_UPDATES))
async def test_webhook_answers_400_to_what_is_not_an_update(webhook, name):
    client, application = webhook
    body = BAD_UPDATES[name]
    limit_ok = len(body) <= 4096
    async with client:
        response = await client.post("/tg", content=body, headers={"content-type": "application/json"})
    assert response.status_code == (400 if limit_ok else 413)
    assert application.update_queue.empty()


async def _pieces() -> AsyncIterator[bytes]:
    for _ in range(10):
        yield b"a" * 1000


async def test_webhook_caps_the_body(webhook):
    client, application = webhook
    async with client:
        big = await client.post("/tg", content=b'{"update_id": 1, "x": "' + b"a" * 10_000 + b'"}')
        chunked = await client.post("/tg", content=_pieces())  # no Content-Length
    assert big.status_code == 413 and chunked.status_code == 413
    assert application.update_queue.empty()


# -- Telegram memory survives a restart ---------------------------------------------------------
def test_history_and_answers_survive_a_restart(tmp_path):
    path = tmp_path / "memory" / "telegram.sqlite3"
    now = [1000.0]
    history = ChatHistory(max_turns=4, max_age_s=100, clock=lambda: now[0], db=open_memory(path))
    answers = AnswerStore(per_chat=2, db=open_memory(path))
    for k in range(3):
        history.add(7, f"问{k}", f"答{k}")
    answer = Answer(question="问", answer="答[1]", found=True, mode="extractive", sources=[])
    key = answers.put(7, answer)
    history.db.close()
    answers.db.close()

    again = ChatHistory(max_turns=4, max_age_s=100, clock=lambda: now[0], db=open_memory(path))
    assert [t.content for t in again.get(7)] == ["问1", "答1", "问2", "答2"]  # same turn limit
    store = AnswerStore(per_chat=2, db=open_memory(path))
    assert store.get(7, key) == answer and store.last(7) == answer
    now[0] += 101
    assert again.get(7) == []  # same age limit


def test_unusable_memory_path_falls_back_to_memory(tmp_path, caplog):
    blocker = tmp_path / "file"
    blocker.write_text("", encoding="utf-8")
    caplog.set_level(logging.WARNING)
    history = ChatHistory(max_turns=2, max_age_s=60, db=open_memory(blocker / "x.sqlite3"))
    history.add(1, "问", "答")
    assert [t.content for t in history.get(1)] == ["问", "答"]
    assert any("cannot keep conversations" in r.getMessage() for r in caplog.records)


async def test_telegram_start_retries_with_one_line_per_attempt(tiny_service, caplog):
    from bot.errors import ConfigError
    from bot.telegram.app import build_application, reach_api

    app = build_application(tiny_service, token="123:TEST", base_url="http://127.0.0.1:9")  # nothing listens
    caplog.set_level(logging.WARNING)
    with pytest.raises(ConfigError, match="unreachable after 3 attempts"):
        await reach_api(app, attempts=3, first_wait_s=0.01)
    lines = [r for r in caplog.records if "Bot API unreachable" in r.getMessage()]
    assert len(lines) == 2 and all(r.exc_info is None for r in lines)


async def test_telegram_start_proceeds_once_the_api_answers(tiny_service, standin):
    from bot.telegram.app import build_application, reach_api

    app = build_application(tiny_service, token=standin.token, base_url=standin.base_url)
    await reach_api(app, attempts=2, first_wait_s=0.01)
    assert standin.calls_of("getMe")


# -- settings -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [("QABOT_TOP_K", "abc", "whole number"), ("QABOT_CHUNK_SIZE", "5", "≥ 40"), ("QABOT_LLM_TIMEOUT", "-1", "> 0")],
)
def test_a_bad_setting_is_one_line_naming_the_variable(monkeypatch, variable, value, expected):
    monkeypatch.setenv(variable, value)
    with pytest.raises(Exception) as caught:
        Settings(_env_file=None)
    line = describe_error(caught.value)  # type: ignore[arg-type]
    assert line.startswith(f"{variable}={value!r}") and expected in line and "\n" not in line


@pytest.mark.parametrize("command", [["ask", QUESTION], ["serve"], ["telegram"], ["index"]])
def test_every_entry_point_reports_a_bad_setting_in_one_line(tmp_path, command):
    done = _cli(command, tmp_path, QABOT_TOP_K="abc")
    stderr = done.stderr.decode()
    assert done.returncode == 2, stderr
    assert stderr.count("\n") == 1 and "QABOT_TOP_K='abc'" in stderr and "Traceback" not in stderr


# -- the CLI ------------------------------------------------------------------------------------
def test_cli_question_with_bytes_that_are_not_utf8(tiny_service, tmp_path):
    env = {
        "QABOT_CORPUS_DIR": str(tiny_service.settings.corpus_dir),
        "QABOT_INDEX_DIR": str(tiny_service.settings.index_dir),
    }
    done = _cli(["ask", b"\xff" + QUESTION.encode(), "--json"], tmp_path, **env)
    assert done.returncode == 0, done.stderr.decode()
    answer = json.loads(done.stdout)
    assert answer["question"] == QUESTION and "1780份" in answer["answer"]
    only_bad = _cli(["ask", b"\xff\xfe"], tmp_path, **env)
    lines = only_bad.stderr.decode().strip().splitlines()
    assert only_bad.returncode == 2 and len(lines) == 1 and "empty" in lines[0]
    piped = subprocess.run(
        [QABOT, "ask", "-", "--json"],
        check=False,
        cwd=tmp_path,
        env={**os.environ, **env},
        input=b"\xff" + QUESTION.encode() + b"\n",
        capture_output=True,
        timeout=300,
    )
    assert piped.returncode == 0 and b"Traceback" not in piped.stderr
    assert "1780份" in json.loads(piped.stdout.splitlines()[0])["answer"]


def test_piped_output_is_not_wrapped(tiny_service, tmp_path):
    env = {
        "QABOT_CORPUS_DIR": str(tiny_service.settings.corpus_dir),
        "QABOT_INDEX_DIR": str(tiny_service.settings.index_dir),
    }
    done = _cli(["ask", QUESTION], tmp_path, **env)
    text = done.stdout.decode()
    assert done.returncode == 0
    source_lines = [line for line in text.splitlines() if line.startswith("[1] ")]
    assert source_lines and "(字符" in source_lines[0]  # title, file and offsets on one line
    assert any(cell_len(line) > 80 for line in text.splitlines())  # wider than the 80 columns it used to wrap at


# -- secrets --------------------------------------------------------------------------------------
def test_url_credentials_are_redacted_in_every_form():
    register_url("http://alice:s3cr3t-pw@models.example/v1")
    leaked = (
        "POST http://alice:s3cr3t-pw@models.example/v1 failed: 401 "
        '{"error": "bad Authorization: Basic YWxpY2U6czNjcjN0LXB3", "echo": "s3cr3t-pw"} '
        "see https://bob:other@x.example/"
    )
    clean = redact(leaked)
    for secret in ("s3cr3t-pw", "YWxpY2U6czNjcjN0LXB3", "alice:", "bob:other"):
        assert secret not in clean
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "model said %s", (leaked,), None)
    RedactingFilter().filter(record)
    assert "s3cr3t-pw" not in record.getMessage()


def test_model_error_bodies_do_not_leak_url_credentials(with_model, fake, caplog):
    caplog.set_level(logging.INFO)
    base = fake.base_url.replace("http://", "http://carol:hunter22-x@")
    service = with_model("http500", llm_base_url=base)
    answer = service.ask(QUESTION)
    assert answer.note and "hunter22-x" not in answer.note
    assert not [
        r for r in caplog.records if "hunter22-x" in r.getMessage() or "Y2Fyb2w6aHVudGVyMjIteA" in r.getMessage()
    ]
