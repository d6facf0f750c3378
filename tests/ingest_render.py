"""Newspaper-like pages rendered from Chinese text with a Debian CJK font (for tests and bench/ingest.py).

Each page comes with the text drawn on it, in reading order, so OCR can be scored against it.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont

FONT_PATHS = [
    Path(os.environ.get("QABOT_TEST_FONT", "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")),
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
]
NO_FONT = "the CJK font fonts-wqy-zenhei is not installed (scripts/test.sh installs it when run as root)"

# A4 at 180 dpi, 10-point body text, 17-point headlines.
PAGE = (1488, 2105)
MARGIN = 90
GUTTER = 60
BODY = 25
HEADLINE = 42
LEADING = 1.55


def font_path() -> Path | None:
    return next((p for p in FONT_PATHS if p.is_file()), None)


@dataclass
class Page:
    image: Image.Image
    text: str = ""  # every character drawn, in reading order
    paragraphs: list[str] = field(default_factory=list)


def render(paragraphs: list[tuple[str, str]], columns: int = 1, size: tuple[int, int] = PAGE) -> list[Page]:
    """Lay out ("headline" | "body", text) paragraphs in `columns` columns over as many pages as needed."""
    path = font_path()
    if path is None:
        raise RuntimeError(NO_FONT)
    fonts = {"body": ImageFont.truetype(str(path), BODY), "headline": ImageFont.truetype(str(path), HEADLINE)}
    width, height = size
    column_width = (width - 2 * MARGIN - (columns - 1) * GUTTER) // columns
    pages: list[Page] = []
    state: dict = {"page": None, "column": 0, "y": MARGIN, "fresh": True}

    def new_page() -> None:
        page = Page(Image.new("L", size, 255))
        pages.append(page)
        state.update(page=page, column=0, y=MARGIN, fresh=True)

    def next_column() -> None:
        if state["column"] + 1 < columns:
            state.update(column=state["column"] + 1, y=MARGIN)
        else:
            new_page()

    new_page()
    for kind, text in paragraphs:
        font = fonts[kind]
        points = HEADLINE if kind == "headline" else BODY
        step = int(points * LEADING)
        indent = 2 * points if kind == "body" else 0
        lines = _wrap(text, font, column_width, indent)
        if kind == "headline" and state["y"] > MARGIN:
            state["y"] += points // 2
        for k, line in enumerate(lines):
            if state["y"] + step > height - MARGIN:
                next_column()
            page: Page = state["page"]  # type: ignore[assignment]
            x = MARGIN + state["column"] * (column_width + GUTTER) + (indent if k == 0 else 0)
            ImageDraw.Draw(page.image).text((x, state["y"]), line, font=font, fill=0)
            page.text += line
            if k == 0 or state["fresh"]:
                page.paragraphs.append(line)
            else:
                page.paragraphs[-1] += line
            state["y"] += step
            state["fresh"] = False
        if kind == "headline":
            state["y"] += points // 2
    return [p for p in pages if p.text]


def _wrap(text: str, font: ImageFont.FreeTypeFont, width: int, indent: int) -> list[str]:
    lines: list[str] = []
    current = ""
    limit = width - indent
    for ch in text:
        if font.getlength(current + ch) > limit:
            lines.append(current)
            current, limit = ch, width
        else:
            current += ch
    if current:
        lines.append(current)
    return lines


def degrade(image: Image.Image, angle: float = 1.5, blur: float = 0.8, quality: int = 35) -> Image.Image:
    """A poor scan: slightly rotated, blurred and JPEG-compressed."""
    rotated = image.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=255)
    blurred = rotated.filter(ImageFilter.GaussianBlur(blur))
    buffer = io.BytesIO()
    blurred.save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    return Image.open(buffer).convert("L")


def seed_paragraphs(text: str) -> list[tuple[str, str]]:
    """A seed file's lines as paragraphs; short unpunctuated lines are set as headlines."""
    out = []
    for line in text.split("\n"):
        line = line.strip()
        if not line:
            continue
        headline = len(line) <= 24 and not any(ch in line for ch in "。！？；，,")
        out.append(("headline" if headline else "body", line))
    return out
