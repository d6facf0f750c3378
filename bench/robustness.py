"""Faults and hostile corpora (issue 12 §3, §4): splitting time, checksum cost, the damage matrix.

    python bench/robustness.py [--lines 10000 20000 40000] [--verify-chunks 20000]

1. Article splitting of a file of `短行` lines (a long list or table): time per size, linear?
2. Checksum verification at load: its cost against the whole load, for the seed-sized index and
   a synthetic index of `--verify-chunks` chunks (random vectors, real BM25).
3. The damaged-index matrix: every index file × 7 kinds of damage → a one-line error on load and a
   repair by `build_index` that gives the same answers as before (tiny corpus, hashing embedder).
"""

from __future__ import annotations

import argparse
import itertools
import logging
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import ROOT, table

from retrieval.articles import split_articles
from retrieval.chunking import Chunk
from retrieval.index import (
    BM25_FILES,
    CORE_FILES,
    MANIFEST,
    POINTER,
    IndexConfig,
    IndexProblem,
    _write_version,
    build_index,
    current_version,
    load_index,
)
from retrieval.loading import SourceDoc
from retrieval.search import HybridSearcher
from tests.fakes.damage import DAMAGE, HashEmbedder


def splitting(sizes: list[int]) -> str:
    rows = []
    base = None
    for n in sizes:
        doc = SourceDoc(name="list.txt", path="list.txt", text="短行\n" * n)
        runs = []
        for _ in range(3):
            started = time.perf_counter()
            articles = split_articles(doc)
            runs.append(time.perf_counter() - started)
        seconds = statistics.median(runs)
        base = base or seconds / n
        rows.append(
            [f"{n:,}", f"{seconds:.2f}", f"{seconds / n * 1e6:.1f}", f"{seconds / n / base:.2f}", len(articles)]
        )
    return table(
        "split_articles on `短行\\n` × N (target: 40k lines < 2 s, linear; before: ~30 s at 10k, >170 s at 40k)",
        ["lines", "seconds (median of 3)", "µs per line", "per-line cost vs first", "articles"],
        rows,
    )


def verification(chunk_counts: list[int]) -> str:
    rows = []
    rng = np.random.default_rng(0)
    for n in chunk_counts:
        with tempfile.TemporaryDirectory() as tmp:
            index_dir = Path(tmp)
            chunks = [
                Chunk(id=i, doc=f"d{i // 50}.txt", path=f"d{i // 50}.txt", title=f"标题{i}", article=i // 10,
                      text=f"第{i}条新闻：某市总工会在{i % 97}个单位开展了职工技能培训和劳模疗休养活动。" * 6,
                      start=0, end=300)
                for i in range(n)
            ]  # fmt: skip
            matrix = rng.standard_normal((n, 384)).astype(np.float32)
            manifest = {**IndexConfig("bench", 384, 300, 1).signature(), "files": {}}
            _write_version(index_dir, manifest, chunks, matrix, 384)
            loads, verifies = [], []
            for _ in range(3):
                started = time.perf_counter()
                index = load_index(index_dir)
                loads.append((time.perf_counter() - started) * 1000)
                verifies.append(index.verify_ms)
            version = current_version(index_dir)
            size = sum(p.stat().st_size for p in version.rglob("*") if p.is_file())
            load, verify = statistics.median(loads), statistics.median(verifies)
            rows.append([f"{n:,}", f"{size / 1e6:.1f}", f"{verify:.1f}", f"{load:.1f}", f"{verify / load:.0%}"])
    return table(
        "checksum verification at load (xxh3-128 over every index file; median of 3)",
        ["chunks", "index MB", "verify ms", "whole load ms", "share"],
        rows,
    )


QUESTIONS = ["青海省总工会2023年计划投入多少专项经费？", "西宁市总工会建设了多少个户外劳动者服务站？", "威海市集体合同"]


def damage_matrix() -> str:
    config = IndexConfig(HashEmbedder.name, HashEmbedder.dim, 300, 1)

    def answers(index_dir: Path) -> list:
        searcher = HybridSearcher(load_index(index_dir, config), HashEmbedder(), 0.5, 0.5)
        return [[(h.chunk.doc, h.chunk.start) for h in searcher.search(q, 3)] for q in QUESTIONS]

    files = [POINTER, MANIFEST, *CORE_FILES, *BM25_FILES]
    logging.getLogger("retrieval").setLevel(logging.ERROR)  # each repair warns once; the table says it all
    counts = {"cases": 0, "one-line error": 0, "repaired, same answers": 0, "repaired without re-embedding": 0}
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus"
        shutil.copytree(ROOT / "tests" / "data" / "tiny", corpus)
        pristine = Path(tmp) / "pristine"
        build_index(corpus, pristine, HashEmbedder(), config)
        expected = answers(pristine)
        for name, kind in itertools.product(files, DAMAGE):
            index_dir = Path(tmp) / f"case-{counts['cases']}"
            shutil.copytree(pristine, index_dir)
            version = current_version(index_dir)
            target = index_dir / name if name == POINTER else version / name
            target.write_bytes(DAMAGE[kind](target.read_bytes()))
            counts["cases"] += 1
            try:
                load_index(index_dir, config)
                failures.append(f"{name} {kind}: loaded")
                continue
            except IndexProblem as exc:
                if "\n" not in str(exc):
                    counts["one-line error"] += 1
            except Exception as exc:  # noqa: BLE001 - counted as a failure of the matrix
                failures.append(f"{name} {kind}: {type(exc).__name__}")
                continue
            embedder = HashEmbedder()
            try:
                build_index(corpus, index_dir, embedder, config)
                if answers(index_dir) == expected:
                    counts["repaired, same answers"] += 1
                    counts["repaired without re-embedding"] += embedder.embedded == 0
                else:
                    failures.append(f"{name} {kind}: different answers after repair")
            except Exception as exc:  # noqa: BLE001
                failures.append(f"{name} {kind}: repair failed ({type(exc).__name__}: {exc})")
    total = counts["cases"]
    rows = [[k, v, f"{v / total:.0%}"] for k, v in counts.items()]
    out = table(
        f"damaged-index matrix: {len(files)} files × {len(DAMAGE)} kinds of damage (target: 100 % one line + repair)",
        ["outcome", "count", "share"],
        rows,
    )
    return out + ("\nfailures: " + "; ".join(failures) if failures else "")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, nargs="+", default=[10_000, 20_000, 40_000])
    parser.add_argument("--verify-chunks", type=int, nargs="+", default=[500, 20_000])
    args = parser.parse_args()
    with open("/proc/loadavg", encoding="ascii") as fh:
        print("load average at start:", " ".join(fh.read().split()[:3]))
    print(splitting(args.lines), end="\n\n")
    print(verification(args.verify_chunks), end="\n\n")
    print(damage_matrix())


if __name__ == "__main__":
    main()
