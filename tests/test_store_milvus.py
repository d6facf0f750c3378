"""The Milvus store against a real Milvus: embedded Milvus Lite, and `milvus-lite server` on loopback.

Both go through the same `MilvusStore` client code a Milvus cluster would get (only the URI differs).
A deterministic bigram-hash embedder keeps the builds fast; what is checked is the store's behaviour:
the same answers as the folder store, only changed files embedded, removed files gone, an interrupted
build leaving the previous one answering, a publish seen by another client, split builds.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytest.importorskip("pymilvus", reason="the Milvus store needs pymilvus (pip install 'qabot[milvus]')")

from test_robustness_index import CONFIG, QUESTIONS, HashEmbedder

from retrieval.index import IndexConfig, IndexMismatch, IndexNotFound, IndexProblem
from retrieval.milvus_store import MilvusStore, MilvusUnavailable
from retrieval.store import FolderStore, Part
from tests.milvus_server import MilvusLiteServer

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with MilvusLiteServer(tmp_path_factory.mktemp("milvus-server") / "data") as running:
        yield running


@pytest.fixture(params=["lite", "server"])
def uri(request, tmp_path) -> str:
    """A fresh database: a Lite file, or a fresh collection name prefix on the shared server."""
    if request.param == "lite":
        return str(tmp_path / "lite" / "milvus.db")
    return request.getfixturevalue("server").uri


@pytest.fixture
def name(request) -> str:
    """A collection name of its own per test, so tests sharing the server never see each other."""
    return "t_" + "".join(ch if ch.isalnum() else "_" for ch in request.node.name)[-60:]


@pytest.fixture
def corpus(tmp_path) -> Path:
    folder = tmp_path / "corpus"
    shutil.copytree(DATA / "tiny", folder)
    return folder


def top(store, queries=QUESTIONS, k: int = 3) -> list[list[tuple[str, int]]]:
    snapshot = store.open(HashEmbedder(), CONFIG, 0.5, 0.5)
    return [[(h.chunk.doc, h.chunk.start) for h in snapshot.searcher.search(q, k)] for q in queries]


def rows(store: MilvusStore) -> dict[int, tuple[str, str, tuple[float, ...]]]:
    """Every row of the published build: id -> (path, text, rounded vector)."""
    collection = store.published()
    assert collection is not None
    found = store._scan(collection, ["id", "path", "text", "dense"])
    return {r["id"]: (r["path"], r["text"], tuple(round(x, 5) for x in r["dense"])) for r in found}


def test_same_top_hit_as_the_folder_store(uri, name, corpus, tmp_path):
    milvus = MilvusStore(uri, name=name)
    report = milvus.build(corpus, HashEmbedder(), CONFIG)
    folder = FolderStore(tmp_path / "folder")
    folder.build(corpus, HashEmbedder(), CONFIG)
    assert report.chunks == folder.open(HashEmbedder(), CONFIG, 0.5, 0.5).chunks > 0
    assert [hits[0] for hits in top(milvus)] == [hits[0] for hits in top(folder)]
    snapshot = milvus.open(HashEmbedder(), CONFIG, 0.5, 0.5)
    hit = snapshot.searcher.search(QUESTIONS[0], 1)[0]
    text = (corpus / hit.chunk.doc).read_text(encoding="utf-8")
    assert text[hit.chunk.start : hit.chunk.end] == hit.chunk.text  # offsets into the source survive the round trip
    assert snapshot.idf and all(v > 0 for v in snapshot.idf.values())


def test_only_changed_files_are_embedded_and_removed_files_are_gone(uri, name, corpus):
    store = MilvusStore(uri, name=name)
    embedder = HashEmbedder()
    first = store.build(corpus, embedder, CONFIG)
    assert first.embedded == first.chunks == embedder.embedded
    again = store.build(corpus, embedder, CONFIG)
    assert again.unchanged and embedder.embedded == first.chunks
    before = rows(store)
    paper = corpus / "paper.txt"
    paper.write_text(paper.read_text(encoding="utf-8") + "\n\n威海市新增一家示范单位。\n", encoding="utf-8")
    changed = store.build(corpus, embedder, CONFIG)
    assert changed.changed == ["paper.txt"]
    after = rows(store)
    news_before = {k: v for k, v in before.items() if v[0] == "news.md"}
    assert {k: v for k, v in after.items() if v[0] == "news.md"} == news_before  # copied forward, not re-embedded
    assert changed.embedded == embedder.embedded - first.chunks == sum(1 for v in after.values() if v[0] == "paper.txt")
    (corpus / "news.md").unlink()
    removed = store.build(corpus, embedder, CONFIG)
    assert removed.removed == ["news.md"]
    assert {v[0] for v in rows(store).values()} == {"paper.txt"}
    assert all(doc == "paper.txt" for hits in top(store) for doc, _ in hits)
    assert "news.md" not in store.manifest(store.published())["files"]


class FailingEmbedder(HashEmbedder):
    def __init__(self, fail_after: int) -> None:
        super().__init__()
        self.fail_after = fail_after

    def embed_array(self, texts):
        if self.embedded + len(texts) > self.fail_after:
            raise KeyboardInterrupt  # Ctrl-C in the middle of a build
        return super().embed_array(texts)


def test_interrupted_build_leaves_the_previous_one_answering_and_resumes(uri, name, corpus):
    store = MilvusStore(uri, name=name)
    store.build(corpus, HashEmbedder(), CONFIG)
    published, answers = store.published(), top(store)
    for path in corpus.iterdir():
        path.write_text(
            path.read_text(encoding="utf-8") + "\n\n新的一段：青海省总工会再投入一笔经费。\n", encoding="utf-8"
        )
    with pytest.raises(KeyboardInterrupt):
        store.build(corpus, FailingEmbedder(fail_after=3), CONFIG)
    assert store.published() == published and top(store) == answers
    resumed = HashEmbedder()
    report = store.build(corpus, resumed, CONFIG)
    assert store.published() != published
    assert 0 < resumed.embedded < report.chunks  # the file finished before the interruption was not embedded again


def test_a_publish_reaches_another_client_while_the_old_build_still_answers(server, name, corpus):
    writer, reader = MilvusStore(server.uri, name=name), MilvusStore(server.uri, name=name)
    with pytest.raises(IndexNotFound):
        reader.open(HashEmbedder(), CONFIG, 0.5, 0.5)
    writer.build(corpus, HashEmbedder(), CONFIG)
    old = reader.open(HashEmbedder(), CONFIG, 0.5, 0.5)
    (corpus / "extra.txt").write_text("南极科考队今年在冰盖上钻取了三千米长的冰芯。\n", encoding="utf-8")
    writer.build(corpus, HashEmbedder(), CONFIG)
    assert reader.published() != old.version
    new = reader.open(HashEmbedder(), CONFIG, 0.5, 0.5)
    assert new.searcher.search("南极冰芯有多长", 1)[0].chunk.doc == "extra.txt"
    assert all(h.chunk.doc != "extra.txt" for h in old.searcher.search("南极冰芯有多长", 3))


def test_two_parts_give_the_same_index_as_one_build(uri, name, corpus, tmp_path):
    for k in range(6):
        (corpus / f"more{k}.txt").write_text(
            f"第{k}篇：某市今年新建了{k + 3}座公园。\n\n公园由市政府投资建设。\n", "utf-8"
        )
    whole = MilvusStore(uri, name=name + "_one")
    whole.build(corpus, HashEmbedder(), CONFIG)
    split = MilvusStore(uri, name=name + "_two")
    first = split.build(corpus, HashEmbedder(), CONFIG, part=Part(1, 2))
    assert split.published() is None and first.embedded > 0
    with pytest.raises(IndexProblem, match="not built yet"):
        split.publish(corpus, HashEmbedder(), CONFIG)
    second = split.build(corpus, HashEmbedder(), CONFIG, part=Part(2, 2))
    assert set(first.changed).isdisjoint(second.changed) and len(first.changed) + len(second.changed) == 8
    split.publish(corpus, HashEmbedder(), CONFIG)
    assert rows(split) == rows(whole)
    assert top(split) == top(whole)


def test_other_settings_are_refused_then_reindexed(uri, name, corpus):
    store = MilvusStore(uri, name=name)
    store.build(corpus, HashEmbedder(), CONFIG)
    other = IndexConfig(embedder=CONFIG.embedder, dim=CONFIG.dim, chunk_size=120, chunk_overlap=0)
    with pytest.raises(IndexMismatch):
        store.open(HashEmbedder(), other, 0.5, 0.5)
    embedder = HashEmbedder()
    report = store.build(corpus, embedder, other)
    assert report.embedded == report.chunks == embedder.embedded
    assert store.open(HashEmbedder(), other, 0.5, 0.5).chunks == report.chunks


def test_an_unreachable_server_is_one_line(corpus):
    store = MilvusStore("http://127.0.0.1:9", name="qabot")
    with pytest.raises(MilvusUnavailable) as caught:
        store.build(corpus, HashEmbedder(), CONFIG)
    assert "\n" not in str(caught.value) and "127.0.0.1:9" in str(caught.value)


def test_part_parsing_and_ownership():
    assert Part.parse("2/3") == Part(2, 3)
    for bad in ("0/2", "3/2", "a/b", "1", "1/0"):
        with pytest.raises(IndexProblem):
            Part.parse(bad)
    paths = [f"folder/file{k}.txt" for k in range(200)]
    owners = [[p for p in paths if Part(k, 3).owns(p)] for k in (1, 2, 3)]
    assert sorted(p for owned in owners for p in owned) == sorted(paths) and all(owners)


def test_importing_a_folder_index_embeds_nothing(tmp_path, corpus):
    folder = FolderStore(tmp_path / "folder")
    folder.build(corpus, HashEmbedder(), CONFIG)
    store = MilvusStore(str(tmp_path / "lite" / "milvus.db"), name="imported")
    index = folder.open(HashEmbedder(), CONFIG, 0.5, 0.5).index
    assert index is not None
    store.import_index(index, CONFIG)
    assert [hits[0] for hits in top(store)] == [hits[0] for hits in top(folder)]
    embedder = HashEmbedder()
    assert store.build(corpus, embedder, CONFIG).unchanged and embedder.embedded == 0
