"""Cut articles into chunks on Chinese sentence boundaries.

Chunks never cross an article, never cut a sentence that fits in a chunk, and overlap by
whole sentences so a reason sentence is never separated from the claim before it.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

from .articles import Article, split_articles
from .ingest.dates import from_dateline
from .loading import SourceDoc

_SENTENCE_END = re.compile(r"[。！？!?；;]+[”’」』）)】〕\"']*|…{2,}[”’」』）)]*")
# `;` ends a sentence (scans write it for `；`), but not the one closing an HTML entity such as `&amp;`
ENTITY_BEFORE = re.compile(r"&#?[0-9A-Za-z]{1,8}$")
_CLAUSE_END = re.compile(r"[，,、：:]")


@dataclass
class Chunk:
    """One retrievable unit; `start`/`end` are offsets into the source document's text."""

    id: int
    doc: str
    path: str
    title: str
    article: int
    text: str
    start: int
    end: int
    sentences: list[tuple[int, int]] = field(default_factory=list)  # spans in `text`
    date: str | None = None  # the article's publication date (ISO), where known
    url: str | None = None
    author: str | None = None
    page: int | None = None  # the PDF or scan page the chunk starts on

    def to_json(self) -> dict:
        data = asdict(self)
        data["sentences"] = [list(s) for s in self.sentences]
        return data

    @classmethod
    def from_json(cls, data: dict) -> Chunk:
        data = dict(data)
        data.pop("kind", None)  # written by indexes built before the unused field was dropped
        data["sentences"] = [tuple(s) for s in data.get("sentences", [])]
        return cls(**data)

    def index_text(self) -> str:
        """What the keyword and vector indexes see: the title gives a chunk its topic."""
        return f"{self.title}\n{self.text}"


def split_sentences(text: str, max_len: int) -> list[tuple[int, int]]:
    """Sentence spans of `text`; a sentence longer than `max_len` is cut at clause marks."""
    spans: list[tuple[int, int]] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        if match.group().startswith(";") and ENTITY_BEFORE.search(text, max(0, match.start() - 10), match.start()):
            continue
        spans.append((start, match.end()))
        start = match.end()
    if start < len(text):
        spans.append((start, len(text)))
    out: list[tuple[int, int]] = []
    for s, e in spans:
        # drop leading whitespace from the span
        while s < e and text[s].isspace():
            s += 1
        if s >= e:
            continue
        if e - s <= max_len:
            out.append((s, e))
            continue
        out.extend(_split_long(text, s, e, max_len))
    return out


def _split_long(text: str, s: int, e: int, max_len: int) -> list[tuple[int, int]]:
    pieces: list[tuple[int, int]] = []
    cursor = s
    while e - cursor > max_len:
        window = text[cursor : cursor + max_len]
        cuts = [m.end() for m in _CLAUSE_END.finditer(window) if m.end() >= max_len // 3]
        cut = cursor + (cuts[-1] if cuts else max_len)
        pieces.append((cursor, cut))
        cursor = cut
    if cursor < e:
        pieces.append((cursor, e))
    return pieces


@dataclass
class _Sentence:
    text: str
    origin: list[int]  # original offset of each character
    block: int


def _article_sentences(article: Article, max_len: int) -> list[_Sentence]:
    sentences: list[_Sentence] = []
    for index, block in enumerate(article.blocks):
        offsets = block.offset_map()
        for s, e in split_sentences(block.text, max_len):
            piece = block.text[s:e].rstrip()
            if piece:
                sentences.append(_Sentence(piece, offsets[s : s + len(piece)], index))
    return sentences


def chunk_article(article: Article, chunk_size: int, overlap: int) -> list[tuple[str, int, int, list[tuple[int, int]]]]:
    """(text, start, end, sentence spans) for each chunk of one article.

    A chunk holds at most `chunk_size` characters of text and spans at most 1.5 × that in the
    file: a magazine's masthead interleaved with its dropped table of contents was one 306-character
    chunk covering 1,532 characters of the page, which then filled a whole answer's source budget.
    """
    sentences = _article_sentences(article, max_len=chunk_size * 2)
    max_span = chunk_size * 3 // 2
    groups: list[list[int]] = []
    current: list[int] = []
    size = 0
    for k, sentence in enumerate(sentences):
        length = len(sentence.text)
        end = sentence.origin[-1] + 1
        if current and (size + length > chunk_size or end - sentences[current[0]].origin[0] > max_span):
            groups.append(current)
            carry: list[int] = []
            if overlap:
                for idx in reversed(current[-overlap:]):
                    if sum(len(sentences[c].text) for c in carry) + len(sentences[idx].text) > chunk_size // 2:
                        break  # carried sentences must stay contiguous with the new one
                    if end - sentences[idx].origin[0] > max_span:
                        break
                    carry.insert(0, idx)
            current = carry
            size = sum(len(sentences[c].text) for c in current)
        current.append(k)
        size += length
    if current and (not groups or current[-1] != groups[-1][-1]):
        groups.append(current)

    out = []
    for group in groups:
        parts: list[str] = []
        spans: list[tuple[int, int]] = []
        pos = 0
        previous_block = None
        for idx in group:
            sentence = sentences[idx]
            if previous_block is not None and sentence.block != previous_block:
                parts.append("\n")
                pos += 1
            spans.append((pos, pos + len(sentence.text)))
            parts.append(sentence.text)
            pos += len(sentence.text)
            previous_block = sentence.block
        first, last = sentences[group[0]], sentences[group[-1]]
        out.append(("".join(parts), first.origin[0], last.origin[-1] + 1, spans))
    return out


def chunk_documents(docs: list[SourceDoc], chunk_size: int, overlap: int, first_id: int = 0) -> list[Chunk]:
    chunks: list[Chunk] = []
    next_id = first_id
    for doc in docs:
        for a_index, article in enumerate(split_articles(doc)):
            date = doc.date or _dateline(article)
            for text, start, end, spans in chunk_article(article, chunk_size, overlap):
                chunks.append(
                    Chunk(
                        id=next_id,
                        doc=doc.name,
                        path=doc.path,
                        title=article.title,
                        article=a_index,
                        text=text,
                        start=start,
                        end=end,
                        sentences=spans,
                        date=date,
                        url=doc.url,
                        author=doc.author,
                        page=_page(doc, start),
                    )
                )
                next_id += 1
    return chunks


def _dateline(article: Article) -> str | None:
    """An e-paper page holds many articles; one may carry its own dateline (`新华社北京2023年2月15日电`)."""
    return from_dateline("\n".join(block.text for block in article.blocks[:3]))


def _page(doc: SourceDoc, offset: int) -> int | None:
    number = None
    for span in doc.pages:
        if span.start > offset:
            break
        number = span.number
    return number if number is not None or not doc.pages else doc.pages[0].number
