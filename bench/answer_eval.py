"""The answer step on data it was never trained or tuned on: prints the issue's target table.

    python bench/answer_eval.py [--only cmrc|seed|followup|fresh|news|latency] [--sample N]

- CMRC 2018 dev (report only): gold answer in the answer text, answerable questions answered, short answer
  exact match and F1 with the official CMRC 2018 metric, by question type; the same questions with the gold
  paragraph removed (refused). Cases come from bench/answer_data.py (the project's own retrieval).
- seed-dev, end to end through `AnswerService.ask`: answered, evidence in the answer, unanswerable refused.
- follow-ups (bench/data/followup-dev.jsonl): a seed-dev question, the bot's answer, then a second turn that
  needs the first; answered with its evidence.
- fresh questions (bench/data/fresh-dev.jsonl): 40 questions on the seed articles, 11 of them on topic but
  not answered by the articles, written as a new user would ask them after the model was trained; used to
  validate choices (the confidence model's on-topic negatives), never to train. The answer holds the answer
  string; the short answer holds it; the unanswerable ones are refused.
- short answers on news (seed-dev's answers, the fresh questions and bench/data/short-dev.jsonl: 60 more
  questions on the seed articles with a short answer copied from the text, written without looking at the
  bot's answers; validation only): the short answer's exact match and F1 (CMRC 2018 metric; none shown
  counts 0), how often one is shown, and the F1 of the best span, shown or not.
- latency: the answer step alone (`Reader.read`) and warm `ask`, medians over seed-dev.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import defaultdict

from _common import RESULTS, ROOT, SEED_DEV, service_for, table
from answer_data import build_cases
from cmrc_metric import exact, f1

from bot.answer.extractive import compose
from bot.answer.reader import Reading, index_idf, load_reader
from bot.models import Turn
from bot.settings import Settings
from retrieval.query import ANSWER_TYPES, analyse

FOLLOWUPS = ROOT / "bench" / "data" / "followup-dev.jsonl"
FRESH = ROOT / "bench" / "data" / "fresh-dev.jsonl"
SHORT = ROOT / "bench" / "data" / "short-dev.jsonl"
TARGETS = {
    "cmrc-dev: gold answer in the answer text": 0.85,
    "cmrc-dev: answerable answered": 0.95,
    "cmrc-dev: short answer F1": 0.55,
    "cmrc-dev, paragraph removed: refused": 0.70,
    "seed-dev: answered": 0.90,
    "seed-dev: evidence in the answer": 0.85,
    "seed-dev: unanswerable refused": 0.60,
    "follow-ups: answered with their evidence": 0.85,
    "answer step, median ms": 10.0,
    "warm ask, median ms": 25.0,
}


def _norm(text: str) -> str:
    return "".join(text.split())


def answer_text(reading: Reading) -> str:
    """What the user reads (the service's own wording): the short answer, then the quotes."""
    return compose(reading)


def _records(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _exchange(question: str, reply: str) -> list[Turn]:
    """An earlier turn as conversation history: the question and the bot's answer to it."""
    return [Turn(role="user", content=question), Turn(role="assistant", content=reply)]


def min_confidence() -> float:
    """QABOT_MIN_CONFIDENCE if set, else the shipped model's own threshold (what the service uses)."""
    chosen = Settings(_env_file=None).min_confidence
    return chosen if chosen is not None else float(load_reader().spec["suggested_min_confidence"])


def cmrc(sample: int | None, threshold: float) -> dict[str, float]:
    cases = build_cases("cmrc-dev", sample)
    reader = load_reader(cases[0].idf)
    by_type: dict[str, list] = defaultdict(list)
    removed = []
    for case in cases:
        reading = reader.read(case.query, case.hits)
        found = reading.confidence >= threshold
        if not case.answers:
            removed.append(not found)
            continue
        text = _norm(answer_text(reading)) if found else ""
        row = (
            found,
            any(_norm(a) in text for a in case.answers),
            exact(case.answers, reading.short_answer if found else None),
            f1(case.answers, reading.short_answer if found else None),
            f1(case.answers, reading.best_span),
            reading.short_answer is not None,
        )
        by_type[case.query.answer_type].append(row)
    rows = []
    everything = [r for rows_ in by_type.values() for r in rows_]
    for name in [*ANSWER_TYPES, "all"]:
        group = everything if name == "all" else by_type.get(name, [])
        if not group:
            continue
        rows.append([name, len(group), *(f"{statistics.fmean(float(r[k]) for r in group):.3f}" for k in range(6))])
    print(
        table(
            f"CMRC 2018 dev (report only), found = confidence ≥ {threshold}, by question type",
            ["type", "n", "answered", "gold in answer", "short EM", "short F1", "best-span F1", "short shown"],
            rows,
        )
    )
    refused = statistics.fmean(removed)
    print(f"CMRC 2018 dev with the gold paragraph removed: {len(removed)} questions, refused {refused:.3f}")
    return {
        "cmrc-dev: gold answer in the answer text": statistics.fmean(float(r[1]) for r in everything),
        "cmrc-dev: answerable answered": statistics.fmean(float(r[0]) for r in everything),
        "cmrc-dev: short answer EM": statistics.fmean(float(r[2]) for r in everything),
        "cmrc-dev: short answer F1": statistics.fmean(float(r[3]) for r in everything),
        "cmrc-dev, paragraph removed: refused": statistics.fmean(float(x) for x in removed),
        "cmrc-dev, paragraph removed: questions": float(len(removed)),
    }


def _evidence_in(answer, evidence: list[str]) -> float:
    text = _norm(answer.answer) if answer.found else ""
    return sum(1 for e in evidence if _norm(e) in text) / len(evidence)


def seed(service) -> dict[str, float]:
    records = _records(SEED_DEV)
    answerable, refused, recall = [], [], []
    for rec in records:
        answer = service.ask(rec["question"])
        evidence = [e for e in rec["evidence"] if e]
        if evidence:
            answerable.append(answer.found)
            recall.append(_evidence_in(answer, evidence))
        else:
            refused.append(not answer.found)
    return {
        "seed-dev: answered": statistics.fmean(answerable),
        "seed-dev: evidence in the answer": statistics.fmean(recall),
        "seed-dev: unanswerable refused": statistics.fmean(refused),
    }


def followups(service) -> dict[str, float]:
    firsts = {rec["id"]: rec["question"] for rec in _records(SEED_DEV)}
    ok = []
    rows = []
    for rec in _records(FOLLOWUPS):
        first = firsts[rec["first"]]
        answer = service.ask(rec["question"], history=_exchange(first, service.ask(first).answer))
        good = answer.found and _evidence_in(answer, rec["evidence"]) == 1.0
        ok.append(good)
        rows.append([rec["id"], rec["question"], "yes" if good else ("refused" if not answer.found else "no")])
    print(table("follow-ups (second turns)", ["id", "question", "answered with evidence"], rows))
    return {"follow-ups: answered with their evidence": statistics.fmean(ok)}


def fresh(service) -> dict[str, float]:
    records = _records(FRESH)
    asked: dict[str, tuple[str, str]] = {}
    answered, short, refused = [], [], []
    for rec in records:
        history = _exchange(*asked[rec["after"]]) if rec.get("after") in asked else []
        answer = service.ask(rec["question"], history=history)
        asked[rec["id"]] = (rec["question"], answer.answer)
        if rec["answer"]:
            answered.append(answer.found and _norm(rec["answer"]) in _norm(answer.answer))
            short.append(bool(answer.short_answer) and _norm(rec["answer"]) in _norm(answer.short_answer or ""))
        else:
            refused.append(not answer.found)
    return {
        "fresh: answered with the answer": statistics.fmean(answered),
        "fresh: short answer holds the answer": statistics.fmean(short),
        "fresh: on-topic unanswerable refused": statistics.fmean(refused),
    }


def news_short(service) -> dict[str, float]:
    loaded = service.snapshot()
    reader = load_reader(index_idf(loaded.index.bm25))
    sets = {
        "seed-dev": [r for r in _records(SEED_DEV) if r.get("answer") and any(r.get("evidence", []))],
        "fresh": [r for r in _records(FRESH) if r["answer"] and not r.get("after")],
        "short-dev": _records(SHORT) if SHORT.exists() else [],
    }
    rows, every = [], defaultdict(list)
    for name, records in sets.items():
        scores = defaultdict(list)
        for rec in records:
            query = analyse(rec["question"], idf=reader.idf)
            reading = reader.read(query, loaded.searcher.search(query.search_text, service.settings.top_k))
            gold = [rec["answer"]]
            short = reading.short_answer or ""
            for key, value in (
                ("em", exact(gold, short) if short else 0.0),
                ("f1", f1(gold, short) if short else 0.0),
                ("shown", float(bool(short))),
                ("best", f1(gold, reading.best_span or "")),
            ):
                scores[key].append(value)
                every[key].append(value)
        if records:
            rows.append([name, len(records), *_means(scores)])
    rows.append(["all", len(every["f1"]), *_means(every)])
    print(table("short answers on news questions", ["set", "n", "short EM", "short F1", "shown", "best-span F1"], rows))
    return {
        "news: short answer EM": statistics.fmean(every["em"]),
        "news: short answer F1": statistics.fmean(every["f1"]),
        "news: best span F1": statistics.fmean(every["best"]),
    }


def _means(scores: dict[str, list[float]]) -> list[str]:
    return [f"{statistics.fmean(scores[k]):.3f}" for k in ("em", "f1", "shown", "best")]


def latency(service) -> dict[str, float]:
    records = _records(SEED_DEV)
    loaded = service.snapshot()
    reader = load_reader(index_idf(loaded.index.bm25))
    questions = [r["question"] for r in records]
    service.warm()  # as `qabot serve` and the Telegram bot start
    for q in questions:  # warm up caches
        service.ask(q)
    step, ask = [], []
    for _ in range(3):
        for q in questions:
            query = analyse(q, idf=reader.idf)
            hits = loaded.searcher.search(query.search_text, service.settings.top_k)
            started = time.perf_counter()
            analyse(q, idf=reader.idf)
            reader.read(query, hits)
            step.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            service.ask(q)
            ask.append((time.perf_counter() - started) * 1000)
    return {
        "answer step, median ms": statistics.median(step),
        "answer step, p95 ms": sorted(step)[int(0.95 * len(step))],
        "warm ask, median ms": statistics.median(ask),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=["cmrc", "seed", "followup", "fresh", "news", "latency"])
    parser.add_argument("--sample", type=int, help="only N CMRC dev questions (quick run)")
    args = parser.parse_args()
    threshold = min_confidence()
    results: dict[str, float] = {}
    if args.only in (None, "cmrc"):
        results |= cmrc(args.sample, threshold)
    if args.only in (None, "seed", "followup", "fresh", "news", "latency"):
        service = service_for("seeds", ROOT / "seeds")
        service.build()
        if args.only in (None, "seed"):
            results |= seed(service)
        if args.only in (None, "followup"):
            results |= followups(service)
        if args.only in (None, "fresh"):
            results |= fresh(service)
        if args.only in (None, "news"):
            results |= news_short(service)
        if args.only in (None, "latency"):
            results |= latency(service)
    rows = []
    for key, value in results.items():
        target = TARGETS.get(key)
        verdict = (
            "" if target is None else ("met" if (value <= target if "ms" in key else value >= target) else "MISSED")
        )
        rows.append(
            [key, f"{value:.3f}" if value < 100 else f"{value:.0f}", "—" if target is None else target, verdict]
        )
    print(
        table(f"answer step on unseen data (QABOT_MIN_CONFIDENCE {threshold})", ["metric", "value", "target", ""], rows)
    )
    out = RESULTS / "answer-eval.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1, ensure_ascii=False), encoding="utf-8")


if __name__ == "__main__":
    main()
