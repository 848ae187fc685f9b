from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from kb_service.resources.models import Resource, ResourceType


class ResourceRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, resource: Resource) -> Resource:
        self._session.add(resource)
        self._session.flush()
        return resource

    def get(self, resource_id: str) -> Resource | None:
        return self._session.get(Resource, resource_id)

    def get_knowledge_base(self, kb_id: str) -> Resource | None:
        resource = self.get(kb_id)
        if resource is None or resource.type != ResourceType.KNOWLEDGE_BASE:
            return None
        return resource

    def list(self, resource_type: ResourceType | None = None) -> list[Resource]:
        query = select(Resource).order_by(Resource.created_at)
        if resource_type is not None:
            query = query.where(Resource.type == resource_type)
        return list(self._session.scalars(query))
