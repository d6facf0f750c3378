"""Index build cost and how search scales with corpus size.

    python bench/indexing.py [--skip-cmrc]

For each corpus: full build time vs pure embedding time (the overhead target is ≤ 10 %),
re-index time of an unchanged corpus (target ≤ 2 s), and warm search latency. The 10× CMRC row
indexes CMRC's chunks ten times over (shuffled copies, stand-in vectors instead of re-embedding,
through the public `build_index`) so search and memory are measured at 10× size; its build time
is extrapolated from the measured rate and marked as such.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import time
import zlib

import numpy as np
from _common import CMRC, RESULTS, ROOT, cmrc_corpus_dir, service_for, table

from bot.evaluation import load_questions
from retrieval.index import build_index


def warm_latency(service, questions: list[str]) -> tuple[float, float]:
    service.ask(questions[0])
    times = []
    for q in questions:
        started = time.perf_counter()
        service.ask(q)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return statistics.median(times), times[int(0.95 * (len(times) - 1))]


class _StandInVectors:
    """Unit vectors derived from each text's hash, under the real embedder's name and size.

    The 10× copy measures how search scales; a flat inner-product search costs the same whatever
    the vectors hold, so the copies are not re-embedded (that alone would take ~45 minutes here)."""

    def __init__(self, name: str, dim: int) -> None:
        self.name, self.dim = name, dim

    def embed_array(self, texts: list[str]) -> np.ndarray:
        rows = [np.random.default_rng(zlib.crc32(t.encode())).standard_normal(self.dim) for t in texts]
        matrix = np.asarray(rows, dtype=np.float32).reshape(len(texts), self.dim)
        return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)

    def embed_query_array(self, text: str) -> np.ndarray:  # pragma: no cover - queries use the real model
        return self.embed_array([text])[0]


def scaled_copy(service, factor: int, name: str):
    """A synthetic corpus `factor` times larger (shuffled copies of every chunk, as `.jsonl` articles),
    indexed through the public `build_index` with stand-in vectors; searched with the real model."""
    source = service.snapshot().index
    rng = random.Random(7)
    corpus = RESULTS / "corpora" / name
    corpus.mkdir(parents=True, exist_ok=True)
    with (corpus / "scaled.jsonl").open("w", encoding="utf-8") as out:
        for copy in range(factor):
            for chunk in source.chunks:
                chars = list(chunk.text)
                if copy:
                    rng.shuffle(chars)  # same words statistics, no duplicate hits for the real questions
                record = {"id": f"{chunk.id}~{copy}", "title": f"{chunk.title}~{copy}", "text": "".join(chars)}
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
    target = service_for(name, corpus)
    config = target.index_config()
    build_index(corpus, target.settings.index_dir, _StandInVectors(config.embedder, config.dim), config)
    return target


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--skip-cmrc", action="store_true")
    args = parser.parse_args()
    seed_questions = [q.question for q in load_questions(ROOT.parent / "shared" / "eval" / "seed-dev.jsonl")]
    cmrc_questions = [q.question for q in load_questions(CMRC / "dev-questions.jsonl")][:300]
    corpora = [("seeds", service_for("seeds", ROOT / "seeds"), seed_questions)]
    if not args.skip_cmrc:
        corpora.append(("cmrc-dev", service_for("cmrc-dev", cmrc_corpus_dir()), cmrc_questions))
    rows, results = [], {}
    rate = None
    for name, service, questions in corpora:
        import shutil

        shutil.rmtree(service.settings.index_dir, ignore_errors=True)
        report = service.build()
        overhead = (report.seconds - report.embed_seconds) / report.embed_seconds * 100
        rate = report.chunks / report.embed_seconds
        started = time.perf_counter()
        again = service.build()
        reindex = time.perf_counter() - started
        assert again.unchanged
        med, p95 = warm_latency(service, questions)
        results[name] = dict(
            chunks=report.chunks,
            build_s=report.seconds,
            embed_s=report.embed_seconds,
            overhead_pct=overhead,
            reindex_s=reindex,
            median_ms=med,
            p95_ms=p95,
        )
        rows.append(
            [
                name,
                report.chunks,
                f"{report.seconds:.1f}",
                f"{report.embed_seconds:.1f}",
                f"{overhead:.1f}%",
                f"{rate:.1f}",
                f"{reindex:.2f}",
                f"{med:.1f}",
                f"{p95:.1f}",
            ]
        )
        if name == "cmrc-dev":
            big = scaled_copy(service, 10, "bench-build-cmrc-x10")
            med10, p9510 = warm_latency(big, questions)
            chunks10 = report.chunks * 10
            started = time.perf_counter()
            big.snapshot()
            rows.append(
                [
                    "10× cmrc-dev",
                    chunks10,
                    f"~{chunks10 / rate:.0f} (extrapolated)",
                    "—",
                    "—",
                    "—",
                    "—",
                    f"{med10:.1f}",
                    f"{p9510:.1f}",
                ]
            )
            results["cmrc-dev-x10"] = dict(chunks=chunks10, median_ms=med10, p95_ms=p9510)
    print(
        table(
            "index build and search scaling (extractive answers, in process, warm)",
            [
                "corpus",
                "chunks",
                "build s",
                "embed s",
                "overhead",
                "chunks/s",
                "re-index s",
                "ask median ms",
                "ask p95 ms",
            ],
            rows,
        )
    )
    print(f"peak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "indexing.json").write_text(json.dumps(results, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
