"""Who is calling, as FastAPI dependencies: an API key (`PrincipalDep`, and the knowledge base it
reaches, `KnowledgeBaseDep`) or a personal access token (`ActorDep`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from kb_service.auth.principals import Actor, Principal
from kb_service.deps import ServicesDep
from kb_service.errors import Unauthorized
from kb_service.resources.models import Resource

_key_bearer = HTTPBearer(auto_error=False, description="An API key: `kb_<key id>_<secret>`.")
_user_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="PersonalAccessToken",
    description="A personal access token: `pat_<token id>_<secret>`.",
)


def get_principal(
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_key_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("Missing API key: send `Authorization: Bearer <key>`.")
    return services.keys.authenticate(credentials.credentials)


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
