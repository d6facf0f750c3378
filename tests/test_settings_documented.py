"""Every setting is listed in `.env.example` with a comment above it (the one place users look)."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices

from bot.settings import Settings

EXAMPLE = Path(__file__).resolve().parent.parent / ".env.example"


def variable(name: str) -> str:
    alias = Settings.model_fields[name].validation_alias
    return str(alias.choices[0]) if isinstance(alias, AliasChoices) else f"QABOT_{name.upper()}"


def test_every_setting_is_in_env_example_with_a_comment():
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()
    listed = {line.split("=", 1)[0]: k for k, line in enumerate(lines) if "=" in line and not line.startswith("#")}
    missing = [variable(name) for name in Settings.model_fields if variable(name) not in listed]
    assert missing == []
    for name in ("admin_key", "allow_private_urls", "telegram_admin_chat_ids", "max_upload_bytes"):
        k = listed[variable(name)]
        above = lines[:k]
        comment = next(line for line in reversed(above) if not line.split("=", 1)[0].isupper())
        assert comment.startswith("# ") and len(comment) > 10
