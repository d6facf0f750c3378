"""Probe for the cross reader's next step: fine-tune the last layers it reads, then compare on held-out data.

    python bench/reader_finetune_probe.py [--tune 2] [--epochs 3] [--lr 3e-5]

The shipped cross reader (bot/answer/cross_reader.py) puts frozen linear heads on the states of e5's first six
layers. This probe trains the same three heads (answer starts / ends / lies in a piece) with the last `--tune`
of those six layers unfrozen, on the training split of bench/train_answerer.py, and prints the held-out
EM and F1 of the candidate whose edges score best (start + end), with frozen layers and with tuned ones.
Nothing is shipped from here. It needs torch (`pip install torch==2.13.0`, as the test install does).
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
from _common import table
from answer_data import build_cases
from cross_reader_training import candidates, piece_labels
from train_answerer import _merge, feature_tables, held_out

from bot.answer.cross_reader import READ_FEATURES, read_features
from retrieval.e5_onnx import E5File, PairStates, dequantize_rows

LAYERS = 6  # as the shipped cross reader
BOTH = READ_FEATURES.index("read_both")  # the start score of a candidate's first piece plus the end score of its last


def tables(sets: list[str]):
    train, held = [], []
    for name in sets:
        cases = build_cases(name, quiet=True)
        train.append(feature_tables(f"{name}-train-all", [c for c in cases if not held_out(c, name)]))
        held.append(feature_tables(f"{name}-held-all", [c for c in cases if held_out(c, name)]))
    return _merge(train), _merge(held)


def pairs(t, reader: PairStates) -> list[tuple]:
    """Per answer sentence: the states after the frozen layers (whole pair), where the sentence starts,
    piece labels [pieces, 3] and piece offsets."""
    out = []
    for question, sentence, answer in zip(t.g_question.tolist(), t.g_sentence.tolist(), t.g_answer, strict=True):
        ids, start, offsets = reader.pair(question, sentence)
        labels = np.stack(piece_labels(np.asarray(offsets).reshape(-1, 2), answer), axis=1).astype(np.float32)
        out.append((reader.run(ids).astype(np.float16), start, labels, offsets))
    return out


def layer_stack(model: E5File, first: int, last: int):
    import torch

    hidden, heads = model.hidden, model.heads

    class Layer(torch.nn.Module):
        def __init__(self, k: int) -> None:
            super().__init__()
            sizes = {"q": (hidden, hidden), "k": (hidden, hidden), "v": (hidden, hidden), "ao": (hidden, hidden)}
            sizes |= {"fi": (hidden, model.ffn), "fo": (model.ffn, hidden)}
            for name, (n_in, n_out) in sizes.items():
                linear = torch.nn.Linear(n_in, n_out)
                linear.weight.data = torch.tensor(dequantize_rows(model.blocks(f"l{k}.{name}.w")).reshape(n_out, n_in))
                linear.bias.data = torch.tensor(model.floats(f"l{k}.{name}.b"))
                setattr(self, name, linear)
            for name in ("aln", "oln"):
                norm = torch.nn.LayerNorm(hidden, eps=float(model.eps))
                norm.weight.data = torch.tensor(model.floats(f"l{k}.{name}.w"))
                norm.bias.data = torch.tensor(model.floats(f"l{k}.{name}.b"))
                setattr(self, name, norm)

        def forward(self, x):
            n, d = x.shape[0], hidden // heads
            q, k, v = (getattr(self, p)(x).view(n, heads, d).transpose(0, 1) for p in ("q", "k", "v"))
            context = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(d), -1) @ v
            x = self.aln(x + self.ao(context.transpose(0, 1).reshape(n, hidden)))
            return self.oln(x + self.fo(torch.nn.functional.gelu(self.fi(x))))

    return torch.nn.ModuleList([Layer(k) for k in range(first, last)])


def run(train_pairs, held_pairs, t_held, model: E5File, frozen: int, tune: bool, epochs: int, lr: float):
    import torch

    torch.manual_seed(0)
    layers = layer_stack(model, frozen, LAYERS)
    head = torch.nn.Linear(model.hidden, 3)
    groups = [{"params": head.parameters(), "lr": 1e-3}]
    if tune:
        groups.append({"params": layers.parameters(), "lr": lr})
    else:
        layers.requires_grad_(False)
    optimiser = torch.optim.AdamW(groups, weight_decay=0.01)
    loss_of = torch.nn.BCEWithLogitsLoss()

    def scores(item):
        states, start, labels, _ = item
        y = torch.tensor(states.astype(np.float32))
        for layer in layers:
            y = layer(y)
        return head(y[start : start + len(labels)])

    for epoch in range(epochs):
        for n, i in enumerate(np.random.default_rng(epoch).permutation(len(train_pairs))):
            loss = loss_of(scores(train_pairs[i]), torch.tensor(train_pairs[i][2])) / 16
            loss.backward()
            if (n + 1) % 16 == 0:
                optimiser.step()
                optimiser.zero_grad()
    found = []
    with torch.no_grad():
        for g, item in enumerate(held_pairs):
            out = scores(item).numpy()
            rows = np.flatnonzero(t_held.sp_case == g)
            if not len(rows):
                found.append(0.0)
                continue
            sentence, spans = candidates(t_held, rows)
            read = read_features((out[:, 0], out[:, 1], out[:, 2]), item[3], spans, len(sentence))
            found.append(float(t_held.sp_labels[rows[int(np.argmax(read[:, BOTH]))]]))
    f1s = np.asarray(found)
    return float(np.mean(f1s >= 0.999)), float(np.mean(f1s))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tune", type=int, default=2, help="how many of the six layers to unfreeze")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lr", type=float, default=3e-5)
    parser.add_argument("--sets", nargs="+", default=["drcd", "cmrc-trial"])
    args = parser.parse_args()
    started = time.perf_counter()
    t_train, t_held = tables(args.sets)
    frozen = LAYERS - args.tune
    reader = PairStates(frozen, threads=2)
    model = reader.model
    train_pairs = pairs(t_train, reader)
    held_pairs = pairs(t_held, reader)
    rows = []
    for label, tune in (("heads only (layers frozen)", False), (f"heads + last {args.tune} layers tuned", True)):
        em, f1 = run(train_pairs, held_pairs, t_held, model, frozen, tune, args.epochs, args.lr)
        rows.append([label, f"{em:.3f}", f"{f1:.3f}", f"{time.perf_counter() - started:.0f} s"])
    print(
        table(
            f"best start+end candidate on {len(held_pairs)} held-out answer sentences ({args.epochs} epochs)",
            ["reader", "EM", "F1", "elapsed"],
            rows,
        )
    )


if __name__ == "__main__":
    main()
