"""Reading a corpus folder: bad files are skipped with a warning, never a crash."""

from __future__ import annotations

import json
import logging

import pytest

from retrieval.loading import CorpusError, corpus_files, read_file


def test_reads_txt_md_and_jsonl_and_skips_the_rest(tmp_path):
    (tmp_path / "a.txt").write_text("第一篇文章。\n", encoding="utf-8")
    (tmp_path / "b.md").write_text("# 标题\n\n正文。\n", encoding="utf-8")
    (tmp_path / "c.jsonl").write_text(
        json.dumps({"id": "X1", "title": "标题一", "text": "正文一。"}, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    (tmp_path / "d.xls").write_bytes(b"\xd0\xcf\x11\xe0")  # PDFs, scans, .html and .docx: tests/test_ingest_corpus.py
    (tmp_path / ".hidden.txt").write_text("隐藏。", encoding="utf-8")
    names = [p.name for p in corpus_files(tmp_path)]
    assert names == ["a.txt", "b.md", "c.jsonl"]
    _, docs = read_file(tmp_path, tmp_path / "c.jsonl")
    assert [(d.name, d.title, d.text) for d in docs] == [("c.jsonl#X1", "标题一", "正文一。")]


def test_bad_files_and_lines_are_skipped_with_a_warning(tmp_path, caplog):
    (tmp_path / "gbk.txt").write_bytes("中文新闻".encode("gbk"))
    (tmp_path / "bin.txt").write_bytes(b"\x00\x01\x02binary")
    (tmp_path / "empty.md").write_text("  \n", encoding="utf-8")
    lines = [
        json.dumps({"id": "ok", "title": "好", "text": "好的正文。"}, ensure_ascii=False),
        "{not json",
        json.dumps({"id": "no-text"}),
        json.dumps(["a list"]),
        json.dumps({"id": "ok", "text": "重复的编号。"}, ensure_ascii=False),
    ]
    (tmp_path / "mixed.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    caplog.set_level(logging.WARNING)
    found = {}
    for path in corpus_files(tmp_path):
        _, docs = read_file(tmp_path, path)
        found[path.name] = [d.name for d in docs]
    assert found == {"bin.txt": [], "empty.md": [], "gbk.txt": [], "mixed.jsonl": ["mixed.jsonl#ok"]}
    text = caplog.text
    assert "gbk.txt: not UTF-8" in text
    assert "bin.txt: looks like a binary" in text
    assert "mixed.jsonl line 2: invalid JSON" in text
    assert "mixed.jsonl line 3" in text and "mixed.jsonl line 4" in text
    assert "mixed.jsonl line 5: duplicate id" in text


def test_missing_or_wrong_corpus_folder(tmp_path):
    with pytest.raises(CorpusError, match="not found"):
        corpus_files(tmp_path / "nope")
    (tmp_path / "file.txt").write_text("x", encoding="utf-8")
    with pytest.raises(CorpusError, match="not a folder"):
        corpus_files(tmp_path / "file.txt")
