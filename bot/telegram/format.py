"""Telegram HTML for answers: escaping, source lists, and splitting under the 4096-character limit.

Telegram refuses a whole message when its HTML is malformed, so every piece of article text goes
through `esc`, and long messages are split only between atoms (a tag, an entity or one character),
closing open tags at the end of a part and reopening them at the start of the next.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from ..answer import render
from ..models import Answer, Source

if TYPE_CHECKING:
    from ..service import ServiceInfo

LIMIT = 4096  # Telegram's limit for a message's text
BUTTON_CHARS = 40  # an inline button shows about this much on a phone
_ATOM = re.compile(r"<[^<>]*>|&(?:#\d+|#x[0-9a-fA-F]+|[a-zA-Z]+);|.", re.S)
_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)")
_SENTENCE_END = set("。！？!?；;…")
_CLOSING_QUOTES = set("”’」』）)\"'")


def esc(text: str) -> str:
    """Escape article or user text for Telegram HTML (`<`, `>`, `&` and quotes)."""
    return html.escape(text, quote=True)


def units(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units); never less than `len`."""
    return len(text.encode("utf-16-le")) // 2


def to_plain(markup: str) -> str:
    """What the reader would have seen: tags dropped, entities decoded (the fallback text)."""
    return html.unescape(re.sub(r"<[^<>]*>", "", markup))


# -- answers -----------------------------------------------------------------------------------


def unsupported_spans(text: str, unsupported: list[str]) -> list[tuple[int, int]]:
    """Where the flagged sentences are in `text`: sorted, non-overlapping (start, end) pairs.

    A sentence listed twice (it occurs twice in the answer) marks its next unmarked occurrence.
    """
    spans: list[tuple[int, int]] = []
    for sentence in (s for s in unsupported if s and s.strip()):
        start = text.find(sentence)
        while start >= 0:
            end = start + len(sentence)
            if not any(a < end and start < b for a, b in spans):
                spans.append((start, end))
                break
            start = text.find(sentence, start + 1)
    return sorted(spans)


def mark_unsupported(text: str, unsupported: list[str]) -> str:
    """The answer as Telegram HTML, each flagged sentence underlined and followed by ⚠️."""
    out, at = [], 0
    for start, end in unsupported_spans(text, unsupported):
        out.append(esc(text[at:start]))
        out.append(f"<u>{esc(text[start:end])}</u>{render.WARNING}")
        at = end
    out.append(esc(text[at:]))
    return "".join(out)


def format_answer(answer: Answer) -> str:
    """The reply: the answer with its [n] citations, then each cited source's title and quote.

    Sentences the verification flagged (a number or name no cited source has) are underlined and
    marked ⚠️ in place, and listed once more under the answer; a note (e.g. the chat model was
    unavailable, so this is the offline answer) follows the answer.
    """
    lines = [mark_unsupported(answer.answer, answer.unsupported)]
    if answer.note:
        lines.append(f"<i>{render.NOTE}：{esc(answer.note)}</i>")
    if answer.unsupported:
        flagged = "\n".join(f"• {esc(s.strip())}" for s in dict.fromkeys(answer.unsupported))
        lines.append(f"{render.WARNING} <b>{render.UNSUPPORTED}：</b>\n<i>{flagged}</i>")
    cited = [s for s in answer.sources if s.quote]
    if answer.found and cited:
        lines.append(f"<b>{render.SOURCES}</b>")
        lines.extend(
            f"<b>[{s.n}]</b> {esc(render.source_label(s))}\n<blockquote>{quote_html(s)}</blockquote>" for s in cited
        )
    elif answer.sources:
        lines.append(f"<b>{render.NEAREST}</b>")
        nearest = answer.sources[: render.NEAREST_SHOWN]
        lines.extend(f"<b>[{s.n}]</b> {esc(s.title)}\n<i>{esc(render.preview(s.text))}</i>" for s in nearest)
    return "\n\n".join(lines)


def quote_html(source: Source) -> str:
    """The quote, escaped, with the short answer in bold."""
    return render.marked(source.quote or "", source.marks, lambda t: f"<b>{t}</b>", esc)


def format_source(source: Source) -> str:
    """One source in full: title, file and offsets, the quote, and the whole passage (folded)."""
    head = f"<b>[{source.n}] {esc(source.title)}</b>\n<code>{esc(source.file)}</code> 字符 {source.start}–{source.end}"
    parts = [head]
    if source.quote:
        parts.append(f"引用：\n<blockquote>{quote_html(source)}</blockquote>")
    parts.append(f"原文段落：\n<blockquote expandable>{esc(source.text.strip())}</blockquote>")
    return "\n".join(parts)


def format_sources(answer: Answer) -> str:
    head = f"上一个问题：{esc(answer.question)}"
    return (
        "\n\n".join([head, *(format_source(s) for s in answer.sources)]) if answer.sources else head + "\n\n没有来源。"
    )


def button_label(source: Source) -> str:
    return render.preview(f"[{source.n}] {source.title}", BUTTON_CHARS)


def help_text(info: ServiceInfo) -> str:
    """/start and /help: what the bot knows and how to ask, in Chinese."""
    files = info.get("files") or []
    shown = "、".join(f"<code>{esc(f)}</code>" for f in files[:10])
    more = f" 等 {len(files)} 个文件" if len(files) > 10 else ""
    articles = info.get("articles") or "若干"
    return (
        "你好！我根据一批新闻文章回答问题，每个回答都会引用原文并标注出处编号 [n]。\n\n"
        f"<b>我知道的内容</b>：{articles} 篇文章，{info.get('chunks', 0)} 个段落，来自 {shown}{more}。\n\n"
        "<b>怎么问</b>：直接发送中文问题，例如“某市总工会签订了多少份集体合同？”。"
        "可以接着追问，我会结合前面的对话理解问题。资料里没有答案时，我会直说。\n\n"
        "<b>命令</b>\n/sources 查看上一个回答的完整出处\n/reset 清空对话记忆，开始新话题\n/help 显示本说明\n\n"
        "在群组里，请 @我 或回复我的消息来提问。"
    )


# -- splitting ---------------------------------------------------------------------------------
def _atoms(markup: str) -> list[str]:
    return _ATOM.findall(markup)


def _update_stack(stack: list[tuple[str, str]], atom: str) -> list[tuple[str, str]]:
    m = _TAG.match(atom) if atom.startswith("<") else None
    if not m:
        return stack
    closing, name = m.group(1) == "/", m.group(2).lower()
    if closing:
        for k in range(len(stack) - 1, -1, -1):
            if stack[k][0] == name:
                return stack[:k]
        return stack
    if atom.endswith("/>"):
        return stack
    return [*stack, (name, atom)]


def _closers(stack: Iterable[tuple[str, str]]) -> str:
    return "".join(f"</{name}>" for name, _ in reversed(list(stack)))


def _break_rank(atoms: list[str], i: int) -> int:
    """How good a place it is to split just before atoms[i]: 4 paragraph … 1 space, 0 none."""
    prev = atoms[i - 1]
    nxt = atoms[i] if i < len(atoms) else ""
    if prev == "\n":
        return 4 if i >= 2 and atoms[i - 2] == "\n" else 3
    if nxt in _CLOSING_QUOTES or nxt in _SENTENCE_END:
        return 0
    if prev in _SENTENCE_END or (prev in _CLOSING_QUOTES and i >= 2 and atoms[i - 2] in _SENTENCE_END):
        return 2
    if prev == "." and nxt in (" ", "\n"):
        return 2
    if prev == " ":
        return 1
    return 0


def split_html(markup: str, limit: int = LIMIT) -> list[str]:
    """Split Telegram HTML into parts of at most `limit` UTF-16 units each.

    Prefers paragraph, then line, then sentence, then word boundaries (each only if it keeps the
    part at least `min_fill` full); never splits inside a tag or an entity. Tags open at a split
    are closed in the part and reopened, with their attributes, in the next one.
    """
    if units(markup) <= limit:
        return [markup] if to_plain(markup).strip() else []
    atoms = _atoms(markup)
    parts: list[str] = []
    start = 0
    stack_at_start: list[tuple[str, str]] = []
    min_fill = {4: 0.5, 3: 0.5, 2: 0.3, 1: 0.3}
    while start < len(atoms):
        prefix = "".join(tag for _, tag in stack_at_start)
        length, stack = units(prefix), list(stack_at_start)
        best: dict[int, tuple[int, list[tuple[str, str]], int]] = {}
        i = start
        while i < len(atoms):
            atom = atoms[i]
            new_stack = _update_stack(stack, atom)
            if length + units(atom) + units(_closers(new_stack)) > limit:
                break
            length += units(atom)
            stack = new_stack
            i += 1
            rank = _break_rank(atoms, i) if i < len(atoms) else 0
            if rank:
                best[rank] = (i, list(stack), length)
        if i >= len(atoms):
            parts.append(prefix + "".join(atoms[start:]))
            break
        cut, cut_stack = i, stack
        for rank in (4, 3, 2, 1):
            if rank in best and best[rank][2] >= limit * min_fill[rank]:
                cut, cut_stack, _ = best[rank]
                break
        if cut == start:  # cannot happen unless the reopened tags alone fill a part
            raise ValueError("cannot split: nested markup longer than the limit")
        parts.append(prefix + "".join(atoms[start:cut]).rstrip(" \n") + _closers(cut_stack))
        start, stack_at_start = cut, cut_stack
        while start < len(atoms) and atoms[start] in (" ", "\n"):
            start += 1
    return [p for p in parts if to_plain(p).strip()]


def split_plain(text: str, limit: int = LIMIT) -> list[str]:
    """The same boundaries for plain text (escaping only lengthens, so parts stay under the limit)."""
    return [html.unescape(p) for p in split_html(esc(text), limit)]
