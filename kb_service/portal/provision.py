"""The control center's provisioning: the form with its live checks, the review step, and confirm.

The rules (prerequisites, sizes, models, the linked embeddings resource) are `ResourceService`'s; a
refusal names its field (`details["field"]`) and is shown next to that field of the form.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Header
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import ValidationError

from kb_service.capacity.plans import KB_PLAN, PLAN_PRICES
from kb_service.catalog import Offer, all_models
from kb_service.deps import ServicesDep, UnitOfWorkRoute
from kb_service.errors import InvalidInput, KBError
from kb_service.gateway.availability import text_provider_missing
from kb_service.portal.control import (
    CUSTOM_SIZE,
    ENVIRONMENTS,
    REGIONS,
    ControlPage,
    ControlPageDep,
    admin_only,
    done,
    whole_tokens,
)
from kb_service.portal.web import PREFIX, CodecDep, CsrfChecked, PortalActorDep, PortalSessionDep
from kb_service.resources.models import ResourceType
from kb_service.resources.service import ENDED
from schemas.resources import ProvisionRequest, ResourceTypeName

router = APIRouter(route_class=UnitOfWorkRoute, prefix=PREFIX, include_in_schema=False)


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
            "cloud_tokens": whole_tokens(self.cloud_tokens) if custom and not kb else None,
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
    """Which form slot a refusal goes to: the field the service named (`exc.field`), else the top."""
    if exc.field is None:
        return "form"
    slot = "size" if exc.field in ("plan", "cloud_tokens") else exc.field.replace(".", "_")
    return slot if slot in ERROR_SLOTS else "form"


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


def _catalog(offer: Offer) -> dict[str, dict[str, list[dict[str, str]]]]:
    """Models per region and kind, for the form's live model list: only those this deployment can
    call (no Cohere models without a Cohere key)."""
    catalog: dict[str, dict[str, list[dict[str, str]]]] = {r: {"text": [], "embeddings": []} for r in REGIONS}
    for model in offer.models():
        for region in model.regions:
            if region in catalog:
                catalog[region][model.kind].append({"id": model.id, "name": model.display_name})
    return catalog


def _form_page(
    page: ControlPage, form: ProvisionForm, errors: dict[str, str] | None = None, status_code: int = 200
) -> HTMLResponse:
    embeddings = [
        v.resource
        for v in page.services.resources.list(page.actor, ResourceType.EMBEDDINGS)
        if v.resource.status not in ENDED
    ]
    context = {
        "form": form,
        "errors": errors or {},
        "catalog": _catalog(page.services.container.model_offer),
        "text_setting": text_provider_missing(page.services.container.settings),
        "environments": ENVIRONMENTS,
        "regions": REGIONS,
        "plan_prices": {k: dict(v) for k, v in PLAN_PRICES.items()},
        "embeddings": embeddings,
        "balance": page.services.companies.balance(page.actor.company_id),
        "custom_size": CUSTOM_SIZE,
        **page.prerequisites(),
    }
    return page.render("control_provision.html", context, status_code)


@router.get("/control/provision")
def provision_page(page: ControlPageDep, type: ResourceTypeName = "text_generation") -> HTMLResponse:
    return _form_page(page, ProvisionForm(type=type, plan=KB_PLAN if type == "knowledge_base" else "S"))


@router.post("/control/provision/preview.json")
def provision_preview(
    actor: PortalActorDep,
    services: ServicesDep,
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
        spec = services.resources.preview(actor, form.request())
    except KBError as exc:
        body = {"code": exc.code, "message": exc.message, "field": field_of(exc), "details": exc.details}
        return JSONResponse({"error": body}, status_code=exc.status_code)
    return JSONResponse(spec.model_dump(mode="json"))


@router.post("/control/provision/review", dependencies=[CsrfChecked])
def provision_review(page: ControlPageDep, form: ProvisionFormDep) -> HTMLResponse:
    """The server-rendered review step: the specification, with Confirm and Back."""
    try:
        spec = page.services.resources.preview(page.actor, form.request())
    except KBError as exc:
        return _form_page(page, form, {field_of(exc): exc.message}, exc.status_code)
    linked = spec.embeddings_resource_id
    context = {
        "form": form,
        "spec": spec,
        "model_names": {m.id: m.display_name for m in all_models().values()},
        "embeddings_name": page.services.resources.get(page.actor, linked).resource.display_name
        if linked
        else None,
    }
    return page.render("control_review.html", context)


@router.post("/control/provision", dependencies=[CsrfChecked])
def provision(page: ControlPageDep, form: ProvisionFormDep, back: Annotated[str, Form()] = "") -> Response:
    """Confirm: provision and go back to the overview; "Back" returns to the filled-in form."""
    if back:
        return _form_page(page, form)
    try:
        view = page.services.resources.provision(page.actor, form.request())
    except KBError as exc:
        return _form_page(page, form, {field_of(exc): exc.message}, exc.status_code)
    return done("provisioned", view.resource.id)
