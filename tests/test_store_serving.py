"""Several serving processes on one shared Milvus (issue 11), through the real `qabot` console script.

Two `qabot serve` processes and `qabot index` runs share one `milvus-lite server` on loopback, the
same client code as a Milvus cluster: both processes answer, a build published by `qabot index`
reaches both without a restart, and no request fails meanwhile. Then a split build: two
`qabot index --part K/2` runs and `qabot index --publish` give the same index as one build.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

pytest.importorskip("pymilvus", reason="the Milvus store needs pymilvus (pip install 'qabot[milvus]')")

from retrieval.milvus_store import MilvusStore
from tests.milvus_server import MilvusLiteServer, free_port

QABOT = str(Path(sys.executable).parent / "qabot")
DATA = Path(__file__).parent / "data"
NEW_TEXT = "南极科考队今年在冰盖上钻取了三千米长的冰芯。\n\n冰芯记录了八十万年的气候变化。\n"
NEW_QUESTION = "南极科考队钻取的冰芯有多长？"
OLD_QUESTION = "威海市签订了多少份集体合同？"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with MilvusLiteServer(tmp_path_factory.mktemp("milvus-serving") / "data") as running:
        yield running


def environment(server: MilvusLiteServer, corpus: Path, tmp: Path, collection: str) -> dict[str, str]:
    env = {
        **os.environ,
        "QABOT_STORE": "milvus",
        "QABOT_MILVUS_URI": server.uri,
        "QABOT_MILVUS_COLLECTION": collection,
        "QABOT_CORPUS_DIR": str(corpus),
        "QABOT_INDEX_DIR": str(tmp / "unused-index"),
        "QABOT_RATE_LIMIT_PER_MINUTE": "0",
        "COLUMNS": "300",
    }
    for name in ("QABOT_LLM_BASE_URL", "QABOT_LLM_MODEL", "QABOT_API_KEY"):
        env.pop(name, None)
    return env


def qabot(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    done = subprocess.run([QABOT, *args], check=False, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def start_serve(env: dict[str, str], cwd: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    log = (cwd / f"serve-{port}.log").open("wb")
    process = subprocess.Popen(
        [QABOT, "serve", "--host", "127.0.0.1", "--port", str(port)], cwd=cwd, env=env, stdout=log, stderr=log
    )
    url = f"http://127.0.0.1:{port}"
    if healthy(process, url, time.monotonic() + 180, lambda: (cwd / f"serve-{port}.log").read_text(errors="replace")):
        return process, url
    process.kill()
    raise AssertionError(f"qabot serve on port {port} never became healthy")


def healthy(process: subprocess.Popen, url: str, deadline: float, log: Callable[[], str] = str) -> bool:
    """Wait for `/health` to answer (a worker listens once it has loaded the index and warmed the models)."""
    while time.monotonic() < deadline:
        assert process.poll() is None, log()[-2000:]
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    return False


def files_cited(url: str, question: str) -> set[str]:
    reply = httpx.post(f"{url}/ask", json={"question": question, "mode": "extractive", "top_k": 3}, timeout=60)
    assert reply.status_code == 200, reply.text
    return {source["file"] for source in reply.json()["sources"]}


def test_two_serving_processes_pick_up_a_new_build_without_failing(server, tmp_path):
    corpus = tmp_path / "corpus"
    shutil.copytree(DATA / "tiny", corpus)
    env = environment(server, corpus, tmp_path, "serving")
    qabot(["index"], env, tmp_path)
    processes = [start_serve(env, tmp_path) for _ in range(2)]
    urls = [url for _, url in processes]
    statuses: list[int] = []
    stop = threading.Event()

    def traffic() -> None:  # keeps asking both processes while the index changes under them
        with httpx.Client(timeout=60) as client:
            while not stop.is_set():
                for url in urls:
                    reply = client.post(f"{url}/ask", json={"question": OLD_QUESTION, "mode": "extractive"})
                    statuses.append(reply.status_code)

    worker = threading.Thread(target=traffic)
    try:
        assert all("extra.txt" not in files_cited(url, NEW_QUESTION) for url in urls)
        worker.start()
        (corpus / "extra.txt").write_text(NEW_TEXT, encoding="utf-8")
        qabot(["index"], env, tmp_path)
        deadline = time.monotonic() + 60
        waiting = set(urls)
        while waiting and time.monotonic() < deadline:
            waiting = {url for url in waiting if "extra.txt" not in files_cited(url, NEW_QUESTION)}
            time.sleep(0.5)
        assert not waiting, f"never saw the new build: {waiting}"
    finally:
        stop.set()
        if worker.is_alive():
            worker.join(60)
        for process, _ in processes:
            process.terminate()
            process.wait(30)
    assert statuses and set(statuses) == {200}


def test_two_part_builds_then_publish_equal_one_build(server, tmp_path):
    corpus = tmp_path / "corpus"
    shutil.copytree(DATA / "tiny", corpus)
    for k in range(4):
        (corpus / f"more{k}.txt").write_text(f"第{k}篇：某市今年新建了{k + 3}座公园。\n\n公园由市政府投资。\n", "utf-8")
    one = environment(server, corpus, tmp_path, "whole")
    qabot(["index"], one, tmp_path)
    two = environment(server, corpus, tmp_path, "split")
    first = qabot(["index", "--part", "1/2"], two, tmp_path)
    assert "part 1/2" in first.stdout and MilvusStore(server.uri, name="split").published() is None
    qabot(["index", "--part", "2/2"], two, tmp_path)
    qabot(["index", "--publish"], two, tmp_path)

    def rows(name: str) -> dict:
        store = MilvusStore(server.uri, name=name)
        collection = store.published()
        assert collection is not None
        return {r["id"]: (r["path"], r["text"]) for r in store._scan(collection, ["id", "path", "text"])}

    assert rows("split") == rows("whole") and len(rows("whole")) > 4
    bad = subprocess.run([QABOT, "index", "--part", "3/2"], check=False, cwd=tmp_path, env=two,
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert bad.returncode != 0 and len(bad.stderr.strip().splitlines()) == 1


def test_workers_share_one_memory_mapped_index(tiny_service, tmp_path):
    """`qabot serve --workers 2`: two processes answer on one port, each mapping the same vectors file."""
    env = {
        **os.environ,
        "QABOT_CORPUS_DIR": str(tiny_service.settings.corpus_dir),
        "QABOT_INDEX_DIR": str(tiny_service.settings.index_dir),
        "QABOT_RATE_LIMIT_PER_MINUTE": "0",
    }
    for name in ("QABOT_LLM_BASE_URL", "QABOT_LLM_MODEL", "QABOT_API_KEY", "QABOT_STORE"):
        env.pop(name, None)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [QABOT, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 180
        workers: list[int] = []
        while time.monotonic() < deadline:
            assert process.poll() is None, "qabot serve --workers 2 exited"
            children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
            workers = [int(pid) for pid in children if "spawn_main" in Path(f"/proc/{pid}/cmdline").read_text()]
            mapped = [pid for pid in workers if "vectors.faiss" in Path(f"/proc/{pid}/maps").read_text()]
            if len(mapped) == 2:
                break
            time.sleep(0.5)
        assert len(workers) == 2 and len(mapped) == 2, (workers, mapped)
        assert healthy(process, url, deadline)
        assert files_cited(url, OLD_QUESTION)
    finally:
        process.terminate()
        process.wait(30)
