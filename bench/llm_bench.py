"""Benchmark of generated answers against the fake OpenAI-compatible server (tests/fakes/fake_openai.py).

Over the seed dev questions it measures:
  * service overhead around the model call: wall time of `ask_stream` minus the time the model
    server spent on the request (first byte received → last byte sent) — retrieval, prompt,
    client, streaming filter and citation verification;
  * first-token forwarding: from the server writing the first content token to the service
    yielding the first `delta` event (what the HTTP / Telegram front ends forward);
  * planted invalid citations removed (model `badcite`: markers [N+1] and 【N+7】 per answer);
  * planted invented numbers flagged (model `number`: one number of source [1] changed, or an
    invented one appended, sometimes in Chinese numerals);
  * for honesty, the blind spot: two numbers of the cited sentence swapped (model `swap`), which a
    check against the cited text cannot see; and faithful answers (model `echo`) wrongly flagged.

    /work/venv/bin/python bench/llm_bench.py [--questions FILE] [--repeats 3]

The seed index is built once into bench/results/llm-index (git-ignored) and reused.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pydantic import SecretStr  # noqa: E402

from bot.answer.citations import verify  # noqa: E402
from bot.answer.llm import LLMAnswerer  # noqa: E402
from bot.errors import IndexUnavailable  # noqa: E402
from bot.models import Delta, Final  # noqa: E402
from bot.service import AnswerService  # noqa: E402
from bot.settings import Settings  # noqa: E402
from tests.fakes.fake_openai import FakeOpenAI, to_chinese  # noqa: E402


def _ms(seconds: float) -> float:
    return seconds * 1000.0


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=Path, default=Path("/work/shared/eval/seed-dev.jsonl"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--top-k", type=int, default=5)
    args = parser.parse_args()

    questions = [
        json.loads(line)["question"] for line in args.questions.read_text(encoding="utf-8").splitlines() if line.strip()
    ]
    settings = Settings(_env_file=None, corpus_dir=ROOT / "seeds", index_dir=ROOT / "bench" / "results" / "llm-index")
    service = AnswerService(settings)
    started = time.perf_counter()
    try:
        service.ensure_index()
        snapshot = service.snapshot()
    except IndexUnavailable:  # built by an older chunker/tokenizer: rebuild
        service.build()
        snapshot = service.snapshot()
    print(f"index ready in {time.perf_counter() - started:.1f} s", file=sys.stderr)

    with FakeOpenAI(first_token_delay=0.02) as fake:

        def use(model: str) -> None:
            service.chat = LLMAnswerer(
                settings.model_copy(
                    update={"llm_base_url": fake.base_url, "llm_model": model, "llm_api_key": SecretStr("sk-bench")}
                )
            )

        # warm-up (client connection pool, jieba dictionaries, first embedding)
        use("echo")
        for question in questions[:3]:
            service.ask(question, top_k=args.top_k)

        overhead, forward, retrieval, verification, model_time = [], [], [], [], []
        searched: list[float] = []
        search = snapshot.searcher.search

        def timed_search(query: str, k: int):  # times the very retrieval call the service makes
            t = time.perf_counter()
            try:
                return search(query, k)
            finally:
                searched.append(time.perf_counter() - t)

        snapshot.searcher.search = timed_search  # type: ignore[method-assign]
        for _ in range(args.repeats):
            for question in questions:
                began = time.perf_counter()
                first_delta = None
                answer = None
                for event in service.ask_stream(question, top_k=args.top_k):
                    if isinstance(event, Delta) and first_delta is None:
                        first_delta = time.perf_counter()
                    elif isinstance(event, Final):
                        answer = event.answer
                ended = time.perf_counter()
                record = fake.requests[-1]
                assert answer is not None and answer.mode == "llm", answer
                done = record.wait_done()
                model_time.append(done - record.received)
                overhead.append(ended - began - (done - record.received))
                forward.append(first_delta - record.first_token)
                retrieval.append(searched[-1])
                hits = search(question, args.top_k)
                t = time.perf_counter()
                verify(record.reply, [h.chunk for h in hits], snapshot.idf)
                verification.append(time.perf_counter() - t)

        snapshot.searcher.search = search  # type: ignore[method-assign]
        http_forward = _through_http(service, fake, questions, args.top_k)

        use("badcite")
        planted_markers = removed_markers = 0
        for question in questions:
            answer = service.ask(question, top_k=args.top_k)
            markers = fake.requests[-1].planted["markers"]
            planted_markers += len(markers)
            removed_markers += sum(
                1 for n in markers if f"[{n}]" not in answer.answer and f"【{n}】" not in answer.answer
            )

        use("number")
        planted_numbers = flagged_numbers = 0
        misses = []
        false_flags = 0
        for question in questions:
            answer = service.ask(question, top_k=args.top_k)
            number = fake.requests[-1].planted["number"]
            planted_numbers += 1
            hit = any(number in s or _cn_of(number) in s for s in answer.unsupported)
            flagged_numbers += hit
            if not hit:
                misses.append((question, fake.requests[-1].reply))

        use("swap")  # numbers present in the cited source but in each other's place
        swapped = swapped_flagged = 0
        for question in questions:
            answer = service.ask(question, top_k=args.top_k)
            if "swap" in fake.requests[-1].planted:
                swapped += 1
                swapped_flagged += bool(answer.unsupported)

        use("echo")  # faithful copies of a source sentence: nothing should be flagged
        for question in questions:
            false_flags += bool(service.ask(question, top_k=args.top_k).unsupported)

    rows = [
        ("service overhead around the model call, median", f"{_ms(statistics.median(overhead)):.1f} ms", "≤ 50 ms"),
        ("  p90", f"{_ms(_pct(overhead, 0.9)):.1f} ms", ""),
        ("  of which retrieval (median)", f"{_ms(statistics.median(retrieval)):.1f} ms", ""),
        (
            "  without retrieval (median of overhead − retrieval)",
            f"{_ms(statistics.median(o - r for o, r in zip(overhead, retrieval, strict=True))):.1f} ms",
            "",
        ),
        ("  of which citation verification (median)", f"{_ms(statistics.median(verification)):.2f} ms", ""),
        ("model time at the fake server (median)", f"{_ms(statistics.median(model_time)):.1f} ms", ""),
        (
            "first token forwarded after the model sent it, median",
            f"{_ms(statistics.median(forward)):.2f} ms",
            "≤ 20 ms",
        ),
        ("  p90 / max", f"{_ms(_pct(forward, 0.9)):.2f} / {_ms(max(forward)):.2f} ms", ""),
        (
            "  … to the HTTP client (/ask/stream SSE), median",
            f"{_ms(statistics.median(http_forward)):.2f} ms" if http_forward else "n/a (bot.http missing)",
            "≤ 20 ms",
        ),
        (
            "  … p90 / max",
            f"{_ms(_pct(http_forward, 0.9)):.2f} / {_ms(max(http_forward)):.2f} ms" if http_forward else "",
            "",
        ),
        (
            "planted invalid citations removed",
            f"{removed_markers}/{planted_markers} = {100 * removed_markers / planted_markers:.0f}%",
            "100%",
        ),
        (
            "planted invented numbers flagged",
            f"{flagged_numbers}/{planted_numbers} = {100 * flagged_numbers / planted_numbers:.0f}%",
            "≥ 90%",
        ),
        ("  (not a target) two numbers of the cited sentence swapped, flagged", f"{swapped_flagged}/{swapped}", "—"),
        ("faithful answers wrongly flagged", f"{false_flags}/{len(questions)}", "0"),
    ]
    width = max(len(r[0]) for r in rows)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"llm bench: {len(questions)} questions from {args.questions.name}, top-k {args.top_k}, "
        f"{args.repeats} timed repeats, {os.cpu_count()} CPUs, load average {load:.1f}"
    )
    print(f"{'metric'.ljust(width)}  {'value':>22}  target")
    for name, value, target in rows:
        print(f"{name.ljust(width)}  {value:>22}  {target}")
    for question, reply in misses:
        print(f"not flagged: {question} → {reply}")


def _through_http(service: AnswerService, fake: FakeOpenAI, questions: list[str], top_k: int) -> list[float]:
    """First token: fake server writes it → the HTTP client reads the first `delta` SSE event."""
    try:
        import httpx

        from bot.http import ServerThread, create_app
    except ImportError:
        return []
    service.settings = service.settings.model_copy(update={"rate_limit_per_minute": 0})
    out = []
    with ServerThread(create_app(service)) as url, httpx.Client(base_url=url, timeout=60) as client:
        for question in questions:
            first = None
            with client.stream("POST", "/ask/stream", json={"question": question, "top_k": top_k}) as response:
                for line in response.iter_lines():
                    if first is None and line.startswith("event: delta"):
                        first = time.perf_counter()
            record = fake.requests[-1]
            if first is not None and record.first_token is not None:
                out.append(first - record.first_token)
    return out


def _cn_of(number: str) -> str:
    value = int(number)
    return to_chinese(value) if value < 10_000 else number


if __name__ == "__main__":
    main()
