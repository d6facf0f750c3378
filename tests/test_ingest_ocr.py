"""OCR of rendered pages (one column, two columns, a poor scan) and of a PDF without a text layer.

Each OCR'd page costs several seconds of CPU, so the pages are small and few.
"""

from __future__ import annotations

import unicodedata

import pytest
from ingest_render import NO_FONT, degrade, font_path, render
from rapidfuzz.distance import Levenshtein

from retrieval.articles import split_articles
from retrieval.ingest import IngestError, extract_file
from retrieval.loading import SourceDoc

pytestmark = pytest.mark.skipif(font_path() is None, reason=NO_FONT)

SMALL = (1488, 760)  # a strip of an A4 page at 180 dpi: ten lines a column
STORY = [
    ("headline", "城北区举办春风送真情招聘会"),
    ("body", "本报讯 城北区“春风送真情·援助暖民心”招聘会日前举行，吸引106家企业入场，提供就业岗位394个。"),
    ("body", "招聘会现场，求职者与企业面对面交流，当天共有八百余人次进场求职，初步达成意向二百余人。"),
    ("headline", "吉安市工会示范点名单发布"),
    ("body", "本报讯 吉安市总工会日前发布名单，共有22家单位入选全省“六有六规范”工会示范点，14家入选全市示范点。"),
]


def cer(reference: str, hypothesis: str) -> float:
    def norm(text: str) -> str:  # full- and half-width forms of one glyph count as the same
        return "".join(ch for ch in unicodedata.normalize("NFKC", text) if not ch.isspace())

    ref = norm(reference)
    return Levenshtein.distance(ref, norm(hypothesis)) / len(ref)


def test_one_column_scan_reads_exactly_and_splits_into_its_articles(tmp_path):
    page = render(STORY, columns=1, size=SMALL)[0]
    path = tmp_path / "2023-02-15_scan.png"
    page.image.save(path)
    seen: list[tuple[int, int]] = []
    found = extract_file(path, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(1, 1)]
    assert cer(page.text, found.text) <= 0.01
    assert found.meta.date == "2023-02-15"
    articles = split_articles(SourceDoc(name=path.name, path=path.name, text=found.text))
    assert [a.title for a in articles] == ["城北区举办春风送真情招聘会", "吉安市工会示范点名单发布"]
    assert "106家企业" in "".join(b.text for b in articles[0].blocks)


def test_two_column_degraded_scan_keeps_the_columns_apart(tmp_path):
    story = STORY + STORY[1:3]
    page = render(story, columns=2, size=SMALL)[0]
    path = tmp_path / "poor.jpg"
    degrade(page.image).save(path, quality=40)
    found = extract_file(path)
    assert cer(page.text, found.text) <= 0.02  # interleaved columns would be far above this
    flat = found.text.replace("\n", "")
    assert flat.index("吸引106家企业入场") < flat.index("当天共有八百余人次进场求职")


def test_pdf_without_a_text_layer_is_read_by_ocr_with_its_page_number(tmp_path):
    first = render(STORY[:3], columns=1, size=SMALL)[0]
    second = render(STORY[3:], columns=1, size=SMALL)[0]
    path = tmp_path / "scanned.pdf"
    first.image.convert("RGB").save(
        path, "PDF", resolution=180, save_all=True, append_images=[second.image.convert("RGB")]
    )
    found = extract_file(path)
    assert [p.number for p in found.pages] == [1, 2]
    where = found.text.index("22家单位")
    assert found.page_at(where) == 2
    assert cer(first.text + second.text, found.text) <= 0.01


def test_corrupt_image_is_a_one_line_error(tmp_path):
    path = tmp_path / "broken.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 50)
    with pytest.raises(IngestError, match="broken.png: not a readable image"):
        extract_file(path)


def test_an_upside_down_scan_is_read_the_right_way_up(tmp_path):
    page = render(STORY[:2], columns=1, size=(1488, 420))[0]
    path = tmp_path / "upside-down.png"
    page.image.rotate(180).save(path)
    found = extract_file(path)
    assert cer(page.text, found.text) <= 0.02
