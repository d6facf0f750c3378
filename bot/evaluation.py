"""Score the service on a question file (seed format with `evidence`, or CMRC with `answers`)."""

from __future__ import annotations

import json
import re
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import EvalFileError
from .models import Answer
from .service import AnswerService

BUDGET = 1500


@dataclass
class EvalQuestion:
    id: str
    question: str
    targets: list[str]  # evidence strings (seed) or gold answers (CMRC); empty = unanswerable
    kind: str  # "evidence" | "answers"


@dataclass
class EvalRow:
    id: str
    answerable: bool
    rank: int | None  # 1-based rank of the first source holding a target
    in_budget: bool
    answer_recall: float
    in_first_quote: bool
    found: bool
    ms: float


@dataclass
class EvalReport:
    rows: list[EvalRow] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        ans = [r for r in self.rows if r.answerable]
        una = [r for r in self.rows if not r.answerable]
        lat = sorted(r.ms for r in self.rows)

        def rate(rows: list[EvalRow], pred: Callable[[EvalRow], bool]) -> float | None:
            return round(sum(1 for r in rows if pred(r)) / len(rows), 4) if rows else None

        return {
            "questions": len(self.rows),
            "answerable": len(ans),
            "unanswerable": len(una),
            "hit@1": rate(ans, lambda r: r.rank == 1),
            "hit@3": rate(ans, lambda r: r.rank is not None and r.rank <= 3),
            "hit@5": rate(ans, lambda r: r.rank is not None and r.rank <= 5),
            "mrr": round(sum(1 / r.rank for r in ans if r.rank) / len(ans), 4) if ans else None,
            f"in_first_{BUDGET}_chars": rate(ans, lambda r: r.in_budget),
            "answer_evidence_recall": round(statistics.fmean(r.answer_recall for r in ans), 4) if ans else None,
            "gold_in_first_quote": rate(ans, lambda r: r.in_first_quote),
            "answered_when_answerable": rate(ans, lambda r: r.found),
            "refused_when_unanswerable": rate(una, lambda r: not r.found),
            "latency_ms_median": round(statistics.median(lat), 1) if lat else None,
            "latency_ms_p95": round(lat[min(len(lat) - 1, int(0.95 * len(lat)))], 1) if lat else None,
        }


def _norm(text: str) -> str:
    return re.sub(r"\s+", "", text)


def load_questions(path: Path) -> list[EvalQuestion]:
    if not path.is_file():
        raise EvalFileError(f"question file not found: {path}")
    out: list[EvalQuestion] = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise EvalFileError(f"{path} line {lineno}: invalid JSON ({exc.msg})") from exc
        if not isinstance(rec, dict) or not isinstance(rec.get("question"), str):
            raise EvalFileError(f"{path} line {lineno}: expected an object with a 'question'")
        if "answers" in rec:
            targets, kind = [a for a in rec["answers"] if a], "answers"
        elif "evidence" in rec:
            targets, kind = [e for e in rec["evidence"] if e], "evidence"
        else:
            raise EvalFileError(f"{path} line {lineno}: needs 'evidence' (seed format) or 'answers' (CMRC format)")
        out.append(EvalQuestion(str(rec.get("id", lineno)), rec["question"], targets, kind))
    if not out:
        raise EvalFileError(f"{path} holds no questions")
    return out


def score(question: EvalQuestion, answer: Answer, ms: float) -> EvalRow:
    targets = [_norm(t) for t in question.targets]
    if not targets:
        return EvalRow(question.id, False, None, False, 0.0, False, answer.found, ms)
    texts = [_norm(s.text) for s in answer.sources]
    rank = next((i + 1 for i, t in enumerate(texts) if any(x in t for x in targets)), None)
    budget = "".join(s.text for s in answer.sources)[:BUDGET]
    budget = _norm(budget)
    in_budget = (all if question.kind == "evidence" else any)(x in budget for x in targets)
    quoted = _norm(answer.answer) if answer.found else ""
    if question.kind == "evidence":
        recall = sum(1 for x in targets if x in quoted) / len(targets)
    else:
        recall = 1.0 if any(x in quoted for x in targets) else 0.0
    first_quote = ""
    if answer.found:
        first = next((s for s in answer.sources if s.quote), None)
        first_quote = _norm(first.quote or "") if first else ""
    in_first = any(x in first_quote for x in targets)
    return EvalRow(question.id, True, rank, in_budget, recall, in_first, answer.found, ms)


def evaluate(
    service: AnswerService,
    questions: list[EvalQuestion],
    top_k: int = 5,
    progress: Callable[[int, int], None] | None = None,
) -> EvalReport:
    report = EvalReport()
    for k, q in enumerate(questions):
        started = time.perf_counter()
        answer = service.ask(q.question, top_k=top_k)
        ms = (time.perf_counter() - started) * 1000
        report.rows.append(score(q, answer, ms))
        if progress:
            progress(k + 1, len(questions))
    return report
