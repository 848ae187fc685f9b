"""Team members and invitations as they read on the wire."""

from __future__ import annotations

from kb_service.teams.models import Invitation, TeamMember
from kb_service.users.models import User
from schemas.teams import InvitationOut, MemberOut


def member_out(member: TeamMember, user: User) -> MemberOut:
    return MemberOut(
        user_id=user.id, email=user.email, name=user.name, external=member.external, added_at=member.added_at
    )


def invitation_out(invitation: Invitation) -> InvitationOut:
    return InvitationOut(
        id=invitation.id,
        resource_id=invitation.resource_id,
        email=invitation.email,
        status=invitation.status,
        created_at=invitation.created_at,
        expires_at=invitation.expires_at,
        answered_at=invitation.answered_at,
    )
