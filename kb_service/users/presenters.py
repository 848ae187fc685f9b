"""Personal access tokens as they read on the wire."""

from __future__ import annotations

from kb_service.companies.models import Company
from kb_service.users.models import PersonalAccessToken, User
from schemas.users import MeOut, TokenOut


def token_out(token: PersonalAccessToken) -> TokenOut:
    return TokenOut(
        token_id=token.id,
        description=token.description,
        created_at=token.created_at,
        last_used_at=token.last_used_at,
        revoked_at=token.revoked_at,
    )


def me_out(user: User, company: Company) -> MeOut:
    return MeOut(
        id=user.id,
        email=user.email,
        name=user.name,
        company_id=company.id,
        company_name=company.name,
        is_admin=user.is_admin,
    )
