"""How to fuse BM25 and dense rankings: the measurement behind retrieval/search.py's rule.

    python bench/fusion.py   (after bench/quality.py has built the indexes)

For each corpus, both rankings are computed once per question, then fused with reciprocal rank
fusion (k=60) and with score fusion (BM25 / best BM25 + min-max cosine) at several weights.
Columns: top-1 hit, MRR@15, evidence within the first 1,500 characters of the ranked sources.
"""

from __future__ import annotations

import re

from _common import CMRC, ROOT, SEED_DEV, cmrc_corpus_dir, service_for, table

from bot.evaluation import load_questions

WEIGHTS = [(1.0, 0.0), (0.0, 1.0), (0.7, 0.3), (0.6, 0.4), (0.5, 0.5), (0.4, 0.6)]


def _ws(text: str) -> str:
    return re.sub(r"\s+", "", text)


def fuse(bm25, dense, wb, wd, mode):
    scores: dict[int, float] = {}
    if mode == "rrf":
        for r, (i, _) in enumerate(bm25):
            scores[i] = scores.get(i, 0) + wb / (61 + r)
        for r, (i, _) in enumerate(dense):
            scores[i] = scores.get(i, 0) + wd / (61 + r)
    else:
        if bm25:
            for i, s in bm25:
                scores[i] = scores.get(i, 0) + wb * s / bm25[0][1]
        if dense:
            hi, lo = dense[0][1], dense[-1][1]
            for i, s in dense:
                scores[i] = scores.get(i, 0) + wd * (s - lo) / max(hi - lo, 1e-6)
    return sorted(scores, key=lambda i: -scores[i])[:15]


def main() -> None:
    rows = []
    for name, service, qfile in [
        ("seed-dev", service_for("seeds", ROOT / "seeds"), SEED_DEV),
        ("cmrc-dev", service_for("cmrc-dev", cmrc_corpus_dir()), CMRC / "dev-questions.jsonl"),
    ]:
        service.build()
        snapshot = service.snapshot()
        searcher, chunks = snapshot.searcher, snapshot.index.chunks
        texts = [_ws(c.text) for c in chunks]
        runs = [
            (q, searcher.bm25_ranking(q.question), searcher.dense_ranking(q.question))
            for q in load_questions(qfile)
            if q.targets
        ]
        for mode in ("rrf", "score"):
            for wb, wd in WEIGHTS:
                h1 = mrr = budget = 0.0
                for q, b, d in runs:
                    order = fuse(b, d, wb, wd, mode)
                    targets = [_ws(t) for t in q.targets]
                    rank = next((r + 1 for r, i in enumerate(order) if any(t in texts[i] for t in targets)), None)
                    h1 += rank == 1
                    mrr += 1 / rank if rank else 0
                    window = _ws("".join(chunks[i].text for i in order))[:1500]
                    hit = all if q.kind == "evidence" else any
                    budget += hit(t in window for t in targets)
                n = len(runs)
                rows.append([name, mode, f"{wb}/{wd}", f"{h1 / n:.4f}", f"{mrr / n:.4f}", f"{budget / n:.4f}"])
    print(
        table(
            "fusion rules (BM25 weight / dense weight)",
            ["corpus", "rule", "weights", "top-1", "MRR", "in 1,500 chars"],
            rows,
        )
    )


if __name__ == "__main__":
    main()
