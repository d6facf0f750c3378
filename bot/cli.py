"""`qabot`: index a folder of articles and ask it questions from the terminal."""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from .settings import Settings, get_settings

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Ask questions about a folder of Chinese news articles; answers quote their sources.",
)
out = Console()
err = Console(stderr=True)

EXIT_BAD_INPUT = 2
EXIT_FAILURE = 1


def _fail(message: str, code: int = EXIT_FAILURE) -> None:
    err.print(f"[bold red]qabot:[/] {escape(message)}", highlight=False)
    raise typer.Exit(code)


def _service(settings: Settings | None = None, server: bool = False):
    from .service import AnswerService

    settings = settings or get_settings()
    if server and settings.embed_threads == 0:
        settings = settings.model_copy(update={"embed_threads": 1})  # see Settings.embed_threads
    service = AnswerService(settings)
    if service.settings.llm_enabled:
        from .llm import attach_llm

        attach_llm(service)
    return service


class _Bar:
    """A rich progress bar for embedding, shown only while there is work."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.progress: Progress | None = None
        self.task = None

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
        self.progress.update(self.task, completed=done, total=total)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()


def _guard(fn):
    """Turn the errors a user can cause into one line and an exit code, never a traceback."""
    from functools import wraps

    @wraps(fn)
    def wrapper(*args, **kwargs):
        from retrieval.embeddings import EmbeddingsError
        from retrieval.index import IndexProblem
        from retrieval.loading import CorpusError

        from .evaluation import EvalFileError
        from .service import QuestionError

        try:
            return fn(*args, **kwargs)
        except (QuestionError, CorpusError, EvalFileError) as exc:
            _fail(str(exc), EXIT_BAD_INPUT)
        except (IndexProblem, EmbeddingsError) as exc:
            _fail(str(exc), EXIT_FAILURE)
        except KeyboardInterrupt:
            err.print("interrupted")
            raise typer.Exit(130)

    return wrapper


def _ensure_index(service) -> None:
    bar = _Bar("首次运行：正在建立索引")
    try:
        report = service.ensure_index(progress=bar)
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
    corpus: Optional[Path] = typer.Option(None, "--corpus", help="folder of .txt/.md/.jsonl articles (default: QABOT_CORPUS_DIR)"),
) -> None:
    """Build or update the index; unchanged files are not re-embedded."""
    settings = get_settings()
    if corpus is not None:
        settings = settings.model_copy(update={"corpus_dir": corpus})
    service = _service(settings)
    bar = _Bar("embedding")
    try:
        report = service.build(progress=bar)
    finally:
        bar.close()
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


def _print_answer(answer, streamed: str | None = None) -> None:
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
            out.print("[bold]核对后的答案：[/]" + escape(answer.answer), highlight=False)
    if answer.note:
        out.print(f"[yellow]注意：{escape(answer.note)}[/]", highlight=False)
    if answer.unsupported:
        out.print("[yellow]⚠️ 以下内容未在来源中找到依据：[/]", highlight=False)
        for sentence in dict.fromkeys(answer.unsupported):
            out.print(f"[yellow]  • {escape(sentence.strip())}[/]", highlight=False)
    if not answer.sources:
        return
    out.print()
    out.print("来源：" if answer.found else "最接近的资料（未直接回答问题）：")
    for s in answer.sources:
        out.print(f"[bold][{s.n}][/] {escape(s.title)} — {escape(s.file)} (字符 {s.start}–{s.end})", highlight=False)
        if s.quote:
            out.print(f"    “{escape(s.quote)}”", highlight=False)
        elif not answer.found:
            preview = s.text.replace("\n", " ")
            out.print(f"    [dim]{escape(preview[:80])}{'…' if len(preview) > 80 else ''}[/]", highlight=False)


def _stream_answer(service, question: str, **kwargs):
    """Print the answer text as it is generated (`service.ask_stream`), then the rest; returns the answer.

    A bad question raises QuestionError before anything is printed.
    """
    answer, streamed = None, ""
    for kind, payload in service.ask_stream(question, **kwargs):
        if kind == "delta" and payload:
            streamed += payload
            out.file.write(payload)
            out.file.flush()
        elif kind == "answer":
            answer = payload
    if answer is None:  # pragma: no cover - the service always ends with the answer
        raise RuntimeError("the answer stream ended without an answer")
    _print_answer(answer, streamed=streamed if streamed else None)
    return answer


@app.command()
@_guard
def ask(
    question: str = typer.Argument(..., help="the question, or - to read one question per line from standard input"),
    top_k: Optional[int] = typer.Option(None, "--top-k", "-k", help="how many sources to retrieve"),
    as_json: bool = typer.Option(False, "--json", help="print the answer as JSON (one object per line)"),
    mode: Optional[str] = typer.Option(None, "--mode", help="extractive (offline) or llm (needs a chat model)"),
) -> None:
    """Answer a question from the articles, with numbered citations."""
    from .service import QuestionError

    service = _service()
    if question != "-":
        service.validate(question)  # a bad question fails before any first-run indexing
    _ensure_index(service)
    if question != "-":
        if as_json:
            answer = service.ask(question, top_k=top_k, mode=mode)
            sys.stdout.write(json.dumps(answer.to_json_dict(), ensure_ascii=False) + "\n")
        else:
            _stream_answer(service, question, top_k=top_k, mode=mode)
        return
    failures = 0
    for lineno, line in enumerate(sys.stdin, start=1):
        if not line.strip():
            continue
        try:
            if as_json:
                answer = service.ask(line.rstrip("\n"), top_k=top_k, mode=mode)
            else:
                _stream_answer(service, line.rstrip("\n"), top_k=top_k, mode=mode)
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


@app.command()
@_guard
def chat(top_k: Optional[int] = typer.Option(None, "--top-k", "-k")) -> None:
    """An interactive session: follow-up questions use the conversation so far; Ctrl-D leaves."""
    try:
        import readline  # noqa: F401  (line editing and history for input())
    except ImportError:  # pragma: no cover - not on every platform
        pass
    from .models import Turn
    from .service import QuestionError

    service = _service()
    _ensure_index(service)
    info = service.info()
    out.print(f"qabot — {info['chunks']} 段资料，来自 {len(info['files'])} 个文件。输入问题，Ctrl-D 退出，/reset 清空对话。")
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
            answer = _stream_answer(service, line, top_k=top_k, history=history[-6:])
        except QuestionError as exc:
            err.print(f"[red]{escape(str(exc))}[/]")
            continue
        out.print()
        history += [Turn(role="user", content=line.strip()), Turn(role="assistant", content=answer.answer[:2000])]


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
    host: Optional[str] = typer.Option(None, "--host", help="default: QABOT_HOST"),
    port: Optional[int] = typer.Option(None, "--port", help="default: QABOT_PORT"),
) -> None:
    """Serve the HTTP API (POST /ask, /ask/stream, OpenAI-compatible /v1) and a chat page."""
    from .http_api import run

    service = _service(server=True)
    _ensure_index(service)
    run(service, host=host or service.settings.host, port=port if port is not None else service.settings.port)


@app.command()
@_guard
def telegram(
    webhook_url: Optional[str] = typer.Option(None, "--webhook-url", help="use a webhook instead of long polling"),
) -> None:
    """Run the Telegram bot (TELEGRAM_BOT_TOKEN)."""
    from .telegram_bot import run

    service = _service(server=True)
    _ensure_index(service)
    run(service, webhook_url=webhook_url)


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="qabot: %(levelname)s: %(message)s", stream=sys.stderr)
    for noisy in ("bm25s", "faiss", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    started = time.perf_counter()
    try:
        app()
    finally:
        logging.getLogger(__name__).debug("finished in %.2f s", time.perf_counter() - started)


if __name__ == "__main__":
    main()
