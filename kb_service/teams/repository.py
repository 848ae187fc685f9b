from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from kb_service.resources.models import Resource
from kb_service.teams.models import Invitation, InvitationStatus, TeamMember
from kb_service.users.models import User


class TeamRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def membership(self, resource_id: str, user_id: str) -> TeamMember | None:
        return self._session.get(TeamMember, (resource_id, user_id))

    def add_member(self, member: TeamMember) -> TeamMember:
        self._session.add(member)
        self._session.flush()
        return member

    def remove_member(self, member: TeamMember) -> None:
        self._session.delete(member)
        self._session.flush()

    def members(self, resource_id: str) -> list[tuple[TeamMember, User]]:
        query = (
            select(TeamMember, User)
            .join(User, User.id == TeamMember.user_id)
            .where(TeamMember.resource_id == resource_id)
            .order_by(TeamMember.added_at, User.email)
        )
        return [(member, user) for member, user in self._session.execute(query)]

    def resource_ids_of(self, user_id: str) -> list[str]:
        return list(
            self._session.scalars(select(TeamMember.resource_id).where(TeamMember.user_id == user_id))
        )

    def add_invitation(self, invitation: Invitation) -> Invitation:
        self._session.add(invitation)
        self._session.flush()
        return invitation

    def invitation(self, invitation_id: str) -> Invitation | None:
        return self._session.get(Invitation, invitation_id)

    def invitation_by_token_hash(self, token_hash: str) -> Invitation | None:
        return self._session.scalars(select(Invitation).where(Invitation.token_hash == token_hash)).first()

    def pending_invitations(
        self, *, resource_id: str | None = None, email: str | None = None
    ) -> list[Invitation]:
        query = select(Invitation).where(Invitation.status == InvitationStatus.PENDING)
        if resource_id is not None:
            query = query.where(Invitation.resource_id == resource_id)
        if email is not None:
            query = query.where(Invitation.email == email.lower())
        return list(self._session.scalars(query.order_by(Invitation.created_at)))

    def pending_invitations_of_company(self, company_id: str) -> list[Invitation]:
        """Every pending invitation to any resource of the company (expired ones included)."""
        query = (
            select(Invitation)
            .join(Resource, Resource.id == Invitation.resource_id)
            .where(Resource.company_id == company_id, Invitation.status == InvitationStatus.PENDING)
            .order_by(Invitation.created_at)
        )
        return list(self._session.scalars(query))

    def expire_invitations(self, now: datetime) -> int:
        query = select(Invitation).where(
            Invitation.status == InvitationStatus.PENDING, Invitation.expires_at <= now
        )
        expired = list(self._session.scalars(query))
        for invitation in expired:
            invitation.status = InvitationStatus.EXPIRED
        return len(expired)
