"""Telegram bot benchmark: latency under concurrent chats, and no loss across a restart.

Runs the real bot (default polling settings, extractive answers, the seed corpus) against the
Bot API stand-in on loopback. Latency is measured by the stand-in, from the moment a user's
message is queued for getUpdates to the moment the bot's reply to it arrives (sendMessage).

    /work/venv/bin/python bench/telegram_bench.py [--rounds 5] [--chats 20] [--index-dir DIR]

Targets (issue 4): median ≤ 1 s with 20 chats asking at once; nothing lost or answered twice
across a restart of the bot.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.service import AnswerService  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.telegram.app import build_application, polling  # noqa: E402
from bot.telegram.config import BotConfig  # noqa: E402
from tests.fakes.telegram_standin import TelegramStandIn  # noqa: E402

QUESTIONS = [
    "吉安市有多少家单位入选全省“六有六规范”工会示范点？",
    "嘉善县投资项目“178”服务体系已为多少个项目提供服务？",
    "湖南第二批主题教育单位党员领导干部已现场办公多少次？",
    "甘肃省总工会连续开展了多少届职工创新成果评选活动？",
    "甘肃省培育了多少个创新型班组？",
    "长沙市芙蓉区每月几日组织区领导现场办公？",
]


def latencies(standin: TelegramStandIn, since: float = 0.0) -> tuple[list[float], int, int]:
    """Per answered question (first reply): seconds from queued to answered; plus lost and doubled."""
    with standin.cond:
        replies: dict[int, list[float]] = {}
        for sent in standin.state.sent:
            if sent.reply_to is not None:
                replies.setdefault(sent.reply_to, []).append(sent.at)
        asked = dict(standin.state.asked)
        queued = dict(standin.state.enqueued_at)
    values, lost, doubled = [], 0, 0
    for message_id, update_id in asked.items():
        if queued[update_id] < since:
            continue
        got = replies.get(message_id, [])
        if not got:
            lost += 1
            continue
        doubled += len(got) > 1
        values.append(min(got) - queued[update_id])
    return values, lost, doubled


def row(name: str, values: list[float], lost: int, doubled: int, seconds: float) -> list[str]:
    q = statistics.quantiles(values, n=20, method="inclusive") if len(values) >= 2 else values * 19
    return [
        name,
        str(len(values) + lost),
        f"{statistics.median(values):.3f}" if values else "-",
        f"{q[17]:.3f}" if values else "-",
        f"{max(values):.3f}" if values else "-",
        str(lost),
        str(doubled),
        f"{seconds:.1f}",
    ]


async def wait_answered(standin: TelegramStandIn, expected: int, since: float, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        values, _, _ = latencies(standin, since)
        if len(values) >= expected:
            return
        await asyncio.sleep(0.02)
    raise SystemExit(f"timed out: {len(latencies(standin, since)[0])} of {expected} answered")


async def burst(standin: TelegramStandIn, chats: int, rounds: int, first_chat: int) -> tuple[list[str], float]:
    """`chats` chats each ask one question at the same moment; `rounds` times."""
    since = time.perf_counter()
    started = time.monotonic()
    for r in range(rounds):
        mark = time.perf_counter()
        for c in range(chats):
            standin.user_says(first_chat + c, QUESTIONS[(c + r) % len(QUESTIONS)])
        await wait_answered(standin, chats, mark)
    values, lost, doubled = latencies(standin, since)
    return row(f"{chats} chats at once × {rounds}", values, lost, doubled, time.monotonic() - started), since


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--chats", type=int, default=20)
    parser.add_argument(
        "--index-dir", type=Path, default=None, help="reuse an index of seeds/ (default: build one in a temp dir)"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("bm25s").setLevel(logging.WARNING)

    index_dir = args.index_dir or Path(tempfile.mkdtemp(prefix="qabot-tg-bench-")) / "index"
    settings = Settings(_env_file=None, corpus_dir=ROOT / "seeds", index_dir=index_dir)
    service = AnswerService(settings)
    t0 = time.monotonic()
    service.ensure_index()
    service.ask(QUESTIONS[0])  # load the index and warm the model, as a running bot would be
    print(f"index ready in {time.monotonic() - t0:.1f} s: {service.info()['chunks']} chunks", file=sys.stderr)

    config = BotConfig.from_settings(settings)  # default polling timeout, rate limit, history
    rows = []
    with TelegramStandIn() as standin:
        app = build_application(service, config, token=standin.token, base_url=standin.base_url)
        async with polling(app):
            single, _ = await burst(standin, 1, args.rounds, first_chat=1)
            single[0] = f"1 chat × {args.rounds}"
            rows.append(single)
            rows.append((await burst(standin, args.chats, args.rounds, first_chat=100))[0])
            standin.wake()

        # restart: questions in flight when the bot stops, more while it is down, then a new bot
        since = time.perf_counter()
        started = time.monotonic()
        total = 0
        app = build_application(service, config, token=standin.token, base_url=standin.base_url)
        async with polling(app):
            for r in range(3):
                for c in range(args.chats):
                    standin.user_says(1000 + c, QUESTIONS[(c + r) % len(QUESTIONS)])
                    total += 1
            await asyncio.sleep(0.3)  # stop while the bot is in the middle of them
            standin.wake()
        answered_before = len(latencies(standin, since)[0])
        for c in range(args.chats):
            standin.user_says(1000 + c, QUESTIONS[c % len(QUESTIONS)])
            total += 1
        app = build_application(service, config, token=standin.token, base_url=standin.base_url)
        async with polling(app):
            await wait_answered(standin, total, since)
            await asyncio.sleep(1.0)  # room for a duplicate to show up
            standin.wake()
        values, lost, doubled = latencies(standin, since)
        restart = row(
            f"restart ({answered_before} answered before stop)", values, lost, doubled, time.monotonic() - started
        )
        rows.append(restart)

    header = ["scenario", "questions", "median s", "p90 s", "max s", "lost", "answered twice", "wall s"]
    widths = [max(len(str(r[k])) for r in [header, *rows]) for k in range(len(header))]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    print(
        "qabot Telegram bot, extractive answers, seed corpus, "
        f"default polling settings (timeout {config.poll_timeout_s} s)"
    )
    print(line.format(*header))
    print(line.format(*["-" * w for w in widths]))
    for r in rows:
        print(line.format(*r))


if __name__ == "__main__":
    asyncio.run(main())
