"""The caller's own identity and personal access tokens."""

from __future__ import annotations

from fastapi import APIRouter, status

from kb_service.auth.deps import ActorDep
from kb_service.deps import ServicesDep, UnitOfWorkRoute
from kb_service.errors import NotFound, documented
from kb_service.users.presenters import me_out, token_out
from schemas.users import MeOut, TokenCreate, TokenCreated, TokenOut

router = APIRouter(route_class=UnitOfWorkRoute, prefix="/v1/me", tags=["identity"])


@router.get("", responses=documented())
def me(actor: ActorDep, services: ServicesDep) -> MeOut:
    user = services.users.get(actor.user_id)
    return me_out(user, services.companies.get(user.company_id))


@router.post("/tokens", status_code=status.HTTP_201_CREATED, responses=documented())
def create_token(actor: ActorDep, services: ServicesDep, body: TokenCreate) -> TokenCreated:
    """A new personal access token; the secret is in this response only."""
    issued = services.users.issue_token(actor.user_id, body.description)
    return TokenCreated(**token_out(issued.token).model_dump(), secret=issued.secret)


@router.get("/tokens", responses=documented())
def list_tokens(actor: ActorDep, services: ServicesDep) -> list[TokenOut]:
    return [token_out(t) for t in services.users.tokens(actor.user_id)]


@router.delete("/tokens/{token_id}", responses=documented(NotFound))
def revoke_token(actor: ActorDep, services: ServicesDep, token_id: str) -> TokenOut:
    return token_out(services.users.revoke_token(actor.user_id, token_id))
