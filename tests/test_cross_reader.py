"""The cross reader: a second opinion on the short answer, asked only when the span ranker is unsure."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from bot.answer.cross_reader import READ_FEATURES, CrossReader, TokenHeads, read_features
from bot.answer.features import analyse_sentence
from bot.answer.reader import MODEL_PATH, Reader
from bot.answer.spans import SPAN_FEATURES, Span, span_features

SENTENCE = "青海省总工会2023年计划投入720万元专项经费。"


def spans_of(*texts: str) -> list[Span]:
    return [Span(SENTENCE.index(t), SENTENCE.index(t) + len(t), t) for t in texts]


def test_a_candidate_takes_the_scores_of_the_pieces_its_edges_fall_in() -> None:
    offsets = [(0, 6), (6, 10), (10, 11), (11, 13), (13, 15), (15, 18), (18, 20), (20, 24), (24, 25)]
    start = np.array([0, 0, 0, 0, 0, 5.0, 0, 0, 0])  # the piece `720` starts the answer
    end = np.array([0, 0, 0, 0, 0, 1.0, 4.0, 0, 0])  # the piece `万元` ends it
    inside = np.array([-3.0, -3, -3, -3, -3, 2.0, 1.0, -1.0, -3])
    scores = (start, end, inside)
    rows = read_features(scores, offsets, spans_of("720万元", "720", "计划投入"), len(SENTENCE))
    assert rows.shape == (3, len(READ_FEATURES))
    column = {name: rows[:, k] for k, name in enumerate(READ_FEATURES)}
    assert column["read_both"].tolist() == [9.0, 6.0, 0.0]
    assert column["read_start_gap"][0] == 0.0  # the best start in the sentence
    assert column["read_end_gap"][2] == -4.0
    assert column["read_inside_mean"].tolist() == [1.5, 2.0, -3.0]
    assert column["read_inside_min"].tolist() == [1.0, 2.0, -3.0]
    assert column["read_outside_max"].tolist() == [-1.0, 1.0, 2.0]  # `720` leaves out `万元`, which scores 1.0
    cut = read_features(scores, offsets[:5], spans_of("720万元"), len(SENTENCE))  # its pieces were cut off
    assert cut[0, READ_FEATURES.index("read_start")] < -10


def test_heads_survive_the_json_round_trip() -> None:
    rng = np.random.default_rng(1)
    weights = [rng.normal(size=9) for _ in range(3)]
    heads = TokenHeads(6, rng.normal(size=8).astype(np.float32), np.ones(8, np.float32), *weights)
    again = TokenHeads.from_spec(json.loads(json.dumps(heads.to_spec())))
    states = rng.normal(size=(5, 8))
    for a, b in zip(heads.logits(states), again.logits(states), strict=True):
        assert np.allclose(a, b, atol=1e-4)


class CountingCross(CrossReader):
    """The real heads and features over a fake encoder that counts its calls."""

    def __init__(self, heads: TokenHeads, fail: bool = False) -> None:
        super().__init__(heads)
        self.calls = 0
        self.fail = fail

    def _pairs(self):
        reader = self

        class Encoder:
            def states(self, question: str, sentence: str):
                reader.calls += 1
                if reader.fail:
                    raise RuntimeError("onnxruntime fault")
                return np.zeros((len(sentence), 384), np.float32), [(i, i + 1) for i in range(len(sentence))]

        return None if self._failed else Encoder()


@pytest.fixture
def reader() -> Reader:
    return Reader(json.loads(MODEL_PATH.read_text(encoding="utf-8")))


def test_the_shipped_model_reads_only_when_the_ranker_is_unsure(reader: Reader) -> None:
    assert reader.cross is not None and np.isfinite(reader.read_below)
    reader.cross = counting = CountingCross(reader.cross.heads)
    info = analyse_sentence(SENTENCE)
    spans = spans_of("720万元", "专项经费")
    rows = np.zeros((2, len(SPAN_FEATURES)))
    sure = np.array([reader.read_below + 1.0, 0.0])
    logits, read = reader.second_opinion("投入多少专项经费？", info, rows, sure, spans)
    assert not read and logits is sure and counting.calls == 0
    unsure = np.array([reader.read_below - 1.0, reader.read_below - 2.0])
    logits, read = reader.second_opinion("投入多少专项经费？", info, rows, unsure, spans)
    assert read and counting.calls == 1 and logits.shape == (2,)


def test_when_the_runtime_fails_the_ranker_answers_alone_and_it_warns_once(reader: Reader, caplog) -> None:
    assert reader.cross is not None
    reader.cross = failing = CountingCross(reader.cross.heads, fail=True)
    info = analyse_sentence(SENTENCE)
    rows = np.zeros((2, len(SPAN_FEATURES)))
    unsure = np.array([reader.read_below - 1.0, reader.read_below - 2.0])
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            logits, read = reader.second_opinion("投入多少？", info, rows, unsure, spans_of("720万元", "专项经费"))
            assert not read and logits is unsure
    assert failing.calls == 1
    assert sum("short-answer reader failed" in r.message for r in caplog.records) == 1


def test_a_model_file_without_the_cross_reader_still_answers() -> None:
    spec = json.loads(MODEL_PATH.read_text(encoding="utf-8"))
    for key in ("cross_reader", "read_span_model", "read_below", "span_calibration_read"):
        spec.pop(key, None)
    reader = Reader(spec)
    assert reader.cross is None
    rows, logits = np.zeros((1, 3)), np.array([-50.0])
    assert reader.second_opinion("问？", analyse_sentence(SENTENCE), rows, logits, spans_of("720万元")) == (
        logits,
        False,
    )


def test_read_together_the_question_picks_its_answer_out_of_the_sentence(reader: Reader) -> None:
    """The real encoder and the shipped heads: asked for the money, then for the year, of one sentence."""
    from bot.answer.features import part_view
    from retrieval.query import analyse

    info = analyse_sentence(SENTENCE)
    for question, answer in (
        ("青海省总工会2023年计划投入多少专项经费？", "720万元"),
        ("青海省总工会哪一年计划投入720万元专项经费？", "2023年"),
    ):
        view = part_view(analyse(question), 0, {}, 10.0)
        rows, spans = span_features(view, info)
        unsure = np.full(len(rows), reader.read_below - 5.0)  # the ranker has no opinion: the reader decides
        logits, read = reader.second_opinion(question, info, rows, unsure, spans)
        assert read
        assert spans[int(np.argmax(logits))].text == answer


def test_tuned_layers_from_another_training_run_are_refused(tmp_path, caplog) -> None:
    """The model file records the digest of its tuned layers; a mismatched file is not read as if it fit."""
    from bot.answer.cross_reader import TunedFile

    spec = json.loads(MODEL_PATH.read_text(encoding="utf-8"))
    layers = tmp_path / "layers.npz"
    np.savez(layers, **{"l5.oln.b": np.zeros(384, np.float32)})
    cross = CrossReader(TokenHeads.from_spec(spec["cross_reader"]), TunedFile(layers, "0" * 64))
    with caplog.at_level(logging.WARNING):
        assert cross.features("投入多少？", SENTENCE, spans_of("720万元")) is None
    assert any("not the one the answer model was trained with" in r.message for r in caplog.records)


def test_a_model_file_whose_tuned_layers_are_missing_is_a_clear_error(tmp_path) -> None:
    from bot.answer.reader import ModelFileError, load_reader

    spec = json.loads(MODEL_PATH.read_text(encoding="utf-8"))
    assert "tuned" in spec["cross_reader"], "the shipped model reads with tuned layers"
    (tmp_path / "answerer.json").write_text(json.dumps(spec), encoding="utf-8")
    with pytest.raises(ModelFileError, match="answer model part not found"):
        load_reader(path=tmp_path / "answerer.json")
