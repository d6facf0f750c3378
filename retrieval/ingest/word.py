"""Word documents (.docx) by python-docx (MIT): paragraphs and tables in document order.

Heading and Title styles become Markdown `#` headings, which the article splitter takes as
headlines. The core properties are not used: their author is whoever saved the file and their
date is when it was created, neither the article's (python-docx's own template says 2013).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from .document import Extracted, IngestError


def extract_docx(path: Path, name: str | None = None) -> Extracted:
    label = name or path.name
    import docx
    from docx.opc.exceptions import PackageNotFoundError
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        document = docx.Document(str(path))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise IngestError(f"{label}: not a readable .docx file ({type(exc).__name__}: {exc})") from exc
    lines: list[str] = []
    for item in document.iter_inner_content():
        if isinstance(item, Paragraph):
            text = item.text.strip()
            if not text:
                continue
            style = (item.style.name if item.style is not None else "") or ""
            if style == "Title" or style.startswith("Heading"):
                level = 1 if style == "Title" else _heading_level(style)
                lines.append("#" * level + " " + " ".join(text.split()))
            else:
                lines.append(text)
        elif isinstance(item, Table):
            for row in item.rows:
                cells = list(dict.fromkeys(c.text.strip() for c in row.cells if c.text.strip()))
                if cells:
                    lines.append(" ".join(cells))
    if not lines:
        raise IngestError(f"{label}: the document has no text")
    return Extracted(text="\n\n".join(lines), markdown=True)


def _heading_level(style: str) -> int:
    digits = "".join(ch for ch in style if ch.isdigit())
    return min(6, int(digits)) if digits else 1
