"""Invitations: the acceptance page (an invited external user creates an account) and the invitee list.

The acceptance page needs no sign-in: the link's token stands for the invited email. Whoever opens it
sees which resource and who invited; then, depending on the visitor, a form to create an account, a
form to sign in and accept in one step, Accept / Decline when already signed in as that email, or a
message when signed in as someone else. An unknown, used, withdrawn or expired link is a page saying so.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from kb_service.auth.principals import Actor
from kb_service.deps import ClockDep, ServicesDep, UnitOfWorkRoute
from kb_service.errors import InvalidInput, KBError
from kb_service.portal.formatting import day
from kb_service.portal.sessions import PortalSession, SessionCodec
from kb_service.portal.web import (
    PREFIX,
    CodecDep,
    CsrfChecked,
    PageDep,
    PortalActorDep,
    PortalSessionDep,
    SignInRequired,
    client_address,
    render,
    set_session_cookie,
    signed_in_actor,
)
from kb_service.services import Services
from kb_service.teams.service import InvitationExpired, TeamService
from kb_service.users.service import UserService

router = APIRouter(route_class=UnitOfWorkRoute, prefix=PREFIX, include_in_schema=False)

ACCEPT = "/invitations/accept"
NOTICES = {"declined": "Invitation declined."}


def _signed_in(portal_session: PortalSession | None, services: Services, codec: SessionCodec) -> Actor | None:
    """The signed-in user, or None for a visitor: the acceptance page is open to both."""
    try:
        return signed_in_actor(portal_session, services, codec)
    except SignInRequired:
        return None


def _accept_page(
    request: Request,
    token: str,
    teams: TeamService,
    actor: Actor | None,
    codec: CodecDep,
    portal_session: PortalSession,
    extra: dict[str, Any] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    try:
        view = teams.describe([teams.by_link(token)])[0]
    except InvitationExpired as exc:
        return _invalid(request, codec, portal_session, actor, exc.message, expired=True, status_code=410)
    except KBError as exc:
        return _invalid(request, codec, portal_session, actor, exc.message, expired=False, status_code=404)
    invitation = view.invitation
    if actor is not None and actor.email.lower() == invitation.email:
        state = "answer"
    elif actor is not None:
        state = "other_user"
    elif view.has_account:
        state = "sign_in"
    else:
        state = "create"
    context: dict[str, Any] = {
        "actor": actor,
        "token": token,
        "state": state,
        "email": invitation.email,
        "resource_name": view.resource_name,
        "resource_type": view.resource_type,
        "invited_by": view.invited_by,
        "expires": day(invitation.expires_at),
        "error": None,
        "name": "",
        **(extra or {}),
    }
    return render(
        request,
        "invitation_accept.html",
        context,
        codec=codec,
        portal_session=portal_session,
        status_code=status_code,
    )


def _invalid(
    request: Request,
    codec: CodecDep,
    portal_session: PortalSession,
    actor: Actor | None,
    message: str,
    *,
    expired: bool,
    status_code: int,
) -> HTMLResponse:
    context = {"actor": actor, "message": message, "expired": expired}
    return render(
        request,
        "invitation_invalid.html",
        context,
        codec=codec,
        portal_session=portal_session,
        status_code=status_code,
    )


def _signed_in_response(
    request: Request, users: UserService, codec: CodecDep, clock: ClockDep, actor: Actor, target: str
) -> RedirectResponse:
    response = RedirectResponse(target, status_code=status.HTTP_303_SEE_OTHER)
    # A fresh nonce on sign-in, as on the sign-in page: a session planted before it is worth nothing.
    password_hash = users.get(actor.user_id).password_hash
    set_session_cookie(response, request, codec, codec.new(actor.user_id, clock.now(), password_hash))
    return response


def _resource_url(resource_id: str) -> str:
    return f"{PREFIX}/resources/{resource_id}"


@router.get(ACCEPT)
def accept_page(
    request: Request,
    services: ServicesDep,
    codec: CodecDep,
    clock: ClockDep,
    portal_session: PortalSessionDep,
    token: str = "",
) -> HTMLResponse:
    visitor = portal_session or codec.new(None, clock.now())
    actor = _signed_in(portal_session, services, codec)
    return _accept_page(request, token, services.teams, actor, codec, visitor)


@router.post(f"{ACCEPT}/create-account", dependencies=[CsrfChecked])
def create_account(
    request: Request,
    services: ServicesDep,
    codec: CodecDep,
    clock: ClockDep,
    portal_session: PortalSessionDep,
    token: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    confirm_password: Annotated[str, Form()] = "",
) -> Response:
    """Create the invitee's account, accept, sign in, and open the resource."""
    assert portal_session is not None  # check_csrf refuses a post without a session
    teams = services.teams
    try:
        if password != confirm_password:
            raise InvalidInput("The passwords do not match.", details={"field": "confirm_password"})
        actor, invitation = teams.join_with_new_account(token, name, password)
    except KBError as exc:
        extra = {"error": exc.message, "name": name}
        return _accept_page(request, token, teams, None, codec, portal_session, extra, exc.status_code)
    return _signed_in_response(
        request, services.users, codec, clock, actor, _resource_url(invitation.resource_id)
    )


@router.post(f"{ACCEPT}/sign-in", dependencies=[CsrfChecked])
def sign_in_and_accept(
    request: Request,
    services: ServicesDep,
    codec: CodecDep,
    clock: ClockDep,
    portal_session: PortalSessionDep,
    token: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
) -> Response:
    """Sign in as the invited email and accept, in one post (throttled like the sign-in page)."""
    assert portal_session is not None
    teams = services.teams
    try:
        invitation = teams.by_link(token)
        actor = services.sign_in.sign_in(invitation.email, password, client_address(request))
        teams.respond_by_link(actor, token, accept=True)
    except KBError as exc:
        extra = {"error": exc.message}
        return _accept_page(request, token, teams, None, codec, portal_session, extra, exc.status_code)
    return _signed_in_response(
        request, services.users, codec, clock, actor, _resource_url(invitation.resource_id)
    )


@router.post(f"{ACCEPT}/answer", dependencies=[CsrfChecked])
def answer(
    actor: PortalActorDep,
    services: ServicesDep,
    answer: Annotated[Literal["accept", "decline"], Form()],
    token: Annotated[str, Form()] = "",
) -> RedirectResponse:
    """The signed-in invitee accepts or declines through the link."""
    invitation = services.teams.respond_by_link(actor, token, accept=answer == "accept")
    target = (
        _resource_url(invitation.resource_id)
        if answer == "accept"
        else f"{PREFIX}/invitations?notice=declined"
    )
    return RedirectResponse(target, status_code=status.HTTP_303_SEE_OTHER)


# --- the signed-in user's invitations -----------------------------------------------------------


@router.get("/invitations")
def my_invitations(page: PageDep, services: ServicesDep) -> HTMLResponse:
    teams = services.teams
    rows = [
        {
            "id": view.invitation.id,
            "resource_name": view.resource_name,
            "resource_type": view.resource_type,
            "invited_by": view.invited_by,
            "expires": day(view.invitation.expires_at),
        }
        for view in teams.describe(teams.mine(page.actor))
    ]
    notice = NOTICES.get(page.request.query_params.get("notice", ""))
    return page.render("invitations.html", {"rows": rows, "notice": notice})


@router.post("/invitations/{invitation_id}/respond", dependencies=[CsrfChecked])
def answer_invitation(
    actor: PortalActorDep,
    services: ServicesDep,
    invitation_id: str,
    answer: Annotated[Literal["accept", "decline"], Form()],
) -> RedirectResponse:
    invitation = services.teams.respond(actor, invitation_id, accept=answer == "accept")
    target = (
        _resource_url(invitation.resource_id)
        if answer == "accept"
        else f"{PREFIX}/invitations?notice=declined"
    )
    return RedirectResponse(target, status_code=status.HTTP_303_SEE_OTHER)
