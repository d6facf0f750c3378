"""A small OpenAI-compatible chat server on 127.0.0.1 for tests and benchmarks.

No model is reachable offline, so this server answers `/v1/chat/completions` (streaming SSE and
not) with replies *derived from the prompt it receives*: it parses the numbered sources and the
question out of the messages, so a test exercises the real prompt, the real `openai` client and
LangChain end to end. The model name picks the behaviour:

    echo       first sentence of source [1], cited [1]            (default)
    last       last sentence of source [1], cited [1]
    shapes     sentences of [1] and [2] cited as 【1】 and （来源2）, then a [1,2] group
    badcite    echo plus markers to sources that do not exist ([N+1], 【N+7】)
    number     a sentence of [1] with one number changed (or an invented one appended)
    swap       a sentence of [1] with its first two numbers swapped (a known blind spot)
    refuse     the refusal sentence, read out of the system prompt
    empty      an empty reply
    slow       echo, 0.5 s between tokens
    stall      headers, then nothing for 5 s
    http500    HTTP 500 whose body echoes the Authorization header (to test key redaction)
    badjson    a body / SSE event that is not JSON

A request whose prompt asks to rewrite a follow-up into a standalone question gets
"<previous user question without ？>，<follow-up>" back. Every request is recorded in `requests`.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_SOURCE = re.compile(r"^\[(\d+)\] 《(.*?)》\n(.*?)(?=\n\n\[\d+\] 《|\n\n问题：|\Z)", re.S | re.M)
_SENTENCE = re.compile(r"[^。！？]+[。！？]?[”’」]?")
_CN = "零一二三四五六七八九"


@dataclass
class Record:
    model: str
    stream: bool
    messages: list[dict]
    authorization: str
    kind: str = "answer"  # or "condense"
    reply: str = ""
    planted: dict[str, Any] = field(default_factory=dict)
    received: float = 0.0  # time.perf_counter() stamps, same clock as the test process
    first_token: float | None = None
    done: float | None = None
    finished: threading.Event = field(default_factory=threading.Event, repr=False)

    def wait_done(self, timeout: float = 5.0) -> float:
        """The `done` stamp, once the handler has recorded it (the client may see the end first)."""
        self.finished.wait(timeout)
        assert self.done is not None, "the fake server did not finish the request"
        return self.done


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.findall(text) if s.strip()]


def parse_prompt(messages: list[dict]) -> tuple[str, dict[int, str], str]:
    """(system text, {n: source text}, question) as the answer prompt lays them out."""
    system = "\n".join(m["content"] for m in messages if m["role"] == "system")
    human = "\n".join(m["content"] for m in messages if m["role"] == "user")
    sources = {int(m.group(1)): m.group(3).strip() for m in _SOURCE.finditer(human)}
    question = re.search(r"问题：(.*)", human)
    return system, sources, question.group(1).strip() if question else ""


def to_chinese(value: int) -> str:
    """4837 → 四千八百三十七 (values below 10 000 are enough here)."""
    out, units = "", ["千", "百", "十", ""]
    digits = f"{value:04d}"
    for k, d in enumerate(digits):
        if d != "0":
            out += _CN[int(d)] + units[k]
        elif out and not out.endswith("零") and any(x != "0" for x in digits[k:]):
            out += "零"
    return out.rstrip("零")


def _plant_number(sources: dict[int, str], question: str) -> tuple[str, str]:
    """A sentence of [1] with one number changed, or with an invented number appended."""
    everywhere = "\n".join(sources.values())
    present = set(re.findall(r"\d+", everywhere))
    sents = sentences(sources.get(1, "")) or ["资料显示"]
    with_number = [s for s in sents if re.search(r"\d+", s)]

    def fresh(start: int) -> int:
        value = start
        while str(value) in present or str(value) in everywhere:
            value += 7
        return value

    if with_number and len(question) % 3 != 2:
        sentence = with_number[0]
        m = re.search(r"\d+", sentence)
        new = str(fresh(int(m.group(0)) + 1))
        return sentence[: m.start()] + new + sentence[m.end() :], new
    new_value = fresh(4837)
    base = sents[0].rstrip("。！？")
    cn = to_chinese(new_value) if new_value < 10_000 else str(new_value)
    return f"{base}，共有{cn}名职工参加。", str(new_value)


def reply_for(model: str, messages: list[dict], record: Record) -> str:
    system, sources, question = parse_prompt(messages)
    everything = "\n".join(m["content"] for m in messages)
    if "独立的问题" in everything:
        record.kind = "condense"
        previous = re.findall(r"^用户：(.*)$", everything, re.M)
        follow = re.search(r"后续问题：(.*)", everything)
        prev = previous[-1].rstrip("？?") if previous else ""
        return f"{prev}，{follow.group(1).strip() if follow else ''}".strip("，")
    first = sentences(sources.get(1, "")) or ["资料显示"]
    n = len(sources)
    if model == "refuse":
        m = re.search(r"只回复这句话：「(.*?)」", system)
        return m.group(1) if m else "?"
    if model == "empty":
        return ""
    if model == "last":
        return f"{first[-1]}[1]"
    if model == "shapes":
        second = sentences(sources.get(2, "")) or ["另有资料"]
        return f"{first[0].rstrip('。！？')}【1】。{second[0].rstrip('。！？')}（来源2）。以上两条资料互相印证[1,2]。"
    if model == "badcite":
        record.planted = {"markers": [n + 1, n + 7]}
        return f"{first[0]}[1][{n + 1}] 另见【{n + 7}】。"
    if model == "swap":
        for sentence in sentences(sources.get(1, "")):
            found = list(dict.fromkeys(re.findall(r"\d+", sentence)))
            if len(found) >= 2:
                a, b = found[0], found[1]
                pair = {a: b, b: a}
                swapped = re.sub(r"\d+", lambda m, pair=pair: pair.get(m.group(0), m.group(0)), sentence)
                record.planted = {"swap": [a, b], "sentence": swapped}
                return f"{swapped}[1]"
        return f"{first[0]}[1]"
    if model == "number":
        sentence, number = _plant_number(sources, question)
        record.planted = {"number": number, "sentence": sentence}
        return f"{sentence}[1]"
    return f"{first[0]}[1]"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, *args: Any) -> None:  # keep test output quiet
        pass

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path.rstrip("/").endswith("/models"):
            self._send(200, json.dumps({"object": "list", "data": []}).encode())
        else:
            self._send(404, b'{"error": {"message": "not found"}}')

    def do_POST(self) -> None:
        received = time.perf_counter()
        length = int(self.headers.get("Content-Length", 0))
        payload = json.loads(self.rfile.read(length) or b"{}")
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._send(404, b'{"error": {"message": "not found"}}')
            return
        model = str(payload.get("model", "echo"))
        record = Record(
            model=model,
            stream=bool(payload.get("stream")),
            messages=payload.get("messages", []),
            authorization=self.headers.get("Authorization", ""),
            received=received,
        )
        self.server.requests.append(record)
        try:
            self._answer(model, record)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeouts): expected
        finally:
            record.done = time.perf_counter()
            record.finished.set()

    def _answer(self, model: str, record: Record) -> None:
        if model == "http500":
            body = {"error": {"message": f"upstream exploded; you sent {record.authorization}", "type": "server_error"}}
            self._send(500, json.dumps(body).encode())
            return
        reply = reply_for(model, record.messages, record)
        record.reply = reply
        if model == "badjson" and record.kind == "answer":
            if record.stream:
                self._start_stream()
                self._chunk(b"data: {this is not json\n\n")
                self._chunk(b"")
            else:
                self._send(200, b"{this is not json", "application/json")
            return
        if not record.stream:
            body = {
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": reply}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            }
            record.first_token = time.perf_counter()
            self._send(200, json.dumps(body, ensure_ascii=False).encode())
            return
        self._start_stream()
        self._event({"role": "assistant", "content": ""})
        if model == "stall" and record.kind == "answer":
            time.sleep(5)
        delay = self.server.first_token_delay
        if delay:
            time.sleep(delay)
        for k in range(0, len(reply), 3):
            if k and model == "slow" and record.kind == "answer":
                time.sleep(0.5)
            self._event({"content": reply[k : k + 3]})
            if record.first_token is None:
                record.first_token = time.perf_counter()
        self._event({}, finish="stop")
        self._chunk(b"data: [DONE]\n\n")
        self._chunk(b"")

    def _start_stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _event(self, delta: dict, finish: str | None = None) -> None:
        event = {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": "fake",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        self._chunk(b"data: " + json.dumps(event, ensure_ascii=False).encode() + b"\n\n")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    requests: list[Record]
    first_token_delay: float

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients closing idle keep-alive connections are normal; anything else is printed."""
        import sys

        if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            super().handle_error(request, client_address)


class FakeOpenAI:
    """`with FakeOpenAI() as fake:` → `fake.base_url` is an OpenAI-compatible `/v1` on loopback."""

    def __init__(self, first_token_delay: float = 0.0) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.requests = []
        self._server.first_token_delay = first_token_delay
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-openai", daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    @property
    def requests(self) -> list[Record]:
        return self._server.requests

    def start(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


if __name__ == "__main__":  # run standalone: python -m tests.fakes.fake_openai
    with FakeOpenAI() as fake:
        print(fake.base_url, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
