"""Pick the extractor for a file by its suffix and fill in the dates a file can give.

A date found by the extractor (web-page metadata) wins; then a dated file name (an e-paper is
named for its day); then a dateline near the top of the text.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

from . import dates
from .document import ArticleMeta, Extracted, IngestError
from .images import IMAGE_SUFFIXES

Progress = Callable[[int, int], None]

PDF_SUFFIXES = {".pdf"}
HTML_SUFFIXES = {".html", ".htm"}
DOCX_SUFFIXES = {".docx"}
SUFFIXES = PDF_SUFFIXES | IMAGE_SUFFIXES | HTML_SUFFIXES | DOCX_SUFFIXES


def extract_file(
    path: Path, progress: Progress | None = None, url: str | None = None, name: str | None = None
) -> Extracted:
    """The text and metadata of one file; IngestError (one line, naming it) when it cannot be read.

    `name` is what messages and the file-name date use (the corpus name when `path` is a copy).
    """
    label = name or path.name
    suffix = Path(label).suffix.lower() or path.suffix.lower()
    if suffix in PDF_SUFFIXES:
        from .pdf import extract_pdf

        found = extract_pdf(path, progress, label)
    elif suffix in IMAGE_SUFFIXES:
        from .images import extract_image

        found = extract_image(path, progress, label)
    elif suffix in HTML_SUFFIXES:
        from .webpage import extract_html

        try:
            data = path.read_bytes()
        except OSError as exc:
            raise IngestError(f"{label}: cannot read ({exc.strerror})") from exc
        found = extract_html(data, url=url, name=label)
    elif suffix in DOCX_SUFFIXES:
        from .word import extract_docx

        found = extract_docx(path, label)
    else:
        raise IngestError(f"{label}: unsupported file type {suffix or '(none)'}")
    return found.with_meta(ArticleMeta(date=dates.from_filename(label) or dates.from_dateline(found.text)))


def extract_data(data: bytes, name: str, progress: Progress | None = None, url: str | None = None) -> Extracted:
    """The same, for bytes already read (the corpus loader hashes a file's bytes before parsing them)."""
    suffix = Path(name).suffix.lower()
    with tempfile.TemporaryDirectory(prefix="qabot-ingest-") as tmp:
        copy = Path(tmp) / f"input{suffix}"
        copy.write_bytes(data)
        return extract_file(copy, progress, url=url, name=name)
