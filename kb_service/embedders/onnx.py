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

If the export or the load fails, the embedder logs a warning and serves the same vectors through
the torch `LocalEmbedder`, so a broken runtime costs speed, never a request.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import structlog

from kb_service.catalog import ModelSpec, get_model
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
    session: Any
    variant: str
    # One forward pass at a time: a run already uses every intra-op thread (see LocalEmbedder).
    lock: threading.Lock


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
            loaded = _Session(
                _load_session(cache_dir, variant, threads, settings.profile), variant, threading.Lock()
            )
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
        vectors = np.empty((len(batch), self._dimension), dtype=np.float32)
        input_tokens = 0
        # Sorted by length, so each forward pass pads only to its own longest text.
        order = sorted(range(len(batch)), key=lambda i: len(encodings[i].ids))
        size = self._settings.batch_size
        for start in range(0, len(order), size):
            rows = order[start : start + size]
            ids, mask, tokens = pad_batch([encodings[i] for i in rows])
            with loaded.lock:
                output = loaded.session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
            if output.shape != (len(rows), self._dimension):
                raise EmbedderError(
                    f"{self.model_id} produced vectors of shape {output.shape}, "
                    f"expected ({len(rows)}, {self._dimension})"
                )
            vectors[rows] = output
            input_tokens += tokens
        log.debug("embedders.onnx.embedded", model=self.model_id, texts=len(batch), input_tokens=input_tokens)
        return Embeddings(vectors=vectors, calls=(EmbeddingCall(input_tokens=input_tokens),))
