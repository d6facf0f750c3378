"""Every error qabot raises on purpose derives from `QabotError`, so each front end maps them once.

`bad_input` says whose fault it is: the user's input (HTTP 4xx, exit code 2, a hint in the chat) or
the service's state (no usable index, a broken install: HTTP 503, exit code 1, an apology).
Errors from `retrieval/` (which does not know about `bot/`) are turned into these at the service
boundary by `from_retrieval`; the translated classes also subclass the original ones, so code that
catches `IndexMismatch` or `CorpusError` keeps working.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import ClassVar

from retrieval.embeddings import EmbeddingsError
from retrieval.index import IndexDamaged, IndexMismatch, IndexNotFound, IndexProblem
from retrieval.loading import CorpusError


class QabotError(Exception):
    """Base of qabot's own errors; the message is one line a user can act on."""

    bad_input: ClassVar[bool] = False


# -- the question -------------------------------------------------------------------------------
class QuestionError(QabotError):
    """The request itself is unusable (empty or too long question, top_k out of range, unknown mode)."""

    bad_input = True


class EmptyQuestion(QuestionError):
    def __init__(self, message: str = "the question is empty") -> None:
        super().__init__(message)


class WordlessQuestion(EmptyQuestion):
    """Only punctuation or symbols (`？`, `👍`): nothing to search for. Answered, it got a refusal with five
    arbitrary sources."""

    def __init__(self) -> None:
        super().__init__("the question is empty: it has no words, only punctuation or symbols")


class QuestionTooLong(QuestionError):
    def __init__(self, length: int, limit: int) -> None:
        super().__init__(f"the question is too long ({length} characters; the limit is {limit})")
        self.length, self.limit = length, limit


# -- the corpus and the index -------------------------------------------------------------------
class CorpusUnusable(QabotError, CorpusError):
    """The corpus folder is missing, empty or unreadable."""

    bad_input = True


class IndexUnavailable(QabotError, IndexProblem):
    """No usable index: missing, damaged, or built with other settings (`qabot index` fixes it)."""


class IndexMissing(IndexUnavailable, IndexNotFound):
    pass


class IndexOutdated(IndexUnavailable, IndexMismatch):
    pass


class IndexBroken(IndexUnavailable, IndexDamaged):
    pass


class EmbeddingsUnavailable(QabotError, EmbeddingsError):
    """The configured embedding model cannot be loaded."""


# -- the chat model and the install -------------------------------------------------------------
class ModelUnavailable(QabotError):
    """The chat model could not give a usable reply; `reason` is short, Chinese and key-free.

    Never reaches a front end: the service answers extractively instead, with `reason` in the note.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PromptsMissing(QabotError):
    """The prompt files are not installed with the package (a broken install)."""


class ConfigError(QabotError):
    """A front end cannot start as configured (e.g. no Telegram token)."""

    bad_input = True


class ArticleRefused(QabotError):
    """An article to add cannot be used (unreadable file, refused URL, page without an article, bad date)."""

    bad_input = True


class ArticleNotFound(QabotError):
    """No added article has this id (`DELETE /articles/{id}`)."""

    bad_input = True


class EvalFileError(QabotError):
    """A question file for `qabot eval` is missing or malformed."""

    bad_input = True


_TRANSLATED: tuple[tuple[type[Exception], type[QabotError]], ...] = (
    (IndexNotFound, IndexMissing),
    (IndexMismatch, IndexOutdated),
    (IndexDamaged, IndexBroken),
    (IndexProblem, IndexUnavailable),
    (CorpusError, CorpusUnusable),
    (EmbeddingsError, EmbeddingsUnavailable),
)
RETRIEVAL_ERRORS = (IndexProblem, CorpusError, EmbeddingsError)


def from_retrieval(exc: Exception) -> QabotError:
    """The QabotError for an error raised in `retrieval/`, with the same message and attributes."""
    if isinstance(exc, QabotError):
        return exc
    for original, translated in _TRANSLATED:
        if isinstance(exc, original):
            copy = translated.__new__(translated)  # not __init__: the original's arguments vary by class
            copy.args = exc.args
            copy.__dict__.update(exc.__dict__)
            return copy
    raise TypeError(f"not a retrieval error: {type(exc).__name__}") from exc


@contextmanager
def retrieval_errors() -> Iterator[None]:
    """Re-raise errors from `retrieval/` as their QabotError (used where the service calls into it)."""
    try:
        yield
    except RETRIEVAL_ERRORS as exc:
        raise from_retrieval(exc) from exc
