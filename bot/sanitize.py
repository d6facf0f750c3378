"""Text from outside (questions, history turns, error messages that echo input) made safe, once.

A lone surrogate (`"\\ud800"` in JSON, `$'\\xff'` on a UTF-8 command line) cannot be encoded by any
library below (rjieba, the embedding engine, JSON responses): it gave 500s on every endpoint and a
traceback in the CLI (issue 12). NULs and other control characters carry nothing in a question and
cut C strings short. The service's question check removes them for every front end, so every
endpoint and the CLI give the same answer to the same input; a question with nothing left is the
usual "empty question" error.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BeforeValidator

# lone surrogates, C0 controls except tab / line feed / carriage return, DEL, C1 controls
_UNSAFE = re.compile(r"[\ud800-\udfff\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def clean_text(text: str) -> str:
    """`text` without lone surrogates and control characters (tabs and line breaks stay)."""
    return _UNSAFE.sub("", text)


def _clean_if_text(value: object) -> object:
    return clean_text(value) if isinstance(value, str) else value


# A str field of a request model that is cleaned before it is validated: pydantic itself refuses a
# lone surrogate in some models and not in others, which gave a 422 on one endpoint and a 500 on
# another for the same question.
CleanText = Annotated[str, BeforeValidator(_clean_if_text)]
