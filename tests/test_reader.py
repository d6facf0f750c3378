"""The learned answer step: the shipped model loads and answers, and retraining works end to end."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from bot.answer.reader import MODEL_PATH, ModelFileError, Reader, index_idf, load_reader
from bot.answer.spans import Span
from bot.service import AnswerService
from retrieval.query import analyse
from tests.common import make_settings

BENCH = Path(__file__).resolve().parent.parent / "bench"


def test_shipped_model_is_plain_json_and_records_its_training_data() -> None:
    raw = MODEL_PATH.read_bytes()
    spec = json.loads(raw)  # JSON: nothing in it can run code when loaded
    assert spec["format"] == 1
    assert "drcd" in spec["trained_on"]["training"]
    assert "CMRC 2018 dev" in spec["trained_on"]["not_used"]
    assert 0.0 < spec["suggested_min_confidence"] < 1.0
    for part in ("sentence_model", "span_model", "confidence_model"):
        assert spec[part]["kind"] in ("trees", "logistic")
    if "sentence_judge" in spec:  # a ranking sentence model ships with the pointwise one the confidence reads
        assert spec["sentence_judge"]["kind"] == "trees" and "calibration" in spec["sentence_model"]
    assert len(raw) < 5_000_000


def test_a_model_for_other_features_is_refused(tmp_path: Path) -> None:
    spec = json.loads(MODEL_PATH.read_text(encoding="utf-8"))
    spec["sentence_model"]["features"] = spec["sentence_model"]["features"][:-1]
    with pytest.raises(ModelFileError):
        Reader(spec)
    (tmp_path / "bad.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelFileError):
        load_reader(path=tmp_path / "bad.json")


@pytest.fixture(scope="module")
def seed_reader(seed_service: AnswerService):
    loaded = seed_service.snapshot()
    reader = load_reader(index_idf(loaded.index.bm25))

    def read(question: str):
        query = analyse(question, idf=reader.idf)
        return reader.read(query, loaded.searcher.search(query.search_text, 5))

    return read


@pytest.mark.slow
def test_reader_finds_the_short_answer_inside_its_quote(seed_reader) -> None:
    reading = seed_reader("青海省总工会2023年计划投入多少专项经费？")
    assert reading.best_span == "720万元"  # shown only when the span model is sure enough for the type
    assert "720万元" in reading.quotes[0].text
    if reading.short_answer is not None:
        start, end = reading.quotes[0].short or (0, 0)
        assert reading.quotes[0].text[start - reading.quotes[0].start : end - reading.quotes[0].start] == "720万元"
    assert reading.confidence >= load_reader().spec["suggested_min_confidence"]


@pytest.mark.slow
def test_each_part_of_a_question_gets_its_own_short_answer(seed_reader) -> None:
    reading = seed_reader("威海市去年签订了多少份集体合同，覆盖了多少职工？")
    parts = (reading.best_span or "").split("，")
    assert len(parts) == 2 and parts[0] != parts[1], reading.best_span  # not `1780份` twice
    assert "1780份" in parts[0] and "32万" in parts[1]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("question", "short"),
    [
        ("2022年“大国工匠年度人物”的评选结果是在哪座城市揭晓的？", "江苏省南京市"),
        ("2022年全总成功举办的是第几届金砖国家工会论坛？", "第十一届"),
    ],
)
def test_reader_names_places_and_numbers(seed_reader, question: str, short: str) -> None:
    reading = seed_reader(question)
    assert reading.best_span and reading.best_span in short
    assert short in "".join(q.text for q in reading.quotes)


@pytest.mark.slow
def test_confidence_is_lower_when_the_sources_do_not_answer(seed_reader) -> None:
    answered = seed_reader("威海市去年签订了多少份集体合同，覆盖了多少职工？")
    unanswerable = seed_reader("威海市总工会2022年帮助职工追回了多少欠薪？")
    assert len(answered.quotes) >= 1 and len(answered.part_confidences) == 2
    assert 0.0 <= unanswerable.confidence < answered.confidence <= 1.0


@pytest.mark.slow
def test_when_the_best_two_sentences_score_close_the_cross_reader_decides_which_leads(seed_service) -> None:
    loaded = seed_service.snapshot()
    reader = load_reader(index_idf(loaded.index.bm25))
    assert reader.cross is not None
    query = analyse("威海市去年签订了多少份集体合同？", idf=reader.idf)
    hits = loaded.searcher.search(query.search_text, 5)
    plain = reader.read(query, hits)
    calls = []
    features = reader.cross.features

    def counted(*args):
        calls.append(args[1])
        return features(*args)

    reader.cross.features = counted  # type: ignore[method-assign]
    try:
        reader.rerank = (1e9, 0.0, 0.0, -1.0)  # always read both, always swap
        swapped = reader.read(query, hits)
        assert len(calls) == 2 and calls[0] != calls[1]  # the two best sentences were read
        assert swapped.quotes[0].text == calls[1] != plain.quotes[0].text
        assert plain.quotes[0].text in [q.text for q in swapped.quotes]  # the scorer's best is still quoted
        calls.clear()
        reader.rerank = (1e9, 0.0, 0.0, 1.0)  # read both, never swap
        assert reader.read(query, hits).quotes[0].text == plain.quotes[0].text and len(calls) >= 2
        calls.clear()
        reader.rerank = (-1e9, 0.0, 0.0, -1.0)  # the gap is never small enough: nothing is read for it
        assert reader.read(query, hits).quotes[0].text == plain.quotes[0].text
        assert len(calls) <= 1  # at most the span's own second opinion
    finally:
        del reader.cross.features


# -- retraining end to end on a tiny synthetic set ----------------------------------------------------
ARTICLES = [
    (
        "a1",
        "青海拉面",
        [
            "青海省总工会2023年计划投入720万元专项经费，安排32批劳模参加疗休养。",
            "拉面技能竞赛在广州举办，共有300名选手参加。",
        ],
    ),
    ("a2", "威海工会", ["去年，威海市签订集体合同1780份，覆盖职工32万余人。", "威海市总工会主席张明出席会议并讲话。"]),
    ("a3", "玉树培训", ["2月19日，为期6天的困难辅警培训班在玉树开班。", "培训班由州总工会支持，共有80名辅警参训。"]),
    (
        "a4",
        "南京发布",
        ["大国工匠年度人物的评选结果在江苏省南京市揭晓。", "来自青海的田得梅成为青海首位大国工匠年度人物。"],
    ),
]
QUESTIONS = [
    ("a1-0-1", "青海省总工会2023年计划投入多少专项经费？", "720万元"),
    ("a1-1-1", "拉面技能竞赛在哪里举办？", "广州"),
    ("a1-1-2", "拉面技能竞赛有多少名选手参加？", "300名"),
    ("a2-0-1", "威海市去年签订了多少份集体合同？", "1780份"),
    ("a2-1-1", "威海市总工会主席是谁？", "张明"),
    ("a3-0-1", "困难辅警培训班为期几天？", "6天"),
    ("a3-1-1", "培训班有多少名辅警参训？", "80名"),
    ("a4-0-1", "大国工匠年度人物的评选结果在哪里揭晓？", "江苏省南京市"),
    ("a4-1-1", "青海首位大国工匠年度人物是谁？", "田得梅"),
]


@pytest.fixture
def tiny(tmp_path: Path, embedder):
    """The tiny corpus indexed by the real service, and its training cases as the trainer builds them."""
    sys.path.insert(0, str(BENCH))
    from answer_data import retrieve_cases

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    lines = [json.dumps({"id": i, "title": t, "text": "\n\n".join(p)}, ensure_ascii=False) for i, t, p in ARTICLES]
    (corpus / "tiny.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    service = AnswerService(make_settings(tmp_path, corpus), embedder=embedder)
    service.build()
    articles = [{"id": i, "title": t, "text": "\n\n".join(p)} for i, t, p in ARTICLES]
    questions = [{"id": i, "question": q, "answers": [a], "article_id": i.split("-")[0]} for i, q, a in QUESTIONS]
    return service, articles, retrieve_cases(service, articles, questions, "tiny.jsonl", top_k=3)


def test_retraining_on_a_small_set_works_end_to_end(tmp_path: Path, tiny) -> None:
    from answer_data import paragraph_of, paragraph_span
    from train_answerer import _tables, fit, save

    service, articles, cases = tiny
    removed = [c for c in cases if c.removed]
    assert removed, "removing the answer's paragraph makes unanswerable cases"
    for case in removed:
        text = next(a["text"] for a in articles if a["id"] == case.article)
        start, end = paragraph_span(text, paragraph_of(case.id.split(":")[0]))
        assert not any(h.chunk.doc == case.gold_doc and h.chunk.start < end and h.chunk.end > start for h in case.hits)
    spec = fit(cases, cases, _tables(cases), _tables(cases), [], rounds=0.1, rerank=True)
    out = tmp_path / "answerer.json"
    save(spec, out)
    reader = load_reader(index_idf(service.snapshot().index.bm25), path=out)
    query = analyse("威海市去年签订了多少份集体合同？", idf=reader.idf)
    reading = reader.read(query, service.snapshot().searcher.search(query.search_text, 3))
    assert reading.quotes and "1780份" in reading.quotes[0].text
    assert 0.0 <= reading.confidence <= 1.0
    assert spec["trained_on"]["cases"]["train"] == len(cases)
    assert reader.cross is not None and len(reader.cross.heads.start) == 384 + 1  # the cross reader is retrained too
    layers = tmp_path / "answerer-layers.npz"  # with its tuned layers beside the model file
    assert reader.cross.tuned is not None and getattr(reader.cross.tuned, "path", None) == layers
    first = layers.read_bytes()
    save(spec, out)
    assert layers.read_bytes() == first, "the same weights give the same file"
    sentence = "去年，威海市签订集体合同1780份，覆盖职工32万余人。"
    span = Span(sentence.index("1780份"), sentence.index("1780份") + 5, "1780份")
    assert reader.cross.features("威海市去年签订了多少份集体合同？", sentence, [span]) is not None


def test_on_topic_negatives_keep_the_sentence_but_lose_the_answer(tiny) -> None:
    from train_answerer import contains, without_answer_strings

    case = next(c for c in tiny[2] if c.id == "a1-0-1")
    negative = without_answer_strings(case)
    assert negative is not None and negative.answers == [] and negative.removed
    texts = [h.chunk.text for h in negative.hits]
    assert not any(contains(t, case.answers) for t in texts)
    assert any("青海省总工会2023年计划投入专项经费" in t for t in texts)  # the rest of the sentence stays
    for hit in negative.hits:  # sentence offsets still tile the shortened text
        assert [tuple(x) for x in hit.chunk.sentences][-1][1] == len(hit.chunk.text)
    assert without_answer_strings(negative) is None  # nothing left to delete


def test_words_an_earlier_turn_supplies_weigh_less_than_the_questions_own() -> None:
    from bot.answer.features import CARRIED_WEIGHT, part_view

    history = [("user", "青海省总工会2023年首批劳模疗休养活动是在哪里办的？"), ("assistant", "三亚。根据资料：……[1]")]
    query = analyse("有多少劳模和职工参加？", history)
    assert query.carried
    idf = {t: 2.0 for t in query.terms}
    view = part_view(query, 0, idf, 2.0)
    weights = dict(zip(view.terms, view.weights, strict=True))
    assert weights["劳模"] == 2.0
    carried = [t for t in view.terms if t not in query.parts[0].terms]
    assert carried and all(weights[t] == 2.0 * CARRIED_WEIGHT for t in carried)


def test_the_words_beside_the_interrogative_align_softly_with_the_words_beside_a_span() -> None:
    from bot.answer.features import analyse_sentence, part_view
    from bot.answer.spans import SPAN_FEATURES, span_features

    query = analyse("吉安市有多少家单位入选全省“六有六规范”工会示范点？")
    view = part_view(query, 0, {t: 2.0 for t in query.terms}, 2.0)
    info = analyse_sentence(
        "吉安市总工会日前发布的22家全省“六有六规范”工会示范点、14家全市“六有六规范”工会示范点的名单"
    )
    rows, spans = span_features(view, info)
    right = {span.text: row[SPAN_FEATURES.index("slot_right_soft")] for row, span in zip(rows, spans, strict=True)}
    assert right["22家"] > right["14家"] > 0.0


def test_a_list_answer_takes_the_whole_enumeration() -> None:
    from bot.answer.features import analyse_sentence
    from bot.answer.spans import whole_enumeration

    text = "并在广州、上海、海口联合举办青粤、青沪、青琼拉面技能竞赛"
    info = analyse_sentence(text)
    start = text.index("上海")
    a, b = whole_enumeration(info, start, start + 2)
    assert text[a:b] == "广州、上海、海口"
    quoted = "以“轨道上的京津冀、创新京津冀、美丽京津冀”3个主题开展劳动竞赛活动"
    start = quoted.index("创新")
    a, b = whole_enumeration(analyse_sentence(quoted), start, start + 5)
    assert quoted[a:b] == "轨道上的京津冀、创新京津冀、美丽京津冀"  # a quoted list is taken whole
    plain = "投入300多万元资金，连续举办三届竞赛"
    assert whole_enumeration(analyse_sentence(plain), 2, 9) == (2, 9)  # no enumeration: unchanged


def test_a_chinese_numeral_is_a_number_only_inside_a_numeral_word() -> None:
    from bot.answer.features import analyse_sentence

    info = analyse_sentence("河南省洛阳市总工会、四川省成都市总工会签订两地工会战略合作协议,投入七百二十万元。")
    assert info.numbers == frozenset({"七百二十万"}) and info.units == ("元",)
    assert not any(info.numeric[info.text.index("四川") : info.text.index("四川") + 2])
    assert analyse_sentence("共建成28个服务站").numbers == frozenset({"28"})


def test_a_magnitude_alone_is_no_number_and_a_span_of_only_the_magnitude_does_not_fit() -> None:
    from bot.answer.features import analyse_sentence, part_view
    from bot.answer.reader import span_fits
    from bot.answer.spans import span_features

    assert analyse_sentence("数万职工参加了活动").numbers == frozenset()
    text = "各级工会投入资金 1.1 亿元，帮助 30 万职工提升学历水平。"
    info = analyse_sentence(text)
    assert info.numeric[text.index("亿")] and info.numeric[text.index("万")]  # after a number: part of it
    view = part_view(analyse("各级工会投入了多少资金？"), 0, {}, 10.0)
    rows, spans = span_features(view, info)
    fits = {span.text: span_fits(view, row) for span, row in zip(spans, rows, strict=True)}
    assert fits["1.1 亿元"] == 1.0 and fits["30 万职工"] == 1.0
    assert fits["亿元"] == 0.0 and fits["万职工"] == 0.0


def test_a_measure_word_after_a_number_is_not_glued_to_the_unknown_word_after_it() -> None:
    from bot.answer.features import analyse_sentence
    from bot.answer.spans import candidate_spans
    from retrieval.tokenize import pos_tag

    for text, whole in (("京津冀交通行业职工技能竞赛共设4个赛项。", "4个"), ("林祥谦1892年出生于福建。", "1892年")):
        tagged = pos_tag(text)
        assert "".join(w for w, _ in tagged) == text
        texts = {span.text for span, _, _ in candidate_spans(analyse_sentence(text))}
        assert whole in texts, sorted(texts)
    assert ("年度报告", "n") in pos_tag("2022年度报告")  # a dictionary word stays whole
    assert ("万人", "n") in pos_tag("30万人参加")  # a magnitude belongs to the number before it: no split
    table = "1个赛" * 3000  # a scanned table of numbers: repaired a bounded number of times, tagged whole
    assert "".join(w for w, _ in pos_tag(table)) == table


def shown(question: str, sentence: str, span: str) -> str:
    """The short answer the reader shows for `question` when the ranker's top candidate is `span` (its
    first occurrence in `sentence`)."""
    from bot.answer.features import analyse_sentence, part_view

    view = part_view(analyse(question), 0, {}, 10.0)
    start = sentence.index(span)
    a, b = Reader.short_span(view, analyse_sentence(sentence), Span(start, start + len(span), span))
    return sentence[a:b]


def test_a_date_is_as_precise_as_the_question_asks() -> None:
    sentence = "该法自2014年1月1日起施行，嘉靖七年二月修订。"
    for question in ("该法从哪一天开始施行？", "该法是什么时候开始施行的？", "该法在哪一年修订？"):
        assert analyse(question).answer_type == "date"
    assert shown("该法从哪一天开始施行？", sentence, "2014年") == "2014年1月1日"
    assert shown("该法是什么时候开始施行的？", sentence, "2014年") == "2014年"  # no precision asked: as ranked
    assert shown("该法在哪一年修订？", sentence, "嘉靖七年二月") == "嘉靖七年"


def test_a_short_answer_has_no_conjunction_or_particle_dangling_at_its_ends() -> None:
    question = "谁的书法最有名？"
    assert shown(question, "这是王羲之的书法。", "王羲之的") == "王羲之"
    assert shown(question, "新浪和搜狐都有。", "新浪和") == "新浪"
    assert shown(question, "而同姓者成为后代。", "而同姓者") == "同姓者"
    assert shown(question, "王羲之的书法最有名。", "王羲之的书法") == "王羲之的书法"  # a particle inside stays


def test_a_number_at_either_end_of_a_range_answers_with_the_range() -> None:
    question = "锦地罗生长的地区海拔约是多少米？"
    assert shown(question, "锦地罗生长于海拔50米至1,520米的地区。", "50米") == "50米至1,520米"
    assert shown(question, "果实长约15至20厘米。", "20厘米") == "15至20厘米"
    assert shown(question, "锦地罗生长于海拔50米的地区，共3种。", "50米") == "50米"


def test_a_date_ends_with_its_date_unless_a_word_modifies_it() -> None:
    question = "杨丽音是何时毕业的？"
    assert shown(question, "杨丽音1981年时毕业于国光艺校。", "1981年时") == "1981年"
    assert shown(question, "该港于1980年代建成。", "1980年代") == "1980年代"
    assert shown(question, "工程于2月底完工。", "2月底") == "2月底"


def test_a_short_answer_never_starts_between_a_number_and_its_unit() -> None:
    # the unit after 26 is a word of its own since the measure-word split
    assert shown("二中全会是什么时候举行的？", "二中全会于2月26日至28日在北京举行。", "日至28日") == "26日至28日"


def test_a_quote_or_bracket_that_closes_before_it_opens_is_no_candidate() -> None:
    from bot.answer.features import analyse_sentence
    from bot.answer.spans import candidate_spans

    info = analyse_sentence("嘉善县推出的投资项目“178”(易企办)政务服务体系收获好评。")
    texts = {span.text for span, _, _ in candidate_spans(info)}
    assert "“178”" in texts and "(易企办)" in texts
    assert not any(t.startswith("178”") for t in texts), sorted(t for t in texts if "”" in t)


def test_a_scans_spaces_around_a_number_neither_cut_the_span_nor_show_in_the_short_answer() -> None:
    from bot.answer.features import analyse_sentence
    from bot.answer.spans import candidate_spans, shown_text

    info = analyse_sentence("全年组织技术工人 100.5 万人次。")
    assert "100.5 万人次" in {span.text for span, _, _ in candidate_spans(info)}
    assert shown_text("100.5 万人次") == "100.5万人次"
    assert shown_text("New York 时报") == "New York时报"  # spaces between Latin words stay


def test_a_number_question_leads_with_a_candidate_that_holds_a_number() -> None:
    from bot.answer.features import analyse_sentence, part_view
    from bot.answer.reader import span_fits, span_order
    from bot.answer.spans import span_features

    view = part_view(analyse("2021年以来全国新发展了多少新就业形态劳动者会员？"), 0, {}, 10.0)
    info = analyse_sentence("深入开展新就业形态劳动者入会行动，2021年以来，全国新发展新就业形态劳动者会员1037万人。")
    rows, spans = span_features(view, info)
    logits = -np.array([float(span_fits(view, row)) for row in rows])  # a ranker that prefers non-numbers
    first = spans[int(span_order(view, rows, logits, spans, info)[0])]
    assert any(ch.isdigit() for ch in first.text), first.text


def test_a_number_answer_drops_the_questions_own_words_in_front() -> None:
    from bot.answer.features import analyse_sentence
    from bot.answer.spans import without_asked_words

    text = "省总工会每年安排专项资金100万元，推动全省环卫工人“暖心早餐”品牌服务项目做优做强。"
    info = analyse_sentence(text)
    start, end = text.index("专项资金"), text.index("，")
    a, b = without_asked_words(info, start, end, "省总工会每年安排多少专项资金推动环卫工人“暖心早餐”项目？")
    assert text[a:b] == "100万元"
    assert without_asked_words(info, start, end, "每年安排多少钱？") == (start, end)  # not the question's words
    other = analyse_sentence("炮身的容量为101发")
    assert without_asked_words(other, 3, 8, "炮身的容量有多大？") == (3, 8)  # `为101` does not start with the number


def test_a_ranking_model_is_scaled_into_probabilities_without_changing_its_order() -> None:
    sys.path.insert(0, str(BENCH))
    from train_answerer import _logits, fit_lightgbm, platt

    rng = np.random.default_rng(0)
    rows = rng.normal(size=(600, 3))
    labels = (rows[:, 0] + 0.5 * rng.normal(size=600) > 1.0).astype(np.float32)
    ranking = {"objective": "lambdarank", "lambdarank_truncation_level": 3, "eval_at": [1]}
    spec = fit_lightgbm(rows, labels, None, 30, ("a", "b", "c"), ranking, group=np.repeat(np.arange(60), 10))
    raw, scaled = _logits(spec, rows), _logits(platt(spec, rows, labels), rows)
    order = np.argsort(raw, kind="stable")
    assert np.all(np.diff(scaled[order]) >= -1e-9), "the ranking is unchanged"
    probabilities = 1.0 / (1.0 + np.exp(-scaled))
    assert abs(probabilities.mean() - labels.mean()) < 0.03  # calibrated: the mean matches the base rate
    assert probabilities[labels == 1].mean() > probabilities[labels == 0].mean() + 0.3


def test_a_candidate_short_enough_to_lead_goes_before_a_longer_one() -> None:
    """A whole clause can never be shown as the short answer, so the best short candidate leads."""
    from bot.answer.features import analyse_sentence, part_view
    from bot.answer.reader import MAX_SHORT_CHARS, _Pick
    from bot.answer.spans import span_features

    sentence = "围绕落实天津市“双碳”决策部署，天津市总工会开展了“我为碳达峰碳中和做贡献”竞赛，参赛职工达到十万余人。"
    info = analyse_sentence(sentence)
    view = part_view(analyse("天津市总工会开展的竞赛叫什么？"), 0, {}, 10.0)
    rows, spans = span_features(view, info)
    long = next(k for k, sp in enumerate(spans) if len(sp.text) > MAX_SHORT_CHARS)
    logits = np.zeros(len(spans))
    logits[long] = 10.0  # the ranker (or the reader) likes a whole clause best
    pick = _Pick(0, 1.0, rows, logits, spans)
    k = Reader._top_span(view, pick, 0, info, [])
    assert len(spans[k].text) <= MAX_SHORT_CHARS


def test_a_name_in_the_byline_answers_only_a_question_about_the_reporting() -> None:
    from bot.answer.features import analyse_sentence, part_view
    from bot.answer.reader import span_order
    from bot.answer.spans import span_features

    sentence = "本报讯(记者田国全 通讯员魏丹丹)2月18日至21日,全国黄金行业矿山救护工职业技能竞赛决赛举办,宋坤夺冠。"
    info = analyse_sentence(sentence)

    def first(question: str) -> str:
        view = part_view(analyse(question), 0, {}, 10.0)
        rows, spans = span_features(view, info)
        logits = np.asarray([10.0 if span.text == "田国全" else 0.0 for span in spans])  # the ranker likes it
        return spans[int(span_order(view, rows, logits, spans, info)[0])].text

    assert first("矿山救护工职业技能竞赛决赛是谁夺冠的？") != "田国全"
    assert first("这篇报道的记者是谁？") == "田国全"
    assert "宋坤" in info.persons and not info.persons & {"田国全", "魏丹丹"}  # a reporter is not in the story


def test_the_trainer_keeps_its_preferred_sentence_scorer_unless_another_is_better_beyond_noise() -> None:
    sys.path.insert(0, str(BENCH))
    from train_answerer import within_noise

    rng = np.random.default_rng(0)
    base = (rng.random(1000) < 0.85).astype(float)
    nudged = base.copy()
    nudged[:3] = 1.0  # three more questions right of a thousand: noise
    assert within_noise({"lambdarank": base, "lightgbm": nudged}, "lambdarank") == "lambdarank"
    better = base.copy()
    better[base == 0] = rng.random(int((base == 0).sum())) < 0.5  # half of the misses now right
    assert within_noise({"lambdarank": base, "lightgbm": better}, "lambdarank") == "lightgbm"
