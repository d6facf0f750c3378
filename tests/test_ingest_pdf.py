"""PDFs with a text layer (made with reportlab and the wqy font): order, pages, damaged files."""

from __future__ import annotations

from pathlib import Path

import pytest
from ingest_render import NO_FONT, font_path

from retrieval.articles import split_articles
from retrieval.ingest import IngestError, extract_file
from retrieval.loading import SourceDoc

pytestmark = pytest.mark.skipif(font_path() is None, reason=NO_FONT)

LEFT = "青海省总工会今年计划投入专项经费三千万元，用于职工服务阵地建设和困难职工帮扶。" * 2
RIGHT = "吉安市共有二十二家单位入选全省“六有六规范”工会示范点，数量居全省前列。" * 2


def _canvas(path: Path):
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.pdfgen import canvas

    if "wqy" not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont("wqy", str(font_path()), subfontIndex=0))
    pdf = canvas.Canvas(str(path), pagesize=(595, 842))
    return pdf


def _lines(text: str, per: int = 20) -> list[str]:
    return [text[k : k + per] for k in range(0, len(text), per)]


def make_two_column_pdf(path: Path, rows_across: bool) -> None:
    """Two columns; with `rows_across` the text is stored row by row across both columns."""
    pdf = _canvas(path)
    pdf.setFont("wqy", 20)
    pdf.drawString(150, 790, "两栏版面测试标题")
    pdf.setFont("wqy", 11)
    left, right = _lines(LEFT), _lines(RIGHT)
    if rows_across:
        for k, (a, b) in enumerate(zip(left, right, strict=False)):
            pdf.drawString(50, 740 - 16 * k, a)
            pdf.drawString(320, 740 - 16 * k, b)
    else:
        for k, a in enumerate(left):
            pdf.drawString(50, 740 - 16 * k, a)
        for k, b in enumerate(right):
            pdf.drawString(320, 740 - 16 * k, b)
    pdf.showPage()
    pdf.save()


def test_columns_stored_row_by_row_come_out_column_by_column(tmp_path):
    path = tmp_path / "2023-02-15_二版.pdf"
    make_two_column_pdf(path, rows_across=True)
    found = extract_file(path)
    flat = found.text.replace("\n", "")
    assert LEFT in flat and RIGHT in flat  # neither column interleaved with the other
    assert flat.index("两栏版面测试标题") < flat.index(LEFT) < flat.index(RIGHT)
    assert found.meta.date == "2023-02-15"  # from the file name
    assert found.pages[0].number == 1


def test_pages_are_numbered_and_a_blank_page_is_skipped_with_a_note(tmp_path):
    path = tmp_path / "paper.pdf"
    pdf = _canvas(path)
    pdf.setFont("wqy", 12)
    pdf.drawString(50, 780, "第一版的新闻标题")
    pdf.drawString(50, 750, "第一版正文：市里新建了三座公园，方便居民休闲。")
    pdf.showPage()
    pdf.showPage()  # an empty page (no text, nothing to OCR either)
    pdf.setFont("wqy", 12)
    pdf.drawString(50, 780, "第三版的新闻标题")
    pdf.drawString(50, 750, "第三版正文：2023年3月1日起，全市公交票价下调一元。")
    pdf.showPage()
    pdf.save()
    found = extract_file(path)
    assert [p.number for p in found.pages] == [1, 3]
    offset = found.text.index("第三版正文")
    assert found.page_at(offset) == 3 and found.page_at(found.text.index("第一版正文")) == 1
    assert found.text[found.pages[1].start : found.pages[1].end].startswith("第三版的新闻标题")
    assert any("page 2" in note for note in found.warnings)
    assert found.meta.date is None  # the 2023年3月1日 is inside a page, not a dateline at the top


def test_pdf_text_goes_through_the_same_article_splitting(tmp_path):
    path = tmp_path / "two.pdf"
    make_two_column_pdf(path, rows_across=False)
    found = extract_file(path)
    articles = split_articles(SourceDoc(name="two.pdf", path="two.pdf", text=found.text))
    assert articles[0].title == "两栏版面测试标题"
    body = "".join(b.text for a in articles for b in a.blocks)
    assert LEFT in body and RIGHT in body
    # offsets point into the stored text: each block's spans reproduce it exactly
    for article in articles:
        for block in article.blocks:
            assert "".join(found.text[s:e] for s, e in block.spans) == block.text


def test_damaged_and_fake_pdfs_are_one_line_errors(tmp_path):
    fake = tmp_path / "fake.pdf"
    fake.write_bytes(b"this is not a pdf at all")
    with pytest.raises(IngestError, match="fake.pdf: not a readable PDF"):
        extract_file(fake)
    good = tmp_path / "good.pdf"
    make_two_column_pdf(good, rows_across=False)
    cut = tmp_path / "cut.pdf"
    cut.write_bytes(good.read_bytes()[:300])
    with pytest.raises(IngestError) as info:
        extract_file(cut)
    assert "cut.pdf" in str(info.value) and "\n" not in str(info.value)
