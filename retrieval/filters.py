"""Which chunks a search may return: a publication-date range (`/ask` date_from/date_to,
`qabot ask --since/--until`).

The filter is applied inside retrieval, before the top-k cut, so a range never empties the
answer because the best matches overall fall outside it. A chunk without a known date is left
out whenever a range is given: nothing says it was published inside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from .chunking import Chunk


class FilterError(ValueError):
    """A date range that cannot be used (not an ISO date, or the end before the start)."""


def iso_date(value: str, what: str = "date") -> str:
    """`value` as `YYYY-MM-DD`, or FilterError naming `what`."""
    try:
        return date.fromisoformat(value.strip()).isoformat()
    except (ValueError, AttributeError):
        raise FilterError(f"{what} {value!r} is not a date (use YYYY-MM-DD)") from None


@dataclass(frozen=True)
class DateRange:
    since: str | None = None  # inclusive, ISO
    until: str | None = None  # inclusive, ISO

    @classmethod
    def parse(cls, since: str | None, until: str | None) -> DateRange | None:
        """The range between two ISO dates (either may be missing); None when both are."""
        start = iso_date(since, "date_from (--since)") if since else None
        end = iso_date(until, "date_to (--until)") if until else None
        if start and end and end < start:
            raise FilterError(f"date_to {end} is before date_from {start}")
        return cls(start, end) if start or end else None

    def allows(self, chunk: Chunk) -> bool:
        if chunk.date is None:
            return False
        day = chunk.date[:10]
        return (self.since is None or day >= self.since) and (self.until is None or day <= self.until)

    def milvus_expr(self) -> str:
        """The same test as a Milvus filter on the JSON `chunk` field (null dates never match)."""
        parts = []
        if self.since:
            parts.append(f'chunk["date"] >= "{self.since}"')
        if self.until:
            parts.append(f'chunk["date"] <= "{self.until}"')
        return " and ".join(parts)
