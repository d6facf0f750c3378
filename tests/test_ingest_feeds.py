"""RSS and Atom feeds and their item pages served from 127.0.0.1; safe fetching rules."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from retrieval.ingest import IngestError
from retrieval.ingest.feeds import FeedPoller, item_article, parse_feed, read_feed_list
from retrieval.ingest.fetch import FetchError, FetchPolicy, check_url, fetch

RSS = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>新闻网</title><link>{base}/</link><description>要闻</description>
<item><title>全市公交票价下调</title><link>{base}/news/1.html</link><guid>news-1</guid>
  <pubDate>Wed, 15 Feb 2023 02:00:00 GMT</pubDate><author>王五</author>
  <description>自3月1日起，全市公交票价下调。</description></item>
<item><title>新建三座公园</title><link>{base}/news/2.html</link><guid>news-2</guid>
  <pubDate>Tue, 14 Feb 2023 23:30:00 -0800</pubDate>
  <description><![CDATA[<p>市里今年新建三座公园。</p><p>公园免费开放。</p>]]></description></item>
</channel></rss>"""

ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>工会动态</title><id>urn:feed</id><updated>2023-02-16T00:00:00Z</updated>
<entry><title>工会经费投入</title><id>urn:entry:1</id><link href="{base}/missing.html"/>
  <published>2023-02-16T08:00:00+08:00</published><updated>2023-02-16T08:00:00+08:00</updated>
  <author><name>赵六</name></author>
  <content type="html">&lt;p&gt;青海省总工会今年计划投入专项经费三千万元，用于职工服务阵地建设。&lt;/p&gt;
  </content></entry>
</feed>"""

ARTICLE = """<html><head><title>全市公交票价下调</title></head><body>
<nav><a href="/">首页</a> <a href="/n">新闻</a></nav>
<article><h1>全市公交票价下调</h1><p>本报讯 自3月1日起，全市公交票价由两元下调为一元，惠及全市三百万乘客。</p>
<p>市交通局表示，票价下调后将增加运力，高峰时段发车间隔缩短至五分钟。</p></article>
<footer>版权所有</footer></body></html>"""

LAST_MODIFIED = formatdate(1_676_400_000, usegmt=True)


@dataclass
class Site:
    base: str
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)


@pytest.fixture
def site() -> Iterator[Site]:
    state = Site(base="")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            state.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
            if self.path == "/rss.xml":
                if self.headers.get("If-None-Match") == '"v1"':
                    self.send_response(304)
                    self.end_headers()
                    return
                self._send(RSS.format(base=state.base), "application/rss+xml", {"ETag": '"v1"'})
            elif self.path == "/atom.xml":
                if self.headers.get("If-Modified-Since") == LAST_MODIFIED:
                    self.send_response(304)
                    self.end_headers()
                    return
                self._send(ATOM.format(base=state.base), "application/atom+xml", {"Last-Modified": LAST_MODIFIED})
            elif self.path == "/news/1.html":
                self._send(ARTICLE, "text/html; charset=utf-8")
            elif self.path == "/broken.xml":
                self._send("<html><body>not a feed</body></html>", "text/html")
            elif self.path == "/big":
                self._send("x" * 5000, "text/plain")
            elif self.path == "/redirect-local":
                self.send_response(302)
                self.send_header("Location", f"{state.base}/news/1.html")
                self.end_headers()
            elif self.path == "/slow":
                time.sleep(2)
                self._send("late", "text/plain")
            else:
                self.send_response(404)
                self.end_headers()

        def _send(self, body: str, kind: str, headers: dict[str, str] | None = None) -> None:
            data = body.encode("utf-8")
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

    class Server(ThreadingHTTPServer):
        def handle_error(self, request: object, client_address: object) -> None:
            pass  # the size-limit and timeout tests hang up mid-answer on purpose

    server = Server(("127.0.0.1", 0), Handler)
    state.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


LOCAL = FetchPolicy(allow_private=True, timeout=5)


def test_rss_and_atom_items_with_dates_authors_and_text(site):
    poller = FeedPoller(LOCAL)
    rss = poller.poll(f"{site.base}/rss.xml")
    assert [i.id for i in rss] == ["news-1", "news-2"]
    assert rss[0].title == "全市公交票价下调" and rss[0].author == "王五" and rss[0].date == "2023-02-15"
    assert rss[1].date == "2023-02-15"  # 23:30 at UTC-8 is the 15th in UTC
    assert rss[1].content == "市里今年新建三座公园。\n\n公园免费开放。"
    atom = poller.poll(f"{site.base}/atom.xml")
    assert atom[0].title == "工会经费投入" and atom[0].author == "赵六" and atom[0].date == "2023-02-16"
    assert "三千万元" in atom[0].content


def test_polling_again_is_conditional_and_returns_only_new_items(site, tmp_path):
    state = tmp_path / "feeds.json"
    first = FeedPoller(LOCAL, state_path=state)
    items, problems = first.poll_all([f"{site.base}/rss.xml", f"{site.base}/atom.xml"])
    assert len(items) == 3 and problems == []
    again = FeedPoller(LOCAL, state_path=state)  # validators survive a restart
    items, problems = again.poll_all([f"{site.base}/rss.xml", f"{site.base}/atom.xml"])
    assert items == [] and problems == []
    sent = {path: headers for path, headers in site.requests[-2:]}
    assert sent["/rss.xml"].get("if-none-match") == '"v1"'
    assert sent["/atom.xml"].get("if-modified-since") == LAST_MODIFIED


def test_a_bad_feed_is_one_warning_and_the_others_go_on(site):
    poller = FeedPoller(LOCAL)
    urls = [f"{site.base}/broken.xml", f"{site.base}/gone.xml", f"{site.base}/rss.xml"]
    items, problems = poller.poll_all(urls)
    assert [i.id for i in items] == ["news-1", "news-2"]
    assert len(problems) == 2 and all("\n" not in p for p in problems)
    assert "broken.xml" in problems[0] and "gone.xml: HTTP 404" in problems[1]


def test_item_article_reads_the_linked_page_and_keeps_the_feed_metadata(site):
    items = parse_feed(RSS.format(base=site.base).encode(), "feed")
    article = item_article(items[0], LOCAL)
    assert "惠及全市三百万乘客" in article.text and "首页" not in article.text
    assert article.title == "全市公交票价下调"
    assert (article.meta.date, article.meta.author, article.meta.url) == (
        "2023-02-15",
        "王五",
        f"{site.base}/news/1.html",
    )


def test_item_whose_page_is_missing_falls_back_to_the_feed_text(site):
    items = parse_feed(ATOM.format(base=site.base).encode(), "feed")
    article = item_article(items[0], LOCAL)
    assert article.text == "青海省总工会今年计划投入专项经费三千万元，用于职工服务阵地建设。"
    assert article.meta.date == "2023-02-16"


def test_loopback_and_private_addresses_are_refused_by_default(site):
    with pytest.raises(FetchError, match="private or local address"):
        fetch(f"{site.base}/news/1.html", FetchPolicy())
    for url in ("http://10.1.2.3/x", "http://192.168.0.1/", "http://169.254.169.254/latest", "http://[::1]/"):
        with pytest.raises(FetchError, match="private or local"):
            check_url(url, FetchPolicy())
    check_url("http://93.184.216.34/", FetchPolicy())  # a public address passes (no connection made)


def test_only_http_urls_and_no_credentials(site):
    for url in ("file:///etc/passwd", "ftp://example.com/x", "gopher://x", "http://user:pw@93.184.216.34/"):
        with pytest.raises(FetchError):
            check_url(url, FetchPolicy())


def test_size_limit_timeout_and_redirects_are_checked(site):
    with pytest.raises(FetchError, match="byte limit"):
        fetch(f"{site.base}/big", FetchPolicy(allow_private=True, max_bytes=1000))
    with pytest.raises(FetchError, match="timed out"):
        fetch(f"{site.base}/slow", FetchPolicy(allow_private=True, timeout=0.5))
    followed = fetch(f"{site.base}/redirect-local", LOCAL)
    assert followed.url.endswith("/news/1.html") and followed.status == 200


def test_a_redirect_from_a_public_address_to_a_private_one_is_refused():
    import httpx

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(302, headers={"Location": "http://127.0.0.1:9/admin"})

    client = httpx.Client(transport=httpx.MockTransport(handler))
    with pytest.raises(FetchError, match=r"127\.0\.0\.1.*private or local"):
        fetch("http://93.184.216.34/story", FetchPolicy(), client=client)


def test_feed_list_file(tmp_path):
    path = tmp_path / "feeds.txt"
    path.write_text("# 新闻源\nhttp://a.example/rss.xml\n\nhttp://b.example/atom.xml#main  # 工会\n", encoding="utf-8")
    assert read_feed_list(path) == ["http://a.example/rss.xml", "http://b.example/atom.xml#main"]
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n", encoding="utf-8")
    with pytest.raises(IngestError, match="no feed URLs"):
        read_feed_list(empty)
