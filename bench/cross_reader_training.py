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
from pathlib import Path
from typing import Any

import numpy as np
from reader_finetune import FrozenPair, frozen_pairs, tune

from bot.answer.cross_reader import READ_FEATURES, read_features
from bot.answer.spans import SPAN_FEATURES, Span
from retrieval.e5_onnx import E5File, default_path

FOLDS = 2  # each fold's scores come from a fine-tune on the other: two extra runs on half the data each
# Ask for the second opinion on the less sure half of answer sentences: on held-out DRCD and trial, re-ranking
# every sentence raised the top candidate's F1 from 0.575 to 0.621; re-ranking the half the ranker is least
# sure of, to 0.612, and the median question then does not pay for the pass.
READ_SHARE = 0.5

READ_RANKER_FEATURES = (*SPAN_FEATURES, *READ_FEATURES)
Scores = tuple[np.ndarray, np.ndarray, np.ndarray]  # start, end, inside score of each sentence piece


def read_rows(t: Any, pairs: Sequence[FrozenPair], scores: Sequence[Scores]) -> np.ndarray:
    """READ_FEATURES of every candidate row of `t`, from its answer sentence's piece scores."""
    out = np.zeros((len(t.sp_rows), len(READ_FEATURES)), dtype=np.float32)
    order = np.argsort(t.sp_case, kind="stable")
    groups = t.sp_case[order]
    bounds = np.flatnonzero(np.diff(groups)) + 1
    for rows in np.split(order, bounds):
        if not len(rows):
            continue
        g = int(t.sp_case[rows[0]])
        sentence, spans = candidates(t, rows)
        pieces = [(a, b) for a, b in pairs[g].offsets.tolist()]
        out[rows] = read_features(scores[g], pieces, spans, len(sentence))
    return out


def candidates(t: Any, rows: np.ndarray) -> tuple[str, list[Span]]:
    """The answer sentence of these candidate rows (all of one sentence) and the candidates as spans."""
    sentence = str(t.g_sentence[int(t.sp_case[rows[0]])])
    edges = zip(t.sp_start[rows].tolist(), t.sp_end[rows].tolist(), strict=True)
    return sentence, [Span(a, b, sentence[a:b]) for a, b in edges]


def _fold(question: str) -> int:
    return zlib.crc32(question.encode()) % FOLDS  # by question: its answer sentences stay in one fold


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
    started = time.perf_counter()
    train_pairs = frozen_pairs(t_train.g_question, t_train.g_sentence, t_train.g_answer)
    held_pairs = frozen_pairs(t_held.g_question, t_held.g_sentence, t_held.g_answer)
    print(f"cross reader: read {len(train_pairs) + len(held_pairs)} pairs ({time.perf_counter() - started:.0f} s)")
    model = E5File(default_path())
    folds = np.asarray([_fold(q) for q in t_train.g_question.tolist()], dtype=np.int64)
    train_scores: list[Scores] = [(np.zeros(0), np.zeros(0), np.zeros(0))] * len(train_pairs)
    for k in range(FOLDS):
        fold_model = tune([p for p, f in zip(train_pairs, folds, strict=True) if f != k], model, seed=k + 1)
        for g in np.flatnonzero(folds == k).tolist():
            train_scores[g] = fold_model.scores(train_pairs[g])
        print(f"cross reader: fold {k + 1} of {FOLDS} tuned ({time.perf_counter() - started:.0f} s)")
    final = tune(train_pairs, model)
    print(f"cross reader: tuned on all training pairs ({time.perf_counter() - started:.0f} s)")
    arrays, heads = final.export()
    train_read = read_rows(t_train, train_pairs, train_scores)
    held_read = read_rows(t_held, held_pairs, [final.scores(p) for p in held_pairs])
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
    spec = {"cross_reader": heads.to_spec(), "_tuned_layers": arrays, "read_span_model": read_spec}
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
