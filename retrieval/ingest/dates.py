"""Publication dates from the places a newsroom puts them: metadata, file names, datelines.

All return ISO `YYYY-MM-DD` or None; a date that is not a real calendar day is no date.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from time import struct_time

_FULLWIDTH = str.maketrans("０１２３４５６７８９", "0123456789")
# `2023-02-15`, `2023_02_15`, `2023.2.15`, `20230215` in a file name, not inside a longer number
_NAME_DATE = re.compile(r"(?<!\d)((?:19|20)\d{2})([-_.]?)(\d{1,2})\2(\d{1,2})(?!\d)")
_CN_DATE = re.compile(r"((?:19|20)\d{2})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日")
_ISO_DATE = re.compile(r"(?<!\d)((?:19|20)\d{2})[-/.](\d{1,2})[-/.](\d{1,2})(?!\d)")
_DATELINE_REST = re.compile(
    r"\s*(?:[0-9]{1,2}:[0-9]{2}(?::[0-9]{2})?)?\s*(?:(?:星期|周)[一二三四五六日天])?\s*(?:$|电|讯|[)）】])"
)


def make_date(year: int | str, month: int | str, day: int | str) -> str | None:
    try:
        return date(int(year), int(month), int(day)).isoformat()
    except ValueError:
        return None


def normalize(value: object) -> str | None:
    """A date given by metadata (ISO string, datetime, feedparser's UTC struct_time) as ISO."""
    if value is None:
        return None
    if isinstance(value, struct_time):
        return make_date(value.tm_year, value.tm_mon, value.tm_mday)
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    text = str(value).translate(_FULLWIDTH)
    match = _ISO_DATE.search(text) or _CN_DATE.search(text)
    return make_date(*match.groups()) if match else None


def from_filename(name: str) -> str | None:
    """`2023-02-15_头版.pdf`, `rmrb20230215.pdf` → 2023-02-15 (an e-paper names its day)."""
    stem = name.rsplit("/", 1)[-1]
    for match in _NAME_DATE.finditer(stem.translate(_FULLWIDTH)):
        year, _, month, day = match.groups()
        found = make_date(year, month, day)
        if found:
            return found
    return None


def from_dateline(text: str, head: int = 300) -> str | None:
    """A dateline near the top: a full date alone on its line (a time or weekday may follow, as in
    `2023年2月15日 星期三` or `作者：张三 2023-02-15 10:20`) or opening a wire story
    (`新华社北京2023年2月15日电`). A date inside a sentence (`2023年3月1日起……`) is an event, not a dateline."""
    for line in text[:head].translate(_FULLWIDTH).split("\n"):
        for pattern in (_CN_DATE, _ISO_DATE):
            for match in pattern.finditer(line):
                if _DATELINE_REST.match(line[match.end() :]):
                    found = make_date(*match.groups())
                    if found:
                        return found
    return None
