"""`/articles` on a live loopback server: admin key, uploads, URLs, texts, listing, removal; `/ask` date filters."""

from __future__ import annotations

import shutil
import time

import httpx
import pytest
from pydantic import SecretStr
from test_ingest_feeds import site  # noqa: F401 - pages served from 127.0.0.1

from bot.http import ServerThread, create_app
from bot.service import RELOAD_CHECK_S, AnswerService
from tests.common import DATA, make_settings

ADMIN = "admin-secret-1234"
PAGE = """<html><head><title>市图书馆延长开放时间</title><meta name="date" content="2023-03-02"></head><body>
<article><h1>市图书馆延长开放时间</h1><p>本报讯 市图书馆自4月起每天开放至晚上十点，周末增设少儿阅读专场。</p>
<p>馆方表示，新增的夜间时段由三十名志愿者协助服务。</p></article></body></html>"""
LIBRARY_QUESTION = "市图书馆每天开放到几点？"


def built(tmp_path, embedder, **update) -> AnswerService:
    corpus = tmp_path / "corpus"
    shutil.copytree(DATA / "tiny", corpus)
    service = AnswerService(make_settings(tmp_path, corpus, rate_limit_per_minute=0, **update), embedder=embedder)
    service.build()
    return service


def serve(tmp_path, embedder, **update):
    return ServerThread(create_app(built(tmp_path, embedder, **update)))


def test_another_serving_process_picks_the_added_article_up(tmp_path, embedder):
    service = built(tmp_path, embedder, admin_key=SecretStr(ADMIN))
    server = ServerThread(create_app(service))
    other = AnswerService(service.settings, embedder=embedder)  # as a second `qabot serve` worker would
    assert not other.ask(LIBRARY_QUESTION).found  # loaded the index before the article was added
    with server as url, httpx.Client(base_url=url, timeout=60, headers={"X-Admin-Key": ADMIN}) as client:
        files = {"file": ("library.html", PAGE.encode("utf-8"), "text/html")}
        assert client.post("/articles", files=files).status_code == 201
    time.sleep(RELOAD_CHECK_S + 0.1)  # a serving process looks for a new index at most once a second
    answer = other.ask(LIBRARY_QUESTION)
    assert answer.found and answer.sources[0].date == "2023-03-02"


@pytest.fixture
def admin_client(tmp_path, embedder):
    server = serve(tmp_path, embedder, admin_key=SecretStr(ADMIN), allow_private_urls=True)
    with server as url, httpx.Client(base_url=url, timeout=60, headers={"X-Admin-Key": ADMIN}) as client:
        yield client


def ask(client: httpx.Client, question: str, **extra: object) -> dict:
    r = client.post("/ask", json={"question": question, **extra})
    assert r.status_code == 200, r.text
    return r.json()


def test_without_an_admin_key_configured_adding_is_off(tmp_path, embedder):
    with serve(tmp_path, embedder) as url, httpx.Client(base_url=url, timeout=30) as client:
        r = client.post("/articles", json={"text": "正文", "title": "标题"}, headers={"X-Admin-Key": "anything"})
        assert r.status_code == 403 and "QABOT_ADMIN_KEY" in r.json()["error"]["message"]
        assert client.delete("/articles/abc", headers={"X-Admin-Key": "x"}).status_code == 403
        listing = client.get("/articles")
        assert listing.status_code == 200 and listing.json() == {"articles": []}


def test_the_admin_key_is_required_and_checked(admin_client):
    r = admin_client.post("/articles", json={"text": "正文"}, headers={"X-Admin-Key": ""})
    assert r.status_code == 401 and r.json()["error"]["code"] == "admin_key_required"
    r = admin_client.post("/articles", json={"text": "正文"}, headers={"X-Admin-Key": "wrong"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "invalid_admin_key"
    assert admin_client.get("/articles").json() == {"articles": []}


def test_upload_then_answer_list_and_remove(admin_client):
    files = {"file": ("library.html", PAGE.encode("utf-8"), "text/html")}
    r = admin_client.post("/articles", files=files)
    assert r.status_code == 201, r.text
    added = r.json()
    assert added["created"] and added["chunks"] >= 1 and added["title"] == "市图书馆延长开放时间"
    assert added["date"] == "2023-03-02" and added["file"].endswith("library.html")

    again = admin_client.post("/articles", files=files)
    assert again.status_code == 200 and not again.json()["created"] and again.json()["id"] == added["id"]

    answer = ask(admin_client, LIBRARY_QUESTION)
    assert answer["found"] and "十点" in answer["answer"]
    assert answer["sources"][0]["date"] == "2023-03-02"
    assert answer["sources"][0]["label"] == f"市图书馆延长开放时间 — 2023-03-02 — {added['file']}"

    listing = admin_client.get("/articles").json()["articles"]
    assert [a["id"] for a in listing] == [added["id"]]

    gone = admin_client.delete(f"/articles/{added['id']}")
    assert gone.status_code == 200 and gone.json()["id"] == added["id"]
    assert admin_client.get("/articles").json() == {"articles": []}
    after = ask(admin_client, LIBRARY_QUESTION)
    assert all(s["title"] != "市图书馆延长开放时间" for s in after["sources"])
    missing = admin_client.delete(f"/articles/{added['id']}")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "article_not_found"
    assert "十点" not in after["answer"]
    assert ask(admin_client, "威海市签订了多少份集体合同？")["found"]  # the corpus itself is untouched


def test_a_url_and_a_text(admin_client, site):  # noqa: F811
    r = admin_client.post("/articles", json={"url": f"{site.base}/news/1.html"})
    assert r.status_code == 201, r.text
    assert r.json()["url"] == f"{site.base}/news/1.html" and r.json()["chunks"] >= 1
    text = "本报讯 市里今年新建三座湿地公园，总面积一百二十公顷，全部免费开放。"
    r = admin_client.post("/articles", json={"text": text, "title": "新建三座湿地公园", "date": "2023-04-01"})
    assert r.status_code == 201 and r.json()["date"] == "2023-04-01"
    answer = ask(admin_client, "新建的三座湿地公园总面积是多少？")
    assert answer["found"] and answer["sources"][0]["title"] == "新建三座湿地公园"
    titles = [a["title"] for a in admin_client.get("/articles").json()["articles"]]
    assert titles[0] == "新建三座湿地公园"  # newest publication date first


@pytest.mark.parametrize(
    "body,fragment",
    [
        ({"url": "ftp://example.com/a.html"}, "http(s)"),
        ({}, "either 'url' or 'text'"),
        ({"url": "http://x", "text": "y"}, "either 'url' or 'text'"),
        ({"text": "   "}, "no text"),
        ({"text": "正文", "date": "2023-02-30"}, "not a date"),
        ({"text": "正文", "color": "red"}, "unknown field 'color'"),
    ],
)
def test_bad_bodies_are_422_with_one_line(admin_client, body, fragment):
    r = admin_client.post("/articles", json=body)
    assert r.status_code == 422, r.text
    message = r.json()["error"]["message"]
    assert fragment in message and "\n" not in message


def test_bad_uploads_store_nothing(admin_client):
    r = admin_client.post("/articles", files={"file": ("scan.pdf", b"not a pdf", "application/pdf")})
    assert r.status_code == 422 and "scan.pdf" in r.json()["error"]["message"]
    r = admin_client.post("/articles", files={"other": ("a.html", PAGE.encode(), "text/html")})
    assert r.status_code == 422 and "'file'" in r.json()["error"]["message"]
    assert admin_client.get("/articles").json() == {"articles": []}


def test_uploads_may_exceed_the_question_body_limit_but_not_the_upload_limit(tmp_path, embedder):
    big = PAGE.replace("</article>", "<p>" + "市图书馆新增阅览座位。" * 800 + "</p></article>").encode("utf-8")
    assert 16_384 < len(big) < 40_000
    server = serve(tmp_path, embedder, admin_key=SecretStr(ADMIN), max_upload_bytes=40_000)
    with server as url, httpx.Client(base_url=url, timeout=60, headers={"X-Admin-Key": ADMIN}) as client:
        assert client.post("/articles", files={"file": ("big.html", big, "text/html")}).status_code == 201
        huge = {"file": ("huge.html", big * 2, "text/html")}
        assert client.post("/articles", files=huge).status_code == 413


def test_ask_date_filters(admin_client):
    admin_client.post("/articles", files={"file": ("library.html", PAGE.encode("utf-8"), "text/html")})
    inside = ask(admin_client, LIBRARY_QUESTION, date_from="2023-03-01", date_to="2023-03-31")
    assert inside["found"] and {s["date"] for s in inside["sources"]} == {"2023-03-02"}
    before = ask(admin_client, LIBRARY_QUESTION, date_to="2023-03-01")
    assert all(s["date"] != "2023-03-02" for s in before["sources"]) and not before["found"]
    bads = ({"date_from": "yesterday"}, {"date_from": "2023-03-02", "date_to": "2023-03-01"}, {"date_to": 20230301})
    for bad in bads:
        r = admin_client.post("/ask", json={"question": LIBRARY_QUESTION, **bad})
        assert r.status_code == 422, (bad, r.text)
    stream = admin_client.post("/ask/stream", json={"question": LIBRARY_QUESTION, "date_from": "2023-13-01"})
    assert stream.status_code == 422
