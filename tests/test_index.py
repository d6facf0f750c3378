"""The on-disk index: incremental updates, atomic publishing, clear errors, no pickle."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from bot.service import AnswerService
from retrieval.index import FORMAT_VERSION, IndexDamaged, IndexMismatch, IndexNotFound, current_version, load_index
from retrieval.loading import CorpusError
from tests.common import DATA, make_settings


class CountingEmbedder:
    """The real embedder, counting how many texts it is asked to embed."""

    def __init__(self, inner):
        self.inner, self.name, self.dim, self.embedded = inner, inner.name, inner.dim, 0

    def embed_array(self, texts):
        self.embedded += len(texts)
        return self.inner.embed_array(texts)

    def embed_query_array(self, text):
        return self.inner.embed_query_array(text)


@pytest.fixture
def corpus(tmp_path):
    root = tmp_path / "corpus"
    shutil.copytree(DATA / "tiny", root)
    return root


@pytest.fixture
def service(tmp_path, corpus, embedder):
    return AnswerService(make_settings(tmp_path, corpus), embedder=CountingEmbedder(embedder))


def test_unchanged_corpus_embeds_nothing_and_changed_file_only_its_chunks(service, corpus):
    first = service.build()
    assert first.embedded == first.chunks > 0 and not first.unchanged
    version = current_version(service.settings.index_dir)

    again = service.build()
    assert again.unchanged and again.embedded == 0
    assert current_version(service.settings.index_dir) == version  # nothing rewritten

    before = load_index(service.settings.index_dir)
    news_chunks = sum(1 for c in before.chunks if c.path == "news.md")
    paper = {c.text: before.vectors.reconstruct(c.id) for c in before.chunks if c.path == "paper.txt"}
    with open(corpus / "news.md", "a", encoding="utf-8") as fh:
        fh.write("\n# 新增文章\n\n海东市总工会为职工送去了清凉慰问品。\n")
    service.embedder.embedded = 0
    changed = service.build()
    assert changed.changed == ["news.md"]
    # only the new article is embedded: the file's unchanged chunks keep their vectors
    assert changed.embedded == service.embedder.embedded == 1 and changed.reused == news_chunks
    after = load_index(service.settings.index_dir)
    for chunk in after.chunks:  # the untouched file kept its vectors
        if chunk.path == "paper.txt":
            assert np.allclose(after.vectors.reconstruct(chunk.id), paper[chunk.text])
    assert "海东市总工会" in service.ask("海东市总工会给职工送去了什么？").answer


def test_added_and_removed_files(service, corpus):
    service.build()
    (corpus / "extra.txt").write_text("玉树州总工会举办了辅警培训班，为期6天。\n", encoding="utf-8")
    added = service.build()
    assert added.changed == ["extra.txt"] and added.embedded == 1
    (corpus / "paper.txt").unlink()
    removed = service.build()
    assert removed.removed == ["paper.txt"] and removed.embedded == 0
    index = load_index(service.settings.index_dir)
    assert {c.path for c in index.chunks} == {"news.md", "extra.txt"}
    assert index.vectors.ntotal == len(index.chunks)
    assert "paper.txt" not in index.manifest["files"]


def test_interrupted_build_leaves_previous_index_usable(service, corpus):
    service.build()
    version = current_version(service.settings.index_dir)
    (corpus / "new.txt").write_text("新文件的内容。\n", encoding="utf-8")

    def boom(texts):
        raise KeyboardInterrupt

    service.embedder.embed_array = boom
    with pytest.raises(KeyboardInterrupt):
        service.build()
    assert current_version(service.settings.index_dir) == version
    assert load_index(service.settings.index_dir).chunks
    leftovers = [p.name for p in service.settings.index_dir.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


def test_index_files_are_json_faiss_and_npy_never_pickle(service):
    service.build()
    version = current_version(service.settings.index_dir)
    names = sorted(p.relative_to(version).as_posix() for p in version.rglob("*") if p.is_file())
    assert "manifest.json" in names and "chunks.json" in names and "vectors.faiss" in names
    assert not [n for n in names if n.endswith((".pkl", ".pickle", ".joblib"))]
    manifest = json.loads((version / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["embedder"] == service.embedder.name and manifest["dim"] == service.embedder.dim
    assert set(manifest["files"]) == {"news.md", "paper.txt"}
    assert manifest["chunker"]["size"] == service.settings.chunk_size
    assert manifest["format_version"] == FORMAT_VERSION


def test_settings_that_do_not_match_the_index_ask_for_a_reindex(service, tmp_path, corpus, embedder):
    service.build()
    other = AnswerService(make_settings(tmp_path, corpus, chunk_size=400), embedder=embedder)
    with pytest.raises(IndexMismatch, match="qabot index"):
        other.ask("威海市签订了多少份集体合同？")
    report = other.build()  # re-indexing with the new settings re-chunks everything
    assert report.embedded + report.reused == report.chunks  # a chunk whose text is unchanged keeps its vector
    assert other.ask("威海市签订了多少份集体合同？").found


def test_damaged_index_is_a_clear_error(service):
    service.build()
    version = current_version(service.settings.index_dir)
    (version / "vectors.faiss").write_bytes(b"garbage")
    fresh = AnswerService(service.settings, embedder=service.embedder)
    with pytest.raises(IndexDamaged, match="damaged"):
        fresh.ask("威海市签订了多少份集体合同？")
    (version / "chunks.json").write_text("[{", encoding="utf-8")
    with pytest.raises(IndexDamaged):
        load_index(service.settings.index_dir)
    assert service.build().embedded > 0  # `qabot index` repairs it


def test_missing_index_and_empty_corpus(tmp_path, embedder):
    empty = tmp_path / "empty"
    empty.mkdir()
    service = AnswerService(make_settings(tmp_path, empty), embedder=embedder)
    with pytest.raises(IndexNotFound):
        service.ask("问题？")
    with pytest.raises(CorpusError, match="no .txt"):
        service.build()
    (empty / "bad.txt").write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(CorpusError, match="no readable text"):
        service.build()
