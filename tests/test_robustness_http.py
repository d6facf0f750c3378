"""Hostile input and slow clients on the HTTP API (issue 12 §2, §4, §5), on a real uvicorn server.

Lone surrogates, NULs and control characters get the same answer on every endpoint (they are
removed at one place, the service's question check) and never a 5xx; slow headers and bodies are
cut off; a client that leaves mid-body is logged as a disconnect; X-Forwarded-For is trusted only
from QABOT_TRUSTED_PROXIES; a damaged pointer leaves the in-memory index serving.
"""

from __future__ import annotations

import json
import logging
import socket
import time

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.http import ServerThread, create_app
from bot.service import AnswerService
from retrieval.index import current_version

QUESTION = "威海市签订了多少份集体合同？"
# surrogates (Cs), controls (Cc: NUL, DEL, C1), format characters (Cf) and ordinary Chinese text
ODD = st.characters(categories=["Cs", "Cc", "Cf", "Lo", "Zs"])
HOSTILE = st.text(ODD, max_size=24)


def variant(base: AnswerService, embedder, **update) -> AnswerService:
    return AnswerService(base.settings.model_copy(update=update), embedder=embedder)


def raw_json(payload: object) -> bytes:
    return json.dumps(payload, ensure_ascii=True).encode()  # "\ud800" travels as an escape


@pytest.fixture(scope="module")
def base_url(tiny_service, embedder):
    service = variant(tiny_service, embedder, rate_limit_per_minute=0, header_timeout_s=1.0, body_timeout_s=1.0)
    with ServerThread(create_app(service)) as url:
        yield url


@pytest.fixture()
def client(base_url):
    with httpx.Client(base_url=base_url, timeout=30, headers={"content-type": "application/json"}) as c:
        yield c


def _post_all(client: httpx.Client, question: str, history: list[dict]) -> dict[str, httpx.Response]:
    messages = [*history, {"role": "user", "content": question}]
    return {
        "/ask": client.post("/ask", content=raw_json({"question": question, "history": history})),
        "/ask/stream": client.post("/ask/stream", content=raw_json({"question": question, "history": history})),
        "/v1/chat/completions": client.post(
            "/v1/chat/completions", content=raw_json({"model": "qabot", "messages": messages})
        ),
    }


def test_odd_characters_get_the_same_answer_everywhere(client):
    question = "\ud800" + QUESTION + "\x00\x07\u0085"
    history = [{"role": "user", "content": "\udfff吉安市\x00"}, {"role": "assistant", "content": "好\x1b[31m"}]
    replies = _post_all(client, question, history)
    assert {path: r.status_code for path, r in replies.items()} == dict.fromkeys(replies, 200)
    asked = replies["/ask"].json()
    assert asked["question"] == QUESTION and "1780份" in asked["answer"]
    final = [line for line in replies["/ask/stream"].text.split("\n") if line.startswith("data: ")][-1]
    assert json.loads(final[6:])["answer"] == asked["answer"]
    completion = replies["/v1/chat/completions"].json()
    assert completion["choices"][0]["message"]["content"].startswith(asked["answer"])
    assert [s["file"] for s in completion["sources"]] == [s["file"] for s in asked["sources"]]


def test_only_odd_characters_is_an_empty_question_everywhere(client):
    replies = _post_all(client, "\ud800\x00\x01", [])
    assert {path: r.status_code for path, r in replies.items()} == dict.fromkeys(replies, 422)
    assert all("empty" in r.json()["error"]["message"] for r in replies.values())


@settings(max_examples=30, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(question=HOSTILE, turn=HOSTILE, model=HOSTILE)
def test_no_server_error_for_any_characters(base_url, question, turn, model):
    with httpx.Client(base_url=base_url, timeout=30, headers={"content-type": "application/json"}) as client:
        history = [{"role": "user", "content": turn}]
        for response in _post_all(client, question, history).values():
            assert response.status_code < 500, response.text
        odd_model = client.post(
            "/v1/chat/completions", content=raw_json({"model": model, "messages": [{"role": "user", "content": "x"}]})
        )
        assert odd_model.status_code < 500, odd_model.text


def _slow(port: int, first: bytes, trickle: bytes, seconds: float) -> tuple[float, bytes]:
    """Send `first`, then a byte of `trickle` every 0.2 s; how long until the server hangs up."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(first)
        try:
            while time.monotonic() - started < seconds:
                time.sleep(0.2)
                sock.sendall(trickle)
        except OSError:
            pass
        try:
            data = sock.recv(200)
        except OSError:
            data = b""
    return time.monotonic() - started, data


def test_slow_headers_and_bodies_are_cut_off(base_url):
    port = int(base_url.rsplit(":", 1)[1])
    took, reply = _slow(port, b"POST /ask HTTP/1.1\r\nHost: x\r\n", b"X-Slow: 1\r\n", 8)
    assert took < 5 and reply.startswith(b"HTTP/1.1 408")
    head = b"POST /ask HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{"
    took, reply = _slow(port, head, b" ", 8)
    assert took < 5 and b" 500 " not in reply


def test_connection_cap(tiny_service, embedder):
    service = variant(tiny_service, embedder, max_connections=4, header_timeout_s=5.0)
    with ServerThread(create_app(service)) as url:
        port = int(url.rsplit(":", 1)[1])
        held = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(4)]
        try:
            for sock in held:
                sock.sendall(b"GET /health HTTP/1.1\r\n")  # headers never finished
            time.sleep(0.3)
            reply = httpx.get(f"{url}/health", timeout=5)
            assert reply.status_code == 503
        finally:
            for sock in held:
                sock.close()


def test_client_leaving_mid_body_is_a_disconnect_not_a_500(base_url, caplog):
    caplog.set_level(logging.INFO, logger="qabot.http")
    port = int(base_url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"POST /ask HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{")
        time.sleep(0.2)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not any("disconnect" in r.getMessage() for r in caplog.records):
        time.sleep(0.05)
    access = [r for r in caplog.records if r.name == "qabot.http.access" and "/ask" in r.getMessage()]
    assert access and all(" 500 " not in r.getMessage() for r in access)
    assert any("disconnect" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("trusted", [[], ["127.0.0.1"]])
def test_forwarded_for_is_trusted_only_from_trusted_proxies(tiny_service, embedder, trusted):
    service = variant(tiny_service, embedder, rate_limit_per_minute=2, trusted_proxies=trusted)
    with ServerThread(create_app(service)) as url, httpx.Client(base_url=url) as client:
        codes = [
            client.post("/ask", json={"question": QUESTION}, headers={"X-Forwarded-For": f"10.0.0.{n}"}).status_code
            for n in range(4)
        ]
    assert (429 in codes) == (not trusted)  # spoofed addresses do not escape the per-client limit


def test_unreadable_pointer_keeps_serving_and_health_says_why(tiny_service, embedder, tmp_path):
    import shutil

    index_dir = tmp_path / "index"
    shutil.copytree(tiny_service.settings.index_dir, index_dir)
    service = variant(tiny_service, embedder, index_dir=index_dir, rate_limit_per_minute=0)
    with ServerThread(create_app(service)) as url, httpx.Client(base_url=url) as client:
        assert client.get("/health").json()["status"] == "ok"
        version = current_version(index_dir)
        (index_dir / "CURRENT").write_bytes(b"\xff\xfe not a name")
        time.sleep(1.2)  # past the reload check interval
        answer = client.post("/ask", json={"question": QUESTION})
        assert answer.status_code == 200 and "1780份" in answer.json()["answer"]
        health = client.get("/health")
        assert health.status_code == 200
        body = health.json()
        assert body["index_version"] == version.name and "not UTF-8" in (body["problem"] or "")
