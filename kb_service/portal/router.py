"""The web portal: server-rendered pages over the same services and permission checks as `/v1`.

Routes declare and delegate like the API's. This module holds sign-in, the resources list and the
wiring; the KB content page is `content.py`, the shared plumbing `web.py`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated
from urllib.parse import urlencode

import structlog
from fastapi import APIRouter, FastAPI, Form, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from kb_service.deps import ClockDep, ServicesDep, UnitOfWorkRoute
from kb_service.errors import KBError
from kb_service.portal import (
    account,
    activity,
    company,
    consumption,
    content,
    control,
    docs,
    evaluations,
    invitations,
    keys,
    overview,
    provision,
    settings,
    team,
    try_it,
)
from kb_service.portal.formatting import plan_capacity
from kb_service.portal.layout import ResourceFrameDep
from kb_service.portal.next_page import DEFAULT as DEFAULT_PAGE
from kb_service.portal.next_page import after_sign_in, safe_next
from kb_service.portal.sessions import COOKIE_NAME
from kb_service.portal.web import (
    PREFIX,
    CodecDep,
    CsrfChecked,
    CsrfRejected,
    PageDep,
    PortalSessionDep,
    SignInRequired,
    client_address,
    harden,
    render,
    set_session_cookie,
    templates,
)
from kb_service.resources.presenters import resource_out
from kb_service.users.throttle import TooManySignInAttempts
from schemas.resources import ResourceTypeName

log = structlog.get_logger(__name__)
HERE = Path(__file__).parent

router = APIRouter(route_class=UnitOfWorkRoute, prefix=PREFIX, include_in_schema=False)

# --- sign-in ------------------------------------------------------------------------------------


@router.get("")
def portal_root() -> RedirectResponse:
    return RedirectResponse(f"{PREFIX}/resources", status_code=status.HTTP_303_SEE_OTHER)


@router.get("/sign-in")
def sign_in_page(
    request: Request,
    codec: CodecDep,
    clock: ClockDep,
    portal_session: PortalSessionDep,
    next: str | None = None,
) -> HTMLResponse:
    visitor = portal_session or codec.new(None, clock.now())
    context = {"error": None, "next": safe_next(next)}
    return render(request, "sign_in.html", context, codec=codec, portal_session=visitor)


@router.post("/sign-in", dependencies=[CsrfChecked])
def sign_in(
    request: Request,
    services: ServicesDep,
    codec: CodecDep,
    clock: ClockDep,
    portal_session: PortalSessionDep,
    email: Annotated[str, Form()],
    password: Annotated[str, Form()],
    next: Annotated[str, Form()] = "",
) -> Response:
    assert portal_session is not None  # check_csrf refuses a post without a session
    try:
        actor = services.sign_in.sign_in(email, password, client_address(request))
    except KBError as exc:
        context = {"error": exc.message, "email": email, "next": safe_next(next)}
        refused = render(
            request,
            "sign_in.html",
            context,
            codec=codec,
            portal_session=portal_session,
            status_code=exc.status_code,
        )
        if isinstance(exc, TooManySignInAttempts):
            refused.headers["Retry-After"] = str(exc.retry_after_seconds)
        return refused
    response = RedirectResponse(after_sign_in(next), status_code=status.HTTP_303_SEE_OTHER)
    # A fresh nonce on sign-in: a session planted before it is worth nothing after.
    password_hash = services.users.get(actor.user_id).password_hash
    set_session_cookie(response, request, codec, codec.new(actor.user_id, clock.now(), password_hash))
    return response


@router.post("/sign-out", dependencies=[CsrfChecked])
def sign_out() -> RedirectResponse:
    response = RedirectResponse(f"{PREFIX}/sign-in", status_code=status.HTTP_303_SEE_OTHER)
    response.delete_cookie(COOKIE_NAME, path=PREFIX)
    return response


# --- resources ----------------------------------------------------------------------------------


@router.get("/resources")
def resources_page(
    page: PageDep, services: ServicesDep, type: ResourceTypeName | None = None
) -> HTMLResponse:
    rows = []
    for view in services.resources.list(page.actor, type):
        out = resource_out(view)
        rows.append({"out": out, "plan_capacity": plan_capacity(view, out.genai_units_per_month)})
    return page.render("resources.html", {"rows": rows, "current_type": type})


@router.get("/resources/{resource_id}")
def resource_landing(frame: ResourceFrameDep) -> RedirectResponse:
    """A resource's first tab: its Overview."""
    target = f"{PREFIX}/resources/{frame.resource.id}/{frame.tabs[0].slug}"
    return RedirectResponse(target, status_code=status.HTTP_303_SEE_OTHER)


# --- wiring -------------------------------------------------------------------------------------


async def _sign_in_required(request: Request, _exc: Exception) -> RedirectResponse:
    # A page asked for without a session comes back after sign-in (`next`, checked by safe_next).
    asked = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    back = safe_next(asked) if request.method == "GET" else None
    back = None if back == DEFAULT_PAGE else back  # where sign-in lands anyway
    target = f"{PREFIX}/sign-in" + (f"?{urlencode({'next': back})}" if back else "")
    return RedirectResponse(target, status_code=status.HTTP_303_SEE_OTHER)


async def _csrf_rejected(request: Request, _exc: Exception) -> HTMLResponse:
    log.info("portal.csrf.rejected", path=request.url.path)
    message = "This form has expired or did not come from this site. Reload the page and try again."
    context = {"status": 403, "message": message, "prefix": PREFIX, "actor": None}
    return harden(templates.TemplateResponse(request, "error.html", context, status_code=403))


def install_portal(app: FastAPI) -> None:
    app.include_router(router)
    for page in (content, consumption, team, keys, settings, control, provision, invitations):
        app.include_router(page.router)
    app.include_router(activity.router)
    for page in (account, company):
        app.include_router(page.router)
    for page in (overview, try_it, docs, evaluations):
        app.include_router(page.router)
    app.mount(f"{PREFIX}/static", StaticFiles(directory=HERE / "static"), name="portal-static")
    app.add_exception_handler(SignInRequired, _sign_in_required)
    app.add_exception_handler(CsrfRejected, _csrf_rejected)
