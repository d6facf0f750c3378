"""A corpus folder with a scanned page, a web page, a feed-style record and a damaged PDF, indexed and asked."""

from __future__ import annotations

import json
import logging

import pytest
from ingest_render import NO_FONT, font_path, render

from bot.answer.render import source_label
from bot.service import AnswerService
from retrieval.loading import corpus_files, read_file
from tests.common import make_settings

pytestmark = pytest.mark.skipif(font_path() is None, reason=NO_FONT)

SCAN = [
    ("headline", "城北区举办春风送真情招聘会"),
    ("body", "本报讯 城北区“春风送真情·援助暖民心”招聘会日前举行，吸引106家企业入场，提供就业岗位394个。"),
    ("body", "招聘会现场，求职者与企业面对面交流，当天共有八百余人次进场求职，初步达成意向二百余人。"),
]
PAGE = """<html><head><meta charset="utf-8"><title>全市公交票价下调</title>
<meta property="article:published_time" content="2023-02-20T08:00:00+08:00"></head><body>
<nav><a href="/">首页</a> <a href="/n">新闻</a></nav><article><h1>全市公交票价下调</h1>
<p>本报讯 自3月1日起，全市公交票价由两元下调为一元，惠及全市三百万乘客。</p>
<p>市交通局表示，票价下调后将增加运力，高峰时段发车间隔缩短至五分钟。</p></article></body></html>"""
FEED_ITEM = {
    "id": "news-9",
    "title": "湖滨公园新建儿童乐园",
    "text": "本报讯 湖滨公园新建的儿童乐园于周六开放，园内设有十二组游乐设施，全部免费使用。",
    "date": "2023-02-18",
    "url": "https://news.example.com/9.html",
    "author": "王五",
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ingest-corpus")
    render(SCAN, columns=1, size=(1488, 520))[0].image.save(folder / "2023-02-15_城北版.png")
    (folder / "bus.html").write_text(PAGE, encoding="utf-8")
    (folder / "feed.jsonl").write_text(json.dumps(FEED_ITEM, ensure_ascii=False) + "\n", encoding="utf-8")
    (folder / "damaged.pdf").write_bytes(b"%PDF-1.4 this file was cut short")
    (folder / "notes.txt").write_text("本报讯 市图书馆延长开放时间至晚上九点。\n", encoding="utf-8")
    return folder


def test_every_kind_is_loaded_with_its_metadata_and_a_damaged_pdf_is_one_warning(corpus, caplog):
    caplog.set_level(logging.WARNING)
    docs = {}
    for path in corpus_files(corpus):
        _, found = read_file(corpus, path)
        docs.update({doc.name: doc for doc in found})
    assert set(docs) == {"2023-02-15_城北版.png", "bus.html", "feed.jsonl#news-9", "notes.txt"}
    assert docs["2023-02-15_城北版.png"].date == "2023-02-15" and docs["2023-02-15_城北版.png"].pages[0].number == 1
    assert (docs["bus.html"].title, docs["bus.html"].date) == ("全市公交票价下调", "2023-02-20")
    assert (docs["feed.jsonl#news-9"].url, docs["feed.jsonl#news-9"].author) == (FEED_ITEM["url"], "王五")
    warnings = [r.getMessage() for r in caplog.records if "damaged.pdf" in r.getMessage()]
    assert len(warnings) == 1 and "\n" not in warnings[0]


def test_answers_only_in_a_scan_or_a_feed_item_come_with_their_source_and_date(corpus, tmp_path, embedder):
    service = AnswerService(make_settings(tmp_path, corpus), embedder=embedder)
    service.build()
    answer = service.ask("城北区招聘会吸引了多少家企业入场？")
    assert answer.found and "106家企业" in answer.answer
    top = service.search("城北区招聘会吸引了多少家企业入场？", top_k=1)[0].chunk
    assert answer.sources[0].file == top.doc == "2023-02-15_城北版.png"
    assert (top.date, top.page) == ("2023-02-15", 1)
    first = answer.sources[0]
    assert (first.date, first.page) == ("2023-02-15", 1)
    assert source_label(first) == f"{first.title} — 2023-02-15 — 2023-02-15_城北版.png 第1页"
    # the offsets point into the stored OCR text: the cited passage can be checked against it
    _, [doc] = read_file(corpus, corpus / "2023-02-15_城北版.png")
    assert "106家企业" in doc.text[top.start : top.end]

    answer = service.ask("湖滨公园的儿童乐园有几组游乐设施？")
    assert answer.found and "十二组" in answer.answer
    top = service.search("湖滨公园的儿童乐园有几组游乐设施？", top_k=1)[0].chunk
    assert answer.sources[0].file == "feed.jsonl#news-9"
    assert (top.date, top.url, top.author) == ("2023-02-18", FEED_ITEM["url"], "王五")
    first = answer.sources[0]
    assert source_label(first) == f"湖滨公园新建儿童乐园 — 2023-02-18 — {FEED_ITEM['url']}"
    assert answer.to_json_dict()["sources"][0]["author"] == "王五"
