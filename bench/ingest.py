"""News ingestion by OCR: character error rate and speed on generated pages, then the whole pipeline.

    python bench/ingest.py [--sample-pages 3] [--skip-pipeline] [--fresh]

1. OCR quality: pages rendered from the seed texts with the wqy CJK font at 180 dpi, one column
   and degraded two-column scans (rotated 1.5°, blurred, JPEG quality 35); CER is the Levenshtein
   distance over the drawn text, whitespace ignored, full- and half-width forms of a glyph equal.
2. Whole pipeline: each of the five seed files rendered as two-column pages into one multi-page TIFF
   (a scanned issue), ingested through `extract_file` (OCR, XY-cut, paragraphs), written to a corpus
   folder, indexed, and seed-dev asked through the answer service, beside the text-file corpus.
   Every page of it is also scored for CER (the two-column figure).
OCR results are kept in bench/results/ingest/ and reused unless --fresh.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import unicodedata
from pathlib import Path

from _common import RESULTS, ROOT, SEED_DEV, service_for, table

sys.path.insert(0, str(ROOT / "tests"))
from ingest_render import degrade, font_path, render, seed_paragraphs
from rapidfuzz.distance import Levenshtein

from bot.evaluation import evaluate, load_questions
from retrieval.ingest import extract_file

OUT = RESULTS / "ingest"
TARGETS = {"one column": 0.01, "two columns": 0.02, "two columns, degraded": 0.02}
METRICS = [
    "hit@1",
    "hit@3",
    "mrr",
    "in_first_1500_chars",
    "answer_evidence_recall",
    "answered_when_answerable",
    "refused_when_unanswerable",
]


def norm(text: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFKC", text) if not ch.isspace())


def errors(reference: str, hypothesis: str) -> tuple[int, int]:
    ref = norm(reference)
    return Levenshtein.distance(ref, norm(hypothesis)), len(ref)


def seeds() -> list[Path]:
    return sorted((ROOT / "seeds").glob("*.txt"))


def sample_pages(kind: str, count: int) -> list[tuple[str, object]]:
    """(reference text, image) for the first page of `count` seed files."""
    out = []
    for path in seeds()[:count]:
        columns = 1 if kind == "one column" else 2
        page = render(seed_paragraphs(path.read_text(encoding="utf-8")), columns=columns)[0]
        image = degrade(page.image) if "degraded" in kind else page.image
        out.append((page.text, image))
    return out


def ocr_quality(count: int, fresh: bool) -> dict[str, dict]:
    cache = OUT / "sample.json"
    if cache.exists() and not fresh:
        cached = json.loads(cache.read_text(encoding="utf-8"))
        if cached.get("pages") == count:
            return cached["results"]
    results = {}
    work = OUT / "sample"
    work.mkdir(parents=True, exist_ok=True)
    for kind in ("one column", "two columns, degraded"):
        wrong = total = 0
        seconds = 0.0
        for k, (reference, image) in enumerate(sample_pages(kind, count)):
            path = work / f"{kind.replace(' ', '_').replace(',', '')}_{k}.png"
            image.save(path)  # type: ignore[attr-defined]
            started = time.perf_counter()
            found = extract_file(path)
            seconds += time.perf_counter() - started
            e, n = errors(reference, found.text)
            wrong, total = wrong + e, total + n
            print(f"  {kind} page {k + 1}: CER {e / n:.4f} ({e}/{n}), {seconds:.1f} s so far", flush=True)
        results[kind] = {"pages": count, "errors": wrong, "chars": total, "seconds": round(seconds, 1)}
    cache.write_text(json.dumps({"pages": count, "results": results}, ensure_ascii=False, indent=1), encoding="utf-8")
    return results


def ocr_corpus(fresh: bool) -> tuple[Path, dict]:
    """The seed files as scanned two-column issues, read back by OCR into a corpus folder."""
    corpus = OUT / "corpus"
    scans = OUT / "scans"
    corpus.mkdir(parents=True, exist_ok=True)
    scans.mkdir(parents=True, exist_ok=True)
    stats = {"pages": 0, "errors": 0, "chars": 0, "seconds": 0.0}
    for path in seeds():
        record = OUT / f"{path.stem}.json"
        if record.exists() and not fresh:
            saved = json.loads(record.read_text(encoding="utf-8"))
        else:
            pages = render(seed_paragraphs(path.read_text(encoding="utf-8")), columns=2)
            scan = scans / f"{path.stem}.tif"
            pages[0].image.save(scan, save_all=True, append_images=[p.image for p in pages[1:]], compression="tiff_lzw")
            started = time.perf_counter()
            found = extract_file(
                scan, progress=lambda done, total, n=path.name: print(f"  {n}: page {done}/{total}", flush=True)
            )
            seconds = time.perf_counter() - started
            wrong = total = 0
            for span, page in zip(found.pages, pages, strict=True):
                e, n = errors(page.text, found.text[span.start : span.end])
                wrong, total = wrong + e, total + n
            saved = {"text": found.text, "pages": len(pages), "errors": wrong, "chars": total, "seconds": seconds}
            record.write_text(json.dumps(saved, ensure_ascii=False), encoding="utf-8")
        (corpus / path.name).write_text(saved["text"], encoding="utf-8")
        for key in ("pages", "errors", "chars", "seconds"):
            stats[key] += saved[key]
    return corpus, stats


def ask_seed_dev(name: str, corpus: Path, top_k: int) -> dict:
    service = service_for(name, corpus)
    report = service.build()
    print(
        f"{name}: index {report.chunks} chunks ({'reused' if report.unchanged else f'built in {report.seconds:.0f} s'})"
    )
    return evaluate(service, load_questions(SEED_DEV), top_k=top_k).summary()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sample-pages", type=int, default=3, help="pages per kind for the OCR quality table")
    parser.add_argument("--skip-pipeline", action="store_true")
    parser.add_argument("--fresh", action="store_true", help="OCR again instead of reusing bench/results/ingest/")
    parser.add_argument("--top-k", type=int, default=8)
    args = parser.parse_args()
    if font_path() is None:
        sys.exit("the CJK font fonts-wqy-zenhei is needed (apt-get install fonts-wqy-zenhei)")
    OUT.mkdir(parents=True, exist_ok=True)
    print(f"cores: {os.cpu_count()}, load average at start: {os.getloadavg()[0]:.1f}")
    quality = ocr_quality(args.sample_pages, args.fresh)
    if not args.skip_pipeline:
        corpus, pipeline = ocr_corpus(args.fresh)
        quality["two columns"] = pipeline
    rows = []
    for kind in ("one column", "two columns", "two columns, degraded"):
        if kind not in quality:
            continue
        q = quality[kind]
        cer = q["errors"] / q["chars"]
        rows.append(
            [
                kind,
                q["pages"],
                q["chars"],
                q["errors"],
                f"{cer:.4f}",
                f"≤ {TARGETS[kind]}",
                "met" if cer <= TARGETS[kind] else "MISSED",
                f"{60 * q['pages'] / q['seconds']:.1f}",
            ]
        )
    print(
        table(
            "OCR on generated 180-dpi pages (wqy font)",
            ["pages", "n", "characters", "errors", "CER", "target", "", "pages/min"],
            rows,
        )
    )
    if args.skip_pipeline:
        return
    text_summary = ask_seed_dev("ingest-seeds-text", ROOT / "seeds", args.top_k)
    ocr_summary = ask_seed_dev("ingest-seeds-ocr", corpus, args.top_k)
    rows = []
    for key in METRICS:
        a, b = text_summary.get(key), ocr_summary.get(key)
        delta = None if a is None or b is None else round(b - a, 4)
        verdict = "" if delta is None else ("within 0.05" if delta >= -0.05 else "MORE than 0.05 below")
        rows.append([key, a, b, delta, verdict])
    print(
        table(
            f"seed-dev, text files vs. OCR of two-column scans (top-k {args.top_k})",
            ["metric", "text corpus", "OCR corpus", "difference", ""],
            rows,
        )
    )
    (OUT / "results.json").write_text(
        json.dumps(
            {"ocr": quality, "seed_dev": {"text": text_summary, "ocr": ocr_summary}}, ensure_ascii=False, indent=1
        ),
        encoding="utf-8",
    )


if __name__ == "__main__":
    main()
