"""The folder store is the existing index behind the store interface: same answers, same idf, same guarantees."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from test_robustness_index import CONFIG, QUESTIONS, HashEmbedder

from bot.answer.extractive import idf_from_bm25
from retrieval.index import IndexNotFound, IndexProblem, load_index
from retrieval.search import HybridSearcher
from retrieval.store import FolderStore, Part, make_store

DATA = Path(__file__).parent / "data"


@pytest.fixture
def corpus(tmp_path) -> Path:
    folder = tmp_path / "corpus"
    shutil.copytree(DATA / "tiny", folder)
    return folder


def test_folder_store_answers_like_the_index_it_wraps(tmp_path, corpus):
    store = make_store("folder", tmp_path / "index")
    assert isinstance(store, FolderStore) and store.published() is None
    with pytest.raises(IndexNotFound):
        store.open(HashEmbedder(), CONFIG, 0.5, 0.5)
    report = store.build(corpus, HashEmbedder(), CONFIG)
    snapshot = store.open(HashEmbedder(), CONFIG, 0.5, 0.5)
    assert snapshot.version == store.published() and snapshot.chunks == report.chunks
    index = load_index(tmp_path / "index", CONFIG)
    direct = HybridSearcher(index, HashEmbedder(), 0.5, 0.5)
    for question in QUESTIONS:
        expected = [(h.chunk.id, round(h.score, 9), h.bm25_rank, h.dense_rank) for h in direct.search(question, 5)]
        found = [
            (h.chunk.id, round(h.score, 9), h.bm25_rank, h.dense_rank) for h in snapshot.searcher.search(question, 5)
        ]
        assert found == expected and found
    assert snapshot.idf == pytest.approx(idf_from_bm25(index.bm25))


def test_a_new_build_is_a_new_published_version(tmp_path, corpus):
    store = FolderStore(tmp_path / "index")
    store.build(corpus, HashEmbedder(), CONFIG)
    first = store.published()
    (corpus / "extra.txt").write_text("南极科考队今年在冰盖上钻取了三千米长的冰芯。\n", encoding="utf-8")
    embedder = HashEmbedder()
    report = store.publish(corpus, embedder, CONFIG)
    assert store.published() != first and report.changed == ["extra.txt"] and embedder.embedded == 1


def test_split_builds_need_milvus(tmp_path, corpus):
    with pytest.raises(IndexProblem, match="Milvus"):
        FolderStore(tmp_path / "index").build(corpus, HashEmbedder(), CONFIG, part=Part(1, 2))
    with pytest.raises(IndexProblem, match="unknown store"):
        make_store("redis", tmp_path / "index")
