"""Cleaning scanned newspaper text, and the offset invariant every citation relies on."""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retrieval.articles import split_articles
from retrieval.chunking import chunk_documents, split_sentences
from retrieval.cleaning import clean
from retrieval.loading import SourceDoc

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
MARKERS = re.compile(r"[（(]\s*(?:上接|下转)第?\s*[0-9一二三四五六七八九十]+\s*版\s*[)）]")


def _ws(text: str) -> str:
    return re.sub(r"\s+", "", text)


def doc(text: str, name: str = "a.txt") -> SourceDoc:
    return SourceDoc(name=name, path=name, text=text)


def test_line_broken_mid_sentence_is_joined_across_blank_line():
    text = "与此同时，湖南省总工会2023年工\n\n会机关干部赴基层蹲点行动启动。据介绍，调研内容共13个方面。\n"
    blocks = clean(text)
    assert len(blocks) == 1
    assert blocks[0].text == "与此同时，湖南省总工会2023年工会机关干部赴基层蹲点行动启动。据介绍，调研内容共13个方面。"


def test_headline_is_not_glued_to_body():
    text = "洛阳、成都两地工会签订战略合作协议\n\n本报讯（记者余嘉熙）近日，两地工会在洛阳签订协议。\n"
    blocks = clean(text)
    assert [b.text for b in blocks][0] == "洛阳、成都两地工会签订战略合作协议"
    assert len(blocks) == 2


def test_page_jump_markers_are_dropped_and_recorded():
    text = "全会指出，要坚定不移深化改革。\n\n（下转第3版）\n\n(上接第1版)着力把握工会工作的突出政治优势。\n"
    blocks = clean(text)
    assert [b.text for b in blocks] == ["全会指出，要坚定不移深化改革。", "着力把握工会工作的突出政治优势。"]
    assert blocks[0].continues and blocks[1].continued_from
    assert "转" not in "".join(b.text for b in blocks)


def test_repeated_caption_lines_collapse():
    line = "中国职工文化体育协会 中国职工文化体育协会"
    text = "致敬劳动者\n\n" + "\n\n".join([line] * 5) + "\n\n送万福进万家活动在北京举行。\n"
    texts = [b.text for b in clean(text)]
    assert texts.count("中国职工文化体育协会") == 1
    assert line not in texts


def test_markdown_headings_become_article_titles():
    text = (
        "## 天津工会推动劳动竞赛向非公企业拓展\n\n# “连环招”服务京津冀协同发展\n\n"
        "本报讯 3月20日，天津市总工会召开会议。\n\n# 另一篇文章\n\n这是第二篇文章的正文。\n"
    )
    articles = split_articles(doc(text, "a.md"))
    assert [a.title for a in articles] == [
        "天津工会推动劳动竞赛向非公企业拓展 “连环招”服务京津冀协同发展",
        "另一篇文章",
    ]


def test_table_of_contents_is_kept_out_but_masthead_stays():
    text = (
        "目录\n\n2023年第2期\n\n主 办\n青海省总工会\n\n"
        "省总工会党组召开2022年度民主生活会\t29\n全省工会扎实推进户外劳动者服务站点建设\t32\n"
        "青海省总工会启动2023年疗休养工作\t33\n\n"
        "省总工会党组召开2022年度民主生活会\n\n根据省委统一部署，2月20日，省总工会党组召开民主生活会。\n"
    )
    articles = split_articles(doc(text))
    front, body = articles[0], articles[1]
    front_text = "".join(b.text for b in front.blocks)
    assert "2023年第2期" in front_text and "青海省总工会" in front_text
    assert "\t29" not in front_text and "户外劳动者" not in front_text
    assert body.title == "省总工会党组召开2022年度民主生活会"


def test_chunks_never_cross_articles_and_keep_sentences_whole():
    body1 = "".join(f"第一篇文章的第{i}句话讲述工会的工作。" for i in range(30))
    body2 = "".join(f"第二篇文章的第{i}句话介绍职工的生活。" for i in range(30))
    text = f"第一篇标题\n\n{body1}\n\n第二篇标题\n\n{body2}\n"
    chunks = chunk_documents([doc(text)], chunk_size=120, overlap=1)
    for chunk in chunks:
        assert not ("第一篇" in chunk.text and "第二篇" in chunk.text)
        for a, b in chunk.sentences:
            assert chunk.text[a:b].endswith("。")
        assert len(chunk.text) <= 120 + 25
    # one sentence of overlap between neighbours in the same article
    same = [c for c in chunks if c.title == "第一篇标题"]
    assert same[0].text.split("。")[-2] + "。" in same[1].text


def test_long_sentence_is_split_at_clause_marks_only_when_needed():
    sentence = "，".join(["工会组织积极开展服务活动"] * 40) + "。"
    spans = split_sentences(sentence, max_len=100)
    assert len(spans) > 1
    assert all(b - a <= 100 for a, b in spans)
    assert "".join(sentence[a:b] for a, b in spans) == sentence
    assert split_sentences("短句。另一句！", max_len=100) == [(0, 3), (3, 7)]


def _assert_offsets(text: str, chunks) -> None:
    for chunk in chunks:
        span = _ws(MARKERS.sub("", text[chunk.start : chunk.end]))
        assert _ws(chunk.text) in span
        assert _ws(chunk.text) == span, (chunk.text, text[chunk.start : chunk.end])


def test_seed_chunks_map_back_to_their_files():
    for path in sorted(SEEDS.glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        chunks = chunk_documents([doc(text, path.name)], chunk_size=220, overlap=1)
        assert len(chunks) > 10
        for chunk in chunks:
            span = _ws(text[chunk.start : chunk.end])
            it = iter(span)
            assert all(ch in it for ch in _ws(chunk.text)), chunk.text  # a subsequence: only deletions


HAN = st.text(alphabet="工会职工劳动模范全省总部门服务企业技能竞赛活动开展组织建设", min_size=2, max_size=14)
SENTENCE = st.builds(lambda a, b, end: f"{a}，{b}{end}", HAN, HAN, st.sampled_from(["。", "！", "？", "；", "。”"]))


@st.composite
def newspaper(draw):
    """Paragraphs of sentences, broken at random places, with headlines and page-jump markers."""
    parts = []
    for p in range(draw(st.integers(1, 5))):
        if draw(st.booleans()):
            parts.append(draw(st.sampled_from(["#", "##", ""])) + " 标题" + str(p) + draw(HAN))
        para = "".join(draw(st.lists(SENTENCE, min_size=1, max_size=6)))
        cuts = sorted(draw(st.sets(st.integers(1, max(1, len(para) - 1)), max_size=3)))
        pieces, last = [], 0
        for c in cuts:
            pieces.append(para[last:c])
            last = c
        pieces.append(para[last:])
        parts.append(draw(st.sampled_from(["\n", "\n\n", "\n \n"])).join(pieces))
        if draw(st.integers(0, 4)) == 0:
            parts.append(draw(st.sampled_from(["（下转第3版）", "(上接第1版)", "（下转第二版）"])))
    return "\n\n".join(parts) + "\n"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=newspaper(), size=st.integers(40, 300), overlap=st.integers(0, 2))
def test_property_chunk_text_is_its_file_span_without_artefacts(text, size, overlap):
    chunks = chunk_documents([doc(text)], chunk_size=size, overlap=overlap)
    _assert_offsets(text, chunks)
    # nothing is lost: each line is inside a chunk's span, or is (part of) a headline
    titles = " ".join(c.title for c in chunks)
    pos = 0
    for line in text.split("\n"):
        stripped = MARKERS.sub("", line).strip()
        if stripped and not stripped.startswith("#"):
            first = pos + line.index(stripped[0])
            inside = any(c.start <= first < c.end for c in chunks)
            assert inside or stripped in titles, (line, text)
        pos += len(line) + 1


def test_semicolon_closing_an_html_entity_does_not_end_a_sentence():
    text = "总工会计划&amp;投入专项经费860万元；用于建设书屋;另有一句。"
    assert [text[a:b] for a, b in split_sentences(text, 600)] == [
        "总工会计划&amp;投入专项经费860万元；",
        "用于建设书屋;",
        "另有一句。",
    ]
