"""OS errors and odd corpora while indexing (issue 12 §3): one warning line, keep what can be kept.

Runs as root in CI, where permission bits do not stop reads: unreadable files and unwritable
folders are made with real OS errors where root still gets them (a file in place of a folder)
and by raising the OS error the kernel would give otherwise.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
from pathlib import Path

import pytest
from test_robustness_index import CONFIG, HashEmbedder

from retrieval import index as index_module
from retrieval.index import CACHE, IndexWriteError, build_index, current_version, load_index
from retrieval.loading import corpus_files
from retrieval.search import HybridSearcher

DATA = Path(__file__).parent / "data"


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    shutil.copytree(DATA / "tiny", root)
    return root


def _docs(index_dir: Path) -> set[str]:
    return {c.doc for c in load_index(index_dir, CONFIG).chunks}


def _one_line_warnings(caplog) -> list[str]:
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert all("\n" not in line and len(line) < 400 for line in lines)
    return lines


def test_unreadable_file_is_skipped_or_keeps_its_previous_text(corpus, tmp_path, caplog, monkeypatch):
    index_dir = tmp_path / "index"
    build_index(corpus, index_dir, HashEmbedder(), CONFIG)
    (corpus / "new.txt").write_text("海东市总工会为职工送去了清凉慰问品。\n", encoding="utf-8")
    real = Path.read_bytes

    def read_bytes(self: Path) -> bytes:
        if self.name in ("paper.txt", "new.txt"):
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    caplog.set_level(logging.WARNING)
    report = build_index(corpus, index_dir, HashEmbedder(), CONFIG)
    assert report.skipped == ["new.txt"]
    assert _docs(index_dir) == {"news.md", "paper.txt"}  # paper.txt kept what the index had
    lines = _one_line_warnings(caplog)
    assert any("new.txt" in line and "Permission denied" in line for line in lines)
    assert any("kept the previously indexed text of paper.txt" in line for line in lines)


def test_file_deleted_while_indexing(corpus, tmp_path, caplog, monkeypatch):
    def listing(root: Path, follow_symlinks: bool = False) -> list[Path]:
        files = corpus_files(root, follow_symlinks)
        (root / "paper.txt").unlink()  # gone between listing and reading
        return files

    monkeypatch.setattr(index_module, "corpus_files", listing)
    caplog.set_level(logging.WARNING)
    build_index(corpus, tmp_path / "index", HashEmbedder(), CONFIG)
    assert _docs(tmp_path / "index") == {"news.md"}
    assert any("paper.txt" in line and "disappeared" in line for line in _one_line_warnings(caplog))


def test_non_utf8_file_name_is_indexed_under_an_escaped_name(corpus, tmp_path, caplog):
    raw = os.path.join(os.fsencode(corpus), b"\xff\xfe-report.txt")
    with open(raw, "wb") as fh:
        fh.write("海东市总工会为职工送去了清凉慰问品。\n".encode())
    caplog.set_level(logging.WARNING)
    build_index(corpus, tmp_path / "index", HashEmbedder(), CONFIG)
    names = _docs(tmp_path / "index")
    assert "\\xff\\xfe-report.txt" in names
    version = current_version(tmp_path / "index")
    json.loads((version / "chunks.json").read_text(encoding="utf-8"))  # valid UTF-8 JSON
    assert any("not UTF-8" in line for line in _one_line_warnings(caplog))


def test_path_longer_than_the_os_allows_is_skipped(corpus, tmp_path, caplog):
    fd = os.open(corpus, os.O_RDONLY)
    try:
        for _ in range(24):  # 24 × 200 characters > PATH_MAX (4,096)
            name = "d" * 200
            os.mkdir(name, dir_fd=fd)
            deeper = os.open(name, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = deeper
        out = os.open("deep.txt", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
        os.write(out, "深处的文章。\n".encode())
        os.close(out)
    finally:
        os.close(fd)
    caplog.set_level(logging.WARNING)
    build_index(corpus, tmp_path / "index", HashEmbedder(), CONFIG)
    assert _docs(tmp_path / "index") == {"news.md", "paper.txt"}
    assert any("File name too long" in line for line in _one_line_warnings(caplog))


def test_symlinks_outside_the_corpus_are_not_followed(corpus, tmp_path, caplog):
    secret = tmp_path / "secret.txt"
    secret.write_text("服务器的机密口令是天王盖地虎。\n", encoding="utf-8")
    outside_dir = tmp_path / "elsewhere"
    outside_dir.mkdir()
    (outside_dir / "more.txt").write_text("另一份机密文件。\n", encoding="utf-8")
    (corpus / "outside.txt").symlink_to(secret)
    (corpus / "outside-dir").symlink_to(outside_dir, target_is_directory=True)
    (corpus / "inside.txt").symlink_to(corpus / "paper.txt")
    (corpus / "loop").symlink_to(corpus, target_is_directory=True)  # must not recurse forever
    caplog.set_level(logging.WARNING)
    names = [p.relative_to(corpus).as_posix() for p in corpus_files(corpus)]
    assert names == ["inside.txt", "news.md", "paper.txt"]
    lines = _one_line_warnings(caplog)
    assert sum("symbolic link to outside the corpus" in line for line in lines) == 2
    followed = [p.relative_to(corpus).as_posix() for p in corpus_files(corpus, follow_symlinks=True)]
    assert "outside.txt" in followed and "outside-dir/more.txt" in followed


def test_unwritable_index_folder_fails_before_embedding(corpus, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("", encoding="utf-8")
    embedder = HashEmbedder()
    with pytest.raises(IndexWriteError) as caught:
        build_index(corpus, blocker / "index", embedder, CONFIG)
    assert "\n" not in str(caught.value) and "cannot write" in str(caught.value)
    assert embedder.embedded == 0  # no work done, none lost


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores permission bits")
def test_read_only_index_folder(corpus, tmp_path):
    index_dir = tmp_path / "index"
    index_dir.mkdir()
    index_dir.chmod(0o555)
    try:
        with pytest.raises(IndexWriteError, match="cannot write"):
            build_index(corpus, index_dir, HashEmbedder(), CONFIG)
    finally:
        index_dir.chmod(0o755)


def test_failed_write_keeps_the_vectors_and_the_next_run_resumes(corpus, tmp_path, monkeypatch):
    index_dir = tmp_path / "index"
    build_index(corpus, index_dir, HashEmbedder(), CONFIG)
    published = current_version(index_dir)
    (corpus / "more.txt").write_text(
        "玉树州总工会举办了辅警培训班，为期6天。\n\n海东市总工会为职工送去了清凉慰问品。\n", encoding="utf-8"
    )

    def full_disk(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(index_module, "_write_version", full_disk)
    first = HashEmbedder()
    with pytest.raises(IndexWriteError, match="No space left on device.*cached") as caught:
        build_index(corpus, index_dir, first, CONFIG)
    assert "\n" not in str(caught.value)
    assert first.embedded > 0
    assert current_version(index_dir) == published  # the index in use is untouched
    assert list((index_dir / CACHE).glob("*.npy"))

    monkeypatch.undo()
    second = HashEmbedder()
    report = build_index(corpus, index_dir, second, CONFIG)
    assert second.embedded == 0 and report.reused == first.embedded  # resumed from the cache
    assert "more.txt" in _docs(index_dir)
    assert not (index_dir / CACHE).exists()  # emptied once published


def test_a_damaged_cache_entry_is_not_used(corpus, tmp_path, monkeypatch):
    index_dir = tmp_path / "index"
    monkeypatch.setattr(
        index_module, "_write_version", lambda *a, **k: (_ for _ in ()).throw(OSError(errno.EIO, "I/O error"))
    )
    with pytest.raises(IndexWriteError):
        build_index(corpus, index_dir, HashEmbedder(), CONFIG)
    for entry in (index_dir / CACHE).glob("*.npy"):
        data = bytearray(entry.read_bytes())
        data[-3] ^= 0x55  # a flipped byte inside the vectors
        entry.write_bytes(bytes(data))
    monkeypatch.undo()
    embedder = HashEmbedder()
    report = build_index(corpus, index_dir, embedder, CONFIG)
    assert embedder.embedded == report.chunks  # re-embedded, never served from a damaged entry
    index = load_index(index_dir, CONFIG)
    searcher = HybridSearcher(index, embedder, 0.0, 1.0)
    top = searcher.search("西宁市总工会利用现有社会资源在全市建设工会户外劳动者服务站", 1)[0]
    assert "户外劳动者服务站" in top.chunk.text


def test_build_announces_its_size_and_estimate_before_embedding(corpus, tmp_path):
    events: list[tuple] = []
    report = build_index(
        corpus,
        tmp_path / "index",
        HashEmbedder(),
        CONFIG,
        progress=lambda done, total: events.append(("progress", done, total)),
        on_plan=lambda plan: events.append(("plan", plan.to_embed, plan.seconds)),
        batch_size=2,
    )
    assert events[0][0] == "plan" and events[0][1] == report.chunks and events[0][2] > 0
    assert events[1] == ("progress", 0, report.chunks)  # the bar (and its ETA) shows at once
    assert events[-1] == ("progress", report.chunks, report.chunks)
    manifest = load_index(tmp_path / "index", CONFIG).manifest
    assert manifest["embed_rate"] > 0  # the next estimate uses the measured rate
