"""Split a cleaned document into articles, each with a title.

A newspaper page holds many articles; a chunk that straddles two of them is the most common
retrieval miss, so articles are found first and chunks never cross them. Headlines are runs of
short, unpunctuated paragraphs (or Markdown headings) followed by body text; `（下转…）`
ends an article and `（上接…）` starts a continuation; a magazine's table of contents is
kept out of the text, while its masthead (issue, editors, publisher) stays searchable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .cleaning import _NAME_ONLY, _NUMBERED, LEADING_CONTINUATION, Block, clean
from .loading import SourceDoc

_LEAD = re.compile(
    r"^(?:本报讯|新华社|人民网|中新社|央视网|[（(【]?[^，,。]{0,8}(?:讯|电)[）)】]?|[0-9０-９一二三四五六七八九十]+月[0-9０-９一二三四五六七八九十]+日)"
)
_PAREN_ONLY = re.compile(r"^[（(].*[)）]$")


@dataclass
class Article:
    title: str
    doc: SourceDoc
    blocks: list[Block] = field(default_factory=list)
    kind: str = "body"  # body | front
    closed: bool = False


def title_like(block: Block, before_byline: bool = False) -> bool:
    """Could this paragraph be (part of) a headline? Right above a byline, a longer one can."""
    if block.kind in ("heading", "byline"):
        return True
    if block.kind != "text":
        return False
    text = block.text
    if len(text) > (80 if before_byline else 40) or _PAREN_ONLY.match(text) or text[0] in LEADING_CONTINUATION:
        return False
    if re.search(r"[。！？!?；;]", text) or text[-1] in "，,、：:":
        return False
    return len(re.findall(r"[，,]", text)) <= 1


def _headline(run: list[Block]) -> str:
    return re.sub(r"\s+", " ", " ".join(b.text for b in run if b.text)).strip()


def _first_sentence(text: str, limit: int = 28) -> str:
    sentence = re.split(r"(?<=[。！？!?])", text, maxsplit=1)[0]
    return sentence if len(sentence) <= limit else sentence[:limit] + "…"


def split_articles(doc: SourceDoc) -> list[Article]:
    blocks = clean(doc.text)
    if doc.title is not None:
        # a record that names its own title is one article (CMRC passages, jsonl corpora)
        body = [b for b in blocks if b.kind != "toc"]
        return [Article(title=doc.title, doc=doc, blocks=body)] if body else []

    articles: list[Article] = []
    start = 0
    toc = [i for i, b in enumerate(blocks) if b.kind == "toc"]
    if len(toc) >= 3:
        # front matter: everything up to the last table-of-contents line
        front_end = toc[-1] + 1
        front = [b for b in blocks[:front_end] if b.kind != "toc"]
        if front:
            articles.append(Article(title=front[0].text, doc=doc, blocks=front, kind="front", closed=True))
        start = front_end

    toc_titles = _toc_titles(blocks)
    used_titles: set[str] = set()
    current: Article | None = None
    i = start
    n = len(blocks)
    plain_until = start  # blocks before this were already tried as a headline run and are body text

    def headline_part(k: int) -> bool:
        return title_like(blocks[k], before_byline=k + 1 < n and blocks[k + 1].kind == "byline")

    while i < n:
        block = blocks[i]
        if block.kind == "toc":
            i += 1
            continue
        if i >= plain_until and headline_part(i) and not _NUMBERED.match(block.text):
            j = i
            while j < n and headline_part(j) and (j == i or not _NUMBERED.match(blocks[j].text)):
                j += 1
            # Every run starting inside i..j ends at j too, so if this one is not a headline
            # (no body after it), none of them is: never re-scan it. Re-scanning made a file of
            # 40k short lines quadratic (over 170 s); bench/robustness.py measures the split.
            plain_until = j
            run = blocks[i:j]
            if len(run) > 1 and len(run[0].text) >= 6 and _norm(run[0].text) in used_titles:
                run = run[1:]  # a running header at the top of a page repeats an earlier headline
            has_body = j < n and blocks[j].kind == "text"
            if has_body and not all(b.kind == "byline" for b in run):
                used_titles.update(_norm(b.text) for b in run if b.kind != "byline")
                last_title = max(k for k, b in enumerate(run) if b.kind != "byline")
                headline = _headline(run[: last_title + 1])
                bylines = run[last_title + 1 :]  # bylines after the headline open the body
                is_section = (
                    len(run) == 1
                    and run[0].kind == "text"
                    and len(run[0].text) <= 20
                    and current is not None
                    and not current.closed
                    and current.kind == "body"
                    and not _LEAD.match(blocks[j].text)
                    and not _in_toc(run[0].text, toc_titles)
                )
                if is_section and current is not None:
                    title = f"{current.title.split(' · ')[0]} · {headline}"
                else:
                    title = headline
                author = next((b.text for b in bylines if _NAME_ONLY.match(b.text)), None)
                if author and author not in title:
                    title = f"{title}（{author}）"  # a signed commentary: the author is how people ask for it
                current = Article(title=title, doc=doc, blocks=list(bylines))
                articles.append(current)
                i = j
                continue
        if current is None or current.closed or block.continued_from:
            title = _continuation_title(block, articles) if block.continued_from else _first_sentence(block.text)
            current = Article(title=title, doc=doc)
            articles.append(current)
        current.blocks.append(block)
        if block.continues:
            current.closed = True
        i += 1
    return [a for a in articles if a.blocks]


def _continuation_title(block: Block, articles: list[Article]) -> str:
    """A `（上接第N版）` segment: name it after the jumping article it shares most words with."""
    candidates = [a for a in articles if a.closed and a.kind == "body" and a.blocks and a.blocks[-1].continues]
    best, best_score = None, 0.0
    grams = _bigrams(block.text)
    for article in candidates:
        text = "".join(b.text for b in article.blocks)
        other = _bigrams(text)
        if not other:
            continue
        score = len(grams & other) / max(1, min(len(grams), len(other)))
        if score > best_score:
            best, best_score = article, score
    if best is not None and best_score >= 0.12:
        return f"{best.title}（续）"
    return f"（续）{_first_sentence(block.text)}"


def _bigrams(text: str) -> set[str]:
    han = re.sub(r"[^\u4e00-\u9fff0-9A-Za-z]", "", text)
    return {han[k : k + 2] for k in range(len(han) - 1)}


def _norm(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _toc_titles(blocks: list[Block]) -> list[str]:
    titles = []
    for k, block in enumerate(blocks):
        if block.kind != "toc":
            continue
        entry = re.sub(r"(?:\t|…{2,}|\.{4,}|·{4,}).*$", "", block.text)
        entry = re.sub(r"\s*/\s*\S+$", "", entry)
        if k and blocks[k - 1].kind == "text" and len(blocks[k - 1].text) >= 12:
            entry = blocks[k - 1].text + entry  # an entry wrapped over two lines
        if len(_norm(entry)) >= 4 and not _norm(entry).strip("-—"):
            continue
        if len(_norm(entry)) >= 4:
            titles.append(_norm(entry))
    return titles


def _in_toc(text: str, toc_titles: list[str]) -> bool:
    key = _norm(text)
    return len(key) >= 6 and any(key in t or t in key for t in toc_titles)
