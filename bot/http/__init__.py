"""The HTTP front end (`qabot serve`): FastAPI over the AnswerService.

`app.create_app` builds the app; `server.run` serves it, `server.ServerThread` runs it in a thread
(tests, benchmarks). The other modules each hold one part: request/response models (`schemas`),
the error shape and the one mapping of QabotError to a status (`errors`), the guards (`middleware`),
Server-Sent Events (`sse`), the OpenAI-compatible routes (`openai`), the chat page (`page`) and
JSON access logs (`logs`).
"""

from .app import create_app
from .server import ServerThread, run

__all__ = ["ServerThread", "create_app", "run"]
