"""Build the embedder a catalog model names, and keep one per model for the life of a process."""

from __future__ import annotations

import threading
import time
from typing import Never

import httpx
import structlog

from kb_service.catalog import ModelSpec, get_model
from kb_service.config import Settings
from kb_service.embedders.base import Embedder

log = structlog.get_logger(__name__)


def build_embedder(
    model: ModelSpec, settings: Settings, *, http_client: httpx.Client | None = None
) -> Embedder:
    """The embedder for `model`; `http_client` is handed to HTTP-backed providers (tests fake it).

    Provider SDKs and torch are imported inside their branch, so a process only pays for the
    providers it actually uses.
    """
    if model.kind != "embeddings":
        raise ValueError(f"{model.id} is a {model.kind} model, not an embeddings model")
    match model.provider:
        case "local":
            if settings.local_embedder.runtime == "onnx":
                # Falls back to the torch embedder by itself if the graph cannot be exported or loaded.
                from kb_service.embedders.onnx import OnnxEmbedder

                cache_dir = settings.local_embedder.cache_dir or settings.resolved_data_dir / "models"
                return OnnxEmbedder(model, settings.local_embedder, cache_dir=cache_dir)
            from kb_service.embedders.local import LocalEmbedder

            return LocalEmbedder(model, settings.local_embedder)
        case "cohere":
            from kb_service.embedders.cohere import CohereEmbedder

            return CohereEmbedder(model, settings.cohere, http_client=http_client)
        case "anthropic":
            raise ValueError(f"{model.id}: Anthropic models do not produce embeddings")
        case _:
            # mypy proves this branch unreachable for the declared providers (adding one without a
            # case fails type checking); at run time it catches a catalog entry outside them.
            unknown: Never = model.provider
            raise ValueError(f"{model.id}: unknown embeddings provider {unknown!r}")


class EmbedderRegistry:
    """One embedder per model id per process, built on first use; safe to share between threads."""

    def __init__(self, settings: Settings, *, http_client: httpx.Client | None = None) -> None:
        self._settings = settings
        self._http_client = http_client
        self._lock = threading.Lock()
        self._embedders: dict[str, Embedder] = {}

    def get(self, model_id: str) -> Embedder:
        """Raises `UnknownModelError` for an id the catalog lacks, `ValueError` for a non-embedder."""
        with self._lock:
            embedder = self._embedders.get(model_id)
            if embedder is None:
                # Cheap to hold the lock: construction loads no model (LocalEmbedder loads lazily).
                embedder = build_embedder(get_model(model_id), self._settings, http_client=self._http_client)
                self._embedders[model_id] = embedder
            return embedder


def warm_up(registry: EmbedderRegistry, settings: Settings) -> None:
    """Load what the default model needs before the first request has to (call at start-up).

    The local model is loaded by embedding one word, unmetered; for a Cohere model only the token
    counter is loaded, since a warm-up must not spend billed tokens.
    """
    model_id = settings.default_embedding_model
    started = time.perf_counter()
    try:
        embedder = registry.get(model_id)
        embedder.count_tokens("warm up")
        if get_model(model_id).provider == "local":
            embedder.embed(["warm up"], "search_query")
    # Broad on purpose: warming up is an optimisation, and it runs in a start-up hook or thread
    # where an exception would take the process down; the first real request reports the error.
    except Exception:
        log.warning("embedders.warm_up_failed", model=model_id, exc_info=True)
        return
    log.info("embedders.warmed_up", model=model_id, seconds=round(time.perf_counter() - started, 2))
