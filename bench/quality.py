"""Retrieval and answer quality on seed-dev and CMRC 2018 dev (the issue's targets).

    python bench/quality.py [--top-k 8] [--only seed|cmrc]

Indexes are built once under bench/results/indexes/ and reused (incremental).
"""

from __future__ import annotations

import argparse
import json
import time

from _common import CMRC, RESULTS, ROOT, SEED_DEV, cmrc_corpus_dir, service_for, table

from bot.evaluation import evaluate, load_questions

TARGETS = {
    "seed-dev": {
        "in_first_1500_chars": 1.0,
        "hit@1": 0.90,
        "mrr": 0.93,
        "answer_evidence_recall": 0.80,
        "refused_when_unanswerable": 0.60,
        "answered_when_answerable": 0.90,
    },
    "cmrc-dev": {"in_first_1500_chars": 0.995, "hit@1": 0.92},
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--top-k", type=int, default=8, help="sources per question (8 × ~200 chars fills the 1,500-char budget)"
    )
    parser.add_argument("--only", choices=["seed", "cmrc"])
    args = parser.parse_args()
    runs = []
    if args.only in (None, "seed"):
        runs.append(("seed-dev", service_for("seeds", ROOT / "seeds"), SEED_DEV))
    if args.only in (None, "cmrc"):
        runs.append(("cmrc-dev", service_for("cmrc-dev", cmrc_corpus_dir()), CMRC / "dev-questions.jsonl"))
    results = {}
    for name, service, questions in runs:
        started = time.perf_counter()
        report = service.build()
        print(
            f"{name}: index {report.chunks} chunks "
            f"({'reused' if report.unchanged else f'built in {report.seconds:.0f} s'})"
        )
        service.warm()  # latency as a running server sees it
        summary = evaluate(service, load_questions(questions), top_k=args.top_k).summary()
        summary["eval_seconds"] = round(time.perf_counter() - started, 1)
        results[name] = summary
    keys = [
        "questions",
        "hit@1",
        "hit@3",
        "hit@5",
        "mrr",
        "in_first_1500_chars",
        "answer_evidence_recall",
        "gold_in_first_quote",
        "answered_when_answerable",
        "refused_when_unanswerable",
        "latency_ms_median",
        "latency_ms_p95",
    ]
    rows = []
    for key in keys:
        row = [key]
        for name in results:
            value = results[name].get(key)
            target = TARGETS.get(name, {}).get(key)
            row.append("—" if value is None else (f"{value} (≥{target})" if target else str(value)))
        rows.append(row)
    print(table(f"answer service quality, top-k {args.top_k}", ["metric", *results], rows))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "retrieval.json").write_text(json.dumps(results, indent=1, ensure_ascii=False), encoding="utf-8")


if __name__ == "__main__":
    main()
