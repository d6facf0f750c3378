"""`qabot`: index a folder of articles and ask it questions from the terminal.

Every command goes through `_guard`, the one place where qabot's errors (`QabotError`) become a
one-line message and an exit code: 2 when the input was at fault, 1 otherwise; never a traceback.
"""

from __future__ import annotations

import io
import json
import logging
import sys
import time
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

from .answer import render
from .models import HISTORY_TURNS, Answer, Delta, Final, Turn, exchange
from .settings import Settings, get_settings

if TYPE_CHECKING:
    from retrieval.index import BuildPlan

    from .library import AddResult
    from .service import AnswerService

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Ask questions about a folder of Chinese news articles; answers quote their sources.",
)
out = Console(soft_wrap=not sys.stdout.isatty())  # piped output: never hard-wrapped at 80 columns
err = Console(stderr=True)

EXIT_BAD_INPUT = 2
EXIT_FAILURE = 1
P = ParamSpec("P")
R = TypeVar("R")


def _fail(message: str, code: int = EXIT_FAILURE) -> NoReturn:
    err.print(f"[bold red]qabot:[/] {escape(message)}", highlight=False, soft_wrap=True)  # one line, however long
    raise typer.Exit(code)


def _guard(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn the errors a user can cause into one line and an exit code, never a traceback."""

    @wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        from .errors import QabotError  # imports retrieval: not needed for `--help`

        try:
            return fn(*args, **kwargs)
        except QabotError as exc:
            _fail(str(exc), EXIT_BAD_INPUT if exc.bad_input else EXIT_FAILURE)
        except KeyboardInterrupt:
            err.print("interrupted")
            raise typer.Exit(130) from None

    return wrapper


def _service(settings: Settings | None = None, server: bool = False) -> AnswerService:
    from .service import AnswerService

    settings = settings or get_settings()
    if server and settings.embed_threads == 0:
        settings = settings.model_copy(update={"embed_threads": 1})  # see Settings.embed_threads
    return AnswerService(settings)


class _Bar:
    """A rich progress bar for embedding, shown only while there is work."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.progress: Progress | None = None
        self.task: TaskID | None = None

    def __call__(self, done: int, total: int) -> None:
        if self.progress is None:
            self.progress = Progress(
                TextColumn(self.label),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=err,
                transient=False,
            )
            self.progress.start()
            self.task = self.progress.add_task(self.label, total=total)
        if self.task is not None:
            self.progress.update(self.task, completed=done, total=total)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()


def _announce(plan: BuildPlan) -> None:
    """Before a long build: how much there is to embed and about how long it takes."""
    if plan.to_embed:
        minutes = plan.seconds / 60
        took = f"about {minutes:.0f} min" if minutes >= 1.5 else f"about {plan.seconds:.0f} s"
        reused = plan.chunks - plan.to_embed
        err.print(
            f"{plan.chunks} new chunks from {plan.files} files: embedding {plan.to_embed}"
            + (f" ({reused} reused)" if reused else "")
            + f", {took} at {plan.rate:.1f} chunks/s",
            highlight=False,
            soft_wrap=True,
        )


def _ensure_index(service: AnswerService) -> None:
    bar = _Bar("首次运行：正在建立索引")
    try:
        report = service.ensure_index(progress=bar, on_plan=_announce)
    finally:
        bar.close()
    if report is not None:
        err.print(
            f"indexed {report.files} files, {report.articles} articles, {report.chunks} chunks "
            f"in {report.seconds:.1f} s",
            highlight=False,
        )


@app.command()
@_guard
def index(
    corpus: Path | None = typer.Option(
        None, "--corpus", help="folder of .txt/.md/.jsonl articles (default: QABOT_CORPUS_DIR)"
    ),
    part: str | None = typer.Option(
        None, "--part", help="K/N: embed only part K of N of the changed files (Milvus store; then --publish)"
    ),
    publish: bool = typer.Option(False, "--publish", help="publish the build that the --part runs wrote"),
) -> None:
    """Build or update the index; unchanged files are not re-embedded."""
    from retrieval.store import Part

    from .errors import retrieval_errors

    settings = get_settings()
    if corpus is not None:
        settings = settings.model_copy(update={"corpus_dir": corpus})
    if part is not None and publish:
        _fail("--part and --publish are separate steps: run every --part K/N, then --publish", EXIT_BAD_INPUT)
    with retrieval_errors():
        share = Part.parse(part) if part is not None else None
    service = _service(settings)
    bar = _Bar("embedding")
    try:
        report = service.publish() if publish else service.build(progress=bar, on_plan=_announce, part=share)
    finally:
        bar.close()
    if share is not None:
        out.print(
            f"part {share}: embedded {report.embedded} chunks of {len(report.changed)} changed files "
            f"in {report.seconds:.2f} s (not published yet: run `qabot index --publish` when every part is done)",
            highlight=False,
        )
        return
    if report.repaired:
        err.print(f"repaired the index ({escape(report.repaired)})", highlight=False, soft_wrap=True)
    for path in report.skipped:
        err.print(f"skipped {path} (see warnings above)", highlight=False)
    status = "unchanged" if report.unchanged else f"embedded {report.embedded} new chunks"
    out.print(
        f"files: {report.files}  articles: {report.articles}  chunks: {report.chunks}  "
        f"seconds: {report.seconds:.2f}  ({status}"
        + (f"; changed {len(report.changed)}, removed {len(report.removed)}" if not report.unchanged else "")
        + ")",
        highlight=False,
    )


def _squash(text: str) -> str:
    return "".join(text.split())


def _print_answer(answer: Answer, streamed: str | None = None) -> None:
    """The answer (unless it was already streamed), its note, unsupported sentences and sources.

    After streaming, the final (verified) answer is printed again only when it differs from what
    was streamed (the chat model failed mid-way and the offline answer followed, or verification
    changed the text), so the terminal always ends with the answer to keep.
    """
    if streamed is None:
        out.print(escape(answer.answer), highlight=False)
    else:
        out.print()  # end the streamed line
        if not _squash(streamed).endswith(_squash(answer.answer)):
            out.print(f"[bold]{render.CHECKED}：[/]" + escape(answer.answer), highlight=False)
    if answer.note:
        out.print(f"[yellow]{render.NOTE}：{escape(answer.note)}[/]", highlight=False)
    if answer.unsupported:
        out.print(f"[yellow]{render.WARNING} {render.UNSUPPORTED}：[/]", highlight=False)
        for sentence in dict.fromkeys(answer.unsupported):
            out.print(f"[yellow]  • {escape(sentence.strip())}[/]", highlight=False)
    if not answer.sources:
        return
    out.print()
    out.print(f"{render.SOURCES if answer.found else render.NEAREST}：")
    for s in answer.sources:
        out.print(f"[bold][{s.n}][/] {escape(render.source_label(s))} (字符 {s.start}–{s.end})", highlight=False)
        if s.quote:  # the short answer in bold inside its quote
            quote = render.marked(s.quote, s.marks, lambda t: f"[bold]{t}[/bold]", escape)
            out.print(f"    “{quote}”", highlight=False)
        elif not answer.found:
            out.print(f"    [dim]{escape(render.preview(s.text))}[/]", highlight=False)


def _stream_answer(service: AnswerService, question: str, **kwargs: Any) -> Answer:
    """Print the answer text as it is generated (`service.ask_stream`), then the rest; returns the answer.

    A bad question raises QuestionError before anything is printed.
    """
    answer, streamed = None, ""
    for event in service.ask_stream(question, **kwargs):
        if isinstance(event, Delta) and event.text:
            streamed += event.text
            out.file.write(event.text)
            out.file.flush()
        elif isinstance(event, Final):
            answer = event.answer
    if answer is None:  # pragma: no cover - the service always ends with the answer
        raise RuntimeError("the answer stream ended without an answer")
    _print_answer(answer, streamed=streamed if streamed else None)
    return answer


@app.command()
@_guard
def ask(
    question: str = typer.Argument(..., help="the question, or - to read one question per line from standard input"),
    top_k: int | None = typer.Option(None, "--top-k", "-k", help="how many sources to retrieve"),
    as_json: bool = typer.Option(False, "--json", help="print the answer as JSON (one object per line)"),
    mode: str | None = typer.Option(None, "--mode", help="extractive (offline) or llm (needs a chat model)"),
    since: str | None = typer.Option(None, "--since", help="only articles published on or after (YYYY-MM-DD)"),
    until: str | None = typer.Option(None, "--until", help="only articles published on or before (YYYY-MM-DD)"),
) -> None:
    """Answer a question from the articles, with numbered citations."""
    from .errors import QuestionError

    service = _service()
    service.date_range(since, until)  # a bad date fails before any first-run indexing
    if question != "-":
        service.validate(question)  # as does a bad question
    _ensure_index(service)
    options: dict[str, Any] = {"top_k": top_k, "mode": mode, "date_from": since, "date_to": until}
    if question != "-":
        if as_json:
            answer = service.ask(question, **options)
            sys.stdout.write(json.dumps(answer.to_json_dict(), ensure_ascii=False) + "\n")
        else:
            _stream_answer(service, question, **options)
        return
    failures = 0
    if isinstance(sys.stdin, io.TextIOWrapper):
        sys.stdin.reconfigure(errors="surrogateescape")  # bytes that are not UTF-8: cleaned, not a traceback
    for lineno, line in enumerate(sys.stdin, start=1):
        if not line.strip():
            continue
        try:
            if as_json:
                answer = service.ask(line.rstrip("\n"), **options)
            else:
                _stream_answer(service, line.rstrip("\n"), **options)
        except QuestionError as exc:
            failures += 1
            record = {"question": line.strip(), "error": str(exc), "line": lineno}
            if as_json:
                sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
            else:
                err.print(f"line {lineno}: {escape(str(exc))}", highlight=False)
            continue
        if as_json:
            sys.stdout.write(json.dumps(answer.to_json_dict(), ensure_ascii=False) + "\n")
        else:
            out.print()
        sys.stdout.flush()
    if failures:
        raise typer.Exit(EXIT_BAD_INPUT)


def _added_line(result: AddResult) -> str:
    """`+ 标题 — 2023-02-15 — 链接: 12 chunks indexed` or `= 标题 …: already there`."""
    a = result.article
    label = " — ".join(part for part in (a.title or a.file, a.date, a.url or a.file) if part)
    if not result.created:
        return f"= {label}: already there (id {a.id})"
    chunks = "indexed" if result.chunks is None else f"{result.chunks} chunks indexed"
    return f"+ {label}: {chunks} (id {a.id})"


@app.command()
@_guard
def add(
    items: list[str] = typer.Argument(..., help="files (PDF, scan, .html, .docx, .txt, .md) or http(s) URLs"),
) -> None:
    """Add articles to the corpus folder (deduplicated by URL and content) and index only them."""
    from retrieval.ingest.adding import Added

    from .errors import QabotError
    from .library import Library

    library = Library(_service())
    stored: list[Added] = []
    failed = 0
    for item in items:
        bar = _Bar(f"OCR {Path(item).name}")  # per-page progress: a scanned page takes seconds
        try:
            stored.append(library.store_source(item, progress=bar))
        except QabotError as exc:
            failed += 1
            err.print(f"[bold red]qabot:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        finally:
            bar.close()
    if stored:
        bar = _Bar("embedding")
        try:
            results = library.index(stored, progress=bar)
        finally:
            bar.close()
        for result in results:
            for warning in result.warnings:
                err.print(f"[yellow]{escape(result.article.file)}: {escape(warning)}[/]", highlight=False)
            out.print(escape(_added_line(result)), highlight=False, soft_wrap=True)
    if failed:
        raise typer.Exit(EXIT_BAD_INPUT)


@app.command()
@_guard
def watch(
    feeds_file: Path = typer.Argument(..., help="a text file with one RSS/Atom feed URL a line (# comments)"),
    interval: float | None = typer.Option(
        None, "--interval", min=1.0, help="seconds between polls (default: QABOT_WATCH_INTERVAL_S)"
    ),
    once: bool = typer.Option(False, "--once", help="poll every feed once and exit"),
) -> None:
    """Poll RSS/Atom feeds and add each new item's article (politely: conditional GET, timeout, size limit)."""
    from .library import Library

    library = Library(_service())
    urls = library.feeds(feeds_file)
    poller = library.feed_poller()
    wait = interval if interval is not None else library.settings.watch_interval_s
    if not once:
        err.print(f"watching {len(urls)} feeds every {wait:g} s; Ctrl-C stops", highlight=False)
    while True:
        started = time.monotonic()
        results, problems = library.poll(poller, urls)
        for problem in problems:
            err.print(f"[yellow]qabot: warning: {escape(problem)}[/]", highlight=False, soft_wrap=True)
        for result in results:
            out.print(escape(_added_line(result)), highlight=False, soft_wrap=True)
        if once:
            out.print(f"{len(results)} new articles from {len(urls)} feeds", highlight=False)
            return
        time.sleep(max(0.0, wait - (time.monotonic() - started)))


@app.command()
@_guard
def chat(top_k: int | None = typer.Option(None, "--top-k", "-k")) -> None:
    """An interactive session: follow-up questions use the conversation so far; Ctrl-D leaves."""
    try:
        import readline  # noqa: F401  (line editing and history for input())
    except ImportError:  # pragma: no cover - not on every platform
        pass
    from .errors import QuestionError

    service = _service()
    _ensure_index(service)
    service.warm()
    info = service.info()
    out.print(
        f"qabot — {info['chunks']} 段资料，来自 {len(info['files'])} 个文件。输入问题，Ctrl-D 退出，/reset 清空对话。"
    )
    history: list[Turn] = []
    while True:
        try:
            line = input("问> ")
        except EOFError:
            out.print()
            return
        except KeyboardInterrupt:
            out.print()
            continue
        if not line.strip():
            continue
        if line.strip() == "/reset":
            history.clear()
            out.print("对话已清空。")
            continue
        try:
            answer = _stream_answer(service, line, top_k=top_k, history=history)
        except QuestionError as exc:
            err.print(f"[red]{escape(str(exc))}[/]")
            continue
        out.print()
        history = (history + exchange(line, answer.answer))[-HISTORY_TURNS:]


@app.command("eval")
@_guard
def evaluate_cmd(
    file: Path = typer.Argument(..., help="questions: seed format (evidence) or CMRC format (answers)"),
    top_k: int = typer.Option(5, "--top-k", "-k"),
    as_json: bool = typer.Option(False, "--json", help="print the summary as JSON"),
) -> None:
    """Score retrieval and answers on a question file: hit@k, MRR, evidence recall, refusals, latency."""
    from .evaluation import evaluate, load_questions

    questions = load_questions(file)
    service = _service()
    _ensure_index(service)
    bar = _Bar("evaluating")
    try:
        report = evaluate(service, questions, top_k=top_k, progress=bar)
    finally:
        bar.close()
    summary = report.summary()
    if as_json:
        sys.stdout.write(json.dumps(summary, ensure_ascii=False) + "\n")
        return
    from rich.table import Table

    table = Table(title=f"{file.name} (top-k {top_k})")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in summary.items():
        table.add_row(key, "—" if value is None else str(value))
    out.print(table)


@app.command()
@_guard
def serve(
    host: str | None = typer.Option(None, "--host", help="default: QABOT_HOST"),
    port: int | None = typer.Option(None, "--port", help="default: QABOT_PORT"),
    workers: int | None = typer.Option(
        None, "--workers", min=1, max=64, help="server processes sharing the port (default: QABOT_WORKERS)"
    ),
) -> None:
    """Serve the HTTP API (POST /ask, /ask/stream, OpenAI-compatible /v1) and a chat page."""
    from .http.server import run

    service = _service(server=True)
    _ensure_index(service)
    run(
        service,
        host=host or service.settings.host,
        port=port if port is not None else service.settings.port,
        workers=workers or service.settings.workers,
    )


@app.command()
@_guard
def telegram(
    webhook_url: str | None = typer.Option(None, "--webhook-url", help="use a webhook instead of long polling"),
) -> None:
    """Run the Telegram bot (TELEGRAM_BOT_TOKEN)."""
    from .telegram.app import run

    service = _service(server=True)
    _ensure_index(service)
    run(service, webhook_url=webhook_url)


def main() -> None:
    from .redact import RedactingFilter

    logging.basicConfig(level=logging.WARNING, format="qabot: %(levelname)s: %(message)s", stream=sys.stderr)
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactingFilter())
    for noisy in ("bm25s", "faiss", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    started = time.perf_counter()
    try:
        app()
    finally:
        logging.getLogger(__name__).debug("finished in %.2f s", time.perf_counter() - started)


if __name__ == "__main__":
    main()
