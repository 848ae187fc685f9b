"""Company settings in the control center (company admins): external invitations on and off.

Switching them off withdraws every pending invitation of the company's resources (the rule is
`TeamService.set_external_invitations`, the same as `PATCH /v1/company`): the page first asks for a
confirmation naming how many invitations would be withdrawn, then withdraws them; an invitee who
opens such a link afterwards reads "This invitation was withdrawn by the team."
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from kb_service.deps import UnitOfWorkRoute
from kb_service.errors import KBError
from kb_service.portal.control import CONTROL, ControlPage, ControlPageDep
from kb_service.portal.web import CsrfChecked

router = APIRouter(route_class=UnitOfWorkRoute, prefix=CONTROL, include_in_schema=False)
SETTINGS = f"{CONTROL}/settings"
NOTICES = {
    "on": "External invitations are on: team members can invite people from outside the company.",
    "off": "External invitations are off.",
}


def _page(
    page: ControlPage,
    *,
    notice: str | None = None,
    confirm_off: bool = False,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    company = page.services.companies.get(page.actor.company_id)
    context: dict[str, Any] = {
        "company": company,
        "pending": page.services.teams.pending_of_company(page.actor),
        "notice": notice,
        "confirm_off": confirm_off,
        "error": error,
    }
    return page.render("company_settings.html", context, status_code)


@router.get("/settings")
def company_settings(page: ControlPageDep, done: str | None = None, withdrawn: int = 0) -> HTMLResponse:
    notice = NOTICES.get(done or "")
    if notice and done == "off" and withdrawn > 0:
        plural = "invitation was" if withdrawn == 1 else "invitations were"
        notice = f"{notice} {withdrawn:,} pending {plural} withdrawn; their links no longer work."
    return _page(page, notice=notice)


@router.post("/settings/external-invitations", dependencies=[CsrfChecked])
def set_external_invitations(
    page: ControlPageDep,
    enabled: Annotated[str, Form()] = "",
    confirmed: Annotated[str, Form()] = "",
) -> Response:
    """`enabled=on|off`; switching off with invitations pending asks again (`confirmed=yes`)."""
    turn_on = enabled == "on"
    if not turn_on and confirmed != "yes" and page.services.teams.pending_of_company(page.actor):
        return _page(page, confirm_off=True)
    try:
        withdrawn = page.services.teams.set_external_invitations(page.actor, turn_on)
    except KBError as exc:
        return _page(page, error=exc.message, status_code=exc.status_code)
    done = "on" if turn_on else "off"
    suffix = f"&withdrawn={len(withdrawn)}" if withdrawn else ""
    return RedirectResponse(f"{SETTINGS}?done={done}{suffix}", status_code=status.HTTP_303_SEE_OTHER)
