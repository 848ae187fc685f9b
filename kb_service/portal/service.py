"""What the portal pages need, through the same services and permission checks as the `/v1` API."""

from __future__ import annotations

from sqlalchemy.orm import Session

from kb_service.activity.content import mark_actor
from kb_service.clock import Clock
from kb_service.container import Container
from kb_service.errors import NotFound
from kb_service.knowledge.service import KnowledgeService
from kb_service.portal.layout import ResourceFrame, resource_frame
from kb_service.resources.models import Resource, ResourceType
from kb_service.retrieval.service import RetrievalService
from kb_service.teams.access import Access, Permission
from kb_service.users.service import Actor


class PortalContent:
    """A knowledge base's content as one signed-in user may reach it."""

    def __init__(self, session: Session, container: Container, clock: Clock) -> None:
        self._session = session
        self._container = container
        self._clock = clock
        self._access = Access(session)

    def knowledge_base(self, actor: Actor, resource_id: str) -> Resource:
        """The KB if the actor may see it; anything else (another type, another company) is a 404."""
        resource = self._access.resource(actor, resource_id, Permission.VIEW)
        if resource.type != ResourceType.KNOWLEDGE_BASE:
            raise NotFound(f"Knowledge base {resource_id} not found.")
        # Content changes made here go to the resource's activity log under this user's email,
        # as every other user action does.
        mark_actor(self._session, actor.email, self._clock)
        return resource

    def frame(self, actor: Actor, resource_id: str) -> ResourceFrame:
        return resource_frame(self._session, self._container, self._clock, actor, resource_id)

    def knowledge(self, kb: Resource) -> KnowledgeService:
        c = self._container
        return KnowledgeService(self._session, kb, c.store, c.dispatcher, c.settings)

    def retrieval(self, kb: Resource) -> RetrievalService:
        return RetrievalService(self._session, kb, self._container.store, self._container.embedders)
