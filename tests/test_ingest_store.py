"""Added articles: stored in the corpus folder with metadata, never twice, removable; extraction cache."""

from __future__ import annotations

import json

import pytest

from retrieval.ingest import ArticleMeta, Extracted, IngestError, PageSpan
from retrieval.ingest.cache import ExtractionCache
from retrieval.ingest.store import ArticleStore, normalize_url
from retrieval.loading import corpus_files, read_file

ARTICLE = Extracted(
    text="本报讯 自3月1日起，全市公交票价由两元下调为一元。\n\n市交通局表示将增加运力。",
    title="全市公交票价下调",
    meta=ArticleMeta(date="2023-02-15", url="https://news.example.com/a/1.html#top", author="王五"),
)


def test_an_extracted_article_is_stored_as_a_record_the_loader_reads(tmp_path):
    store = ArticleStore(tmp_path)
    entry, created = store.add_extracted(ARTICLE, source="https://news.example.com/a/1.html")
    assert created and entry.date == "2023-02-15" and entry.title == "全市公交票价下调"
    record = json.loads((tmp_path / entry.path).read_text(encoding="utf-8"))
    assert (record["url"], record["author"], record["date"]) == (ARTICLE.meta.url, "王五", "2023-02-15")
    files = corpus_files(tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in files] == [entry.path]  # the registry is not indexed
    _, docs = read_file(tmp_path, files[0])
    assert docs[0].title == "全市公交票价下调" and docs[0].text == record["text"]


def test_the_same_article_is_not_added_twice_by_url_or_by_content(tmp_path):
    store = ArticleStore(tmp_path)
    first, _ = store.add_extracted(ARTICLE, source="a")
    same_url = Extracted(
        text="完全不同的正文，但链接相同。", meta=ArticleMeta(url="HTTPS://NEWS.example.com/a/1.html/")
    )
    again, created = store.add_extracted(same_url, source="b")
    assert not created and again.id == first.id
    same_text = Extracted(text=ARTICLE.text.replace("\n\n", "\n"), meta=ArticleMeta(url="https://other.example/x"))
    again, created = store.add_extracted(same_text, source="c")
    assert not created and again.id == first.id
    assert len(store.list()) == 1


def test_files_are_stored_by_hash_and_can_be_removed(tmp_path):
    store = ArticleStore(tmp_path)
    entry, created = store.add_file(b"%PDF-1.4 fake", "2023-02-15 头版.pdf")
    assert created and entry.path.endswith("_2023-02-15_头版.pdf")
    assert (tmp_path / entry.path).read_bytes() == b"%PDF-1.4 fake"
    again, created = store.add_file(b"%PDF-1.4 fake", "copy.pdf")
    assert not created and again.id == entry.id
    removed = store.remove(entry.id)
    assert removed.id == entry.id and not (tmp_path / entry.path).exists() and store.list() == []
    with pytest.raises(KeyError):
        store.remove(entry.id)
    with pytest.raises(IngestError, match="suffix"):
        store.add_file(b"data", "no-suffix")


def test_normalize_url():
    assert normalize_url("HTTPS://Example.com/a/?q=1#x") == "https://example.com/a?q=1"


def test_extraction_cache_round_trip_and_damage(tmp_path):
    cache = ExtractionCache(tmp_path / "extracted")
    digest = "ab" * 32
    assert cache.get(digest) is None
    stored = Extracted(
        text="第一页\n\n第二页", pages=[PageSpan(1, 0, 3), PageSpan(2, 5, 8)], meta=ArticleMeta(date="2023-02-15")
    )
    cache.put(digest, stored)
    assert cache.get(digest) == stored and cache.get(digest).page_at(6) == 2
    (tmp_path / "extracted" / f"{digest}.json").write_text("{broken", encoding="utf-8")
    assert cache.get(digest) is None
    with pytest.raises(ValueError):
        cache.get("../../etc/passwd")


def test_article_meta_takes_the_page_and_a_dateline_when_the_document_has_no_date():
    doc = Extracted(text="甲" * 10 + "\n\n" + "乙" * 10, pages=[PageSpan(1, 0, 10), PageSpan(2, 12, 22)])
    meta, page = doc.article_meta(13, "新华社北京2023年2月15日电 正文")
    assert (meta.date, page) == ("2023-02-15", 2)
    dated = Extracted(text=doc.text, pages=doc.pages, meta=ArticleMeta(date="2023-03-01", url="u"))
    meta, page = dated.article_meta(0, "新华社北京2023年2月15日电 正文")
    assert (meta.date, meta.url, page) == ("2023-03-01", "u", 1)
