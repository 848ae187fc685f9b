"""Who is calling, as FastAPI dependencies: an API key (`PrincipalDep`, and the knowledge base it
reaches, `KnowledgeBaseDep`) or a personal access token (`ActorDep`).

An API key is checked on the event loop when the process's key cache answers (`keys.cache`: no I/O),
and in the thread pool only when the database must be asked — a thread-pool hop costs more than the
check itself."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from kb_service.auth.principals import Actor, Principal
from kb_service.deps import ServicesDep
from kb_service.errors import Unauthorized
from kb_service.resources.models import Resource
from kb_service.services import Services

_key_bearer = HTTPBearer(auto_error=False, description="An API key: `kb_<key id>_<secret>`.")
_user_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="PersonalAccessToken",
    description="A personal access token: `pat_<token id>_<secret>`.",
)


async def get_principal(
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_key_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("Missing API key: send `Authorization: Bearer <key>`.")
    return await authenticate_key(services, credentials.credentials)


async def authenticate_key(services: Services, presented: str) -> Principal:
    """The principal of an API key: from the key cache on the event loop, else verified in the
    database in the thread pool. Every route that takes a key (`/v1`, the gateway) comes here."""
    principal = services.keys.cached_principal(presented)
    if principal is not None:
        return principal
    return await run_in_threadpool(services.keys.authenticate, presented)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def get_knowledge_base(
    kb_id: Annotated[str, Path(description="Knowledge base id.")],
    principal: PrincipalDep,
    services: ServicesDep,
) -> Resource:
    """The KB the key reaches. Any other id — another customer's KB or none — is a 404."""
    return services.resources.knowledge_base_of(principal, kb_id)


KnowledgeBaseDep = Annotated[Resource, Depends(get_knowledge_base)]


def get_actor(
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_user_bearer)],
) -> Actor:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("Missing personal access token: send `Authorization: Bearer <token>`.")
    return services.users.authenticate(credentials.credentials)


ActorDep = Annotated[Actor, Depends(get_actor)]
