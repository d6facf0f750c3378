"""`qabot add`, `qabot watch` and `qabot ask --since/--until`: articles added while running are answerable."""

from __future__ import annotations

import json
import re

from test_cli import env, run  # noqa: F401 - the CLI environment fixture (tiny corpus, own index)
from test_ingest_feeds import site  # noqa: F401 - RSS/Atom feeds and pages served from 127.0.0.1

PAGE = """<html><head><title>市图书馆延长开放时间</title><meta name="date" content="2023-03-02"></head><body>
<nav><a href="/">首页</a></nav>
<article><h1>市图书馆延长开放时间</h1><p>本报讯 市图书馆自4月起每天开放至晚上十点，周末增设少儿阅读专场。</p>
<p>馆方表示，新增的夜间时段由三十名志愿者协助服务。</p></article></body></html>"""


def ask_json(*args: str) -> dict:
    result = run("ask", *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_add_a_file_and_a_url_then_answer_from_them(env, site, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.setenv("QABOT_ALLOW_PRIVATE_URLS", "true")
    assert run("index").exit_code == 0
    page = tmp_path / "library.html"
    page.write_text(PAGE, encoding="utf-8")
    result = run("add", str(page), f"{site.base}/news/1.html")
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if line.startswith(("+", "="))]
    assert len(lines) == 2
    assert re.match(r"\+ 市图书馆延长开放时间 — 2023-03-02 — added/\S+library\.html: [1-9]\d* chunks indexed", lines[0])
    assert re.match(rf"\+ 全市公交票价下调 — .*{re.escape(site.base)}/news/1\.html: [1-9]\d* chunks indexed", lines[1])

    again = run("add", str(page))
    assert again.exit_code == 0 and "already there" in again.stdout

    answer = ask_json("市图书馆每天开放到几点？")
    assert answer["found"] and "十点" in answer["answer"]
    assert answer["sources"][0]["date"] == "2023-03-02" and answer["sources"][0]["file"].endswith("library.html")
    fare = ask_json("全市公交票价下调为多少？")
    assert fare["found"] and fare["sources"][0]["url"] == f"{site.base}/news/1.html"
    old = ask_json("威海市签订了多少份集体合同？")  # what was indexed before is still there
    assert old["found"] and "1780" in old["answer"]


def test_bad_items_are_one_line_each_and_the_good_ones_still_added(env, tmp_path):  # noqa: F811
    page = tmp_path / "library.html"
    page.write_text(PAGE, encoding="utf-8")
    fake = tmp_path / "scan.pdf"
    fake.write_bytes(b"not a pdf at all")
    result = run("add", str(fake), "ftp://example.com/a.html", str(tmp_path / "missing.docx"), str(page))
    assert result.exit_code == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("qabot:")]
    assert len(errors) == 3 and "Traceback" not in result.output
    assert "scan.pdf" in errors[0] and "http(s)" in errors[1] and "missing.docx" in errors[2]
    assert "市图书馆延长开放时间" in result.stdout and "chunks indexed" in result.stdout
    assert ask_json("市图书馆每天开放到几点？")["found"]


def test_private_addresses_are_refused_unless_allowed(env, site):  # noqa: F811
    result = run("add", f"{site.base}/news/1.html")
    assert result.exit_code == 2
    assert "QABOT_ALLOW_PRIVATE_URLS" in result.stderr and "Traceback" not in result.output


def test_watch_once_adds_new_feed_items_and_survives_a_bad_feed(env, site, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.setenv("QABOT_ALLOW_PRIVATE_URLS", "1")
    feeds = tmp_path / "feeds.txt"
    feeds.write_text(f"# news\n{site.base}/broken.xml\n{site.base}/rss.xml\n{site.base}/atom.xml\n", encoding="utf-8")
    first = run("watch", str(feeds), "--once")
    assert first.exit_code == 0, first.output
    assert "broken.xml" in first.stderr and "warning" in first.stderr
    added = sorted(line for line in first.stdout.splitlines() if line.startswith("+"))
    assert len(added) == 3 and "3 new articles from 3 feeds" in first.stdout
    assert any(line.startswith("+ 工会经费投入 — 2023-02-16") for line in added)
    second = run("watch", str(feeds), "--once")
    assert "0 new articles" in second.stdout
    rss = [headers for path, headers in site.requests if path == "/rss.xml"]
    assert rss[-1].get("if-none-match") == '"v1"'  # the second poll was conditional

    answer = ask_json("青海省总工会今年计划投入多少专项经费用于职工服务阵地建设？")
    top = answer["sources"][0]
    assert top["title"] == "工会经费投入" and top["date"] == "2023-02-16"


def test_watch_with_no_feeds_file_is_one_line(env, tmp_path):  # noqa: F811
    result = run("watch", str(tmp_path / "none.txt"), "--once")
    assert result.exit_code == 2 and "none.txt" in result.stderr and "Traceback" not in result.output


def test_ask_since_until_filters_by_publication_date(env, tmp_path):  # noqa: F811
    page = tmp_path / "library.html"
    page.write_text(PAGE, encoding="utf-8")
    assert run("add", str(page)).exit_code == 0
    inside = ask_json("市图书馆每天开放到几点？", "--since", "2023-03-01", "--until", "2023-03-31")
    assert inside["sources"] and all(s["date"] == "2023-03-02" for s in inside["sources"])
    outside = ask_json("市图书馆每天开放到几点？", "--until", "2023-03-01")
    assert all(s.get("date") != "2023-03-02" for s in outside["sources"]) and not outside["found"]
    bad = run("ask", "市图书馆每天开放到几点？", "--since", "2023-02-30")
    assert bad.exit_code == 2 and "2023-02-30" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    backwards = run("ask", "问题", "--since", "2023-03-02", "--until", "2023-03-01")
    assert backwards.exit_code == 2 and "before" in backwards.stderr
