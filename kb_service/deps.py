"""FastAPI dependencies as Annotated aliases. Authentication and KB scoping happen here, once."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from kb_service.activity.content import mark_actor
from kb_service.activity.service import ActivityService
from kb_service.capacity.service import CapacityService
from kb_service.clock import Clock, SystemClock
from kb_service.companies.service import CompanyService
from kb_service.config import Settings
from kb_service.consumption.service import ConsumptionService
from kb_service.container import Container
from kb_service.db import session_scope
from kb_service.embedders.factory import EmbedderRegistry
from kb_service.errors import NotFound, Unauthorized
from kb_service.keys.service import KeyManagement, KeyService, Principal
from kb_service.knowledge.service import KnowledgeService
from kb_service.provisioning.service import ProvisioningService
from kb_service.resources.models import Resource
from kb_service.resources.repository import ResourceRepository
from kb_service.retrieval.service import RetrievalService
from kb_service.teams.service import TeamService
from kb_service.users.service import Actor, UserService
from kb_service.vectorstores.base import VectorStore


def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


ContainerDep = Annotated[Container, Depends(get_container)]


def get_session(container: ContainerDep) -> Iterator[Session]:
    # scope="function": the unit of work commits before the response is sent.
    with session_scope(container.sessions) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def get_settings(container: ContainerDep) -> Settings:
    return container.settings


def get_store(container: ContainerDep) -> VectorStore:
    return container.store


def get_embedders(container: ContainerDep) -> EmbedderRegistry:
    return container.embedders


SettingsDep = Annotated[Settings, Depends(get_settings)]
VectorStoreDep = Annotated[VectorStore, Depends(get_store)]
EmbeddersDep = Annotated[EmbedderRegistry, Depends(get_embedders)]

_SYSTEM_CLOCK = SystemClock()


def get_clock(request: Request) -> Clock:
    """The app's clock; tests put a movable one on `app.state.clock`."""
    clock: Clock | None = getattr(request.app.state, "clock", None)
    return clock or _SYSTEM_CLOCK


ClockDep = Annotated[Clock, Depends(get_clock)]

_bearer = HTTPBearer(auto_error=False, description="An API key: `kb_<key id>_<secret>`.")


def get_principal(
    session: SessionDep,
    clock: ClockDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("Missing API key: send `Authorization: Bearer <key>`.")
    principal = KeyService(session).authenticate(credentials.credentials)
    # KB content changes made with this key go to the resource's activity log.
    mark_actor(session, f"key:{principal.key_id}", clock)
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def get_knowledge_base(
    kb_id: Annotated[str, Path(description="Knowledge base id.")],
    principal: PrincipalDep,
    session: SessionDep,
) -> Resource:
    """The KB the key reaches. Any other id — another customer's KB or none — is a 404."""
    kb = ResourceRepository(session).get_knowledge_base(kb_id) if principal.resource_id == kb_id else None
    if kb is None:
        raise NotFound(f"Knowledge base {kb_id} not found.")
    return kb


KnowledgeBaseDep = Annotated[Resource, Depends(get_knowledge_base)]


def get_knowledge_service(
    kb: KnowledgeBaseDep, session: SessionDep, container: ContainerDep
) -> KnowledgeService:
    return KnowledgeService(session, kb, container.store, container.dispatcher, container.settings)


def get_retrieval_service(
    kb: KnowledgeBaseDep, session: SessionDep, store: VectorStoreDep, embedders: EmbeddersDep
) -> RetrievalService:
    return RetrievalService(session, kb, store, embedders)


KnowledgeServiceDep = Annotated[KnowledgeService, Depends(get_knowledge_service)]
RetrievalServiceDep = Annotated[RetrievalService, Depends(get_retrieval_service)]


# --- control plane: users authenticate with personal access tokens ------------------------------


_user_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="PersonalAccessToken",
    description="A personal access token: `pat_<token id>_<secret>`.",
)


def get_actor(
    session: SessionDep,
    clock: ClockDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_user_bearer)],
) -> Actor:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("Missing personal access token: send `Authorization: Bearer <token>`.")
    return UserService(session, clock).authenticate(credentials.credentials)


ActorDep = Annotated[Actor, Depends(get_actor)]


def get_user_service(session: SessionDep, clock: ClockDep) -> UserService:
    return UserService(session, clock)


def get_company_service(session: SessionDep, clock: ClockDep) -> CompanyService:
    return CompanyService(session, clock)


def get_provisioning_service(
    session: SessionDep, store: VectorStoreDep, clock: ClockDep
) -> ProvisioningService:
    return ProvisioningService(session, store, clock)


def get_capacity_service(session: SessionDep, clock: ClockDep) -> CapacityService:
    return CapacityService(session, clock)


UserServiceDep = Annotated[UserService, Depends(get_user_service)]
CompanyServiceDep = Annotated[CompanyService, Depends(get_company_service)]
ProvisioningServiceDep = Annotated[ProvisioningService, Depends(get_provisioning_service)]
CapacityServiceDep = Annotated[CapacityService, Depends(get_capacity_service)]


def get_consumption_service(session: SessionDep, clock: ClockDep) -> ConsumptionService:
    return ConsumptionService(session, clock)


ConsumptionServiceDep = Annotated[ConsumptionService, Depends(get_consumption_service)]


def get_activity_service(session: SessionDep, clock: ClockDep) -> ActivityService:
    return ActivityService(session, clock)


def get_key_management(session: SessionDep, clock: ClockDep) -> KeyManagement:
    return KeyManagement(session, clock)


ActivityServiceDep = Annotated[ActivityService, Depends(get_activity_service)]
KeyManagementDep = Annotated[KeyManagement, Depends(get_key_management)]


def get_team_service(session: SessionDep, clock: ClockDep) -> TeamService:
    return TeamService(session, clock)


TeamServiceDep = Annotated[TeamService, Depends(get_team_service)]
