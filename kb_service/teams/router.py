"""Team routes: members, invitations sent by a team, and the invitee's own invitations."""

from __future__ import annotations

from fastapi import APIRouter, status

from kb_service.auth.deps import ActorDep
from kb_service.deps import ServicesDep, UnitOfWorkRoute
from kb_service.errors import Conflict, Forbidden, NotFound, documented
from kb_service.teams.presenters import invitation_out, member_out
from schemas.teams import (
    InvitationCreate,
    InvitationCreated,
    InvitationLink,
    InvitationOut,
    MemberAdd,
    MemberOut,
)

router = APIRouter(route_class=UnitOfWorkRoute, tags=["team"])
RESOURCE = "/v1/resources/{resource_id}"


@router.get(f"{RESOURCE}/members", responses=documented(NotFound))
def list_members(actor: ActorDep, services: ServicesDep, resource_id: str) -> list[MemberOut]:
    return [member_out(m, u) for m, u in services.teams.members(actor, resource_id)]


@router.post(
    f"{RESOURCE}/members",
    status_code=status.HTTP_201_CREATED,
    responses=documented(Forbidden, Conflict, NotFound),
)
def add_member(actor: ActorDep, services: ServicesDep, resource_id: str, body: MemberAdd) -> list[MemberOut]:
    """Add a user of the same company; returns the team."""
    services.teams.add_member(actor, resource_id, body.email)
    return list_members(actor, services, resource_id)


@router.delete(
    f"{RESOURCE}/members/{{user_id}}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=documented(Forbidden, NotFound),
)
def remove_member(actor: ActorDep, services: ServicesDep, resource_id: str, user_id: str) -> None:
    services.teams.remove_member(actor, resource_id, user_id)


@router.post(
    f"{RESOURCE}/invitations",
    status_code=status.HTTP_201_CREATED,
    responses=documented(Forbidden, Conflict, NotFound),
)
def invite(
    actor: ActorDep, services: ServicesDep, resource_id: str, body: InvitationCreate
) -> InvitationCreated:
    """Invite an external user (if enabled for the company); expires after 14 days. The response's
    `accept_url` is the invitation link, shown this once: nothing e-mails it, send it yourself."""
    issued = services.teams.invite(actor, resource_id, body.email)
    out = invitation_out(issued.invitation)
    return InvitationCreated(**out.model_dump(), accept_url=issued.accept_url)


@router.get(f"{RESOURCE}/invitations", responses=documented(NotFound))
def pending_invitations(actor: ActorDep, services: ServicesDep, resource_id: str) -> list[InvitationOut]:
    return [invitation_out(i) for i in services.teams.pending(actor, resource_id)]


@router.delete(
    f"{RESOURCE}/invitations/{{invitation_id}}", responses=documented(Forbidden, Conflict, NotFound)
)
def withdraw(actor: ActorDep, services: ServicesDep, resource_id: str, invitation_id: str) -> InvitationOut:
    return invitation_out(services.teams.withdraw(actor, resource_id, invitation_id))


@router.get("/v1/invitations", responses=documented())
def my_invitations(actor: ActorDep, services: ServicesDep) -> list[InvitationOut]:
    """Pending invitations addressed to the caller."""
    return [invitation_out(i) for i in services.teams.mine(actor)]


@router.post("/v1/invitations/accept", responses=documented(Forbidden, Conflict, NotFound))
def accept_link(actor: ActorDep, services: ServicesDep, body: InvitationLink) -> InvitationOut:
    """Accept through an invitation link's token, as the invited email's user."""
    return invitation_out(services.teams.respond_by_link(actor, body.token, accept=True))


@router.post("/v1/invitations/{invitation_id}/accept", responses=documented(Conflict, NotFound))
def accept(actor: ActorDep, services: ServicesDep, invitation_id: str) -> InvitationOut:
    return invitation_out(services.teams.respond(actor, invitation_id, accept=True))


@router.post("/v1/invitations/{invitation_id}/decline", responses=documented(Conflict, NotFound))
def decline(actor: ActorDep, services: ServicesDep, invitation_id: str) -> InvitationOut:
    return invitation_out(services.teams.respond(actor, invitation_id, accept=False))
