"""The control center (company admins): GenAI Resources overview, the ⋯ menu, Cloud Tokens; its
provisioning form and review step are `provision.py`.

Every rule lives in the services (`ResourceService`, `CapacityService`, `CompanyService`); these
routes only turn forms into their requests and their refusals into messages on the page. A refused
request re-renders its page with the message (the `except KBError` blocks): a person at a browser
needs the form back with every value kept, where the API would return only the error body.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, get_args

from fastapi import APIRouter, Depends, Form, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from kb_service.auth.principals import Actor
from kb_service.capacity.plans import PLAN_PRICES
from kb_service.deps import ServicesDep, UnitOfWorkRoute
from kb_service.errors import Forbidden, InvalidInput, KBError
from kb_service.portal.formatting import day, plan_capacity
from kb_service.portal.free_tokens import shortage
from kb_service.portal.web import PREFIX, CsrfChecked, Page, PageDep
from kb_service.resources.models import ResourceStatus, ResourceType
from kb_service.resources.presenters import resource_out
from kb_service.resources.service import ENDED, ResourceService, ResourceView
from kb_service.resources.validation import PLATFORM_ACCOUNT_WARNING
from kb_service.services import Services
from schemas.resources import CapacityChange, Environment, Region, ResourceOut, ResourceTypeName

router = APIRouter(route_class=UnitOfWorkRoute, prefix=PREFIX, include_in_schema=False)
CONTROL = f"{PREFIX}/control"
LEDGER_SHOWN = 50
ENVIRONMENTS = get_args(Environment)
REGIONS = get_args(Region)
CUSTOM_SIZE = "tokens"  # the Plan select's "Cloud Tokens amount" choice


def admin_only(actor: Actor) -> Actor:
    if not actor.is_admin:
        raise Forbidden("The control center is for company admins.")
    return actor


# --- the overview -------------------------------------------------------------------------------


@dataclass
class Overview:
    """What the overview page needs besides its rows; `failed` reopens a refused dialog."""

    current_type: str | None = None
    notice: str | None = None
    error: str | None = None
    failed: dict[str, str] = field(default_factory=dict)


def status_text(out: ResourceOut) -> str:
    """The seeds' wording for a scheduled deprovisioning ("Deprovisioning on 2026-12-14")."""
    if out.status == ResourceStatus.DEPROVISIONING_SCHEDULED and out.deprovision_on:
        return f"Deprovisioning on {day(out.deprovision_on)}"
    return out.status_label


def _rows(
    shown: list[ResourceView], views: list[ResourceView], resources: ResourceService
) -> list[dict[str, Any]]:
    """The table's rows; `views` (all of the company's) name linked resources without more queries."""
    names = {v.resource.id: v.resource.display_name for v in views}
    linked: dict[str, list[str]] = {}
    for v in views:
        r = v.resource
        if r.type == ResourceType.KNOWLEDGE_BASE and r.embeddings_resource_id and r.status not in ENDED:
            linked.setdefault(r.embeddings_resource_id, []).append(r.display_name)
    rows = []
    for view in shown:
        out, r = resource_out(view), view.resource
        sized = r.type != ResourceType.KNOWLEDGE_BASE and r.status not in ENDED
        # No refill shown once deprovisioning is scheduled: the resource ends before it.
        refill = resources.refill_on(r) if sized else None
        rows.append(
            {
                "out": out,
                "status_text": status_text(out),
                "plan_capacity": plan_capacity(view, out.genai_units_per_month),
                "linked_kbs": linked.get(r.id, []),
                "embeddings_name": names.get(r.embeddings_resource_id or ""),
                "can_deprovision": r.status not in ENDED,
                "can_cancel_deprovision": r.status == ResourceStatus.DEPROVISIONING_SCHEDULED,
                "can_resize": sized,
                "plan_prices": dict(PLAN_PRICES[r.type]) if r.plan and sized else {},
                "refill_on": refill,
            }
        )
    return rows


@dataclass(frozen=True)
class ControlPage:
    """An admin's control-center request: the services and session every page of it renders with."""

    page: Page
    services: Services

    @property
    def actor(self) -> Actor:
        return self.page.actor

    def render(self, template: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
        return self.page.render(template, context, status_code)

    def prerequisites(self) -> dict[str, Any]:
        problem = self.services.resources.prerequisite_problem(self.actor)
        # Said up front: no free Cloud Tokens for even the smallest size (free_tokens.shortage).
        problem = problem or shortage(self.services.companies.balance(self.actor.company_id))
        return {"problem": problem, "platform_problem": problem == PLATFORM_ACCOUNT_WARNING}

    def overview(self, state: Overview, status_code: int = 200) -> HTMLResponse:
        company_id, companies = self.actor.company_id, self.services.companies
        views = self.services.resources.list(self.actor)
        names = {v.resource.id: v.resource.display_name for v in views}
        shown = [v for v in views if state.current_type in (None, v.resource.type)]
        ledger = companies.ledger(company_id)[::-1][:LEDGER_SHOWN]
        context: dict[str, Any] = {
            "rows": _rows(shown, views, self.services.resources),
            "current_type": state.current_type,
            "balance": companies.balance(company_id),
            "ledger": [{"t": t, "resource": names.get(t.resource_id or "", t.resource_id)} for t in ledger],
            "state": state,
            **self.prerequisites(),
        }
        return self.render("control.html", context, status_code)

    def refused(self, exc: KBError, **failed: str) -> HTMLResponse:
        """The overview again, saying why the service refused (and reopening the refused dialog)."""
        return self.overview(
            Overview(error=exc.message, failed={**failed, "message": exc.message}), exc.status_code
        )


def get_control_page(page: PageDep, services: ServicesDep) -> ControlPage:
    admin_only(page.actor)
    return ControlPage(page, services)


ControlPageDep = Annotated[ControlPage, Depends(get_control_page)]


@router.get("/control")
def control_overview(
    page: ControlPageDep,
    type: ResourceTypeName | None = None,
    done: str | None = None,
    resource: str | None = None,
) -> HTMLResponse:
    notice = _notice(page.actor, page.services, done, resource)
    return page.overview(Overview(current_type=type, notice=notice))


def _notice(actor: Actor, services: Services, done: str | None, resource_id: str | None) -> str | None:
    # Composed from the resource itself, never from the query string: the visitor may edit that.
    if done is None or resource_id is None:
        return None
    resources = services.resources
    try:
        view = resources.get(actor, resource_id)
    except KBError:
        return None
    out, name = resource_out(view), view.resource.display_name
    if done == "provisioned":
        invited = [i.email for i in services.teams.pending(actor, resource_id)]
        if out.created_for is not None and out.created_for.email.lower() in invited:
            return (
                f"{name} was provisioned. {out.created_for.email} is not a user of the company and was "
                "sent an external invitation: it is among the pending invitations of its Team tab."
            )
        return f"{name} was provisioned."
    if done == "deprovision" and out.deprovision_on:
        return f"{name} will be deprovisioned on {day(out.deprovision_on)}; it stays usable until then."
    if done == "capacity" and out.scheduled_change:
        size = out.scheduled_change.plan or f"{out.scheduled_change.cloud_tokens:,} Cloud Tokens"
        return f"The change of {name} to {size} is scheduled for {out.scheduled_change.on}."
    if done == "capacity":
        return f"{name} now has {plan_capacity(view, out.genai_units_per_month)}."
    if done == "cancelled":
        return f"The scheduled change of {name} was cancelled."
    if done == "deprovision_cancelled":
        return f"The deprovisioning of {name} was cancelled; it stays provisioned."
    return None


def done(action: str, resource_id: str) -> RedirectResponse:
    return RedirectResponse(f"{CONTROL}?done={action}&resource={resource_id}", status.HTTP_303_SEE_OTHER)


@router.post("/control/resources/{resource_id}/deprovision", dependencies=[CsrfChecked])
def deprovision(resource_id: str, page: ControlPageDep) -> Response:
    try:
        page.services.resources.deprovision(page.actor, resource_id)
    except KBError as exc:
        return page.refused(exc)
    return done("deprovision", resource_id)


@router.post("/control/resources/{resource_id}/deprovision/cancel", dependencies=[CsrfChecked])
def cancel_deprovision(resource_id: str, page: ControlPageDep) -> Response:
    try:
        page.services.resources.cancel_deprovision(page.actor, resource_id)
    except KBError as exc:
        return page.refused(exc)
    return done("deprovision_cancelled", resource_id)


@router.post("/control/resources/{resource_id}/capacity", dependencies=[CsrfChecked])
def change_capacity(
    resource_id: str,
    page: ControlPageDep,
    plan: Annotated[str, Form()] = "",
    cloud_tokens: Annotated[str, Form()] = "",
) -> Response:
    try:
        page.services.capacity.change(page.actor, resource_id, _capacity_change(plan, cloud_tokens))
    except KBError as exc:
        return page.refused(exc, capacity=resource_id)
    return done("capacity", resource_id)


def _capacity_change(plan: str, cloud_tokens: str) -> CapacityChange:
    try:
        return CapacityChange.model_validate(
            {
                "plan": plan.strip() or None,
                "cloud_tokens": whole_tokens(cloud_tokens) if not plan.strip() else None,
            }
        )
    except ValidationError:
        raise InvalidInput(f"Unknown plan {plan!r}; choose S, M or L.", field="plan") from None


def whole_tokens(raw: str) -> int | None:
    raw = raw.strip().replace(",", "")
    if not raw:
        return None
    if not raw.isdigit():
        raise InvalidInput("Cloud Tokens must be a whole number, for example 10.", field="cloud_tokens")
    return int(raw)


@router.post("/control/resources/{resource_id}/capacity/cancel", dependencies=[CsrfChecked])
def cancel_scheduled_change(resource_id: str, page: ControlPageDep) -> Response:
    try:
        page.services.capacity.cancel_scheduled(page.actor, resource_id)
    except KBError as exc:
        return page.refused(exc)
    return done("cancelled", resource_id)
