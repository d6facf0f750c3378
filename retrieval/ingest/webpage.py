"""News web pages: the article body, title, author and date, by trafilatura.

trafilatura 2.3 (Apache-2.0) kept exactly the body of a hand-written Chinese news page and
dropped its nav, sidebar, ads and footer (issue 10). Two of its metadata habits need care:
- on a page without a date it took one from a sidebar link's URL (a wrong date), so its
  opportunistic date search runs only after the metadata and the article's own dateline found
  nothing, and on a copy of the page whose links have no addresses;
- it keeps an author only when the name has a space, which Chinese names never have, so the
  `author` meta tags and a `作者：` byline are read here.
"""

from __future__ import annotations

import copy
import re
from datetime import date

from lxml import html as lxml_html

from . import dates
from .document import ArticleMeta, Extracted, IngestError

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_-]+)""", re.IGNORECASE)
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")
MIN_ARTICLE_CHARS = 30  # less is a menu or a link list (trafilatura falls back to whatever text there is)
_AUTHOR_PREFIX = re.compile(r"^\s*(?:作者|文|撰文|记者|本报记者|来源)\s*[：:|丨/]?\s*")
_BYLINE = re.compile(
    r"(?:作者|撰文|本报记者|记者)\s*[：:]?\s*([\u4e00-\u9fff·]{2,8}(?:[、，, ][\u4e00-\u9fff·]{2,8})*)"
)
_AUTHOR_META = ("author", "article:author", "byline", "dc.creator", "sailthru.author")
_NAME_END = re.compile(r"\s+(?:19|20)\d{2}.*$|[\s(（].*$")


def extract_html(
    data: bytes | str, url: str | None = None, name: str = "page", charset: str | None = None
) -> Extracted:
    """One web page → its article; a page with no article text is an IngestError."""
    import trafilatura

    try:
        tree = lxml_html.fromstring(_XML_DECLARATION.sub("", decode_html(data, charset), count=1))
    except (ValueError, lxml_html.etree.ParserError) as exc:
        raise IngestError(f"{name}: not an HTML page ({exc})") from exc
    today = date.today().isoformat()
    document = trafilatura.bare_extraction(
        copy.deepcopy(tree),
        url=url,
        with_metadata=True,
        favor_precision=True,  # kept a short page's nav links out, where the default let them in
        include_comments=False,
        include_tables=True,
        date_extraction_params={"extensive_search": False, "original_date": True, "max_date": today},
    )
    body = (getattr(document, "text", None) or "").strip() if document is not None else ""
    if not body:
        raise IngestError(f"{name}: no article text found")
    title = (getattr(document, "title", None) or "").strip() or None
    paragraphs = [p.strip() for p in body.split("\n") if p.strip()]
    if title and title in paragraphs[:3]:
        paragraphs.remove(title)  # the headline is the title, not body text
    text = "\n\n".join(paragraphs)
    if len(text) < MIN_ARTICLE_CHARS:
        raise IngestError(f"{name}: no article text found")
    author = _author(getattr(document, "author", None), tree, text)
    page_url = getattr(document, "url", None) or url
    found_date = (
        dates.normalize(getattr(document, "date", None))  # metadata, <time>, the page's own URL
        or dates.from_dateline(text)
        or _text_date(tree, page_url, today)
    )
    return Extracted(text=text, title=title, meta=ArticleMeta(date=found_date, url=page_url, author=author))


def decode_html(data: bytes | str, charset: str | None = None) -> str:
    """Bytes to text: the HTTP charset, else the page's `<meta charset>`, else detection (UTF-8 first)."""
    if isinstance(data, str):
        return data
    declared = charset or (_META_CHARSET.search(data[:4096]) or [None, None])[1]
    if declared:
        name = declared.decode("ascii", "ignore") if isinstance(declared, bytes) else declared
        try:
            return data.decode("gb18030" if name.lower() in ("gb2312", "gbk") else name)
        except (LookupError, UnicodeDecodeError):
            pass
    from trafilatura.utils import decode_file

    return decode_file(data)


def clean_author(value: str | None) -> str | None:
    """`作者：张三 2023-02-15` → `张三`."""
    if not value:
        return None
    name = _AUTHOR_PREFIX.sub("", value.strip())
    name = _NAME_END.sub("", name).strip(" ：:|丨/")
    return name or None


def _author(found: str | None, tree: lxml_html.HtmlElement, text: str) -> str | None:
    author = clean_author(found)
    if author:
        return author
    for meta in tree.iter("meta"):
        key = (meta.get("name") or meta.get("property") or "").lower()
        if key in _AUTHOR_META and (meta.get("content") or "").strip():
            author = clean_author(meta.get("content"))
            if author and not author.startswith("http"):
                return author
    match = _BYLINE.search(text[:200])
    return match.group(1) if match else None


def _text_date(tree: lxml_html.HtmlElement, url: str | None, today: str) -> str | None:
    """trafilatura's opportunistic date search over the page text, never over link addresses."""
    from htmldate import find_date

    unlinked = copy.deepcopy(tree)
    for anchor in unlinked.iter("a"):
        anchor.attrib.pop("href", None)
    return dates.normalize(find_date(unlinked, extensive_search=True, original_date=True, url=url, max_date=today))
