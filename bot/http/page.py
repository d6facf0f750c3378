"""The chat page at `/`, with the labels it shows and a Content-Security-Policy for exactly its own
inline script and style.

The labels (and the history limits) come from `answer.render`, injected as a JSON data block the
page's script reads, so the page has no second copy of them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from importlib import resources

from ..answer.render import page_labels

PLACEHOLDER = "<!-- qabot-labels -->"


class ChatPage:
    def __init__(self, html: str) -> None:
        def hashes(tag: str) -> str:
            blocks = re.findall(rf"<{tag}>(.*?)</{tag}>", html, re.S)
            return " ".join(
                f"'sha256-{base64.b64encode(hashlib.sha256(b.encode()).digest()).decode()}'" for b in blocks
            )

        labels = json.dumps(page_labels(), ensure_ascii=False).replace("<", "\\u003c")
        self.html = html.replace(PLACEHOLDER, f'<script id="labels" type="application/json">{labels}</script>')
        # the JSON data block is not executed, so it needs no hash; the page's own script does
        self.csp = (
            f"default-src 'none'; script-src {hashes('script')}; style-src {hashes('style')}; "
            "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
        )


def chat_page() -> ChatPage:
    return ChatPage(resources.files("bot").joinpath("static/chat.html").read_text(encoding="utf-8"))
