"""Running the app: `run` for `qabot serve`, `ServerThread` for tests, benchmarks and embedding."""

from __future__ import annotations

import threading
import time
from typing import Any

import uvicorn
from fastapi import FastAPI

from ..service import AnswerService
from ..settings import Settings
from .app import create_app
from .deadlines import protocol
from .errors import log
from .logs import configure_logging


def server_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's settings from ours: request deadlines, a connection cap, trusted proxies only.

    uvicorn by default believes X-Forwarded-For from 127.0.0.1, so a local client could pick any
    address and escape the per-client rate limit; here only QABOT_TRUSTED_PROXIES are believed.
    """
    return {
        "http": protocol(settings.header_timeout_s, settings.body_timeout_s),
        "limit_concurrency": settings.max_connections,
        "proxy_headers": bool(settings.trusted_proxies),
        "forwarded_allow_ips": ",".join(settings.trusted_proxies) or None,
    }


def run(service: AnswerService, host: str, port: int) -> None:
    """Serve until interrupted (`qabot serve`); uvicorn's own access log is replaced by ours."""
    configure_logging()
    app = create_app(service)
    log.info("qabot listening on http://%s:%d (chat page /, API docs /docs)", host, port)
    uvicorn.run(
        app,
        host=host,
        port=port,
        access_log=False,
        log_level="info",
        timeout_graceful_shutdown=5,
        **server_options(service.settings),
    )


class ServerThread:
    """uvicorn on a free loopback port in a background thread.

    with ServerThread(create_app(service)) as base_url: ...
    """

    def __init__(self, app: FastAPI, host: str = "127.0.0.1") -> None:
        options = server_options(app.state.service.settings) if hasattr(app.state, "service") else {}
        config = uvicorn.Config(app, host=host, port=0, access_log=False, log_config=None, lifespan="on", **options)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="qabot-http", daemon=True)
        self.host = host

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the HTTP server did not start")
            time.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://{self.host}:{port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
