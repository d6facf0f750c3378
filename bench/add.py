"""Incremental add: one HTML article into a CMRC-sized index, until the first answer cites it.

    python bench/add.py [--runs 3]

The base index holds CMRC 2018 dev's 848 articles (report-only data, used here only as a corpus
of realistic size; nothing is tuned on it); it is built once into bench/results/indexes/add-cmrc
and reused. Each run adds a fresh hand-written news page (a different article every run, so it
is really new) and then removes it again, measured two ways:

- CLI, cold: `qabot add page.html` and then `qabot ask QUESTION` as two new processes, as an
  editor would type them (each process loads the embedding model and the index);
- server, warm: `POST /articles` (multipart upload) and then `POST /ask` on a running
  `qabot serve`, as the admin page or a CMS hook would do it.

A run counts only if the answer's first source is the added article. Target: ≤ 5 s to first answer.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from _common import CMRC, RESULTS, ROOT, service_for, table

from bot.http import ServerThread, create_app
from bot.library import Library

NAME = "add-cmrc"
ADMIN = "bench-admin-key"
TARGET_S = 5.0
PAGE = """<html><head><title>{city}图书馆延长开放时间</title><meta name="date" content="2023-03-{day:02d}"></head>
<body><nav><a href="/">首页</a> <a href="/n">新闻</a></nav><article><h1>{city}图书馆延长开放时间</h1>
<p>本报讯 {city}图书馆自4月起每天开放至晚上{hour}点，周末增设少儿阅读专场，预计每年多接待读者{n}万人次。</p>
<p>馆方表示，新增的夜间时段由{volunteers}名志愿者协助服务，市民凭身份证即可入馆。</p></article>
<footer>版权所有</footer></body></html>"""
CITIES = ["青石", "白河", "临江", "云台", "松原", "东湖", "北塘", "南屏", "西岭", "金沙"]
HOURS = ["九", "十", "十一"]


def page(run: int, mode: str) -> tuple[str, str, str]:
    """(file name, html, question) of a news page that is new in every run."""
    city = CITIES[run % len(CITIES)] + ("" if mode == "cli" else "新区")
    html = PAGE.format(city=city, day=1 + run, hour=HOURS[run % 3], n=10 + run, volunteers=20 + run)
    return f"{mode}-{run}.html", html, f"{city}图书馆每天开放到晚上几点？"


def corpus_dir() -> Path:
    folder = RESULTS / "corpora" / NAME
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "dev-corpus.jsonl"
    if not target.exists():
        shutil.copy(CMRC / "dev-corpus.jsonl", target)
    return folder


def env(corpus: Path) -> dict[str, str]:
    values = {k: v for k, v in os.environ.items() if not k.startswith(("QABOT_", "TELEGRAM_"))}
    values.update(
        QABOT_CORPUS_DIR=str(corpus),
        QABOT_INDEX_DIR=str(RESULTS / "indexes" / NAME),
        ORT_DISABLE_TELEMETRY="1",
    )
    return values


def cli_run(run: int, corpus: Path, tmp: Path) -> dict:
    name, html, question = page(run, "cli")
    path = tmp / name
    path.write_text(html, encoding="utf-8")
    qabot = [sys.executable, "-m", "bot.cli"]
    started = time.perf_counter()
    added = subprocess.run([*qabot, "add", str(path)], env=env(corpus), cwd=tmp, capture_output=True, text=True)
    add_s = time.perf_counter() - started
    asked = subprocess.run(
        [*qabot, "ask", question, "--json"], env=env(corpus), cwd=tmp, capture_output=True, text=True
    )
    total = time.perf_counter() - started
    if added.returncode or asked.returncode:
        raise SystemExit(f"run {run} failed: {added.stderr.strip()} {asked.stderr.strip()}")
    answer = json.loads(asked.stdout.strip().splitlines()[-1])
    return {"add": add_s, "ask": total - add_s, "total": total, "cited": cited(answer, name), "line": added.stdout}


def server_run(run: int, client, base: str) -> dict:
    import httpx

    name, html, question = page(run, "http")
    started = time.perf_counter()
    r = client.post(f"{base}/articles", files={"file": (name, html.encode("utf-8"), "text/html")})
    add_s = time.perf_counter() - started
    if r.status_code != 201:
        raise SystemExit(f"POST /articles: {r.status_code} {r.text}")
    answer = client.post(f"{base}/ask", json={"question": question}).json()
    total = time.perf_counter() - started
    assert isinstance(client, httpx.Client)
    return {"add": add_s, "ask": total - add_s, "total": total, "cited": cited(answer, name), "id": r.json()["id"]}


def cited(answer: dict, name: str) -> bool:
    sources = answer.get("sources") or []
    return bool(answer.get("found")) and bool(sources) and sources[0]["file"].endswith(name)


def rows_of(kind: str, runs: list[dict]) -> list[list]:
    out = []
    for k, r in enumerate(runs, start=1):
        verdict = "met" if r["total"] <= TARGET_S and r["cited"] else "MISSED"
        out.append([kind, k, f"{r['add']:.2f}", f"{r['ask']:.2f}", f"{r['total']:.2f}", r["cited"], verdict])
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    import httpx
    from pydantic import SecretStr

    os.environ["ORT_DISABLE_TELEMETRY"] = "1"
    corpus = corpus_dir()
    print(f"cores: {os.cpu_count()}, load average at start: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    base = service_for(NAME, corpus, embed_threads=1)
    library = Library(base)
    for old in library.articles():  # an earlier interrupted run's pages
        library.store.remove(old.id)
    report = base.build()
    print(f"base index: {report.chunks} chunks of {report.articles} articles "
          f"({'reused' if report.unchanged else f'built in {report.seconds:.0f} s'})")  # fmt: skip

    tmp = RESULTS / "add-tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    cli: list[dict] = []
    for run in range(args.runs):
        cli.append(cli_run(run, corpus, tmp))
        for added in library.articles():
            library.remove(added.id)  # back to the CMRC-only index for the next run
    print(f"qabot add printed: {cli[-1]['line'].strip()}")

    settings = base.settings.model_copy(update={"admin_key": SecretStr(ADMIN), "rate_limit_per_minute": 0})
    server = create_app(type(base)(settings, embedder=base.embedder))
    warm: list[dict] = []
    with ServerThread(server) as url, httpx.Client(timeout=120, headers={"X-Admin-Key": ADMIN}) as client:
        client.post(f"{url}/ask", json={"question": "预热"})
        for run in range(args.runs):
            result = server_run(run, client, url)
            warm.append(result)
            client.delete(f"{url}/articles/{result['id']}")
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"load average at end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    header = ["how", "run", "add s", "ask s", "to first answer s", "cited", f"≤ {TARGET_S:g} s"]
    rows = rows_of("CLI (2 new processes)", cli) + rows_of("HTTP (running server)", warm)
    print(table(f"one HTML article into the CMRC dev index ({report.chunks} chunks)", header, rows))


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
