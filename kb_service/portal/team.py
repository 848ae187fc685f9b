"""The "Team" tab: members, adding and removing them, external invitations.

Everyone on the team sees the members and the pending invitations; the forms are offered only with
`manage_team` (internal members and company admins), and the service refuses the posts anyway. An
invitation's link is shown once, in a dialog, to the person who made it: nothing here sends e-mail.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from kb_service.deps import ServicesDep, UnitOfWorkRoute
from kb_service.errors import InvalidInput, KBError
from kb_service.portal.formatting import day
from kb_service.portal.layout import ResourceFrame, ResourceFrameDep
from kb_service.portal.web import PREFIX, CsrfChecked, Page, PageDep, PortalActorDep
from kb_service.teams.service import IssuedInvitation, TeamService
from schemas.teams import InvitationCreate

router = APIRouter(route_class=UnitOfWorkRoute, prefix=PREFIX, include_in_schema=False)

# What a redirect after a change may say; only these values, the query string is the visitor's.
NOTICES = {
    "added": "Member added.",
    "removed": "Member removed.",
    "withdrawn": "Invitation withdrawn; its link no longer works.",
    "enabled": "External invitations are now enabled for your company.",
}


def _team_page(
    page: Page,
    frame: ResourceFrame,
    teams: TeamService,
    extra: dict[str, Any] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    actor = page.actor
    overview = teams.overview(actor, frame.resource.id)
    members = [
        {
            "user_id": user.id,
            "name": user.name or user.email.split("@")[0],
            "email": user.email,
            "external": member.external,
            "added": day(member.added_at),
            "is_me": user.id == actor.user_id,
        }
        for member, user in overview.members
    ]
    pending = [
        {
            "id": view.invitation.id,
            "email": view.invitation.email,
            "invited_by": view.invited_by,
            "sent": day(view.invitation.created_at),
            "expires": day(view.invitation.expires_at),
        }
        for view in overview.pending
    ]
    notice = NOTICES.get(page.request.query_params.get("notice", ""))
    context: dict[str, Any] = {
        **frame.context("team"),
        "members": members,
        "pending": pending,
        "can_manage": frame.can("manage_team"),
        "external_enabled": overview.external_invitations_enabled,
        "company_admin": overview.company_admin,
        "notice": notice,
        "member_error": None,
        "member_email": "",
        "invite_error": None,
        "invite_email": "",
        "issued": None,
        **(extra or {}),
    }
    return page.render("team.html", context, status_code)


def _back(frame: ResourceFrame, notice: str) -> RedirectResponse:
    target = f"{PREFIX}/resources/{frame.resource.id}/team?notice={notice}"
    return RedirectResponse(target, status_code=status.HTTP_303_SEE_OTHER)


@router.get("/resources/{resource_id}/team")
def team_page(page: PageDep, frame: ResourceFrameDep, services: ServicesDep) -> HTMLResponse:
    return _team_page(page, frame, services.teams)


@router.post("/resources/{resource_id}/team/members", dependencies=[CsrfChecked])
def add_member(
    page: PageDep, frame: ResourceFrameDep, services: ServicesDep, email: Annotated[str, Form()] = ""
) -> Response:
    try:
        services.teams.add_member(page.actor, frame.resource.id, _email(email))
    except KBError as exc:
        extra = {"member_error": exc.message, "member_email": email}
        return _team_page(page, frame, services.teams, extra, exc.status_code)
    return _back(frame, "added")


@router.post("/resources/{resource_id}/team/members/{user_id}/remove", dependencies=[CsrfChecked])
def remove_member(
    frame: ResourceFrameDep, actor: PortalActorDep, services: ServicesDep, user_id: str
) -> Response:
    services.teams.remove_member(actor, frame.resource.id, user_id)
    if user_id == actor.user_id and not actor.is_admin:
        # Off the team, the resource is gone for them.
        return RedirectResponse(f"{PREFIX}/resources", status_code=status.HTTP_303_SEE_OTHER)
    return _back(frame, "removed")


@router.post("/resources/{resource_id}/team/invitations", dependencies=[CsrfChecked])
def invite(
    page: PageDep, frame: ResourceFrameDep, services: ServicesDep, email: Annotated[str, Form()] = ""
) -> HTMLResponse:
    """The page again, with the new invitation's link in a dialog: its only showing."""
    try:
        issued = services.teams.invite(page.actor, frame.resource.id, _email(email))
    except KBError as exc:
        extra = {"invite_error": exc.message, "invite_email": email}
        return _team_page(page, frame, services.teams, extra, exc.status_code)
    shown = {"issued": _issued(page.request, issued)}
    return _team_page(page, frame, services.teams, shown, status.HTTP_201_CREATED)


@router.post("/resources/{resource_id}/team/invitations/{invitation_id}/withdraw", dependencies=[CsrfChecked])
def withdraw(
    frame: ResourceFrameDep, actor: PortalActorDep, services: ServicesDep, invitation_id: str
) -> RedirectResponse:
    services.teams.withdraw(actor, frame.resource.id, invitation_id)
    return _back(frame, "withdrawn")


@router.post("/resources/{resource_id}/team/external-invitations", dependencies=[CsrfChecked])
def enable_external_invitations(
    frame: ResourceFrameDep, actor: PortalActorDep, services: ServicesDep
) -> RedirectResponse:
    services.teams.enable_external_invitations(actor, frame.resource.id)
    return _back(frame, "enabled")


def _email(raw: str) -> str:
    try:
        return InvitationCreate(email=raw.strip()).email
    except ValidationError:
        raise InvalidInput(f"{raw.strip() or 'An empty value'} is not an email address.") from None


def _issued(request: Request, issued: IssuedInvitation) -> dict[str, str]:
    # The link as the inviter's browser reached this service: no public-URL setting exists.
    origin = str(request.base_url).rstrip("/")
    return {
        "url": f"{origin}{issued.accept_url}",
        "email": issued.invitation.email,
        "expires": day(issued.invitation.expires_at),
    }
