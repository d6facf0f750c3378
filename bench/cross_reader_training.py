"""Training the cross reader (bot/answer/cross_reader.py) for bench/train_answerer.py.

Three steps, all on the training split's answer sentences:
1. every (question, sentence) pair is read by the first LAYERS layers of e5 (cached in bench/results/);
2. three logistic heads learn, from each sentence piece's state, whether the gold answer starts, ends or
   lies in it;
3. a span ranker learns from the span features plus the heads' scores (READ_FEATURES). Its training rows
   carry out-of-fold head scores, so it learns how far to trust the heads on sentences they never saw.
The threshold under which the reader asks for this second opinion is set on the held-out split, and the
ranker's objective (as for the span ranker) is chosen there by F1.
"""

from __future__ import annotations

import hashlib
import sys
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from _common import RESULTS, ROOT

from bot.answer.cross_reader import READ_FEATURES, TokenHeads, read_features
from bot.answer.spans import SPAN_FEATURES, Span

LAYERS = 6
HEAD_C = 0.1  # L2 strength of the heads: held-out top-candidate F1 0.6208 at 0.1 (layer 6)
FOLDS = 3
# Ask for the second opinion on the less sure half of answer sentences: on held-out DRCD and trial, re-ranking
# every sentence raised the top candidate's F1 from 0.575 to 0.621; re-ranking the half the ranker is least
# sure of, to 0.612, and the median question then does not pay for the pass.
READ_SHARE = 0.5

CACHE_FROM = 200  # fewer pairs are read again (a second or two) rather than cached
READ_RANKER_FEATURES = (*SPAN_FEATURES, *READ_FEATURES)
Pairs = list[tuple[np.ndarray, np.ndarray]]  # per answer sentence: token states [pieces, hidden], offsets [pieces, 2]


def pair_states(questions: np.ndarray, sentences: np.ndarray, layers: int = LAYERS) -> Pairs:
    """The sentence's token states with the question, for every answer sentence (cached until the model code
    or the pairs change; about 8 ms a pair with two threads)."""
    digest = hashlib.sha1(f"{layers}".encode())
    digest.update((ROOT / "retrieval" / "e5_onnx.py").read_bytes())
    for q, s in zip(questions.tolist(), sentences.tolist(), strict=True):
        digest.update(f"{q}\x00{s}\x01".encode())
    path = RESULTS / "answer-features" / f"pairs-{digest.hexdigest()[:12]}.npz"
    cache = len(questions) >= CACHE_FROM
    if cache and path.exists():
        with np.load(path, allow_pickle=False) as data:
            return _split(data["states"], data["offsets"], data["sizes"])
    from retrieval.e5_onnx import PairStates

    encoder = PairStates(layers, threads=2)
    states, offsets, sizes = [], [], []
    started = time.perf_counter()
    for n, (q, s) in enumerate(zip(questions.tolist(), sentences.tolist(), strict=True)):
        h, o = encoder.states(q, s)
        states.append(h.astype(np.float16))
        offsets.append(np.asarray(o, dtype=np.int64).reshape(-1, 2))
        sizes.append(len(h))
        if n and n % 2000 == 0:
            print(f"  read {n} pairs ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    hidden = encoder.model.hidden
    flat_states = np.concatenate(states) if states else np.zeros((0, hidden), dtype=np.float16)
    flat_offsets = np.concatenate(offsets) if offsets else np.zeros((0, 2), dtype=np.int64)
    if cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, states=flat_states, offsets=flat_offsets, sizes=np.asarray(sizes, dtype=np.int64))
    return _split(flat_states, flat_offsets, np.asarray(sizes, dtype=np.int64))


def _split(states: np.ndarray, offsets: np.ndarray, sizes: np.ndarray) -> Pairs:
    bounds = np.cumsum(sizes)[:-1]
    return list(zip(np.split(states, bounds), np.split(offsets, bounds), strict=True))


def piece_labels(offsets: np.ndarray, answer: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """1 for the piece holding the answer's first character, its last one, any of its characters."""
    start, end, inside = np.zeros(len(offsets)), np.zeros(len(offsets)), np.zeros(len(offsets))
    first, last = int(answer[0]), int(answer[1]) - 1
    for k, (a, b) in enumerate(offsets.tolist()):
        start[k] = a <= first < b
        end[k] = a <= last < b
        inside[k] = b > a and a <= last and first < b
    return start, end, inside


def fit_heads(pairs: Pairs, answers: np.ndarray, layers: int = LAYERS, c: float = HEAD_C) -> TokenHeads:
    from sklearn.linear_model import LogisticRegression

    x = np.concatenate([h for h, _ in pairs]).astype(np.float32)
    labels = [piece_labels(o, a) for (_, o), a in zip(pairs, answers, strict=True)]
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-6
    z = (x - mean) / scale
    weights = []
    for column in (0, 1, 2):
        y = np.concatenate([lab[column] for lab in labels])
        if 0 < y.sum() < len(y):
            model = LogisticRegression(C=c, max_iter=300).fit(z, y)
            weights.append(np.append(model.coef_[0], model.intercept_[0]).astype(np.float32))
        else:  # a tiny sample with no positive piece: a head that says nothing
            weights.append(np.zeros(x.shape[1] + 1, dtype=np.float32))
    return TokenHeads(layers, mean.astype(np.float32), scale.astype(np.float32), *weights)


def read_rows(t: Any, pairs: Pairs, heads_of: Callable[[int], TokenHeads]) -> np.ndarray:
    """READ_FEATURES of every candidate row of `t`, each sentence scored by `heads_of(its group)`."""
    out = np.zeros((len(t.sp_rows), len(READ_FEATURES)), dtype=np.float32)
    order = np.argsort(t.sp_case, kind="stable")
    groups = t.sp_case[order]
    bounds = np.flatnonzero(np.diff(groups)) + 1
    for rows in np.split(order, bounds):
        if not len(rows):
            continue
        g = int(t.sp_case[rows[0]])
        states, offsets = pairs[g]
        sentence, spans = candidates(t, rows)
        pieces = [tuple(o) for o in offsets.tolist()]
        out[rows] = read_features(heads_of(g).logits(states), pieces, spans, len(sentence))
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
    train_pairs = pair_states(t_train.g_question, t_train.g_sentence)
    held_pairs = pair_states(t_held.g_question, t_held.g_sentence)
    print(f"cross reader: read {len(train_pairs) + len(held_pairs)} pairs ({time.perf_counter() - started:.0f} s)")
    folds = np.asarray([_fold(q) for q in t_train.g_question.tolist()], dtype=np.int64)
    fold_heads = [
        fit_heads([p for p, f in zip(train_pairs, folds, strict=True) if f != k], t_train.g_answer[folds != k])
        for k in range(FOLDS)
    ]
    heads = fit_heads(train_pairs, t_train.g_answer)
    train_read = read_rows(t_train, train_pairs, lambda g: fold_heads[int(folds[g])])
    held_read = read_rows(t_held, held_pairs, lambda g: heads)
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
    return {"cross_reader": heads.to_spec(), "read_span_model": read_spec, "read_below": read_below}, rows


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
