"""Paths and settings shared by the tests (fixtures live in conftest.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.settings import Settings

DATA = Path(__file__).parent / "data"
SEEDS = Path(__file__).resolve().parent.parent / "seeds"


def make_settings(tmp: Path, corpus: Path, **extra: Any) -> Settings:
    """Settings isolated from the developer's environment and `.env`."""
    return Settings(_env_file=None, corpus_dir=corpus, index_dir=tmp / "index", **extra)
