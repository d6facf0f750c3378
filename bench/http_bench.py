"""Benchmark the HTTP API over the seed index, from a separate client process on loopback.

    /work/venv/bin/python bench/http_bench.py [--seconds 60] [--clients 8]

Starts `qabot serve` as a subprocess (rate limit off, extractive mode), measures the in-process
`AnswerService.ask` median in this process for comparison, then drives `POST /ask` with N
concurrent keep-alive clients (asyncio + httpx, one connection each) and prints a table:
latency median / p99, sustained requests/s, errors, and the server's resident memory.
Targets (issue 3): median <= 40 ms, p99 <= 150 ms at 8 clients, >= 40 req/s for 60 s, 0 errors,
server RSS <= 700 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = [
    "吉安市有多少家单位入选全省“六有六规范”工会示范点？",
    "超威日化公司工会有哪些健身场所？",
    "吉安市总工会如何建强县级工会服务阵地？",
    "工会如何帮助困难职工？",
    "劳模疗休养活动在哪里举办？",
    "职工技术创新成果奖评出多少项？",
    "火星上有多少座城市？",
    "今年的工会经费投入是多少？",
]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> tuple[float, float]:
    """(current, peak) resident memory of a process, from /proc (Linux)."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def load_service(env: dict[str, str]):
    """The same service in this process, for the in-process baseline (index built or updated first)."""
    os.environ.update(env)
    from bot.service import AnswerService
    from bot.settings import Settings

    service = AnswerService(Settings(_env_file=None))
    report = service.build(progress=lambda done, total: print(f"\rindexing {done}/{total}", end="", file=sys.stderr))
    print(f"index: {report.chunks} chunks ({'unchanged' if report.unchanged else 'rebuilt'})", file=sys.stderr)
    for q in QUESTIONS:  # warm up
        service.ask(q, mode="extractive")
    return service


def interleaved(service, url: str, rounds: int) -> tuple[list[float], list[float]]:
    """In-process `ask` and sequential HTTP `/ask` in alternating blocks, so a busy machine
    slows both alike and their ratio stays meaningful: (in-process ms, HTTP ms)."""
    local, remote = [], []
    with httpx.Client(base_url=url, timeout=30) as c:
        for _ in range(rounds):
            for q in QUESTIONS:
                t = time.perf_counter()
                service.ask(q, mode="extractive")
                local.append((time.perf_counter() - t) * 1000)
            for q in QUESTIONS:
                t = time.perf_counter()
                r = c.post("/ask", json={"question": q, "mode": "extractive"})
                remote.append((time.perf_counter() - t) * 1000)
                r.raise_for_status()
    return local, remote


async def drive(url: str, clients: int, seconds: float, rate: float = 0.0) -> tuple[list[float], int, float]:
    """`clients` loops posting questions for `seconds`: (latencies in ms, errors, elapsed s).

    With `rate` > 0 the clients together send `rate` requests a second (each on its own
    schedule, never waiting when behind); otherwise each sends its next request at once."""
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def client(k: int) -> None:
        nonlocal errors
        async with httpx.AsyncClient(base_url=url, timeout=30, limits=httpx.Limits(max_connections=1)) as c:
            i = k
            interval = clients / rate if rate > 0 else 0.0
            next_at = time.perf_counter() + interval * k / clients
            while time.perf_counter() < deadline:
                if interval:
                    await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
                    next_at += interval
                body = {"question": QUESTIONS[i % len(QUESTIONS)], "mode": "extractive"}
                t = time.perf_counter()
                try:
                    r = await c.post("/ask", json=body)
                    ok = r.status_code == 200 and "answer" in r.json()
                except httpx.HTTPError:
                    ok = False
                latencies.append((time.perf_counter() - t) * 1000)
                errors += not ok
                i += 1

    started = time.perf_counter()
    await asyncio.gather(*(client(k) for k in range(clients)))
    return latencies, errors, time.perf_counter() - started


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the sustained run")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="total requests/s the clients offer (0 = as fast as each can, a saturation test)",
    )
    parser.add_argument(
        "--index-dir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "qabot-bench-index",
        help="kept between runs; built from seeds/ on first use (about a minute)",
    )
    args = parser.parse_args()

    env = {
        "QABOT_CORPUS_DIR": str(ROOT / "seeds"),
        "QABOT_INDEX_DIR": str(args.index_dir),
        "QABOT_RATE_LIMIT_PER_MINUTE": "0",
        "QABOT_LLM_BASE_URL": "",
        "QABOT_LLM_MODEL": "",
        "QABOT_API_KEY": "",
    }
    service = load_service(env)

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env={**os.environ, **env},
        cwd=tempfile.gettempdir(),  # no stray .env from the repo
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(600):
            try:
                health = httpx.get(f"{url}/health", timeout=1)
                if health.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None:
                sys.exit(f"the server exited with {server.returncode}")
            time.sleep(0.1)
        else:
            sys.exit("the server never became healthy")
        print(f"server: {health.json()}", file=sys.stderr)
        idle_rss, _ = rss_mb(server.pid)
        asyncio.run(drive(url, args.clients, 3))  # warm-up, not counted
        local, single = interleaved(service, url, rounds=10)
        loaded, errors, elapsed = asyncio.run(drive(url, args.clients, args.seconds, args.rate))
        rss, peak = rss_mb(server.pid)
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()

    http_median, baseline = statistics.median(loaded), statistics.median(local)
    rows = [
        ("in-process ask median (ms)", f"{baseline:.1f}", ""),
        ("HTTP /ask median, 1 client (ms)", f"{statistics.median(single):.1f}", ""),
        ("HTTP /ask p99, 1 client (ms)", f"{percentile(single, 0.99):.1f}", ""),
        (f"HTTP /ask median, {args.clients} clients (ms)", f"{http_median:.1f}", "<= 40"),
        (f"HTTP /ask p99, {args.clients} clients (ms)", f"{percentile(loaded, 0.99):.1f}", "<= 150"),
        (
            f"sustained throughput, {args.clients} clients, {elapsed:.0f} s (req/s)"
            + (f", offered {args.rate:g}/s" if args.rate else ", unpaced"),
            f"{len(loaded) / elapsed:.1f}",
            ">= 40",
        ),
        ("requests / errors", f"{len(loaded)} / {errors}", "0 errors"),
        ("server RSS idle / after / peak (MB)", f"{idle_rss:.0f} / {rss:.0f} / {peak:.0f}", "<= 700"),
        ("HTTP/in-process median ratio, 1 client", f"{statistics.median(single) / baseline:.2f}", ""),
        (f"HTTP/in-process median ratio, {args.clients} clients", f"{http_median / baseline:.2f}", ""),
    ]
    rows.append(("machine load average (1/5/15 min) at the end", load_average(), "other work competes"))
    width = max(len(r[0]) for r in rows)
    print(f"{'metric':<{width}}  {'value':>17}  target")
    print("-" * (width + 29))
    for name, value, target in rows:
        print(f"{name:<{width}}  {value:>17}  {target}".rstrip())


if __name__ == "__main__":
    main()
