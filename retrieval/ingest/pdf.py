"""E-paper PDFs: the text layer where a page has one, OCR where it is empty.

pypdfium2 reads a page's Chinese text exactly in about 3 ms, but in the order the PDF stores it,
which for many e-papers is row by row across columns (issue 10). So each page's words come with
boxes from pdfplumber and go through the same XY-cut as OCR lines; pdfium's text checks them (a
font without a Unicode map makes pdfminer print `(cid:123)`, and then pdfium's text is used as is).
An empty text layer is the signal that the page is a scan: it is rendered and read by OCR.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pdfplumber
import pypdfium2 as pdfium

from .document import Extracted, IngestError, join_pages
from .layout import Box, page_text

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
OCR_DPI = 180  # the resolution at which generated pages OCR without errors (issue 10)
AGREEMENT = 0.98  # share of pdfium's characters the word boxes must reproduce to be trusted


def extract_pdf(path: Path, progress: Progress | None = None, name: str | None = None) -> Extracted:
    """All pages of a PDF, numbered as a viewer numbers them; pages with no text are skipped."""
    label = name or path.name
    try:
        document = pdfium.PdfDocument(str(path))
    except (pdfium.PdfiumError, OSError) as exc:
        raise IngestError(f"{label}: not a readable PDF ({exc})") from exc
    try:
        total = len(document)
        texts: list[tuple[int, str]] = []
        notes: list[str] = []
        plumber = None
        for index in range(total):
            try:
                page = document[index]
                try:
                    layer = page.get_textpage().get_text_range()
                    if layer.strip():
                        if plumber is None:
                            plumber = pdfplumber.open(str(path))
                        text = _text_layer(plumber.pages[index], layer)
                    else:
                        text = _ocr(page)
                finally:
                    page.close()
            except IngestError:
                raise
            except Exception as exc:  # noqa: BLE001 - two parsers of untrusted files: one bad page must not stop the rest
                notes.append(f"{label} page {index + 1}: unreadable ({type(exc).__name__}: {exc})")
                text = ""
            else:
                if not text.strip():
                    notes.append(f"{label} page {index + 1}: no text")
            if text.strip():
                texts.append((index + 1, text))
            if progress:
                progress(index + 1, total)
        if plumber is not None:
            plumber.close()
    finally:
        document.close()
    if not texts:
        raise IngestError(f"{label}: no text on any of its {total} pages")
    text, spans = join_pages(texts)
    return Extracted(text=text, pages=spans, warnings=notes)


def _text_layer(page: pdfplumber.page.Page, layer: str) -> str:
    words = page.extract_words(keep_blank_chars=False, use_text_flow=False)
    boxes = [Box(w["x0"], w["top"], w["x1"], w["bottom"], w["text"]) for w in words if w.get("upright", True)]
    ordered = page_text(boxes)
    if _agreement(ordered, layer) >= AGREEMENT:
        return ordered
    log.info("page %d: word boxes disagree with the text layer; keeping the layer's order", page.page_number)
    return "\n".join(line.rstrip() for line in layer.replace("\r\n", "\n").replace("\r", "\n").split("\n"))


def _agreement(candidate: str, reference: str) -> float:
    """Share of the reference's non-space characters that the candidate has (as a multiset)."""
    ref = Counter(ch for ch in reference if not ch.isspace())
    got = Counter(ch for ch in candidate if not ch.isspace())
    total = sum(ref.values())
    return sum((ref & got).values()) / total if total else 1.0


def _ocr(page: pdfium.PdfPage) -> str:
    from .ocr import ocr_page  # the OCR engine loads only when a page needs it

    image = page.render(scale=OCR_DPI / 72).to_pil()
    return ocr_page(image)
