"""Training the cross reader (bot/answer/cross_reader.py) for bench/train_answerer.py.

Three steps, all on the training split's answer sentences:
1. every (question, sentence) pair is read by e5's frozen first layers (bench/reader_finetune.py);
2. three heads (the answer starts, ends or lies in this piece) learn together with the last two of the six
   layers the reader reads (bench/reader_finetune.py);
3. a span ranker learns from the span features plus the heads' scores (READ_FEATURES). Its training rows
   carry out-of-fold head scores (two folds by question, each tuned on the other), so it learns how far to
   trust the heads on sentences they never saw.
The threshold under which the reader asks for this second opinion is set on the held-out split, and the
ranker's objective (as for the span ranker) is chosen there by F1.
"""

from __future__ import annotations

import hashlib
import io
import sys
import time
import zipfile
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from _common import RESULTS, ROOT
from reader_finetune import frozen_pairs, tune

from bot.answer.cross_reader import READ_FEATURES, TokenHeads, read_features
from bot.answer.spans import SPAN_FEATURES, Span
from retrieval.e5_onnx import E5File, default_path

FOLDS = 2  # each fold's scores come from a fine-tune on the other: two extra runs on half the data each
# Ask for the second opinion on the less sure half of answer sentences: on held-out DRCD and trial, re-ranking
# every sentence raised the top candidate's F1 from 0.575 to 0.711; re-ranking the half the ranker is least
# sure of, to 0.683, and the median question then does not pay for the pass.
READ_SHARE = 0.5

READ_RANKER_FEATURES = (*SPAN_FEATURES, *READ_FEATURES)
CACHE_FROM = 200  # fewer answer sentences are tuned on again (seconds) rather than cached
Scores = tuple[np.ndarray, np.ndarray, np.ndarray]  # start, end, inside score of each sentence piece


def read_rows(t: Any, offsets: Sequence[np.ndarray], scores: Sequence[Scores]) -> np.ndarray:
    """READ_FEATURES of every candidate row of `t`, from its answer sentence's pieces and their scores."""
    out = np.zeros((len(t.sp_rows), len(READ_FEATURES)), dtype=np.float32)
    order = np.argsort(t.sp_case, kind="stable")
    groups = t.sp_case[order]
    bounds = np.flatnonzero(np.diff(groups)) + 1
    for rows in np.split(order, bounds):
        if not len(rows):
            continue
        g = int(t.sp_case[rows[0]])
        sentence, spans = candidates(t, rows)
        pieces = [(a, b) for a, b in offsets[g].tolist()]
        out[rows] = read_features(scores[g], pieces, spans, len(sentence))
    return out


def candidates(t: Any, rows: np.ndarray) -> tuple[str, list[Span]]:
    """The answer sentence of these candidate rows (all of one sentence) and the candidates as spans."""
    sentence = str(t.g_sentence[int(t.sp_case[rows[0]])])
    edges = zip(t.sp_start[rows].tolist(), t.sp_end[rows].tolist(), strict=True)
    return sentence, [Span(a, b, sentence[a:b]) for a, b in edges]


@dataclass
class TunedScores:
    """What the fine-tunes give the read ranker: every answer sentence's pieces with their out-of-fold
    scores (training split) or the final model's (held-out split), and the shipped layers and heads."""

    train_offsets: list[np.ndarray]
    train_scores: list[Scores]
    held_offsets: list[np.ndarray]
    held_scores: list[Scores]
    arrays: dict[str, np.ndarray]
    heads: TokenHeads


def tuned_scores(t_train: Any, t_held: Any) -> TunedScores:
    """Read the pairs, fine-tune once per fold and once on all (about 13 minutes on two cores), cached in
    bench/results/ until the data or the fine-tuning code changes."""
    digest = hashlib.sha1(f"{FOLDS}".encode())
    for module in ("bench/reader_finetune.py", "retrieval/e5_onnx.py"):
        digest.update((ROOT / module).read_bytes())
    for t in (t_train, t_held):
        for q, s, a in zip(t.g_question.tolist(), t.g_sentence.tolist(), t.g_answer.tolist(), strict=True):
            digest.update(f"{q}\x00{s}\x00{a}\x01".encode())
        digest.update(b"\x02")
    path = RESULTS / "answer-features" / f"tuned-{digest.hexdigest()[:12]}.npz"
    cache = len(t_train.g_question) >= CACHE_FROM
    if cache and path.exists():
        return _load_tuned(path)
    started = time.perf_counter()
    train_pairs = frozen_pairs(t_train.g_question, t_train.g_sentence, t_train.g_answer)
    held_pairs = frozen_pairs(t_held.g_question, t_held.g_sentence, t_held.g_answer)
    print(f"cross reader: read {len(train_pairs) + len(held_pairs)} pairs ({time.perf_counter() - started:.0f} s)")
    model = E5File(default_path())
    folds = _folds(t_train)
    train_scores: list[Scores] = [(np.zeros(0), np.zeros(0), np.zeros(0))] * len(train_pairs)
    for k in range(FOLDS):
        fold_model = tune([p for p, f in zip(train_pairs, folds, strict=True) if f != k], model, seed=k + 1)
        for g in np.flatnonzero(folds == k).tolist():
            train_scores[g] = fold_model.scores(train_pairs[g])
        print(f"cross reader: fold {k + 1} of {FOLDS} tuned ({time.perf_counter() - started:.0f} s)")
    final = tune(train_pairs, model)
    print(f"cross reader: tuned on all training pairs ({time.perf_counter() - started:.0f} s)")
    arrays, heads = final.export()
    out = TunedScores(
        [p.offsets for p in train_pairs],
        train_scores,
        [p.offsets for p in held_pairs],
        [final.scores(p) for p in held_pairs],
        arrays,
        heads,
    )
    if cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        _save_tuned(out, path)
    return out


def _save_tuned(tuned: TunedScores, path: Path) -> None:
    columns: dict[str, np.ndarray] = {}
    for split, offsets, scores in (
        ("train", tuned.train_offsets, tuned.train_scores),
        ("held", tuned.held_offsets, tuned.held_scores),
    ):
        columns[f"{split}:sizes"] = np.asarray([len(o) for o in offsets], dtype=np.int64)
        columns[f"{split}:offsets"] = np.concatenate([o.reshape(-1, 2) for o in offsets] or [np.zeros((0, 2))])
        columns[f"{split}:scores"] = np.concatenate([np.stack(s, axis=1) for s in scores] or [np.zeros((0, 3))])
    columns |= {f"layer:{k}": v for k, v in tuned.arrays.items()}
    columns |= {f"heads:{k}": np.asarray(v, dtype=np.float32) for k, v in tuned.heads.to_spec().items()}
    np.savez(path, **columns)


def _load_tuned(path: Path) -> TunedScores:
    with np.load(path, allow_pickle=False) as data:
        parts = {}
        for split in ("train", "held"):
            bounds = np.cumsum(data[f"{split}:sizes"])[:-1]
            offsets = np.split(data[f"{split}:offsets"].astype(np.int64), bounds)
            scores = [(s[:, 0], s[:, 1], s[:, 2]) for s in np.split(data[f"{split}:scores"], bounds)]
            parts[split] = (offsets, scores)
        arrays = {k.split(":", 1)[1]: data[k] for k in data.files if k.startswith("layer:")}
        heads = TokenHeads.from_spec({k.split(":", 1)[1]: data[k] for k in data.files if k.startswith("heads:")})
    return TunedScores(*parts["train"], *parts["held"], arrays, heads)


def _folds(t: Any) -> np.ndarray:
    """Each answer sentence's fold, by question: a question's sentences stay in one fold."""
    return np.asarray([zlib.crc32(q.encode()) % FOLDS for q in t.g_question.tolist()], dtype=np.int64)


def train(
    t_train: Any,
    t_held: Any,
    base_spec: dict,
    fit_rankers: Callable[..., dict[str, dict]],  # train_answerer.fit_span_rankers: the candidates by name
    logits: Callable[[dict, np.ndarray], np.ndarray],
    top1: Callable[[np.ndarray, np.ndarray, np.ndarray], tuple[float, float]],
    rounds: int,
) -> tuple[dict, list[list]]:
    """The cross reader's part of the model file, and a table of held-out top-candidate figures."""
    tuned = tuned_scores(t_train, t_held)
    train_read = read_rows(t_train, tuned.train_offsets, tuned.train_scores)
    held_read = read_rows(t_held, tuned.held_offsets, tuned.held_scores)
    train_rows = np.hstack([t_train.sp_rows, train_read])
    held_rows = np.hstack([t_held.sp_rows, held_read])
    base = logits(base_spec, t_held.sp_rows)
    tops = _group_max(base, t_held.sp_case)
    read_below = float(np.quantile(tops, READ_SHARE)) if len(tops) else float("inf")
    unsure = _row_max(base, t_held.sp_case) < read_below
    rows = [["ranker alone", *_figures(top1(base, t_held.sp_labels, t_held.sp_case))]]
    best_kind, best_f1, read_spec = "", -1.0, {}
    for kind, spec in fit_rankers(train_rows, t_train.sp_labels, t_train.sp_case, rounds, READ_RANKER_FEATURES).items():
        read = logits(spec, held_rows)
        gated = top1(np.where(unsure, read, base), t_held.sp_labels, t_held.sp_case)
        rows.append([f"{kind}, every sentence read", *_figures(top1(read, t_held.sp_labels, t_held.sp_case))])
        rows.append([f"{kind}, read below {read_below:.3f}", *_figures(gated)])
        if gated[1] > best_f1:
            best_kind, best_f1, read_spec = kind, gated[1], spec
    rows.append([f"ships: {best_kind}, read below {read_below:.3f}", "", f"{best_f1:.3f}"])
    spec = {"cross_reader": tuned.heads.to_spec(), "_tuned_layers": tuned.arrays, "read_span_model": read_spec}
    return spec | {"read_below": read_below}, rows


def save_tuned_layers(arrays: dict[str, np.ndarray], model_path: Path) -> dict[str, str]:
    """Write the tuned layers beside the model file (`answerer.json` → `answerer-layers.npz`), the same bytes
    for the same weights, and return how the model file names them."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(arrays):
            array = io.BytesIO()
            np.lib.format.write_array(array, np.ascontiguousarray(arrays[name]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            archive.writestr(info, array.getvalue(), compress_type=zipfile.ZIP_DEFLATED)
    raw = buffer.getvalue()
    path = model_path.with_name(f"{model_path.stem}-layers.npz")
    path.write_bytes(raw)
    return {"file": path.name, "sha256": hashlib.sha256(raw).hexdigest()}


def _figures(em_f1: tuple[float, float]) -> list[str]:
    return [f"{em_f1[0]:.3f}", f"{em_f1[1]:.3f}"]


def _group_max(values: np.ndarray, group: np.ndarray) -> np.ndarray:
    _, inverse = np.unique(group, return_inverse=True)
    best = np.full(inverse.max(initial=-1) + 1, -np.inf)
    np.maximum.at(best, inverse, values)
    return best


def _row_max(values: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Each row's group maximum."""
    _, inverse = np.unique(group, return_inverse=True)
    return _group_max(values, group)[inverse]


if __name__ == "__main__":
    sys.exit(f"run bench/train_answerer.py; {Path(__file__).name} is its cross reader part")
