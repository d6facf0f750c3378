"""Does ordering near-tied hits newest first (`retrieval.search.newest_first`) change answer quality?

    python bench/newest_first.py [--top-k 5]

seed-dev (validation) is asked twice over the same index, with the newest-first step and with
plain score order; the metrics are printed side by side, with how many questions saw their sources
reordered at all. (CMRC articles carry no dates, so the step cannot reorder them.)
"""

from __future__ import annotations

import argparse
import os

from _common import ROOT, SEED_DEV, service_for, table

import retrieval.search as search
from bot.evaluation import evaluate, load_questions

METRICS = ["hit@1", "hit@3", "mrr", "answer_evidence_recall", "answered_when_answerable", "refused_when_unanswerable"]


def summary(name: str, corpus, questions_path, top_k: int, ordered: bool) -> tuple[dict, list[list[str]]]:
    service = service_for(name, corpus)
    service.build()
    search.newest_first = ORIGINAL if ordered else (lambda hits, tie=search.TIE: hits)
    questions = load_questions(questions_path)
    orders = [[h.chunk.doc + str(h.chunk.start) for h in service.search(q.question, top_k)] for q in questions]
    return evaluate(service, questions, top_k=top_k).summary(), orders


ORIGINAL = search.newest_first


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--top-k", type=int, default=5)
    args = parser.parse_args()
    os.environ["ORT_DISABLE_TELEMETRY"] = "1"
    print(f"cores: {os.cpu_count()}, load average at start: {os.getloadavg()[0]:.2f}")
    plain, plain_orders = summary("seeds", ROOT / "seeds", SEED_DEV, args.top_k, ordered=False)
    newest, newest_orders = summary("seeds", ROOT / "seeds", SEED_DEV, args.top_k, ordered=True)
    changed = sum(a != b for a, b in zip(plain_orders, newest_orders, strict=True))
    rows = [[m, plain.get(m), newest.get(m), round((newest.get(m) or 0) - (plain.get(m) or 0), 4)] for m in METRICS]
    rows.append(["questions whose sources were reordered", "", f"{changed} of {len(plain_orders)}", ""])
    print(table(f"seed-dev (top-k {args.top_k})", ["metric", "score order", "newest first", "difference"], rows))


if __name__ == "__main__":
    main()
