"""Running the app: `run` for `qabot serve`, `ServerThread` for tests, benchmarks and embedding."""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import uvicorn
from fastapi import FastAPI

from ..service import AnswerService
from ..settings import Settings, get_settings
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


def run(service: AnswerService, host: str, port: int, workers: int = 1) -> None:
    """Serve until interrupted (`qabot serve`); uvicorn's own access log is replaced by ours.

    With `workers` > 1, uvicorn starts that many processes sharing the port, each with its own
    service (`worker_app`): Python answers one request at a time per process (the GIL), so on two
    cores one process leaves a core idle (bench/stores.py measures the gain). Folder-store workers
    share the memory-mapped index files; Milvus-store workers hold no index at all.
    """
    configure_logging()
    log.info("qabot listening on http://%s:%d (chat page /, API docs /docs), %d worker(s)", host, port, workers)
    options: dict[str, Any] = {"host": host, "port": port, "access_log": False, "log_level": "info"}
    options.update(server_options(service.settings))
    if workers > 1:
        os.environ["QABOT_EMBED_THREADS"] = str(service.settings.embed_threads)  # what `serve` chose, for the workers
        options["http"] = "bot.http.server:WorkerProtocol"  # a class made at run time cannot be sent to a worker
        uvicorn.run("bot.http.server:worker_app", factory=True, workers=workers, **options)
    else:
        uvicorn.run(create_app(service), timeout_graceful_shutdown=5, **options)


def __getattr__(name: str) -> Any:
    """`WorkerProtocol`: the request-deadline protocol, made in each worker from its settings."""
    if name == "WorkerProtocol":
        settings = get_settings()
        return protocol(settings.header_timeout_s, settings.body_timeout_s)
    raise AttributeError(name)


def worker_app() -> FastAPI:
    """One `qabot serve --workers N` process: its own service, settings from the environment and `.env`."""
    configure_logging()
    return create_app(AnswerService(get_settings()))


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
