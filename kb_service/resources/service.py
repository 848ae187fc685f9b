"""Creating the minimal resources the data plane needs: an embeddings resource and a KB linked to it.

The control plane (provisioning, plans, capacity) builds on these tables.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from kb_service.catalog import UnknownModelError, embedding_models, get_model
from kb_service.errors import InvalidInput, NotFound
from kb_service.knowledge.models import DEFAULT_COLLECTION, Collection
from kb_service.resources.models import Resource, ResourceType
from kb_service.resources.repository import ResourceRepository
from kb_service.vectorstores.base import VectorStore


@dataclass(frozen=True, slots=True)
class KnowledgeBaseHandle:
    knowledge_base: Resource
    embeddings: Resource


class ResourceService:
    def __init__(self, session: Session, store: VectorStore) -> None:
        self._session = session
        self._resources = ResourceRepository(session)
        self._store = store

    def create_embeddings_resource(self, name: str, model_id: str) -> Resource:
        try:
            model = get_model(model_id)
        except UnknownModelError:
            known = ", ".join(m.id for m in embedding_models())
            raise InvalidInput(f"Unknown embedding model {model_id!r}; choose one of {known}.") from None
        if model.kind != "embeddings" or model.dimension is None:
            raise InvalidInput(f"{model_id!r} is not an embeddings model.")
        return self._resources.add(
            Resource(
                type=ResourceType.EMBEDDINGS, display_name=name, model_id=model.id, dimension=model.dimension
            )
        )

    def create_knowledge_base(
        self, name: str, *, model_id: str | None = None, embeddings_resource_id: str | None = None
    ) -> KnowledgeBaseHandle:
        """A KB linked to an existing embeddings resource, or to a new one for `model_id`."""
        if embeddings_resource_id is not None:
            embeddings = self._resources.get(embeddings_resource_id)
            if embeddings is None or embeddings.type != ResourceType.EMBEDDINGS:
                raise NotFound(f"Embeddings resource {embeddings_resource_id} not found.")
        else:
            embeddings = self.create_embeddings_resource(f"{name} embeddings", model_id or "")
        kb = self._resources.add(
            Resource(
                type=ResourceType.KNOWLEDGE_BASE,
                display_name=name,
                embeddings_resource_id=embeddings.id,
                region=embeddings.region,
            )
        )
        self._session.add(Collection(kb_id=kb.id, name=DEFAULT_COLLECTION, is_default=True))
        assert embeddings.dimension is not None
        self._store.create_index(kb.id, embeddings.dimension)
        return KnowledgeBaseHandle(kb, embeddings)

    def get(self, resource_id: str) -> Resource:
        resource = self._resources.get(resource_id)
        if resource is None:
            raise NotFound(f"Resource {resource_id} not found.")
        return resource
