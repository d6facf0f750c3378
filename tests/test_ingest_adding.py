"""Adding files, URLs and feed items to the corpus folder while running (no index needed here)."""

from __future__ import annotations

import pytest
from test_ingest_feeds import LOCAL, site  # noqa: F401 - the loopback site fixture

from retrieval.ingest import IngestError
from retrieval.ingest.adding import add_file, add_text, add_url, poll_feeds_once
from retrieval.ingest.feeds import FeedPoller
from retrieval.ingest.store import ArticleStore
from retrieval.loading import corpus_files, read_file


def test_add_url_stores_the_article_with_its_metadata_once(site, tmp_path):  # noqa: F811
    store = ArticleStore(tmp_path)
    added = add_url(store, f"{site.base}/news/1.html", LOCAL)
    assert added.created and added.entry.title == "全市公交票价下调"
    again = add_url(store, f"{site.base}/news/1.html#comments", LOCAL)
    assert not again.created and again.entry.id == added.entry.id
    [path] = corpus_files(tmp_path)
    _, [doc] = read_file(tmp_path, path)
    assert "惠及全市三百万乘客" in doc.text


def test_add_url_refuses_local_addresses_without_the_setting(site, tmp_path):  # noqa: F811
    from retrieval.ingest.fetch import FetchPolicy

    with pytest.raises(IngestError, match="private or local"):
        add_url(ArticleStore(tmp_path), f"{site.base}/news/1.html", FetchPolicy())
    assert not (tmp_path / "added").exists() or corpus_files(tmp_path) == []


def test_an_unreadable_file_is_refused_and_nothing_is_stored(tmp_path):
    store = ArticleStore(tmp_path)
    with pytest.raises(IngestError, match="fake.pdf"):
        add_file(store, b"not a pdf", "fake.pdf")
    with pytest.raises(IngestError, match="unsupported"):
        add_file(store, b"MZ", "virus.exe")
    assert store.list() == []


def test_add_text_and_an_html_file(tmp_path):
    store = ArticleStore(tmp_path)
    text = add_text(store, "本报讯 市里今年新建三座公园，方便居民休闲，公园全部免费开放。", title="新建三座公园")
    assert text.created and text.entry.title == "新建三座公园"
    page = (
        "<html><head><title>标题</title></head><body><article><h1>标题</h1><p>"
        + "正文内容很长，" * 10
        + "。</p></article></body></html>"
    )
    html = add_file(store, page.encode("utf-8"), "2023-02-15-page.html")
    assert html.created and html.entry.date == "2023-02-15"
    assert (tmp_path / html.entry.path).read_bytes() == page.encode("utf-8")
    assert len(store.list()) == 2


def test_a_feed_round_adds_new_items_and_survives_a_bad_feed(site, tmp_path):  # noqa: F811
    store = ArticleStore(tmp_path)
    poller = FeedPoller(LOCAL, state_path=tmp_path / ".feeds.json")
    feeds = [f"{site.base}/broken.xml", f"{site.base}/rss.xml"]
    added, problems = poll_feeds_once(store, poller, feeds)
    assert sorted(a.entry.title for a in added) == ["全市公交票价下调", "新建三座公园"]
    assert {a.entry.date for a in added} == {"2023-02-15"}
    assert len(problems) == 1 and "broken.xml" in problems[0]
    added, problems = poll_feeds_once(store, poller, feeds)
    assert added == [] and len(store.list()) == 2
