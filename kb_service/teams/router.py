"""Team routes: members, invitations sent by a team, and the invitee's own invitations."""

from __future__ import annotations

from fastapi import APIRouter, status

from kb_service.deps import ActorDep, TeamServiceDep
from kb_service.errors import Conflict, Forbidden, NotFound
from kb_service.openapi import errors
from kb_service.teams.models import Invitation, TeamMember
from kb_service.users.models import User
from schemas.teams import (
    InvitationCreate,
    InvitationCreated,
    InvitationLink,
    InvitationOut,
    MemberAdd,
    MemberOut,
)

router = APIRouter(tags=["team"])
RESOURCE = "/v1/resources/{resource_id}"


@router.get(f"{RESOURCE}/members", responses=errors(NotFound))
def list_members(actor: ActorDep, teams: TeamServiceDep, resource_id: str) -> list[MemberOut]:
    return [member_out(m, u) for m, u in teams.members(actor, resource_id)]


@router.post(
    f"{RESOURCE}/members",
    status_code=status.HTTP_201_CREATED,
    responses=errors(Forbidden, Conflict, NotFound),
)
def add_member(actor: ActorDep, teams: TeamServiceDep, resource_id: str, body: MemberAdd) -> list[MemberOut]:
    """Add a user of the same company; returns the team."""
    teams.add_member(actor, resource_id, body.email)
    return list_members(actor, teams, resource_id)


@router.delete(
    f"{RESOURCE}/members/{{user_id}}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors(Forbidden, NotFound),
)
def remove_member(actor: ActorDep, teams: TeamServiceDep, resource_id: str, user_id: str) -> None:
    teams.remove_member(actor, resource_id, user_id)


@router.post(
    f"{RESOURCE}/invitations",
    status_code=status.HTTP_201_CREATED,
    responses=errors(Forbidden, Conflict, NotFound),
)
def invite(
    actor: ActorDep, teams: TeamServiceDep, resource_id: str, body: InvitationCreate
) -> InvitationCreated:
    """Invite an external user (if enabled for the company); expires after 14 days. The response's
    `accept_url` is the invitation link, shown this once: nothing e-mails it, send it yourself."""
    issued = teams.invite(actor, resource_id, body.email)
    out = invitation_out(issued.invitation)
    return InvitationCreated(**out.model_dump(), accept_url=issued.accept_url)


@router.get(f"{RESOURCE}/invitations", responses=errors(NotFound))
def pending_invitations(actor: ActorDep, teams: TeamServiceDep, resource_id: str) -> list[InvitationOut]:
    return [invitation_out(i) for i in teams.pending(actor, resource_id)]


@router.delete(f"{RESOURCE}/invitations/{{invitation_id}}", responses=errors(Forbidden, Conflict, NotFound))
def withdraw(actor: ActorDep, teams: TeamServiceDep, resource_id: str, invitation_id: str) -> InvitationOut:
    return invitation_out(teams.withdraw(actor, resource_id, invitation_id))


@router.get("/v1/invitations", responses=errors())
def my_invitations(actor: ActorDep, teams: TeamServiceDep) -> list[InvitationOut]:
    """Pending invitations addressed to the caller."""
    return [invitation_out(i) for i in teams.mine(actor)]


@router.post("/v1/invitations/accept", responses=errors(Forbidden, Conflict, NotFound))
def accept_link(actor: ActorDep, teams: TeamServiceDep, body: InvitationLink) -> InvitationOut:
    """Accept through an invitation link's token, as the invited email's user."""
    return invitation_out(teams.respond_by_link(actor, body.token, accept=True))


@router.post("/v1/invitations/{invitation_id}/accept", responses=errors(Conflict, NotFound))
def accept(actor: ActorDep, teams: TeamServiceDep, invitation_id: str) -> InvitationOut:
    return invitation_out(teams.respond(actor, invitation_id, accept=True))


@router.post("/v1/invitations/{invitation_id}/decline", responses=errors(Conflict, NotFound))
def decline(actor: ActorDep, teams: TeamServiceDep, invitation_id: str) -> InvitationOut:
    return invitation_out(teams.respond(actor, invitation_id, accept=False))


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
