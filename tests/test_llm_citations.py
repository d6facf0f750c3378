"""Citation verification on strings and real chunks: no model involved."""

from __future__ import annotations

import pytest

from bot.answer.citations import (
    StreamingMarkerFilter,
    normalise_markers,
    numbers_in,
    split_claims,
    verify,
)
from retrieval.chunking import Chunk


def _chunk(text: str, title: str = "标题") -> Chunk:
    spans, start = [], 0
    for k, ch in enumerate(text):
        if ch in "。！？":
            spans.append((start, k + 1))
            start = k + 1
    if start < len(text):
        spans.append((start, len(text)))
    return Chunk(
        id=0, doc="a.txt", path="a.txt", title=title, article=0, text=text, start=0, end=len(text), sentences=spans
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("投入720万元【1】。", "投入720万元[1]。"),
        ("甲[1,2]乙[1、3]", "甲[1][2]乙[1][3]"),
        ("甲[1][2]", "甲[1][2]"),
        ("甲(来源1)乙（来源：2、3）", "甲[1]乙[2][3]"),
        ("甲（资料2）乙［１］丙[^3]丁[来源1]", "甲[2]乙[1]丙[3]丁[1]"),
        ("甲（[1]）乙 [2]", "甲[1]乙[2]"),
        ("甲[1-3]", "甲[1][2][3]"),
        ("甲[1][1]", "甲[1]"),
        ("（1）第一项", "（1）第一项"),  # a list item, not a citation
    ],
)
def test_marker_shapes_become_square_brackets(raw, expected):
    assert normalise_markers(raw, 3).text == expected


def test_markers_to_missing_sources_are_removed():
    result = normalise_markers("甲[1][4] 乙【9】丙（来源7）丁[2,8]", 3)
    assert result.text == "甲[1] 乙丙丁[2]"
    assert sorted(result.removed) == [4, 7, 8, 9]


def test_streaming_filter_matches_whole_text_normalisation():
    raw = "投入720万元【1】。共 [9]人（来源2）。另见[1,2]，完（以下简称"
    pieces = [raw[k : k + 2] for k in range(0, len(raw), 2)]
    filt = StreamingMarkerFilter(3)
    streamed = "".join(filt.feed(p) for p in pieces) + filt.flush()
    assert streamed == normalise_markers(raw, 3).text
    assert "[9]" not in streamed and "【" not in streamed


def test_streaming_filter_passes_plain_text_at_once():
    filt = StreamingMarkerFilter(3)
    assert filt.feed("青海省") == "青海省"
    assert filt.feed("投入【") == "投入"  # the open bracket waits for its end
    assert filt.feed("1】。") == "[1]。"


def test_markers_after_the_full_stop_belong_to_the_sentence_before():
    claims = split_claims("甲投入720万元。[1] 乙有32批；[2]丙没有引用。丁也有引用[1][2]")
    assert [c.cites for c in claims] == [[1], [2], [], [1, 2]]
    assert claims[0].text == "甲投入720万元。[1]"
    assert claims[2].support == [1, 2]  # an uncited sentence is checked against the next citation


def test_numbers_are_compared_by_value():
    assert numbers_in("1,520名，3.50%，两千零二十三年") == {"1520", "3.5", "2023"}
    assert numbers_in("一线职工，十分重要") == set()  # lone numerals inside words are not numbers
    assert "1520" in numbers_in("一千五百二十名")


def test_quote_is_the_sentence_that_supports_the_claim():
    chunk = _chunk("青海省总工会在三亚举办疗休养活动。2023年计划投入720万元专项经费。安排32批1520名职工。")
    checked = verify("今年计划投入720万元专项经费[1]。", [chunk])
    assert checked.quotes == {1: "2023年计划投入720万元专项经费。"}
    assert checked.unsupported == []


def test_each_source_gets_its_own_best_sentence():
    first = _chunk("青海省总工会在三亚举办疗休养活动。2023年计划投入720万元专项经费。")
    second = _chunk("威海市签订集体合同1780份。2022年发放救助金292万元。", title="威海")
    checked = verify("青海投入720万元[1]，威海发放救助金292万元[2]。", [first, second])
    assert checked.quotes[1] == "2023年计划投入720万元专项经费。"
    assert checked.quotes[2] == "2022年发放救助金292万元。"


def test_invented_number_is_flagged_only_in_its_sentence():
    chunk = _chunk("2023年计划投入720万元专项经费。安排32批1520名职工。")
    checked = verify("计划投入730万元[1]。安排了32批[1]。", [chunk])
    assert checked.unsupported == ["计划投入730万元[1]。"]


def test_number_from_a_source_not_cited_is_flagged():
    first = _chunk("2023年计划投入720万元专项经费。")
    second = _chunk("发放救助金292万元。")
    assert verify("发放救助金292万元[1]。", [first, second]).unsupported == ["发放救助金292万元[1]。"]
    assert verify("发放救助金292万元[2]。", [first, second]).unsupported == []


def test_invented_name_is_flagged():
    chunk = _chunk("青海省总工会在三亚举办疗休养活动。")
    assert verify("青海省总工会在三亚举办活动[1]。", [chunk]).unsupported == []
    assert verify("青海省总工会在北京举办活动[1]。", [chunk]).unsupported == ["青海省总工会在北京举办活动[1]。"]


def test_uncited_sentence_with_a_number_is_flagged():
    chunk = _chunk("计划投入720万元。")
    assert verify("共有4837名职工参加。", [chunk]).unsupported == ["共有4837名职工参加。"]


def test_number_with_another_unit_is_flagged():
    chunk = _chunk("安排32批1520名劳模和职工参加疗休养，覆盖职工32万余人。")
    assert verify("安排1520批32名职工[1]。", [chunk]).unsupported == ["安排1520批32名职工[1]。"]
    assert verify("安排32批1520人[1]，覆盖32万多名职工[1]。", [chunk]).unsupported == []


def test_html_entity_semicolon_does_not_end_a_claim():
    from bot.answer.citations import split_claims

    claims = split_claims("计划&amp;投入720万元[1]。扫描稿用半角分号;也能断句。")
    assert [c.text for c in claims] == ["计划&amp;投入720万元[1]。", "扫描稿用半角分号;", "也能断句。"]
