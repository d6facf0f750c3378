"""Turn scanned newspaper text into clean paragraphs that still know where they came from.

Cleaning only ever *drops* characters of the original file (line breaks inside sentences,
`（下转第3版）` markers, repeated caption lines), never rewrites them. Each paragraph is a list of
spans of the original text, so every character of the cleaned text maps back to an exact
offset in the file: citations can always point at the source.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import rjieba

# Sentence enders and the characters that may close a sentence after them.
TERMINAL = "。！？!?；;…"
CLOSERS = "”’」』）)】〕》\"'"
SOFT_PUNCT = "，,、：:；;（(“‘《〈【—-"
LEADING_CONTINUATION = "，,。、；;：:！!？?）)」』”’》〉】的了着们地得"

_MARKER = re.compile(r"[（(]\s*(?:上接|下转|接|转)(?:第)?\s*[0-9０-９一二三四五六七八九十]+\s*(?:版|页)\s*[)）]")
_MD_HEADING = re.compile(r"^[ \t]{0,3}(#{1,6})[ \t]+(.*?)[ \t#]*$")
_TOC_LINE = re.compile(r"(?:\t|…{2,}|\.{4,}|·{4,})\s*(?:/\s*\S+\s*)?[0-9]{1,3}\s*$")
_SEPARATOR = re.compile(r"^[\s\-—_=*·.]{3,}$")
_BYLINE = re.compile(r"^(?:□|■|◎|本报记者|本报通讯员|本报特约记者|新华社记者|特约记者|通讯员|记者)")
_NAME_ONLY = re.compile(r"^[\u4e00-\u9fff]{2,4}$")
_NUMBERED = re.compile(
    r"^(?:[一二三四五六七八九十]+[、.．]|[（(][一二三四五六七八九十0-9]+[)）]|[0-9]+[、.．](?!\d)|第[一二三四五六七八九十]+[，、,]|[一二三四五六七八九十]是)"
)
_TRAILING_PAREN = re.compile(r"(?<=[。！？!?”])\s*[（(][^（()）]{1,30}[)）]$")
_HAN = re.compile(r"[\u4e00-\u9fff]")


@dataclass(slots=True)
class Block:
    """A cleaned paragraph: the text plus the original spans it was cut from."""

    spans: list[tuple[int, int]]
    text: str
    kind: str = "text"  # text | heading | toc | byline
    level: int = 0  # Markdown heading level, 0 if none
    continued_from: bool = False  # began with `（上接第N版）`
    continues: bool = False  # followed by `（下转第N版）`

    def offset_map(self) -> list[int]:
        """Original offset of every character of `text`."""
        out: list[int] = []
        for start, end in self.spans:
            out.extend(range(start, end))
        return out


@dataclass(slots=True)
class _Line:
    start: int
    end: int  # without the newline
    text: str  # stripped
    lstrip: int  # offset of text within the raw line
    kind: str = "text"
    level: int = 0
    marker_before: bool = False
    marker_after: bool = False
    spans: list[tuple[int, int]] = field(default_factory=list)


def is_terminal(text: str) -> bool:
    """True when `text` ends a sentence (closing quotes/brackets after the ender allowed)."""
    text = _TRAILING_PAREN.sub("", text.rstrip()) or text
    stripped = text.rstrip(CLOSERS + " \t")
    if not stripped:
        return False
    if stripped[-1] in TERMINAL:
        return True
    # a quote or bracket that closes after an ender: `……。”`
    return text.rstrip()[-1:] in "”」』" and stripped[-1:] in TERMINAL


def _split_lines(text: str) -> list[_Line]:
    lines: list[_Line] = []
    pos = 0
    for raw in text.split("\n"):
        stripped = raw.strip()
        lead = len(raw) - len(raw.lstrip())
        lines.append(_Line(pos, pos + len(raw), stripped, lead))
        pos += len(raw) + 1
    return lines


def _classify(line: _Line) -> None:
    text = line.text
    base = line.start + line.lstrip
    if not text:
        line.kind = "blank"
        return
    heading = _MD_HEADING.match(text)
    if heading:
        content = heading.group(2)
        offset = text.find(content, len(heading.group(1))) if content else len(text)
        line.kind = "heading"
        line.level = len(heading.group(1))
        line.text = content
        line.spans = [(base + offset, base + offset + len(content))] if content else []
        if not content:
            line.kind = "blank"
        return
    # inline page-jump markers: cut them out of the line
    spans: list[tuple[int, int]] = []
    cursor = 0
    markers = _MARKER.finditer(text) if "接" in text or "转" in text else ()  # every marker has one
    for match in markers:
        if match.start() > cursor:
            spans.append((cursor, match.start()))
        if "接" in match.group(0):
            line.marker_before = True
        else:
            line.marker_after = True
        cursor = match.end()
    if cursor < len(text):
        spans.append((cursor, len(text)))
    # trim whitespace at the edges of each piece
    trimmed: list[tuple[int, int]] = []
    for s, e in spans:
        piece = text[s:e]
        ls = len(piece) - len(piece.lstrip())
        rs = len(piece.rstrip())
        if rs > ls:
            trimmed.append((base + s + ls, base + s + rs))
    line.spans = trimmed
    line.text = "".join(text[s - base : e - base] for s, e in trimmed)
    if not line.text:
        line.kind = "marker"
    elif _TOC_LINE.search(line.text) or _SEPARATOR.match(line.text):
        line.kind = "toc"
    elif (_BYLINE.match(line.text) and len(line.text) <= 40 and "。" not in line.text) or _NAME_ONLY.match(line.text):
        line.kind = "byline"


def _dedupe_caption(line: _Line) -> None:
    """`X X` (the same caption twice on a line) keeps one `X`."""
    parts = line.text.split()
    if len(parts) >= 2 and len(set(parts)) == 1 and len(line.spans) == 1:
        s, _ = line.spans[0]
        line.spans = [(s, s + len(parts[0]))]
        line.text = parts[0]


def _word_across(left: str, right: str) -> bool:
    """Does a dictionary word straddle the line break? (`…乡镇工` + `会和部分…` → `工会`)"""
    a = left[-4:]
    b = right[:4]
    if not a or not b or not _HAN.match(a[-1]) or not _HAN.match(b[0]):
        return False
    pos = 0
    for word in rjieba.cut(a + b, False):
        end = pos + len(word)
        if pos < len(a) < end and len(word) >= 2:
            return True
        pos = end
    return False


def _unbalanced(text: str) -> bool:
    return (
        text.count("“") > text.count("”")
        or text.count("《") > text.count("》")
        or (text.count("（") + text.count("(") > text.count("）") + text.count(")"))
    )


def should_join(left: str, right: str, left_kind: str = "text", right_kind: str = "text") -> bool:
    """Is `right` the rest of a sentence that a line break cut in `left`?"""
    if not left or not right or right_kind not in ("text", "byline") or left_kind not in ("text", "byline"):
        return False
    if right_kind == "byline":
        # a short name-like line joins only a line that is visibly unfinished: `……职工，` + `张三`
        return left_kind == "text" and ((left[-1] in SOFT_PUNCT and not left.endswith("——")) or _unbalanced(left))
    if right[0] in LEADING_CONTINUATION:
        return True  # a line never starts with `，`, `”` or `的`: this is the rest of the sentence
    if is_terminal(left) or (left[0] in "(（" and left[-1] in ")）" and not _unbalanced(left)):
        return False  # a finished sentence, or a closed note such as `(作者系……)`
    if left_kind != "text":
        return False
    if left[-1] in SOFT_PUNCT and not left.endswith("——"):
        return True
    if _unbalanced(left):
        return True
    tail = re.split(r"[。！？!?]", left)[-1]
    if re.search(r"[\u4e00-\u9fff][ \u3000]+[\u4e00-\u9fff]", tail) and any(ch in left for ch in "。！？!?"):
        return False  # a photo caption's credit: `……人文景观。 本报通讯员 胡青飞`
    numbered = bool(_NUMBERED.match(left))
    spaced = bool(re.search(r"[\u4e00-\u9fff][ \u3000]+[\u4e00-\u9fff]", left))
    has_punct = bool(re.search(r"[，,。；;！？!?、]", left))
    if any(ch in left for ch in "。！？!?") and not numbered:
        return True
    if spaced:
        return False
    if numbered:
        return _word_across(left, right)
    if has_punct and len(left) >= 24:
        return True
    if len(left) >= 12 and _word_across(left, right):
        return True
    return len(left) >= 40


def clean(text: str) -> list[Block]:
    """Clean one document into paragraphs (blocks) with exact original spans."""
    lines = _split_lines(text)
    for line in lines:
        _classify(line)
        if line.kind in ("text", "byline", "heading"):
            _dedupe_caption(line)

    blocks: list[Block] = []
    previous_text: str | None = None
    pending_marker_before = False
    for line in lines:
        if line.kind == "blank":
            continue
        if line.kind == "marker":
            if line.marker_before:
                pending_marker_before = True
            if line.marker_after and blocks:
                blocks[-1].continues = True
            previous_text = None
            continue
        # repeated caption lines: drop exact repeats of the previous line
        if (
            previous_text is not None
            and line.text == previous_text
            and line.kind != "toc"
            and len(line.text) >= 6
            and not re.search(r"[，,。；;！？!?、]", line.text)
        ):
            continue  # a caption repeated line after line, not text that happens to repeat
        previous_text = line.text
        last = blocks[-1] if blocks else None
        if (
            last is not None
            and not last.continues
            and not line.marker_before
            and not pending_marker_before
            and should_join(last.text, line.text, last.kind, line.kind)
        ):
            last.spans.extend(line.spans)
            last.text += line.text
            last.kind = "text"  # a "byline" that runs on into a sentence was not one
            last.continues = last.continues or line.marker_after
            continue
        blocks.append(
            Block(
                spans=list(line.spans),
                text=line.text,
                kind=line.kind,
                level=line.level,
                continued_from=bool(line.marker_before) or pending_marker_before,
                continues=line.marker_after,
            )
        )
        pending_marker_before = False
    return blocks
