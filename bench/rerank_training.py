"""Training the sentence re-ranking of the reader (`Reader.reread`, bot/answer/reader.py) for
bench/train_answerer.py.

The sentence scorer's best sentence holds the answer for about 0.86 of held-out questions, and one of its
best two for 0.93. When the two disagree, the cross reader (which reads question and sentence together)
knows something the scorer's features do not: the best span score it gives each sentence. A logistic
regression over the scorer's logit gap and that score difference learns when to swap the two.

It is fitted on the held-out split, where the cross reader's scores come from layers that never saw the
sentences (on the training split they did): the model has three weights, and its figure here is 5-fold
cross-validated. The reader reads both sentences only when the gap is below `max_gap`, the 90th
percentile of the gaps at which held-out questions were swapped (1.36). That was still too often: 12 of
45 seed-dev question parts are that close, other parts ask for the span's second opinion, and the answer
step's median on seed-dev rose from 7 to 19 ms (quiet machine; target 10). So bench/train_answerer.py
fits it only with `--rerank`, and the shipped model has none; a cost-bounded gap is the next step.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_predict

from bot.answer.features import part_view, sentence_features
from bot.answer.reader import Reader, asked_text
from bot.answer.spans import span_features

GAP_SHARE = 0.9  # of held-out swaps, the share whose gap the reader still reads for


def rerank_rows(
    reader: Reader, cases: Sequence[Any], contains: Callable[[str, list[str]], bool]
) -> tuple[np.ndarray, np.ndarray]:
    """(gap, best read span score of the first minus the second's) for each answerable question whose two
    best sentences disagree, and 1 where the first holds the answer."""
    assert reader.cross is not None
    rows, labels = [], []
    for case in cases:
        if not case.answers:
            continue
        r = reader.with_idf(case.idf)
        view = part_view(case.query, 0, r.idf, r.unknown_idf)
        sentence_rows, refs = sentence_features(view, case.hits)
        if len(refs) < 2:
            continue
        logits = r.sentences.logits(sentence_rows)
        first, second = (int(k) for k in np.argsort(-logits, kind="stable")[:2])
        holds = [contains(refs[k].info.text, case.answers) for k in (first, second)]
        if holds[0] == holds[1] or refs[first].info.text == refs[second].info.text:
            continue
        best = []
        for k in (first, second):
            read = r.read_scores(asked_text(case.query, 0), refs[k].info, *span_features(view, refs[k].info))
            if read is None:
                break
            best.append(float(read.max()))
        if len(best) == 2:
            rows.append((float(logits[first] - logits[second]), best[0] - best[1]))
            labels.append(float(holds[0]))
    return np.asarray(rows, dtype=np.float64).reshape(-1, 2), np.asarray(labels)


def fit_rerank(
    reader: Reader, cases: Sequence[Any], contains: Callable[[str, list[str]], bool]
) -> tuple[dict | None, list[list]]:
    """The model file's `sentence_rerank` (None when it would never swap), and a table of held-out figures."""
    rows, labels = rerank_rows(reader, cases, contains)
    if len(labels) < 20 or labels.min() == labels.max():
        return None, [["too few questions whose best two sentences disagree", len(labels), ""]]
    model = LogisticRegression(C=1.0, max_iter=1000)
    folds = min(5, int(min(labels.sum(), len(labels) - labels.sum())))
    kept = cross_val_predict(model, rows, labels, cv=folds, method="predict_proba")[:, 1] >= 0.5
    model.fit(rows, labels)
    swapped = model.predict_proba(rows)[:, 1] < 0.5
    table = [
        ["best-scored sentence", len(labels), int(labels.sum())],
        [f"swapped by the read scores ({folds}-fold)", len(labels), int(np.sum(kept == (labels == 1)))],
    ]
    if not swapped.any():
        return None, table
    max_gap = float(np.quantile(rows[swapped, 0], GAP_SHARE))
    near = rows[:, 0] < max_gap  # the reader reads both only for these
    right = int(np.sum(np.where(near & swapped, 1 - labels, labels)))
    table.append([f"swapped only below a gap of {max_gap:.2f} (in sample)", len(labels), right])
    spec = {"max_gap": max_gap, "coef": model.coef_[0].tolist(), "intercept": float(model.intercept_[0])}
    return spec, table


if __name__ == "__main__":
    sys.exit(f"run bench/train_answerer.py; {Path(__file__).name} is its sentence re-ranking part")
