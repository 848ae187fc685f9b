"""FastAPI dependencies as Annotated aliases. Authentication and KB scoping happen here, once."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from kb_service.config import Settings
from kb_service.container import Container
from kb_service.db import session_scope
from kb_service.embedders.factory import EmbedderRegistry
from kb_service.errors import NotFound, Unauthorized
from kb_service.keys.service import KeyService, Principal
from kb_service.knowledge.service import KnowledgeService
from kb_service.resources.models import Resource
from kb_service.resources.repository import ResourceRepository
from kb_service.retrieval.service import RetrievalService
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

_bearer = HTTPBearer(auto_error=False, description="An API key: `kb_<key id>_<secret>`.")


def get_principal(
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("Missing API key: send `Authorization: Bearer <key>`.")
    return KeyService(session).authenticate(credentials.credentials)


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
