"""Shared helpers for the benchmarks: build (or reuse) an index for a corpus, print tables."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.service import AnswerService  # noqa: E402
from bot.settings import Settings  # noqa: E402

SHARED = Path(os.environ.get("QABOT_SHARED", ROOT.parent / "shared"))
RESULTS = ROOT / "bench" / "results"
SEED_DEV = SHARED / "eval" / "seed-dev.jsonl"
CMRC = SHARED / "eval" / "cmrc2018"


def cmrc_corpus_dir() -> Path:
    """A folder holding only CMRC dev's corpus file (the questions file must not be indexed)."""
    folder = RESULTS / "corpora" / "cmrc-dev"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "dev-corpus.jsonl"
    if not target.exists():
        shutil.copy(CMRC / "dev-corpus.jsonl", target)
    return folder


def service_for(name: str, corpus: Path, **overrides) -> AnswerService:
    settings = Settings(_env_file=None, corpus_dir=corpus, index_dir=RESULTS / "indexes" / name, **overrides)
    return AnswerService(settings)


def table(title: str, header: list[str], rows: list[list]) -> str:
    cells = [[str(c) for c in row] for row in [header, *rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = [
        title,
        "  ".join(h.ljust(w) for h, w in zip(cells[0], widths, strict=True)),
        "  ".join("-" * w for w in widths),
    ]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells[1:]]
    return "\n".join(lines)
