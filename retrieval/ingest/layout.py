"""Reading order and paragraphs from text boxes (OCR lines or PDF words), by recursive XY-cut.

OCR returns lines top to bottom, so a two-column page comes out interleaved (86 % character
error rate on a generated page, issue 10). A region is cut at a vertical gutter that *no* box
crosses (a column gap), else at unusually wide horizontal gaps (between stories), else by
peeling a full-width headline off columns below it; each piece is cut again. A single-column
page has no box-free gutter (its full lines cross every x), so it is never split into columns;
the tests render both kinds of page.

Inside a leaf region, boxes are grouped into lines and lines into paragraphs by geometry
(a short line ends a paragraph, an indented line or a change of font size starts one), so
the page text looks like the seed files: one paragraph a line, blank lines between.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

# Thresholds in units of the median text height (about one character for Chinese text).
GUTTER = 0.8  # a column gap is at least this wide
SPECK = 1.5  # boxes narrower than this may sit in a gutter (page numbers, rules read as `丨`)
STORY_GAP = 1.8  # a horizontal gap this many times the usual line gap separates stories...
STORY_GAP_MIN = 0.8  # ...and is at least this tall
LINE_OVERLAP = 0.5  # boxes on one line overlap vertically by half the smaller height
SHORT_LINE = 2.0  # a line ending this far left of the region's right edge ends a paragraph
INDENT = 0.8  # a line starting this far right of the region's left edge starts one
FONT_CHANGE = 0.25  # a height change of a quarter is a new paragraph (headline vs body)
SPACE = 0.6  # a gap this wide between boxes on a line is kept as a space


@dataclass(frozen=True)
class Box:
    """An axis-aligned text box in page coordinates (y grows downwards)."""

    x0: float
    y0: float
    x1: float
    y1: float
    text: str

    @property
    def height(self) -> float:
        return self.y1 - self.y0

    @property
    def width(self) -> float:
        return self.x1 - self.x0


@dataclass(frozen=True)
class Line:
    boxes: tuple[Box, ...]
    text: str
    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def height(self) -> float:
        return self.y1 - self.y0


def reading_order(boxes: Sequence[Box]) -> list[list[Box]]:
    """Leaf regions in reading order (columns left to right, stories top to bottom)."""
    boxes = [b for b in boxes if b.text.strip() and b.x1 > b.x0 and b.y1 > b.y0]
    if not boxes:
        return []
    unit = statistics.median(b.height for b in boxes)
    return _cut(boxes, unit)


def page_text(boxes: Sequence[Box]) -> str:
    """The page as paragraphs in reading order, one a line, separated by blank lines."""
    paragraphs: list[str] = []
    for region in reading_order(boxes):
        paragraphs.extend(region_paragraphs(region))
    return "\n\n".join(paragraphs)


def region_paragraphs(region: Sequence[Box]) -> list[str]:
    lines = group_lines(region)
    if not lines:
        return []
    unit = statistics.median(line.height for line in lines)
    left = min(line.x0 for line in lines)
    right = max(line.x1 for line in lines)
    paragraphs: list[list[str]] = [[lines[0].text]]
    for prev, line in itertools.pairwise(lines):
        ends_short = prev.x1 < right - SHORT_LINE * unit
        indented = line.x0 > left + INDENT * unit
        resized = abs(line.height - prev.height) > FONT_CHANGE * max(line.height, prev.height)
        if ends_short or indented or resized:
            paragraphs.append([line.text])
        else:
            paragraphs[-1].append(line.text)
    return [_join_words(p) for p in paragraphs]


def group_lines(region: Sequence[Box]) -> list[Line]:
    """Boxes that overlap vertically form a line, read left to right; lines top to bottom."""
    rows: list[list[Box]] = []
    for box in sorted(region, key=lambda b: (b.y0 + b.y1) / 2):
        row = rows[-1] if rows else None
        if row is not None:
            top, bottom = min(b.y0 for b in row), max(b.y1 for b in row)
            overlap = min(bottom, box.y1) - max(top, box.y0)
            if overlap >= LINE_OVERLAP * min(box.height, bottom - top):
                row.append(box)
                continue
        rows.append([box])
    lines = []
    for row in rows:
        row.sort(key=lambda b: b.x0)
        unit = statistics.median(b.height for b in row)
        parts = [row[0].text.strip()]
        for prev, box in itertools.pairwise(row):
            gap = box.x0 - prev.x1
            parts.append((" " if gap > SPACE * unit else "") + box.text.strip())
        lines.append(
            Line(
                boxes=tuple(row),
                text=_join_words(parts),
                x0=min(b.x0 for b in row),
                y0=min(b.y0 for b in row),
                x1=max(b.x1 for b in row),
                y1=max(b.y1 for b in row),
            )
        )
    return lines


def _join_words(parts: list[str]) -> str:
    """Join line pieces: nothing between Chinese characters, a space between Latin words."""
    out = ""
    for part in parts:
        if out and part and out[-1].isascii() and out[-1].isalnum() and part[0].isascii() and part[0].isalnum():
            out += " "
        out += part
    return out


# -- XY-cut -------------------------------------------------------------------------------------


def _cut(boxes: list[Box], unit: float) -> list[list[Box]]:
    if len(boxes) <= 1:
        return [boxes]
    columns = _split_x(boxes, unit)
    if columns is not None:
        return [leaf for part in columns for leaf in _cut(part, unit)]
    gaps = _gaps([(b.y0, b.y1) for b in boxes], 0.05 * unit)
    if not gaps:
        return [boxes]
    usual = statistics.median(end - start for start, end in gaps)
    wide = [(s, e) for s, e in gaps if e - s >= max(STORY_GAP * usual, STORY_GAP_MIN * unit)]
    if wide and len(wide) < len(gaps):
        return [leaf for part in _split_y(boxes, wide) for leaf in _cut(part, unit)]
    # a full-width headline (or footer) above (below) columns hides their gutter: peel it off
    for gap in gaps:
        upper, lower = _split_y(boxes, [gap])
        if _split_x(lower, unit) is not None and _split_x(upper, unit) is None:
            return _cut(upper, unit) + _cut(lower, unit)
    for gap in reversed(gaps):
        upper, lower = _split_y(boxes, [gap])
        if _split_x(upper, unit) is not None and _split_x(lower, unit) is None:
            return _cut(upper, unit) + _cut(lower, unit)
    return [boxes]


def _split_x(boxes: list[Box], unit: float) -> list[list[Box]] | None:
    """Split at gutters no box crosses (specks aside); None when there is none."""
    solid = [b for b in boxes if b.width >= SPECK * unit]
    if len(solid) < 2:
        return None
    gaps = _gaps([(b.x0, b.x1) for b in solid], GUTTER * unit)
    if not gaps:
        return None
    cuts = [(s + e) / 2 for s, e in gaps]
    parts: list[list[Box]] = [[] for _ in range(len(cuts) + 1)]
    for box in boxes:
        centre = (box.x0 + box.x1) / 2
        parts[sum(1 for c in cuts if centre > c)].append(box)
    parts = [p for p in parts if p]
    return parts if len(parts) > 1 else None


def _split_y(boxes: list[Box], gaps: list[tuple[float, float]]) -> list[list[Box]]:
    cuts = [(s + e) / 2 for s, e in gaps]
    parts: list[list[Box]] = [[] for _ in range(len(cuts) + 1)]
    for box in boxes:
        centre = (box.y0 + box.y1) / 2
        parts[sum(1 for c in cuts if centre > c)].append(box)
    return [p for p in parts if p]


def _gaps(intervals: list[tuple[float, float]], min_gap: float) -> list[tuple[float, float]]:
    """Empty stretches between the union of `intervals`, at least `min_gap` long."""
    out: list[tuple[float, float]] = []
    ordered = sorted(intervals)
    reach = ordered[0][1]
    for start, end in ordered[1:]:
        if start - reach >= min_gap:
            out.append((reach, start))
        reach = max(reach, end)
    return out
