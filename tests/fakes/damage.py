"""Stand-ins shared by the index robustness tests and `bench/robustness.py`: an instant embedder and
the ways a file can be damaged (one definition, so the benchmark's damage matrix is the tests')."""

from __future__ import annotations

import itertools
import random
import zlib
from collections.abc import Callable

import numpy as np


class HashEmbedder:
    """Character-bigram hashing into 64 dimensions: deterministic, instant, and text-sensitive."""

    name = "test:bigram-hash-64"
    dim = 64

    def __init__(self) -> None:
        self.embedded = 0

    def vector(self, text: str) -> np.ndarray:
        out = np.zeros(self.dim, dtype=np.float32)
        for a, b in itertools.pairwise(text):
            out[zlib.crc32((a + b).encode("utf-8", "surrogatepass")) % self.dim] += 1.0
        norm = np.linalg.norm(out)
        return out / norm if norm else out

    def embed_array(self, texts: list[str]) -> np.ndarray:
        self.embedded += len(texts)
        return np.stack([self.vector(t) for t in texts]) if texts else np.zeros((0, self.dim), np.float32)

    def embed_query_array(self, text: str) -> np.ndarray:
        return self.vector(text)


def flip(data: bytes) -> bytes:
    """A few bytes in the middle changed: the file still parses as often as not, only a checksum can tell."""
    if not data:
        return b"\x01"
    middle = bytearray(data)
    for k in range(len(middle) // 2, min(len(middle), len(middle) // 2 + 4)):
        middle[k] ^= 0x55
    return bytes(middle)


DAMAGE: dict[str, Callable[[bytes], bytes]] = {
    "truncate": lambda data: data[: len(data) // 2],
    "empty": lambda data: b"",
    "flip": flip,
    "garbage": lambda data: random.Random(len(data)).randbytes(max(len(data), 16)),
    "json-list": lambda data: b"[]",
    "json-object": lambda data: b"{}",
    "non-utf8": lambda data: b"\xff\xfe" + data[2:],
}
