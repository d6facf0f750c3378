"""Publication-date filters and newest-first ordering inside retrieval, for the folder and Milvus stores."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_robustness_index import CONFIG, HashEmbedder

from retrieval.chunking import Chunk
from retrieval.filters import DateRange, FilterError
from retrieval.search import Hit, newest_first
from retrieval.store import FolderStore

STORY = "本报讯 市体育中心游泳馆完成改造，新增恒温泳池两座，每天接待市民三千人次，票价维持十五元不变。"
RECORDS = [
    {"id": "old", "title": "游泳馆完成改造", "text": STORY, "date": "2023-01-05"},
    {"id": "new", "title": "游泳馆完成改造", "text": STORY, "date": "2023-02-10"},
    {
        "id": "mid",
        "title": "图书馆夜间开放",
        "text": "本报讯 市图书馆每天开放至晚上十点，周末增设少儿阅读专场。",
        "date": "2023-01-20",
    },
    {"id": "undated", "title": "公园免费开放", "text": "本报讯 市里新建三座公园，全部免费开放，方便居民休闲健身。"},
]
QUESTION = "游泳馆改造后新增了几座恒温泳池？"


@pytest.fixture
def corpus(tmp_path) -> Path:
    folder = tmp_path / "corpus"
    folder.mkdir()
    lines = [json.dumps(r, ensure_ascii=False) for r in RECORDS]
    (folder / "news.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def docs(hits: list[Hit]) -> list[str]:
    return [hit.chunk.doc.split("#")[1] for hit in hits]


def check_store(store) -> None:
    searcher = store.open(HashEmbedder(), CONFIG, 0.5, 0.5).searcher
    everything = searcher.search(QUESTION, 4)
    assert docs(everything)[:2] == ["new", "old"]  # the same story twice: the newer first
    january = searcher.search(QUESTION, 4, dates=DateRange.parse("2023-01-01", "2023-01-31"))
    assert set(docs(january)) == {"old", "mid"} and docs(january)[0] == "old"  # filtered before the top-k cut
    one = searcher.search(QUESTION, 1, dates=DateRange.parse(None, "2023-01-10"))
    assert docs(one) == ["old"]
    since = searcher.search(QUESTION, 4, dates=DateRange.parse("2023-01-20", None))
    assert set(docs(since)) == {"new", "mid"}  # both ends inclusive; undated never inside a range
    assert searcher.search(QUESTION, 4, dates=DateRange.parse("2024-01-01", None)) == []


def test_folder_store_filters_and_orders(corpus, tmp_path):
    store = FolderStore(tmp_path / "index")
    store.build(corpus, HashEmbedder(), CONFIG)
    check_store(store)


def test_milvus_store_filters_and_orders(corpus, tmp_path):
    pytest.importorskip("pymilvus", reason="the Milvus store needs pymilvus")
    from retrieval.milvus_store import MilvusStore

    store = MilvusStore(str(tmp_path / "lite" / "milvus.db"), name="dates")
    store.build(corpus, HashEmbedder(), CONFIG)
    check_store(store)


def test_parsing_a_range():
    assert DateRange.parse(None, None) is None
    assert DateRange.parse(" 2023-02-01", "2023-02-28") == DateRange("2023-02-01", "2023-02-28")
    for since, until in (("2023-02-30", None), ("yesterday", None), (None, "2023/02/01"), ("2023-03-01", "2023-02-01")):
        with pytest.raises(FilterError):
            DateRange.parse(since, until)


def chunk(n: int, date: str | None) -> Chunk:
    return Chunk(id=n, doc=f"d{n}", path="p", title="t", article=0, text="x", start=0, end=1, date=date)


def test_newest_first_only_reorders_near_ties():
    hits = [
        Hit(chunk(0, "2023-01-01"), 0.900),
        Hit(chunk(1, "2023-03-01"), 0.895),  # within the tie of the first: goes ahead of it
        Hit(chunk(2, None), 0.893),
        Hit(chunk(3, "2024-01-01"), 0.700),  # far below: stays below, however new
        Hit(chunk(4, "2022-01-01"), 0.699),
    ]
    assert [h.chunk.id for h in newest_first(hits)] == [1, 0, 2, 3, 4]
    assert newest_first([]) == []
