"""Index build cost and how search scales with corpus size.

    python bench/indexing.py [--skip-cmrc]

For each corpus: full build time vs pure embedding time (the overhead target is ≤ 10 %),
re-index time of an unchanged corpus (target ≤ 2 s), and warm search latency. The 10× CMRC row
reuses CMRC's vectors ten times over (fresh ids and shuffled text, no re-embedding) so search
and memory are measured at 10× size; its build time is extrapolated from the measured rate and
marked as such.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import time

import numpy as np
from _common import CMRC, RESULTS, ROOT, cmrc_corpus_dir, service_for, table

from bot.evaluation import load_questions
from retrieval.index import _write_version, load_index


def warm_latency(service, questions: list[str]) -> tuple[float, float]:
    service.ask(questions[0])
    times = []
    for q in questions:
        started = time.perf_counter()
        service.ask(q)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return statistics.median(times), times[int(0.95 * (len(times) - 1))]


def scaled_copy(service, factor: int, name: str):
    """A synthetic index `factor` times larger, built from an existing one without re-embedding."""
    source = load_index(service.settings.index_dir)
    vectors = source.vectors.reconstruct_n(0, source.vectors.ntotal)
    rng = random.Random(7)
    chunks, rows = [], []
    for copy in range(factor):
        for chunk in source.chunks:
            clone = type(chunk).from_json(chunk.to_json())
            if copy:
                chars = list(clone.text)
                rng.shuffle(chars)  # same words statistics, no duplicate hits for the real questions
                clone.text = "".join(chars)
                clone.doc = f"{clone.doc}~{copy}"
                clone.title = f"{clone.title}~{copy}"
            clone.id = len(chunks)
            chunks.append(clone)
            rows.append(vectors[chunk.id])
    target = service_for(name, service.settings.corpus_dir)
    manifest = dict(source.manifest, chunks=len(chunks), articles=source.manifest["articles"] * factor)
    _write_version(target.settings.index_dir, manifest, chunks, np.vstack(rows).astype(np.float32), source.vectors.d)
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
        results[name] = dict(chunks=report.chunks, build_s=report.seconds, embed_s=report.embed_seconds,
                             overhead_pct=overhead, reindex_s=reindex, median_ms=med, p95_ms=p95)
        rows.append([name, report.chunks, f"{report.seconds:.1f}", f"{report.embed_seconds:.1f}", f"{overhead:.1f}%",
                     f"{rate:.1f}", f"{reindex:.2f}", f"{med:.1f}", f"{p95:.1f}"])
        if name == "cmrc-dev":
            big = scaled_copy(service, 10, "bench-build-cmrc-x10")
            med10, p9510 = warm_latency(big, questions)
            chunks10 = report.chunks * 10
            started = time.perf_counter()
            big.loaded()
            rows.append(["10× cmrc-dev", chunks10, f"~{chunks10 / rate:.0f} (extrapolated)", "—", "—", "—", "—",
                         f"{med10:.1f}", f"{p9510:.1f}"])
            results["cmrc-dev-x10"] = dict(chunks=chunks10, median_ms=med10, p95_ms=p9510)
    print(table("index build and search scaling (extractive answers, in process, warm)",
                ["corpus", "chunks", "build s", "embed s", "overhead", "chunks/s", "re-index s", "ask median ms", "ask p95 ms"],
                rows))
    print(f"peak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "indexing.json").write_text(json.dumps(results, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
