"""The caller's own identity and personal access tokens."""

from __future__ import annotations

from fastapi import APIRouter, status

from kb_service.deps import ActorDep, CompanyServiceDep, UserServiceDep
from kb_service.errors import NotFound
from kb_service.openapi import errors
from kb_service.users.models import PersonalAccessToken
from schemas.users import MeOut, TokenCreate, TokenCreated, TokenOut

router = APIRouter(prefix="/v1/me", tags=["identity"])


@router.get("", responses=errors())
def me(actor: ActorDep, users: UserServiceDep, companies: CompanyServiceDep) -> MeOut:
    user = users.get(actor.user_id)
    company = companies.get(user.company_id)
    return MeOut(
        id=user.id,
        email=user.email,
        name=user.name,
        company_id=company.id,
        company_name=company.name,
        is_admin=user.is_admin,
    )


@router.post("/tokens", status_code=status.HTTP_201_CREATED, responses=errors())
def create_token(actor: ActorDep, users: UserServiceDep, body: TokenCreate) -> TokenCreated:
    """A new personal access token; the secret is in this response only."""
    issued = users.issue_token(actor.user_id, body.description)
    return TokenCreated(**token_out(issued.token).model_dump(), secret=issued.secret)


@router.get("/tokens", responses=errors())
def list_tokens(actor: ActorDep, users: UserServiceDep) -> list[TokenOut]:
    return [token_out(t) for t in users.tokens(actor.user_id)]


@router.delete("/tokens/{token_id}", responses=errors(NotFound))
def revoke_token(actor: ActorDep, users: UserServiceDep, token_id: str) -> TokenOut:
    return token_out(users.revoke_token(actor.user_id, token_id))


def token_out(token: PersonalAccessToken) -> TokenOut:
    return TokenOut(
        token_id=token.id,
        description=token.description,
        created_at=token.created_at,
        last_used_at=token.last_used_at,
        revoked_at=token.revoked_at,
    )
