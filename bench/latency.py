"""Warm in-process `ask` latency (extractive) and cold `qabot ask` wall time, on the seed index.

python bench/latency.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

from _common import ROOT, SEED_DEV, service_for, table

from bot.evaluation import load_questions


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    service = service_for("seeds", ROOT / "seeds")
    service.build()
    questions = [q.question for q in load_questions(SEED_DEV)]
    service.ask(questions[0])
    stages = {"total": [], "search": []}
    for _ in range(args.rounds):
        for q in questions:
            started = time.perf_counter()
            service.search(q, 5)
            stages["search"].append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            service.ask(q)
            stages["total"].append((time.perf_counter() - started) * 1000)
    rows = []
    for name, values in stages.items():
        values.sort()
        rows.append(
            [
                f"in-process {name}",
                len(values),
                f"{statistics.median(values):.1f}",
                f"{values[int(0.95 * (len(values) - 1))]:.1f}",
            ]
        )
    env = dict(
        os.environ, QABOT_CORPUS_DIR=str(service.settings.corpus_dir), QABOT_INDEX_DIR=str(service.settings.index_dir)
    )
    qabot = os.path.join(os.path.dirname(sys.executable), "qabot")
    walls = []
    for q in questions[:5]:
        started = time.perf_counter()
        subprocess.run([qabot, "ask", q, "--json"], env=env, check=True, capture_output=True)
        walls.append(time.perf_counter() - started)
    walls.sort()
    rows.append(["`qabot ask` cold wall (s)", len(walls), f"{statistics.median(walls):.2f}", f"{walls[-1]:.2f} (max)"])
    print(
        table(
            "answer latency on the seed index (ms unless noted; targets: median ≤ 25, p95 ≤ 50, cold ≤ 3 s)",
            ["what", "n", "median", "p95"],
            rows,
        )
    )


if __name__ == "__main__":
    main()
