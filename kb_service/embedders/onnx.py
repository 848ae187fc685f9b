"""The bundled embedder on ONNX Runtime: all-MiniLM-L6-v2 exported once, cached in the data folder.

The first process that needs vectors exports the bundled weights (transformer, mean pooling and
L2 normalisation in one graph), fuses it with ONNX Runtime's BERT optimizer, optionally quantizes
it to int8, checks the result against torch, and caches it under
``<data_dir>/models/all-minilm-l6-v2/<key>.<variant>.onnx``. The key hashes the source weights, the
model config, the export code version and the onnxruntime version, so a new wheel or a change here
re-exports instead of serving a stale graph. Every later start only loads the file: no torch.

Threads (`KB_LOCAL_EMBEDDER__THREADS`, `__PROFILE`): one session per process runs one pass at a
time on `threads` intra-op threads (default: every CPU the process may use). The API wants the
"latency" profile (pool threads spin between operators, so a single query is answered soonest);
a worker wants "throughput" (threads sleep when idle, leaving the cores to other processes) and,
when it runs N embedding processes on C cores, threads = C / N.

One forward pass runs at a time; callers that arrive while it runs share the next pass (`_Passes`),
so concurrent searches cost one pass per burst, not one each.

If the export or the load fails, the embedder logs a warning and serves the same vectors through
the torch `LocalEmbedder`, so a broken runtime costs speed, never a request.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import structlog

from kb_service.catalog import ModelSpec, get_model
from kb_service.concurrency import Coalescer
from kb_service.config import LocalEmbedderSettings
from kb_service.embedders._onnx_graph import (
    available_cpus,
    ensure_exported,
    export_key,
    model_path,
    open_session,
    pad_batch,
    variant_of,
    window_tokenizer,
)
from kb_service.embedders.base import EmbedderError, EmbeddingCall, Embeddings, InputType
from kb_service.embedders.local import BUNDLED_MODEL_ID, LocalEmbedder, check_texts, count_wordpiece_tokens

__all__ = ["OnnxEmbedder", "available_cpus", "export_key", "model_path"]

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class _Session:
    variant: str
    # The ONNX session's forward passes, one at a time (a run already uses every intra-op thread);
    # calls that arrive while a pass runs share the next one.
    passes: _Passes


_sessions_lock = threading.Lock()
_sessions: dict[tuple[Path, str, int, str], _Session | None] = {}


def _load(cache_dir: Path, settings: LocalEmbedderSettings) -> _Session | None:
    """The process's session for these settings, or None (after one warning) when ONNX is unusable."""
    variant = variant_of(settings)
    threads = settings.threads or available_cpus()
    slot = (cache_dir, variant, threads, settings.profile)
    with _sessions_lock:
        if slot in _sessions:
            return _sessions[slot]
        started = time.perf_counter()
        loaded: _Session | None = None
        try:
            session = _load_session(cache_dir, variant, threads, settings.profile)
            loaded = _Session(variant, _Passes(session, settings.batch_size))
        # Broad on purpose: any failure to export or load means "serve through torch instead".
        except Exception:
            log.warning("embedders.onnx.unavailable_using_torch", variant=variant, exc_info=True)
        else:
            log.info(
                "embedders.onnx.loaded",
                model=BUNDLED_MODEL_ID,
                variant=variant,
                threads=threads,
                profile=settings.profile,
                seconds=round(time.perf_counter() - started, 2),
            )
        _sessions[slot] = loaded
        return loaded


def _load_session(cache_dir: Path, variant: str, threads: int, profile: str) -> Any:
    path = ensure_exported(cache_dir, variant)
    try:
        return open_session(path, threads=threads, profile=profile)
    except Exception:
        # A file that does not load (disk damage, a foreign file) is exported again, once.
        log.warning("embedders.onnx.cached_graph_unreadable", path=str(path), exc_info=True)
        path.unlink(missing_ok=True)
        return open_session(ensure_exported(cache_dir, variant), threads=threads, profile=profile)


class OnnxEmbedder:
    """all-MiniLM-L6-v2 on ONNX Runtime behind the `Embedder` port; same vectors and metering as
    `LocalEmbedder` (fp32: cosine >= 0.999 to torch), at least twice its speed on CPU.

    Texts are tokenized once, sorted by length and batched, so a batch pads only to its own
    longest text; vectors are returned in the caller's order. Metering is the tokenizer's count
    capped at the 256-token window, exactly as `LocalEmbedder` meters.
    """

    def __init__(
        self,
        spec: ModelSpec | None = None,
        settings: LocalEmbedderSettings | None = None,
        *,
        cache_dir: Path,
    ) -> None:
        spec = spec if spec is not None else get_model(BUNDLED_MODEL_ID)
        if spec.id != BUNDLED_MODEL_ID or spec.dimension is None or spec.max_tokens is None:
            raise ValueError(f"OnnxEmbedder runs only the bundled {BUNDLED_MODEL_ID}, not {spec.id}")
        self._spec = spec
        self._dimension = spec.dimension
        self._max_tokens = spec.max_tokens
        self._settings = settings if settings is not None else LocalEmbedderSettings()
        self._cache_dir = cache_dir
        self._fallback = LocalEmbedder(spec, self._settings)  # loads nothing until used

    @property
    def model_id(self) -> str:
        return self._spec.id

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def max_tokens(self) -> int:
        return self._max_tokens

    @property
    def runtime(self) -> str:
        """What serves `embed`: onnx-fp32, onnx-int8, or torch once ONNX proved unusable (loads it)."""
        loaded = _load(self._cache_dir, self._settings)
        return "torch" if loaded is None else f"onnx-{loaded.variant}"

    def count_tokens(self, text: str) -> int:
        return count_wordpiece_tokens(text)

    def embed(self, texts: Sequence[str], input_type: InputType) -> Embeddings:
        batch = check_texts(texts, input_type)
        if not batch:
            return Embeddings(vectors=np.empty((0, self._dimension), dtype=np.float32), calls=())
        loaded = _load(self._cache_dir, self._settings)
        if loaded is None:
            return self._fallback.embed(batch, input_type)
        encodings = window_tokenizer().encode_batch(batch)
        vectors = loaded.passes.run(encodings)
        if vectors.shape != (len(batch), self._dimension):
            raise EmbedderError(
                f"{self.model_id} produced vectors of shape {vectors.shape}, "
                f"expected ({len(batch)}, {self._dimension})"
            )
        input_tokens = sum(len(encoding.ids) for encoding in encodings)
        log.debug("embedders.onnx.embedded", model=self.model_id, texts=len(batch), input_tokens=input_tokens)
        return Embeddings(vectors=vectors, calls=(EmbeddingCall(input_tokens=input_tokens),))


class _Passes:
    """Forward passes of one session, one at a time, with the waiting callers coalesced
    (`kb_service.concurrency.Coalescer`: a lone query runs at once; queries that arrive during a pass
    share the next one, FIFO, up to `batch_size` texts, each caller getting its own rows). Under
    concurrent search traffic this turns sixteen one-text passes into one sixteen-text pass: the
    model's per-pass cost is paid once, and the tokens of each caller are still its own. Texts are
    sorted by length within a pass, so a batch pads only to its own longest text.
    """

    def __init__(self, session: Any, batch_size: int) -> None:
        self._session = session
        self._batch_size = batch_size
        self._coalescer: Coalescer[list[Any], npt.NDArray[np.float32]] = Coalescer(
            self._forward, limit=batch_size, size=len
        )

    def run(self, encodings: list[Any]) -> npt.NDArray[np.float32]:
        return self._coalescer.run(encodings)

    def _forward(self, calls: list[list[Any]]) -> list[npt.NDArray[np.float32]]:
        encodings = [encoding for call in calls for encoding in call]
        order = sorted(range(len(encodings)), key=lambda i: len(encodings[i].ids))
        vectors: npt.NDArray[np.float32] | None = None
        for start in range(0, len(order), self._batch_size):
            rows = order[start : start + self._batch_size]
            ids, mask, _ = pad_batch([encodings[i] for i in rows])
            output = self._session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
            if output.ndim != 2 or output.shape[0] != len(rows):
                raise EmbedderError(f"the graph produced vectors of shape {output.shape}")
            if vectors is None:
                vectors = np.empty((len(encodings), output.shape[1]), dtype=np.float32)
            vectors[rows] = output
        assert vectors is not None
        bounds = np.cumsum([0, *(len(call) for call in calls)]).tolist()
        return [vectors[lo:hi] for lo, hi in itertools.pairwise(bounds)]
