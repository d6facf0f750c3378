"""Hand-written Chinese news pages and .docx files: body, title, author and a trustworthy date."""

from __future__ import annotations

import pytest

from retrieval.ingest import IngestError, extract_file
from retrieval.ingest.webpage import clean_author, extract_html

BODY = "".join(
    f"<p>{text}</p>"
    for text in [
        "本报讯 青海省总工会今年计划投入专项经费三千万元，用于职工服务阵地建设和困难职工帮扶。",
        "据介绍，这笔经费将重点支持基层工会建设，覆盖全省八个市州的三百多个乡镇。",
        "省总工会有关负责人表示，将加强经费使用监督，确保每一分钱都用在职工身上。",
    ]
)


def page(head: str = "", byline: str = "", body: str = BODY) -> str:
    return f"""<!doctype html><html><head><meta charset="utf-8">
<title>青海工会投入专项经费 - 新闻网</title>{head}</head>
<body>
<nav><a href="/">首页</a> <a href="/news">新闻</a> <a href="/sports">体育</a></nav>
<aside class="sidebar"><h3>热门新闻</h3><ul>
  <li><a href="https://news.example.com/2021/03/07/other.html">其他新闻标题一则</a></li>
  <li><a href="/2020/11/02/old.html">旧闻二则在此</a></li></ul></aside>
<article><h1>青海工会投入专项经费</h1>{byline}{body}</article>
<div class="ad">广告：楼盘火热销售中，请致电咨询</div>
<footer>版权所有 © 新闻网 联系我们 京ICP备000000号</footer>
</body></html>"""


def test_body_title_author_and_date_from_the_byline():
    found = extract_html(page(byline='<p class="info"><span class="author">作者：张三</span> 2023年02月15日 10:20</p>'))
    assert found.title == "青海工会投入专项经费"
    assert "三千万元" in found.text and "每一分钱" in found.text
    for noise in ("首页", "热门新闻", "广告", "版权所有", "其他新闻标题一则"):
        assert noise not in found.text
    assert found.meta.author == "张三"
    assert found.meta.date == "2023-02-15"


def test_date_and_author_from_metadata():
    head = (
        '<meta property="article:published_time" content="2023-02-15T08:00:00+08:00">'
        '<meta name="author" content="李四">'
    )
    found = extract_html(page(head=head), url="https://news.example.com/a/123.html")
    assert found.meta.date == "2023-02-15"
    assert found.meta.author == "李四"
    assert found.meta.url == "https://news.example.com/a/123.html"


def test_a_page_without_a_date_does_not_take_one_from_a_sidebar_link():
    found = extract_html(page())
    assert found.meta.date is None  # trafilatura alone says 2020-11-02, from the sidebar's link


def test_a_page_with_no_article_is_an_error_naming_it():
    with pytest.raises(IngestError, match="empty.html: no article text"):
        extract_html("<html><body><nav><a href='/'>首页</a></nav></body></html>", name="empty.html")


def test_html_file_gets_its_date_from_a_dated_file_name(tmp_path):
    path = tmp_path / "20230301-青海工会.html"
    path.write_text(page(), encoding="utf-8")
    found = extract_file(path)
    assert found.meta.date == "2023-03-01"
    assert found.title == "青海工会投入专项经费"


def test_clean_author():
    assert clean_author("作者：王五") == "王五"
    assert clean_author("作者: 王五 2023-02-15") == "王五"
    assert clean_author("  ") is None


def test_docx_paragraphs_headings_and_tables(tmp_path):
    import docx

    document = docx.Document()
    document.add_heading("全市公交票价下调", level=1)
    document.add_paragraph("本报讯 自3月1日起，全市公交票价由两元下调为一元。")
    table = document.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text = "线路"
    table.rows[0].cells[1].text = "票价一元"
    document.add_heading("公园新建三座", level=2)
    document.add_paragraph("市里今年新建三座公园，方便居民休闲。")
    path = tmp_path / "2023-02-28 要闻.docx"
    document.save(str(path))
    found = extract_file(path)
    assert found.markdown
    assert found.text.split("\n\n") == [
        "# 全市公交票价下调",
        "本报讯 自3月1日起，全市公交票价由两元下调为一元。",
        "线路 票价一元",
        "## 公园新建三座",
        "市里今年新建三座公园，方便居民休闲。",
    ]
    assert found.meta.date == "2023-02-28"


def test_a_broken_docx_is_an_error_naming_it(tmp_path):
    path = tmp_path / "broken.docx"
    path.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(IngestError, match="broken.docx"):
        extract_file(path)


def test_bytes_already_read_are_extracted_under_their_corpus_name():
    from retrieval.ingest import extract_data

    found = extract_data(page().encode("utf-8"), "news/2023-02-16_page.html")
    assert found.title == "青海工会投入专项经费" and found.meta.date == "2023-02-16"
    with pytest.raises(IngestError, match="news/broken.docx"):
        extract_data(b"PK\x03\x04 junk", "news/broken.docx")
