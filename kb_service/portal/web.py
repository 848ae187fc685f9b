"""Portal plumbing shared by its pages: templates, the session and CSRF dependencies, rendering."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Form, Header, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates

from kb_service.auth.principals import Actor, actor_of
from kb_service.deps import ClockDep, ContainerDep, ServicesDep
from kb_service.errors import KBError, NotFound
from kb_service.portal.formatting import RESOURCE_TYPE_LABELS, compact, day, moment, thousands
from kb_service.portal.quotas import plan_quota_table, resource_plan_quota
from kb_service.portal.sessions import COOKIE_NAME, PortalSession, SessionCodec, load_secret
from kb_service.services import Services

HERE = Path(__file__).parent
PREFIX = "/portal"
CONTENT_SECURITY_POLICY = "default-src 'self'; frame-ancestors 'none'; form-action 'self'"

templates = Jinja2Templates(directory=HERE / "templates")
templates.env.filters["compact"] = compact
templates.env.filters["thousands"] = thousands
templates.env.filters["day"] = day
templates.env.filters["moment"] = moment
templates.env.globals["type_labels"] = RESOURCE_TYPE_LABELS
templates.env.globals["day"] = day
templates.env.globals["plan_quota_table"] = plan_quota_table
templates.env.globals["resource_plan_quota"] = resource_plan_quota


class SignInRequired(Exception):
    """No valid session: the browser is sent to the sign-in page."""


class CsrfRejected(Exception):
    """A form post without this session's CSRF token."""


# --- sessions and CSRF --------------------------------------------------------------------------


def get_codec(request: Request, container: ContainerDep) -> SessionCodec:
    codec: SessionCodec | None = getattr(request.app.state, "portal_codec", None)
    if codec is None:
        settings = container.settings
        codec = SessionCodec(load_secret(settings), timedelta(minutes=settings.portal.session_minutes))
        request.app.state.portal_codec = codec
    return codec


CodecDep = Annotated[SessionCodec, Depends(get_codec)]


def get_portal_session(request: Request, codec: CodecDep, clock: ClockDep) -> PortalSession | None:
    return codec.decode(request.cookies.get(COOKIE_NAME), clock.now())


PortalSessionDep = Annotated[PortalSession | None, Depends(get_portal_session)]


def get_portal_actor(portal_session: PortalSessionDep, services: ServicesDep, codec: CodecDep) -> Actor:
    return signed_in_actor(portal_session, services, codec)


def signed_in_actor(portal_session: PortalSession | None, services: Services, codec: SessionCodec) -> Actor:
    """The session's user while the session is still theirs (SignInRequired otherwise)."""
    if portal_session is None or portal_session.user_id is None:
        raise SignInRequired
    try:
        user = services.users.get(portal_session.user_id)
    except NotFound:
        raise SignInRequired from None
    if not codec.still_valid_for(portal_session, user.password_hash):
        raise SignInRequired
    return actor_of(user)


PortalActorDep = Annotated[Actor, Depends(get_portal_actor)]


@dataclass(frozen=True, slots=True)
class Page:
    """A signed-in page request: who asks, and what every portal page renders with."""

    request: Request
    actor: Actor
    codec: SessionCodec
    session: PortalSession

    def render(self, template: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
        context = {"actor": self.actor, **context}
        return render(
            self.request,
            template,
            context,
            codec=self.codec,
            portal_session=self.session,
            status_code=status_code,
        )


def get_page(
    request: Request, actor: PortalActorDep, codec: CodecDep, portal_session: PortalSessionDep
) -> Page:
    assert portal_session is not None  # get_portal_actor found a signed-in session
    return Page(request, actor, codec, portal_session)


PageDep = Annotated[Page, Depends(get_page)]


def check_csrf(
    portal_session: PortalSessionDep,
    codec: CodecDep,
    csrf_token: Annotated[str | None, Form()] = None,
    x_csrf_token: Annotated[str | None, Header()] = None,
) -> None:
    """A form carries the token as a field; a page's fetch() carries it in `X-CSRF-Token`."""
    if not codec.csrf_valid(portal_session, csrf_token or x_csrf_token):
        raise CsrfRejected


CsrfChecked = Depends(check_csrf)


def client_address(request: Request) -> str | None:
    """The peer address (behind a proxy, run uvicorn with proxy headers so this is the client's)."""
    return request.client.host if request.client else None


def set_session_cookie(response: Response, request: Request, codec: CodecDep, value: PortalSession) -> None:
    settings = request.app.state.container.settings.portal
    response.set_cookie(
        COOKIE_NAME,
        codec.encode(value),
        max_age=int(codec.lifetime.total_seconds()),
        path=PREFIX,
        secure=settings.cookie_secure,
        httponly=True,
        samesite="lax",
    )


def render(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    codec: SessionCodec,
    portal_session: PortalSession,
    status_code: int = 200,
) -> HTMLResponse:
    context = {"csrf_token": codec.csrf_token(portal_session), "prefix": PREFIX, **context}
    response = templates.TemplateResponse(request, template, context, status_code=status_code)
    set_session_cookie(response, request, codec, portal_session)
    return harden(response)


def harden(response: HTMLResponse) -> HTMLResponse:
    # Pages hold per-user data and CSRF tokens: never cached, never framed, scripts only from us.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; frame-ancestors 'none'; form-action 'self'"
    )
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    return response


def error_page(request: Request, exc: KBError) -> HTMLResponse:
    """A `/v1`-style error (404, 403, 422, …) raised while building a portal page, as a page."""
    context = {"status": exc.status_code, "message": exc.message, "prefix": PREFIX, "actor": None}
    return harden(templates.TemplateResponse(request, "error.html", context, status_code=exc.status_code))
