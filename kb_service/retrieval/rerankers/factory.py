"""Build the reranker the settings name, once per process (the Cohere client keeps its connections)."""

from __future__ import annotations

import hashlib
import threading
from typing import Never

import httpx

from kb_service.config import CohereSettings, RerankSettings
from kb_service.retrieval.rerankers.base import Reranker


def build_reranker(
    settings: RerankSettings, cohere: CohereSettings, *, http_client: httpx.Client | None = None
) -> Reranker | None:
    """The configured reranker, or None when reranking is off (`KB_RERANK__PROVIDER=none`)."""
    match settings.provider:
        case "none":
            return None
        case "cohere":
            from kb_service.retrieval.rerankers.cohere import CohereReranker

            return CohereReranker(
                settings.model, cohere, max_retries=settings.max_retries, http_client=http_client
            )
        case _:
            unknown: Never = settings.provider
            raise ValueError(f"unknown rerank provider {unknown!r}")


_lock = threading.Lock()
_built: dict[str, Reranker | None] = {}


def shared_reranker(settings: RerankSettings, cohere: CohereSettings) -> Reranker | None:
    """`build_reranker` for these settings, built on first use and kept for the process."""
    secret = cohere.api_key.get_secret_value() if cohere.api_key is not None else ""
    # The key is part of the identity, but only its hash is kept here.
    key = "\x00".join(
        (
            settings.model_dump_json(),
            cohere.model_dump_json(exclude={"api_key"}),
            hashlib.sha256(secret.encode()).hexdigest(),
        )
    )
    with _lock:
        if key not in _built:
            _built[key] = build_reranker(settings, cohere)
        return _built[key]
