"""Running the app: `run` for `qabot serve`, `ServerThread` for tests, benchmarks and embedding."""

from __future__ import annotations

import threading
import time

import uvicorn
from fastapi import FastAPI

from ..service import AnswerService
from .app import create_app
from .errors import log
from .logs import configure_logging


def run(service: AnswerService, host: str, port: int) -> None:
    """Serve until interrupted (`qabot serve`); uvicorn's own access log is replaced by ours."""
    configure_logging()
    app = create_app(service)
    log.info("qabot listening on http://%s:%d (chat page /, API docs /docs)", host, port)
    uvicorn.run(app, host=host, port=port, access_log=False, log_level="info", timeout_graceful_shutdown=5)


class ServerThread:
    """uvicorn on a free loopback port in a background thread.

    with ServerThread(create_app(service)) as base_url: ...
    """

    def __init__(self, app: FastAPI, host: str = "127.0.0.1") -> None:
        config = uvicorn.Config(app, host=host, port=0, access_log=False, log_config=None, lifespan="on")
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
