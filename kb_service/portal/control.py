"""The control center (company admins): GenAI Resources overview, provisioning, the ⋯ menu, Cloud Tokens.

Every rule lives in the services (`ProvisioningService`, `CapacityService`, `CompanyService`); these
routes only turn forms into their requests and their refusals into messages on the page. A refused
request re-renders its page with the message (the `except KBError` blocks): a person at a browser
needs the form back with every value kept, where the API would return only the error body.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Annotated, Any, get_args

from fastapi import APIRouter, Depends, Form, Header, status
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import ValidationError

from kb_service.capacity.periods import bundle_month
from kb_service.capacity.plans import KB_PLAN, PLAN_PRICES
from kb_service.catalog import all_models
from kb_service.clock import Clock, today
from kb_service.companies.service import CompanyService
from kb_service.deps import (
    CapacityServiceDep,
    ClockDep,
    CompanyServiceDep,
    ProvisioningServiceDep,
)
from kb_service.errors import Forbidden, InvalidInput, KBError
from kb_service.portal.formatting import day, plan_capacity
from kb_service.portal.web import (
    PREFIX,
    CodecDep,
    CsrfChecked,
    Page,
    PageDep,
    PortalActorDep,
    PortalSessionDep,
)
from kb_service.provisioning.router import resource_out
from kb_service.provisioning.service import (
    PLATFORM_ACCOUNT_WARNING,
    InsufficientCloudTokens,
    ProvisioningService,
    ResourceView,
)
from kb_service.resources.models import ResourceStatus, ResourceType
from kb_service.users.service import Actor
from schemas.provisioning import (
    CapacityChange,
    Environment,
    ProvisionRequest,
    Region,
    ResourceOut,
    ResourceTypeName,
)

router = APIRouter(prefix=PREFIX, include_in_schema=False)
CONTROL = f"{PREFIX}/control"
LEDGER_SHOWN = 50
ENVIRONMENTS = get_args(Environment)
REGIONS = get_args(Region)
CUSTOM_SIZE = "tokens"  # the Plan select's "Cloud Tokens amount" choice
ENDED = (ResourceStatus.DEPROVISIONING_SCHEDULED, ResourceStatus.DEPROVISIONED)


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


def _rows(shown: list[ResourceView], views: list[ResourceView], on_day: date) -> list[dict[str, Any]]:
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
        refill = bundle_month(r.activated_on, on_day).end if r.activated_on and sized else None
        rows.append(
            {
                "out": out,
                "status_text": status_text(out),
                "plan_capacity": plan_capacity(view, out.genai_units_per_month),
                "linked_kbs": linked.get(r.id, []),
                "embeddings_name": names.get(r.embeddings_resource_id or ""),
                "can_deprovision": r.status not in ENDED,
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
    provisioning: ProvisioningService
    companies: CompanyService
    clock: Clock

    @property
    def actor(self) -> Actor:
        return self.page.actor

    def render(self, template: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
        return self.page.render(template, context, status_code)

    def prerequisites(self) -> dict[str, Any]:
        problem = self.provisioning.prerequisite_problem(self.actor)
        return {"problem": problem, "platform_problem": problem == PLATFORM_ACCOUNT_WARNING}

    def overview(self, state: Overview, status_code: int = 200) -> HTMLResponse:
        company_id = self.actor.company_id
        views = self.provisioning.list(self.actor)
        names = {v.resource.id: v.resource.display_name for v in views}
        shown = [v for v in views if state.current_type in (None, v.resource.type)]
        ledger = self.companies.ledger(company_id)[::-1][:LEDGER_SHOWN]
        context: dict[str, Any] = {
            "rows": _rows(shown, views, today(self.clock)),
            "current_type": state.current_type,
            "balance": self.companies.balance(company_id),
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

    def provision_form(
        self, form: ProvisionForm, errors: dict[str, str] | None = None, status_code: int = 200
    ) -> HTMLResponse:
        embeddings = [
            v.resource
            for v in self.provisioning.list(self.actor, ResourceType.EMBEDDINGS)
            if v.resource.status not in ENDED
        ]
        context = {
            "form": form,
            "errors": errors or {},
            "catalog": _catalog(),
            "environments": ENVIRONMENTS,
            "regions": REGIONS,
            "plan_prices": {k: dict(v) for k, v in PLAN_PRICES.items()},
            "embeddings": embeddings,
            "balance": self.companies.balance(self.actor.company_id),
            "custom_size": CUSTOM_SIZE,
            **self.prerequisites(),
        }
        return self.render("control_provision.html", context, status_code)


def get_control_page(
    page: PageDep, provisioning: ProvisioningServiceDep, companies: CompanyServiceDep, clock: ClockDep
) -> ControlPage:
    admin_only(page.actor)
    return ControlPage(page, provisioning, companies, clock)


ControlPageDep = Annotated[ControlPage, Depends(get_control_page)]


@router.get("/control")
def control_overview(
    page: ControlPageDep,
    type: ResourceTypeName | None = None,
    done: str | None = None,
    resource: str | None = None,
) -> HTMLResponse:
    notice = _notice(page.actor, page.provisioning, done, resource)
    return page.overview(Overview(current_type=type, notice=notice))


def _notice(
    actor: Actor, provisioning: ProvisioningService, done: str | None, resource_id: str | None
) -> str | None:
    # Composed from the resource itself, never from the query string: the visitor may edit that.
    if done is None or resource_id is None:
        return None
    try:
        view = provisioning.get(actor, resource_id)
    except KBError:
        return None
    out, name = resource_out(view), view.resource.display_name
    if done == "provisioned":
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
    return None


def _done(action: str, resource_id: str) -> RedirectResponse:
    return RedirectResponse(f"{CONTROL}?done={action}&resource={resource_id}", status.HTTP_303_SEE_OTHER)


@router.post("/control/resources/{resource_id}/deprovision", dependencies=[CsrfChecked])
def deprovision(resource_id: str, page: ControlPageDep) -> Response:
    try:
        page.provisioning.deprovision(page.actor, resource_id)
    except KBError as exc:
        return page.refused(exc)
    return _done("deprovision", resource_id)


@router.post("/control/resources/{resource_id}/capacity", dependencies=[CsrfChecked])
def change_capacity(
    resource_id: str,
    page: ControlPageDep,
    capacity: CapacityServiceDep,
    plan: Annotated[str, Form()] = "",
    cloud_tokens: Annotated[str, Form()] = "",
) -> Response:
    try:
        capacity.change(page.actor, resource_id, _capacity_change(plan, cloud_tokens))
    except KBError as exc:
        return page.refused(exc, capacity=resource_id)
    return _done("capacity", resource_id)


def _capacity_change(plan: str, cloud_tokens: str) -> CapacityChange:
    try:
        return CapacityChange.model_validate(
            {
                "plan": plan.strip() or None,
                "cloud_tokens": _tokens(cloud_tokens) if not plan.strip() else None,
            }
        )
    except ValidationError:
        raise InvalidInput(f"Unknown plan {plan!r}; choose S, M or L.") from None


def _tokens(raw: str) -> int | None:
    raw = raw.strip().replace(",", "")
    if not raw:
        return None
    if not raw.isdigit():
        raise InvalidInput("Cloud Tokens must be a whole number, for example 10.")
    return int(raw)


@router.post("/control/resources/{resource_id}/capacity/cancel", dependencies=[CsrfChecked])
def cancel_scheduled_change(resource_id: str, page: ControlPageDep, capacity: CapacityServiceDep) -> Response:
    try:
        capacity.cancel_scheduled(page.actor, resource_id)
    except KBError as exc:
        return page.refused(exc)
    return _done("cancelled", resource_id)


# --- provisioning -------------------------------------------------------------------------------


@dataclass
class ProvisionForm:
    """The provision form's fields as typed, kept for re-rendering."""

    type: str = "text_generation"
    display_name: str = ""
    environment: str = "Test"
    region: str = "eu-central-1"
    cross_region_inference: bool | None = None
    models: list[str] = field(default_factory=list)
    default_model: str = ""
    plan: str = "S"
    cloud_tokens: str = ""
    embeddings_resource_id: str = ""
    created_for_name: str = ""
    created_for_email: str = ""

    def request(self) -> ProvisionRequest:
        """The service's request, or InvalidInput naming the first field that does not parse."""
        kb = self.type == ResourceType.KNOWLEDGE_BASE
        custom = self.plan == CUSTOM_SIZE
        body = {
            "type": self.type,
            "display_name": self.display_name.strip(),
            "environment": self.environment,
            "region": self.region,
            "cross_region_inference": None if kb else self.cross_region_inference,
            "models": [] if kb else self.models,
            "default_model": (self.default_model or None)
            if self.type == ResourceType.TEXT_GENERATION
            else None,
            "plan": KB_PLAN if kb else (None if custom else self.plan or None),
            "cloud_tokens": _tokens(self.cloud_tokens) if custom and not kb else None,
            "created_for": {"name": self.created_for_name.strip(), "email": self.created_for_email.strip()},
            "embeddings_resource_id": (self.embeddings_resource_id or None) if kb else None,
        }
        try:
            return ProvisionRequest.model_validate(body)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            raise InvalidInput(
                f"{FIELD_LABELS.get(where, where)}: {first['msg']}.", details={"field": where}
            ) from None


FIELD_LABELS = {
    "type": "Resource type",
    "display_name": "Display name",
    "environment": "Environment",
    "region": "Region",
    "models": "Models",
    "default_model": "Default model",
    "plan": "Plan",
    "cloud_tokens": "Cloud Tokens",
    "embeddings_resource_id": "Embeddings resource",
    "created_for.name": "Created for (name)",
    "created_for.email": "Created for (email)",
}


# The provision form's message slots (the template's `error(...)` calls); "form" is the page's top.
ERROR_SLOTS = {*(k.replace(".", "_") for k in FIELD_LABELS), "size"} - {"plan", "cloud_tokens"}


def field_of(exc: KBError) -> str:
    """Which form field a refusal is about, so the message can sit next to it."""
    named = exc.details.get("field")
    if isinstance(named, str):
        slot = "size" if named in ("plan", "cloud_tokens") else named.replace(".", "_")
        return slot if slot in ERROR_SLOTS else "form"
    text = exc.message.lower()
    if isinstance(exc, InsufficientCloudTokens) or "cloud token" in text or "plan" in text:
        return "size"
    if "default model" in text:
        return "default_model"
    if "embeddings resource" in text or "linked" in text:
        return "embeddings_resource_id"
    if "model" in text or "not available in" in text:
        return "models"
    return "form"


def provision_form(
    type: Annotated[str, Form()] = "text_generation",
    display_name: Annotated[str, Form()] = "",
    environment: Annotated[str, Form()] = "Test",
    region: Annotated[str, Form()] = "eu-central-1",
    cri_shown: Annotated[str, Form()] = "",
    cross_region_inference: Annotated[str, Form()] = "",
    models: Annotated[list[str] | None, Form()] = None,
    default_model: Annotated[str, Form()] = "",
    plan: Annotated[str, Form()] = "",
    cloud_tokens: Annotated[str, Form()] = "",
    embeddings_resource_id: Annotated[str, Form()] = "",
    created_for_name: Annotated[str, Form()] = "",
    created_for_email: Annotated[str, Form()] = "",
) -> ProvisionForm:
    # An unchecked checkbox sends nothing; `cri_shown` tells "unchecked" from "not on the form".
    cri = (cross_region_inference == "on") if cri_shown else None
    return ProvisionForm(
        type, display_name, environment, region, cri, [m for m in models or [] if m], default_model,
        plan, cloud_tokens, embeddings_resource_id, created_for_name, created_for_email,
    )  # fmt: skip


ProvisionFormDep = Annotated[ProvisionForm, Depends(provision_form)]


def _catalog() -> dict[str, dict[str, list[dict[str, str]]]]:
    """Models per region and kind, for the form's live model list."""
    catalog: dict[str, dict[str, list[dict[str, str]]]] = {r: {"text": [], "embeddings": []} for r in REGIONS}
    for model in all_models().values():
        for region in model.regions:
            if region in catalog:
                catalog[region][model.kind].append({"id": model.id, "name": model.display_name})
    return catalog


@router.get("/control/provision")
def provision_page(page: ControlPageDep, type: ResourceTypeName = "text_generation") -> HTMLResponse:
    return page.provision_form(ProvisionForm(type=type, plan=KB_PLAN if type == "knowledge_base" else "S"))


@router.post("/control/provision/preview.json")
def provision_preview(
    actor: PortalActorDep,
    provisioning: ProvisioningServiceDep,
    codec: CodecDep,
    portal_session: PortalSessionDep,
    form: ProvisionFormDep,
    x_csrf_token: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    """The resource specification for the form's review panel; 4xx JSON with the service's message."""
    if not codec.csrf_valid(portal_session, x_csrf_token):
        message = "This page has expired or the request did not come from it. Reload the page."
        return JSONResponse({"error": {"code": "csrf_rejected", "message": message}}, status_code=403)
    try:
        admin_only(actor)
        spec = provisioning.preview(actor, form.request())
    except KBError as exc:
        body = {"code": exc.code, "message": exc.message, "field": field_of(exc), "details": exc.details}
        return JSONResponse({"error": body}, status_code=exc.status_code)
    return JSONResponse(spec.model_dump(mode="json"))


@router.post("/control/provision/review", dependencies=[CsrfChecked])
def provision_review(page: ControlPageDep, form: ProvisionFormDep) -> HTMLResponse:
    """The server-rendered review step: the specification, with Confirm and Back."""
    try:
        spec = page.provisioning.preview(page.actor, form.request())
    except KBError as exc:
        return page.provision_form(form, {field_of(exc): exc.message}, exc.status_code)
    linked = spec.embeddings_resource_id
    context = {
        "form": form,
        "spec": spec,
        "model_names": {m.id: m.display_name for m in all_models().values()},
        "embeddings_name": page.provisioning.get(page.actor, linked).resource.display_name
        if linked
        else None,
    }
    return page.render("control_review.html", context)


@router.post("/control/provision", dependencies=[CsrfChecked])
def provision(page: ControlPageDep, form: ProvisionFormDep, back: Annotated[str, Form()] = "") -> Response:
    """Confirm: provision and go back to the overview; "Back" returns to the filled-in form."""
    if back:
        return page.provision_form(form)
    try:
        view = page.provisioning.provision(page.actor, form.request())
    except KBError as exc:
        return page.provision_form(form, {field_of(exc): exc.message}, exc.status_code)
    return _done("provisioned", view.resource.id)
