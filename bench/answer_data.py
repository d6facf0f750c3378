"""Training and evaluation cases for the answer step, from the project's own retrieval.

    python bench/answer_data.py [--sets drcd cmrc-trial] [--sample N]

Each dataset's corpus is indexed with the real AnswerService (bench/results/indexes/<name>/), every
question is analysed and retrieved as the service does, and two cases are kept per question:

- answerable: the top-k hits as retrieved;
- unanswerable: the same search with every chunk that overlaps the paragraph holding the answer
  removed (DRCD ids are `<article>-<paragraph>-<n>`, paragraphs are joined by a blank line; a CMRC
  article is one paragraph), fused again as if that paragraph had never been indexed. Cases where a
  gold answer string survives in the rest of the article or in the remaining hits are dropped.

Hits are cached in bench/results/answer-cases/<name>.json (keyed by index version), so features can
be rebuilt without searching again.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

from _common import CMRC, RESULTS, SHARED, service_for

from bot.answer.reader import index_idf
from bot.service import AnswerService
from retrieval.chunking import Chunk
from retrieval.query import Part, Query, analyse
from retrieval.search import CANDIDATES, Hit, HybridSearcher

DRCD = SHARED / "eval" / "drcd"
DATASETS = {
    "drcd": (DRCD / "dev-corpus.jsonl", DRCD / "dev-questions.jsonl"),
    "cmrc-trial": (CMRC / "trial-corpus.jsonl", CMRC / "trial-questions.jsonl"),
    "cmrc-dev": (CMRC / "dev-corpus.jsonl", CMRC / "dev-questions.jsonl"),  # report only: bench/answer_eval.py
}
TOP_K = 5
CASES = RESULTS / "answer-cases"


@dataclass
class Case:
    id: str
    question: str
    answers: list[str]  # empty: unanswerable (its paragraph removed)
    article: str
    hits: list[Hit]
    query: Query
    gold_doc: str  # the `doc` name of the gold article's chunks
    idf: dict[str, float]  # the document frequencies of the dataset's index
    removed: bool = False


# Every article of every set by default; `QABOT_BENCH_EVERY=4` keeps every 4th article (a quick run on a busy
# machine: the full DRCD and CMRC dev corpora are about 2,100 chunks each, roughly 10 minutes of embedding).
EVERY = int(os.environ.get("QABOT_BENCH_EVERY", "1"))


def folder_name(name: str) -> str:
    """Results folders are named by the share of articles kept, so a quick run never replaces a full one."""
    return name if EVERY == 1 else f"{name}-every{EVERY}"


def corpus_dir(name: str) -> Path:
    """A folder holding only the dataset's corpus (the questions file must not be indexed)."""
    corpus, _ = DATASETS[name]
    folder = RESULTS / "corpora" / folder_name(name)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / corpus.name
    if not target.exists():
        lines = [line for line in corpus.read_text(encoding="utf-8").splitlines(keepends=True) if line.strip()]
        target.write_text("".join(lines[::EVERY]), encoding="utf-8")
    return folder


def service(name: str) -> AnswerService:
    # one embedding thread unless told otherwise: the machine is shared
    svc = service_for(
        folder_name(name), corpus_dir(name), embed_threads=int(os.environ.get("QABOT_BENCH_THREADS", "1"))
    )
    report = svc.build()
    if not report.unchanged:
        print(f"{name}: indexed {report.chunks} chunks in {report.seconds:.0f} s", file=sys.stderr)
    return svc


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def paragraph_span(text: str, paragraph: int | None) -> tuple[int, int]:
    """Character span of paragraph `paragraph` (0-based) of an article joined by blank lines; None: all."""
    if paragraph is None:
        return 0, len(text)
    start = 0
    for k, para in enumerate(text.split("\n\n")):
        if k == paragraph:
            return start, start + len(para)
        start += len(para) + 2
    return 0, len(text)


def paragraph_of(question_id: str) -> int | None:
    """DRCD `<article>-<paragraph>-<n>` → paragraph; CMRC ids name no paragraph (one per article)."""
    parts = question_id.split("-")
    return int(parts[1]) if len(parts) == 3 and parts[1].isdigit() else None


def rankings(searcher: HybridSearcher, query: str) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
    """BM25 and dense candidate lists, deep enough to survive removing a paragraph's chunks."""
    return searcher.bm25_ranking(query, CANDIDATES + 40), searcher.dense_ranking(query, CANDIDATES + 40)


def fuse(searcher: HybridSearcher, ranked, keep, top_k: int) -> list[Hit]:
    """`HybridSearcher.search` over the chunks `keep` accepts: the scores are normalised over what
    remains, as they would be had the removed chunks never been indexed."""
    chunks = searcher.index.chunks
    bm25 = [(i, s) for i, s in ranked[0] if keep(chunks[i])][:CANDIDATES]
    dense = [(i, s) for i, s in ranked[1] if keep(chunks[i])][:CANDIDATES]
    fused: dict[int, Hit] = {}
    if bm25:
        top = bm25[0][1] or 1.0
        for rank, (idx, score) in enumerate(bm25):
            hit = fused.setdefault(idx, Hit(chunks[idx], 0.0))
            hit.score += searcher.bm25_weight * score / top
            hit.bm25_rank = rank + 1
    if dense:
        high, low = dense[0][1], dense[-1][1]
        span = max(high - low, 1e-6)
        for rank, (idx, score) in enumerate(dense):
            hit = fused.setdefault(idx, Hit(chunks[idx], 0.0))
            hit.score += searcher.dense_weight * (score - low) / span
            hit.dense_rank = rank + 1
    return sorted(fused.values(), key=lambda h: (-h.score, h.chunk.id))[:top_k]


def _hit_json(hit: Hit, position: dict[int, int]) -> list:
    return [position[hit.chunk.id], hit.score, hit.bm25_rank, hit.dense_rank]


def single_part(query: Query) -> Query:
    """Training questions carry one gold answer: score them as one part."""
    return replace(
        query,
        parts=(
            Part(
                query.text,
                query.answer_type,
                query.parts[0].terms
                + tuple(t for p in query.parts[1:] for t in p.terms if t not in query.parts[0].terms),
            ),
        ),
    )


def build_cases(name: str, sample: int | None = None, top_k: int = TOP_K, quiet: bool = False) -> list[Case]:
    """Answerable and unanswerable cases of one dataset (hits cached per index version)."""
    corpus_file, questions_file = DATASETS[name]
    articles = read_jsonl(corpus_dir(name) / corpus_file.name)
    present = {a["id"] for a in articles}
    questions = [q for q in read_jsonl(questions_file) if q["article_id"] in present]
    if sample:
        questions = questions[:: max(1, len(questions) // sample)][:sample]
    return retrieve_cases(service(name), articles, questions, corpus_file.name, name, top_k, quiet)


def retrieve_cases(
    svc: AnswerService,
    articles: list[dict],
    questions: list[dict],
    corpus_name: str,
    cache_name: str | None = None,
    top_k: int = TOP_K,
    quiet: bool = True,
) -> list[Case]:
    """Search every question as the service does; keep it answerable, and again with its paragraph removed."""
    loaded = svc.snapshot()
    searcher, chunks, idf = loaded.searcher, loaded.index.chunks, index_idf(loaded.index.bm25)
    position = {c.id: k for k, c in enumerate(chunks)}
    by_id = {a["id"]: a for a in articles}
    key = hashlib.sha1(f"{loaded.index.version}:{top_k}:{len(questions)}:{questions[0]['id']}".encode()).hexdigest()[
        :12
    ]
    cache_path = CASES / f"{cache_name}-{key}.json" if cache_name else None
    cache = json.loads(cache_path.read_text()) if cache_path and cache_path.exists() else {}
    started = time.perf_counter()
    out: list[Case] = []
    fresh = 0
    for n, rec in enumerate(questions):
        query = analyse(rec["question"], idf=idf)
        article = by_id[rec["article_id"]]
        gold_doc = f"{corpus_name}#{rec['article_id']}"
        entry = cache.get(rec["id"])
        if entry is None:
            p_start, p_end = paragraph_span(article["text"], paragraph_of(rec["id"]))

            def keep(chunk: Chunk, gold_doc=gold_doc, p_start=p_start, p_end=p_end) -> bool:
                return not (chunk.doc == gold_doc and chunk.start < p_end and chunk.end > p_start)

            ranked = rankings(searcher, query.search_text)
            full = fuse(searcher, ranked, lambda chunk: True, top_k)
            if n < 3:  # the replica of the service's fusion must rank as the service does
                assert [h.chunk.id for h in full] == [h.chunk.id for h in searcher.search(query.search_text, top_k)]
            removed = fuse(searcher, ranked, keep, top_k)
            rest = article["text"][:p_start] + "\n" + article["text"][p_end:]
            survives = any(a in rest or any(a in h.chunk.text for h in removed) for a in rec["answers"])
            entry = {
                "full": [_hit_json(h, position) for h in full],
                "removed": None if survives else [_hit_json(h, position) for h in removed],
            }
            cache[rec["id"]] = entry
            fresh += 1
        base = Case(rec["id"], rec["question"], rec["answers"], rec["article_id"], [], query, gold_doc, idf)
        out.append(replace(base, hits=[Hit(chunks[i], s, b, d) for i, s, b, d in entry["full"]]))
        if entry["removed"] is not None:
            hits = [Hit(chunks[i], s, b, d) for i, s, b, d in entry["removed"]]
            out.append(replace(base, id=rec["id"] + ":removed", answers=[], hits=hits, removed=True))
        if not quiet and (n + 1) % 500 == 0:
            print(
                f"{cache_name}: {n + 1}/{len(questions)} questions ({time.perf_counter() - started:.0f} s)",
                file=sys.stderr,
            )
    if fresh and cache_path:
        CASES.mkdir(parents=True, exist_ok=True)
        cache_path.write_text(json.dumps(cache))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", nargs="+", default=["drcd", "cmrc-trial"], choices=list(DATASETS))
    parser.add_argument("--sample", type=int, help="only N questions per set (quick run)")
    args = parser.parse_args()
    for name in args.sets:
        cases = build_cases(name, args.sample)
        answerable = [c for c in cases if c.answers]
        removed = [c for c in cases if not c.answers]
        in_hits = sum(1 for c in answerable if any(a in h.chunk.text for h in c.hits for a in c.answers))
        print(
            f"{name}: {len(answerable)} answerable (answer in top-{TOP_K}: {in_hits / max(1, len(answerable)):.3f}), "
            f"{len(removed)} unanswerable (paragraph removed)"
        )


if __name__ == "__main__":
    main()
