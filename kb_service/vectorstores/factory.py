"""One factory for the vector-store port, driven by the settings' discriminated union."""

from __future__ import annotations

from kb_service.config import EmbeddedStoreSettings, OpenSearchStoreSettings, Settings
from kb_service.vectorstores.base import VectorStore


def build_vector_store(settings: Settings) -> VectorStore:
    match settings.vector_store:
        case EmbeddedStoreSettings() as embedded:
            from kb_service.vectorstores.embedded import EmbeddedVectorStore

            return EmbeddedVectorStore(
                settings.embedded_store_path,
                memory_budget_bytes=embedded.memory_budget_bytes,
                int8=embedded.int8,
            )
        case OpenSearchStoreSettings() as opensearch:
            from kb_service.vectorstores.opensearch import OpenSearchVectorStore

            return OpenSearchVectorStore(opensearch)
