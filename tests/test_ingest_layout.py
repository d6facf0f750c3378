"""Reading order from boxes: columns recovered, single-column pages left whole, paragraphs rebuilt."""

from __future__ import annotations

import math

import numpy as np

from retrieval.ingest.layout import Box, page_text, reading_order
from retrieval.ingest.ocr import straighten

H = 25  # character height in pixels
LEAD = 39  # line pitch


def column(
    x0: float, width: float, y0: float, lines: list[str], indent_first: bool = True, last_short: bool = True
) -> list[Box]:
    """Boxes of one column: full lines, the first indented, the last short."""
    boxes = []
    for k, text in enumerate(lines):
        left = x0 + (2 * H if k == 0 and indent_first else 0)
        right = x0 + width if (k < len(lines) - 1 or not last_short) else x0 + width * 0.4
        boxes.append(Box(left, y0 + k * LEAD, right, y0 + k * LEAD + H, text))
    return boxes


def texts(regions: list[list[Box]]) -> list[list[str]]:
    return [[b.text for b in sorted(r, key=lambda b: b.y0)] for r in regions]


def test_single_column_page_stays_one_region_even_with_short_and_centred_lines():
    headline = [Box(300, 0, 700, 45, "标题")]
    body = column(100, 800, 80, [f"左{k}" for k in range(6)]) + column(
        100, 800, 80 + 6 * LEAD, [f"次{k}" for k in range(4)]
    )
    caption = [Box(100, 80 + 10 * LEAD, 260, 80 + 10 * LEAD + H, "短行")]  # a short line at the left margin
    regions = reading_order(headline + body + caption)
    flat = [t for r in texts(regions) for t in r]
    assert flat == ["标题", *[f"左{k}" for k in range(6)], *[f"次{k}" for k in range(4)], "短行"]
    # no region holds only part of the body's lines side by side: nothing was cut into columns
    assert all(len({round(b.x0) for b in r if b.width > 300}) <= 2 for r in regions)


def test_two_columns_read_left_column_first():
    left = column(100, 400, 0, [f"左{k}" for k in range(8)])
    right = column(560, 400, 0, [f"右{k}" for k in range(8)])
    # boxes arrive top to bottom, interleaved, as OCR returns them
    interleaved = sorted(left + right, key=lambda b: (b.y0, b.x0))
    flat = [t for r in texts(reading_order(interleaved)) for t in r]
    assert flat == [f"左{k}" for k in range(8)] + [f"右{k}" for k in range(8)]


def test_headline_across_both_columns_is_read_before_them_with_ordinary_spacing():
    headline = [Box(100, 0, 960, H, "通栏标题")]  # as close to the body as body lines are to each other
    left = column(100, 400, LEAD, [f"左{k}" for k in range(5)])
    right = column(560, 400, LEAD, [f"右{k}" for k in range(5)])
    flat = [t for r in texts(reading_order(headline + left + right)) for t in r]
    assert flat == ["通栏标题"] + [f"左{k}" for k in range(5)] + [f"右{k}" for k in range(5)]


def test_stories_stacked_in_two_columns_each_read_in_turn():
    top = column(100, 400, 0, ["甲0", "甲1", "甲2"]) + column(560, 400, 0, ["乙0", "乙1", "乙2"])
    rule = [Box(100, 3 * LEAD + 40, 960, 3 * LEAD + 40 + 45, "第二篇通栏标题")]
    bottom = column(100, 400, 3 * LEAD + 120, ["丙0", "丙1"]) + column(560, 400, 3 * LEAD + 120, ["丁0", "丁1"])
    flat = [t for r in texts(reading_order(top + rule + bottom)) for t in r]
    assert flat == ["甲0", "甲1", "甲2", "乙0", "乙1", "乙2", "第二篇通栏标题", "丙0", "丙1", "丁0", "丁1"]


def test_a_speck_in_the_gutter_does_not_hide_the_columns():
    left = column(100, 400, 0, [f"左{k}" for k in range(6)])
    right = column(560, 400, 0, [f"右{k}" for k in range(6)])
    speck = [Box(515, 2 * LEAD, 535, 3 * LEAD, "丨")]
    flat = [t for r in texts(reading_order(left + right + speck)) for t in r if t != "丨"]
    assert flat == [f"左{k}" for k in range(6)] + [f"右{k}" for k in range(6)]


def test_paragraphs_rebuilt_from_indents_short_lines_and_font_size():
    headline = [Box(100, 0, 500, 45, "大字标题")]
    first = column(100, 800, 70, ["第一段开头", "中间", "结尾。"])
    second = column(100, 800, 70 + 3 * LEAD, ["第二段开头", "结尾。"])
    text = page_text(headline + first + second)
    assert text == "大字标题\n\n第一段开头中间结尾。\n\n第二段开头结尾。"


def test_latin_words_keep_a_space_across_line_breaks_chinese_does_not():
    lines = column(0, 800, 0, ["报道称 GDP", "growth 放缓", "了。"], indent_first=False)
    assert page_text(lines) == "报道称 GDP growth 放缓了。"


def test_skewed_ocr_quads_are_straightened_into_separate_lines():
    angle = math.radians(2.0)
    quads, labels = [], []
    for k in range(6):
        x0, y0, x1, y1 = 100, 100 + k * LEAD, 900, 100 + k * LEAD + H
        corners = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=float)
        cx, cy = 500, 300
        rotated = np.column_stack(
            [
                math.cos(angle) * (corners[:, 0] - cx) - math.sin(angle) * (corners[:, 1] - cy) + cx,
                math.sin(angle) * (corners[:, 0] - cx) + math.cos(angle) * (corners[:, 1] - cy) + cy,
            ]
        )
        quads.append(rotated)
        labels.append(f"行{k}")
    boxes = straighten(quads, labels, (500, 300))
    assert all(b.height < H * 1.2 for b in boxes)
    # each line stays a line of its own, in order (unstraightened, their bounding boxes overlap)
    assert page_text(boxes).replace("\n\n", "") == "".join(labels)
    assert max(b.y1 for b in boxes[:1]) < min(b.y0 for b in boxes[1:2])


def test_empty_and_blank_boxes_give_no_text():
    assert page_text([]) == ""
    assert page_text([Box(0, 0, 10, 10, "  ")]) == ""
