"""Extracted text kept by content hash, so a scan is read by OCR once, not at every re-index.

The stored text is also what a PDF or scan source's offsets point into, so a cited passage can be
shown and checked against it (issue 10); keep the folder beside the index.
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path

from .document import Extracted

log = logging.getLogger(__name__)


class ExtractionCache:
    def __init__(self, folder: Path):
        self.folder = folder

    def _path(self, digest: str) -> Path:
        if not re.fullmatch(r"[0-9a-f]{16,64}", digest):
            raise ValueError(f"not a content hash: {digest!r}")
        return self.folder / f"{digest}.json"

    def get(self, digest: str) -> Extracted | None:
        path = self._path(digest)
        try:
            return Extracted.from_json(json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError, KeyError) as exc:
            log.warning("extracted text %s is damaged (%s); extracting again", path.name, exc)
            return None

    def put(self, digest: str, extracted: Extracted) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self._path(digest)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(extracted.dumps(), encoding="utf-8")
        os.replace(tmp, path)

    def prune(self, keep: set[str]) -> None:
        """Forget files no longer in the corpus."""
        if not self.folder.is_dir():
            return
        for path in self.folder.glob("*.json"):
            if path.stem not in keep:
                path.unlink(missing_ok=True)
