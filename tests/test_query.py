"""Query analysis: answer types, multi-part questions, follow-ups carrying the conversation."""

from __future__ import annotations

import pytest

from retrieval.query import analyse, answer_type, split_parts


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("青海省总工会2023年计划投入多少专项经费？", "number"),
        ("泽库县的“高原职工氧吧”计划什么时候投入使用？", "date"),
        ("湖南省委主题教育办的常务副主任叫什么名字？", "person"),
        ("青海省总工会的疗休养活动是在哪里办的？", "place"),
        ("粤港澳大湾区工会第三次联席会议由哪家工会轮值主办？", "org"),
        ("青海省总工会组建了哪些工会联合会？", "list"),
        ("全总为什么把“服务月”改成“服务季”？", "reason"),
        ("谢成俊当时担任什么职务？", "other"),
    ],
)
def test_answer_types(question: str, expected: str) -> None:
    assert answer_type(question) == expected


def test_two_part_question_splits_and_keeps_the_subject() -> None:
    parts = split_parts("城北区招聘会实施了多少个项目，投入了多少资金？")
    assert len(parts) == 2
    assert "投入了多少资金" in parts[1]
    assert parts[1].startswith("城北区招聘会"), "the second part borrows the first part's subject"


def test_who_and_what_post_are_two_parts_of_different_types() -> None:
    query = analyse("带队的是谁、担任什么职务？")
    assert [p.answer_type for p in query.parts] == ["person", "other"]


def test_context_clause_attaches_to_the_part_it_introduces() -> None:
    query = analyse("在中央党校举行的研讨班，开班式是哪位常委主持的？")
    assert len(query.parts) == 1
    assert query.answer_type == "person"


def test_list_inside_a_question_is_not_split() -> None:
    assert len(analyse("西宁、海东两市一共有多少名职工参加？").parts) == 1


def test_follow_up_carries_the_previous_question_and_answer() -> None:
    history = [
        ("user", "青海首位“大国工匠年度人物”是谁？"),
        ("assistant", "田得梅。根据资料：……成为青海首位“大国工匠年度人物”。[1]"),
    ]
    query = analyse("她参加过哪些水电站的建设？", history)
    assert "田得梅" in query.carried, "a pronoun refers to the previous answer's person"
    assert "工匠" in query.search_text
    assert query.search_text.endswith("她参加过哪些水电站的建设？")
    assert query.answer_type == "list"


def test_she_refers_to_the_person_the_answer_names_not_to_its_short_answer() -> None:
    history = [
        ("user", "2022年“大国工匠年度人物”的评选结果是在哪座城市揭晓的？"),
        ("assistant", "江苏省南京市。根据资料：……在江苏省南京市揭晓评选结果，来自青海的中国水电四局员工田得梅……[1]"),
    ]
    query = analyse("她参加过哪些水电站的建设？", history)
    assert query.carried[0] == "田得梅"
    assert "江苏省南京市" not in query.carried


def test_a_question_about_something_unknown_to_the_corpus_carries_nothing() -> None:
    history = [("user", "青海省总工会2023年计划投入多少专项经费？"), ("assistant", "720万元。根据资料：……[1]")]
    idf = {"青海": 3.0, "青海省": 3.0, "总工会": 2.0, "专项经费": 4.0, "城市": 2.0}
    assert analyse("火星上有多少座城市？", history, idf).carried == ()
    assert analyse("有多少座城市？", history, idf).carried != ()


def test_standalone_question_carries_nothing() -> None:
    query = analyse("威海市去年签订了多少份集体合同？")
    assert query.carried == ()
    assert query.search_text == query.text


def test_focus_is_rarest_first_and_drops_question_words() -> None:
    idf = {"集体合同": 5.0, "签订": 2.0, "威海市": 4.0}
    query = analyse("威海市去年签订了多少份集体合同？", idf=idf)
    assert query.focus[0] == "集体合同"
    assert "多少" not in query.focus


def test_a_later_part_that_ends_on_its_interrogative_asks_about_the_first_parts_thing() -> None:
    parts = split_parts("吉水县总工会计划用几年时间建成多少个乡镇工会职工之家？目前已经建成多少？")
    assert len(parts) == 2
    assert parts[1].endswith("建成多少个乡镇工会职工之家"), parts[1]
    # a later part that names its own thing keeps it
    assert split_parts("城北区招聘会来了多少家企业，提供了多少个岗位？")[1].endswith("提供了多少个岗位")


def test_the_asked_noun_skips_a_classifier_and_works_are_recognised() -> None:
    assert analyse("城北区招聘会提供了多少个岗位？").parts[0].head == "岗位"
    assert analyse("生物园区工会带职工去看了哪部电影？").parts[0].asks_work
    assert not analyse("开班式是哪位常委主持的？").parts[0].asks_work


def test_asking_terms_are_the_words_of_the_clause_with_the_interrogative() -> None:
    part = analyse("在中央党校举行的研讨班，开班式是哪位常委主持的？").parts[0]
    assert "开班式" in part.asking_terms and "主持" in part.asking_terms
    assert "党校" not in part.asking_terms and "研讨班" not in part.asking_terms


def test_a_swapped_attribute_is_not_carried() -> None:
    history = [
        ("user", "海北州人社系统岗位练兵比武竞赛中，拿到团体一等奖的是哪个代表队？"),
        ("assistant", "海晏县代表队。根据资料：……[1]"),
    ]
    carried = analyse("二等奖是哪个代表队？", history).carried
    assert "一等奖" not in carried, "二等奖 takes 一等奖's place: searching for it finds the old answer"
    assert "人社" in carried or "海北" in carried


def test_a_count_takes_its_classifier_into_the_slot() -> None:
    part = analyse("吉安市有多少家单位入选全省“六有六规范”工会示范点？").parts[0]
    assert part.slot == ("吉安市有", "单位入选全省“六有六规范”工会示范点")
    assert analyse("青海省总工会2023年计划投入多少专项经费？").parts[0].slot[1] == "专项经费"


def test_near_words_are_the_attribute_next_to_the_interrogative() -> None:
    part = analyse("洛阳市总工会和成都市总工会签订的战略合作协议有效期是几年？").parts[0]
    assert part.near_words == ("协议", "有效期")
    assert "专项经费" in analyse("青海省总工会2023年计划投入多少专项经费？").parts[0].near_words
    assert analyse("请介绍一下").parts[0].near_words == ()  # nothing is asked


def test_the_asked_noun_is_the_last_noun_of_its_phrase() -> None:
    """Chinese noun phrases end with their head: `几位青海籍拉面人` asks about 人, not 青海."""
    assert analyse("有几位青海籍拉面人当选了深圳市人大代表？").parts[0].head == "人"
    assert analyse("青海省总工会组建了哪些工会联合会？").parts[0].head == "联合会"
    assert analyse("哪一条河的支流最长？").parts[0].head == "河"  # 的 ends the phrase


def test_spaces_between_chinese_characters_do_not_change_the_analysis() -> None:
    spaced = analyse(" 青 海 一 共 有 多 少 家 企 业 参 加 了 “ 安 康 杯 ” 竞 赛 ？ ")
    plain = analyse("青海一共有多少家企业参加了“安康杯”竞赛？")
    assert spaced.text == plain.text and spaced.terms == plain.terms and spaced.answer_type == "number"
    assert analyse("GDP 增长了多少？").text == "GDP 增长了多少？"  # a space after a Latin word stays
