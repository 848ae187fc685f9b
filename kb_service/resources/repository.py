"""All SQL over resources. Control-plane reads of what a user may see go through `visible_to`, the one
scoping query; the permission matrix (`kb_service.auth.access`) decides on single resources."""

from __future__ import annotations

from datetime import date

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from kb_service.resources.models import Resource, ResourceModel, ResourceStatus, ResourceType
from kb_service.teams.models import TeamMember


class ResourceRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, resource: Resource) -> Resource:
        self._session.add(resource)
        self._session.flush()
        return resource

    def flush(self) -> None:
        """Write pending changes (so a ledger line computed next sees them)."""
        self._session.flush()

    def get(self, resource_id: str) -> Resource | None:
        return self._session.get(Resource, resource_id)

    def get_many(self, resource_ids: set[str]) -> dict[str, Resource]:
        if not resource_ids:
            return {}
        query = select(Resource).where(Resource.id.in_(resource_ids))
        return {r.id: r for r in self._session.scalars(query)}

    def get_knowledge_base(self, kb_id: str) -> Resource | None:
        resource = self.get(kb_id)
        if resource is None or resource.type != ResourceType.KNOWLEDGE_BASE:
            return None
        return resource

    def of_type(self, resource_type: ResourceType | None = None) -> list[Resource]:
        query = select(Resource).order_by(Resource.created_at)
        if resource_type is not None:
            query = query.where(Resource.type == resource_type)
        return list(self._session.scalars(query))

    def visible_to(
        self, company_id: str, user_id: str, *, is_admin: bool, resource_type: str | None = None
    ) -> list[Resource]:
        """Resources a user sees: the whole company's for an admin, else those of the user's teams."""
        teams = select(TeamMember.resource_id).where(TeamMember.user_id == user_id)
        scope: ColumnElement[bool] = Resource.id.in_(teams)
        if is_admin:
            scope = or_(Resource.company_id == company_id, scope)
        query = select(Resource).where(scope, Resource.company_id.is_not(None)).order_by(Resource.created_at)
        if resource_type is not None:
            query = query.where(Resource.type == resource_type)
        return list(self._session.scalars(query))

    def models_of(self, resource_id: str) -> list[str]:
        query = select(ResourceModel.model_id).where(ResourceModel.resource_id == resource_id)
        return sorted(self._session.scalars(query))

    def set_models(self, resource_id: str, model_ids: list[str]) -> None:
        self._session.execute(delete(ResourceModel).where(ResourceModel.resource_id == resource_id))
        self._session.add_all(ResourceModel(resource_id=resource_id, model_id=m) for m in model_ids)
        self._session.flush()

    def linked_knowledge_bases(self, embeddings_resource_id: str) -> list[Resource]:
        query = select(Resource).where(
            Resource.type == ResourceType.KNOWLEDGE_BASE,
            Resource.embeddings_resource_id == embeddings_resource_id,
            Resource.status != ResourceStatus.DEPROVISIONED,
        )
        return list(self._session.scalars(query.order_by(Resource.created_at)))

    def due_for_deprovisioning(self, today: date) -> list[Resource]:
        query = select(Resource).where(
            Resource.status == ResourceStatus.DEPROVISIONING_SCHEDULED, Resource.deprovision_on <= today
        )
        resources = list(self._session.scalars(query.order_by(Resource.deprovision_on)))
        # Knowledge bases go before the embeddings resources they depend on.
        return sorted(resources, key=lambda r: r.type != ResourceType.KNOWLEDGE_BASE)

    def due_for_change(self, today: date) -> list[Resource]:
        query = select(Resource).where(
            Resource.pending_change_on <= today, Resource.status != ResourceStatus.DEPROVISIONED
        )
        return list(self._session.scalars(query.order_by(Resource.pending_change_on)))
