"""The "Your tokens" page of every signed-in user: personal access tokens and the password.

A personal access token (`pat_…`) is the user's key to the `/v1` control-plane API and the CLI. It
acts as its user, so it can do exactly what they may do (an external member reaches only the
resources they were invited to; the checks are the services', as for every `/v1` call). The secret
is shown once, in the response to the create form, never in a URL; only its SHA-256 is stored
(`UserService.issue_token`).

Changing the password asks for the current one, checked through the sign-in throttle
(`SignInThrottle.sign_in`), so a stolen session cannot guess it faster than the sign-in page allows.
The new password is argon2id-hashed; every other session of the user ends (the session cookie
carries a fingerprint of the password hash), this one gets a fresh cookie.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from kb_service.deps import ClockDep, ServicesDep, UnitOfWorkRoute
from kb_service.errors import KBError
from kb_service.portal.formatting import moment
from kb_service.portal.web import PREFIX, CsrfChecked, Page, PageDep, client_address, set_session_cookie
from kb_service.services import Services
from kb_service.users.models import PersonalAccessToken
from kb_service.users.passwords import MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS
from kb_service.users.service import IssuedToken
from kb_service.users.throttle import TooManySignInAttempts

router = APIRouter(route_class=UnitOfWorkRoute, prefix=PREFIX, include_in_schema=False)
TOKENS = f"{PREFIX}/tokens"
DESCRIPTION_MAX = 500  # the column's width, as /v1's TokenCreate


def _row(token: PersonalAccessToken) -> dict[str, Any]:
    return {
        "id": token.id,
        "prefix": f"pat_{token.id}_…",
        "description": token.description,
        "created": moment(token.created_at),
        "last_used": moment(token.last_used_at),
        "revoked": moment(token.revoked_at) if token.revoked_at else None,
    }


def _page(
    page: Page,
    services: Services,
    *,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    tokens = sorted(services.users.tokens(page.actor.user_id), key=lambda t: t.created_at, reverse=True)
    base: dict[str, Any] = {
        "tokens": [_row(t) for t in tokens],
        "description_max": DESCRIPTION_MAX,
        "min_password": MIN_PASSWORD_CHARS,
        "max_password": MAX_PASSWORD_CHARS,
        "new_token": None,
        "notice": None,
        "token_error": None,
        "password_error": None,
        "description": "",
    }
    return page.render("tokens.html", {**base, **context}, status_code)


NOTICES = {
    "password": "Your password was changed. Other browsers signed in with the old one are signed out.",
}


@router.get("/tokens")
def tokens_page(page: PageDep, services: ServicesDep, done: str | None = None) -> HTMLResponse:
    return _page(page, services, notice=NOTICES.get(done or ""))


@router.post("/tokens", dependencies=[CsrfChecked])
def create_token(
    page: PageDep, services: ServicesDep, description: Annotated[str, Form()] = ""
) -> HTMLResponse:
    """The new token's secret is in this response only (the page is `no-store`)."""
    description = description.strip()
    if not description or len(description) > DESCRIPTION_MAX:
        message = f"Describe the token (1 to {DESCRIPTION_MAX} characters), e.g. “CLI on my laptop”."
        return _page(
            page, services, token_error=message, description=description[:DESCRIPTION_MAX], status_code=422
        )
    issued: IssuedToken = services.users.issue_token(page.actor.user_id, description)
    return _page(page, services, new_token={"row": _row(issued.token), "secret": issued.secret})


@router.post("/tokens/{token_id}/revoke", dependencies=[CsrfChecked])
def revoke_token(page: PageDep, services: ServicesDep, token_id: str) -> HTMLResponse:
    try:
        token = services.users.revoke_token(page.actor.user_id, token_id)
    except KBError as exc:
        return _page(page, services, token_error=exc.message, status_code=exc.status_code)
    label = token.description or token.id
    return _page(page, services, notice=f"The token “{label}” was revoked; it no longer works on /v1.")


@router.post("/password", dependencies=[CsrfChecked])
def change_password(
    request: Request,
    page: PageDep,
    services: ServicesDep,
    clock: ClockDep,
    current_password: Annotated[str, Form()] = "",
    new_password: Annotated[str, Form()] = "",
    confirm_password: Annotated[str, Form()] = "",
) -> Response:
    def refused(message: str, code: int, retry_after: int | None = None) -> HTMLResponse:
        response = _page(page, services, password_error=message, status_code=code)
        if retry_after is not None:
            response.headers["Retry-After"] = str(retry_after)
        return response

    try:
        # The current password goes through the sign-in throttle: failures count, limits apply.
        services.sign_in.sign_in(page.actor.email, current_password, client_address(request))
    except TooManySignInAttempts as exc:
        return refused(exc.message, exc.status_code, exc.retry_after_seconds)
    except KBError:
        return refused("The current password is not correct.", 403)
    if new_password != confirm_password:
        return refused("The new password and its confirmation differ.", 422)
    if new_password == current_password:
        return refused("Choose a new password different from the current one.", 422)
    try:
        services.users.set_password(page.actor.user_id, new_password)
    except KBError as exc:
        return refused(exc.message, exc.status_code)
    response = RedirectResponse(f"{TOKENS}?done=password", status_code=status.HTTP_303_SEE_OTHER)
    # This browser stays signed in: a fresh session bound to the new password's fingerprint.
    password_hash = services.users.get(page.actor.user_id).password_hash
    set_session_cookie(
        response, request, page.codec, page.codec.new(page.actor.user_id, clock.now(), password_hash)
    )
    return response
