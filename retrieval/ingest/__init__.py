"""Turn real news formats into text the cleaning and article splitting already understand.

One module per job: `layout` (reading order from boxes), `ocr` (rapidocr with its bundled
models), `pdf`, `images`, `webpage` (trafilatura), `word` (.docx), `fetch` (safe downloads),
`feeds` (RSS/Atom polling), `dates` (publication dates), `extract` (pick by file type),
`cache` (extracted text by content hash) and `store` (articles added while running).
Every extractor returns an `Extracted`: the text whose offsets sources cite, its page spans,
and the article metadata (date, url, author).
"""

from .document import ArticleMeta, Extracted, IngestError, PageSpan
from .extract import SUFFIXES, extract_data, extract_file

__all__ = ["SUFFIXES", "ArticleMeta", "Extracted", "IngestError", "PageSpan", "extract_data", "extract_file"]
