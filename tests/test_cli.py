"""The `qabot` command line: the contract other parts and checks rely on."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot import settings as settings_module
from bot.cli import app
from tests.common import DATA

runner = CliRunner()


@pytest.fixture
def env(tmp_path, monkeypatch):
    corpus = tmp_path / "corpus"
    shutil.copytree(DATA / "tiny", corpus)
    values = {"QABOT_CORPUS_DIR": str(corpus), "QABOT_INDEX_DIR": str(tmp_path / "index")}
    for key in list(os.environ):
        if key.startswith(("QABOT_", "TELEGRAM_")):
            monkeypatch.delenv(key)
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)  # no stray .env
    settings_module.get_settings.cache_clear()
    yield values
    settings_module.get_settings.cache_clear()


def run(*args, input=None):
    return runner.invoke(app, list(args), input=input, catch_exceptions=False)


def test_index_reports_counts_and_is_incremental(env):
    first = run("index")
    assert first.exit_code == 0, first.output
    assert re.search(r"files: 2\s+articles: \d+\s+chunks: \d+\s+seconds: [0-9.]+", first.output)
    second = run("index")
    assert "unchanged" in second.output


def test_ask_json_contract(env):
    result = run("ask", "威海市签订了多少份集体合同？", "--json")
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(answer) >= {"question", "answer", "found", "mode", "sources"}
    assert answer["found"] is True and answer["mode"] == "extractive"
    assert "1780份" in answer["answer"]
    for i, source in enumerate(answer["sources"], start=1):
        assert source["n"] == i
        assert set(source) >= {"n", "title", "file", "start", "end", "text", "quote", "score"}
    for n in re.findall(r"\[(\d+)\]", answer["answer"]):
        cited = answer["sources"][int(n) - 1]
        assert cited["quote"] and cited["quote"] in cited["text"]
    corpus = Path(env["QABOT_CORPUS_DIR"])
    top = answer["sources"][0]
    original = (corpus / top["file"]).read_text(encoding="utf-8")[top["start"] : top["end"]]
    assert re.sub(r"\s", "", top["quote"]) in re.sub(r"\s", "", original)


def test_ask_human_output_lists_sources(env):
    result = run("ask", "威海市签订了多少份集体合同？")
    assert result.exit_code == 0
    assert "[1]" in result.stdout and "paper.txt (字符" in result.stdout


# On this four-article corpus every question shares words with the few chunks there are, so the answer
# model's confidence has little contrast (the unanswerable questions below score 0.4-0.6; on the seed corpus
# the same question scores 0.17 and is refused by default, see test_answers_seeds.py). These tests are
# about how the CLI reports a refusal and counts one, so they ask for a stricter threshold.
STRICT = "0.7"


def test_unanswerable_question_says_so_and_still_lists_sources(env, monkeypatch):
    monkeypatch.setenv("QABOT_MIN_CONFIDENCE", STRICT)
    settings_module.get_settings.cache_clear()
    result = run("ask", "威海市总工会帮助职工追回了多少欠薪？", "--json")
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["found"] is False
    assert "没有找到" in answer["answer"] and not re.search(r"\[\d+\]", answer["answer"])
    assert answer["sources"] and all(s["quote"] is None for s in answer["sources"])


def test_ask_reads_questions_from_stdin_as_jsonl(env):
    questions = "威海市签订了多少份集体合同？\n\n西宁市建了多少个户外劳动者服务站？\n"
    result = run("ask", "-", "--json", input=questions)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.strip().splitlines()]
    assert [r["question"] for r in rows] == ["威海市签订了多少份集体合同？", "西宁市建了多少个户外劳动者服务站？"]


@pytest.mark.parametrize("question", ["", "   ", "？", "长" * 600])
def test_bad_questions_exit_2_with_one_line(env, question):
    result = run("ask", question)
    assert result.exit_code == 2
    assert len(result.output.strip().splitlines()) == 1
    assert "Traceback" not in result.output


def test_missing_and_empty_corpus(env, tmp_path):
    result = run("index", "--corpus", str(tmp_path / "missing"))
    assert result.exit_code == 2 and "not found" in result.output
    (tmp_path / "empty").mkdir()
    result = run("index", "--corpus", str(tmp_path / "empty"))
    assert result.exit_code == 2 and "no .txt" in result.output


def test_eval_prints_metrics(env, tmp_path, monkeypatch):
    monkeypatch.setenv("QABOT_MIN_CONFIDENCE", STRICT)
    settings_module.get_settings.cache_clear()
    questions = tmp_path / "q.jsonl"
    rows = [
        {"id": "1", "question": "威海市签订了多少份集体合同？", "evidence": ["全市签订集体合同1780份"]},
        {"id": "2", "question": "威海市总工会追回了多少欠薪？", "evidence": [], "type": "unanswerable"},
    ]
    questions.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    result = run("eval", str(questions), "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["hit@1"] == 1.0 and summary["refused_when_unanswerable"] == 1.0
    assert summary["answer_evidence_recall"] == 1.0
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "x"}\n', encoding="utf-8")
    assert run("eval", str(bad)).exit_code == 2


def test_chat_keeps_history_and_leaves_on_eof(env):
    script = "威海市签订了多少份集体合同？\n覆盖了多少职工？\n"
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "chat"],
        input=script,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
    )
    assert result.returncode == 0, result.stderr
    assert "1780份" in result.stdout
    assert "32万余人" in result.stdout  # the follow-up borrowed 集体合同 from the first question
