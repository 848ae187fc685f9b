"""The "Settings" tab: every field of the resource, and the changes a role allows.

Each change is its own small form (name, environment, default model, and — for company admins — the
enabled models) posting to its own route, so a refused change comes back next to the form it belongs
to. Forbidden changes are not offered
(`frame.can`), and the service refuses them anyway (a 403 page).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, get_args

from fastapi import APIRouter, Depends, Form, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from kb_service.auth.principals import Actor
from kb_service.deps import ServicesDep, UnitOfWorkRoute
from kb_service.errors import Forbidden, KBError, NotFound
from kb_service.portal.formatting import RESOURCE_TYPE_LABELS
from kb_service.portal.layout import ResourceFrame, ResourceFrameDep
from kb_service.portal.web import PREFIX, CsrfChecked, Page, PageDep
from kb_service.resources.presenters import settings_out
from kb_service.resources.service import ResourceService
from schemas.resources import Environment, ModelsChange, ResourceSettings, ResourceUpdate

router = APIRouter(route_class=UnitOfWorkRoute, prefix=PREFIX, include_in_schema=False)
ENVIRONMENTS: tuple[str, ...] = get_args(Environment)
# The forms of the page, by the field each one changes: (route, notice after saving).
CHANGES = {
    "display_name": ("name", "The display name was saved."),
    "environment": ("environment", "The environment was saved."),
    "default_model": ("default-model", "The default model was saved."),
    "models": ("models", "The enabled models were saved."),
}
SAVED_NOTICES = {route: notice for route, notice in CHANGES.values()}


@dataclass(frozen=True, slots=True)
class Linked:
    """A linked resource: its name and page when this user may see it, else just its id."""

    id: str
    name: str | None

    @property
    def href(self) -> str | None:
        return f"{PREFIX}/resources/{self.id}" if self.name is not None else None


def linked(resources: ResourceService, actor: Actor, resource_ids: list[str]) -> list[Linked]:
    # Few per resource (a KB has one embeddings resource; an embeddings resource a handful of KBs).
    found = []
    for resource_id in resource_ids:
        try:
            found.append(Linked(resource_id, resources.get(actor, resource_id).resource.display_name))
        except NotFound:
            found.append(Linked(resource_id, None))
    return found


def _settings_page(
    page: Page,
    frame: ResourceFrame,
    resources: ResourceService,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    actor = page.actor
    settings: ResourceSettings = settings_out(resources.settings(actor, frame.resource.id))
    embeddings = [settings.embeddings_resource_id] if settings.embeddings_resource_id else []
    offered = {
        "display_name": frame.can("rename"),
        "environment": frame.can("change_environment"),
        "default_model": frame.can("change_model") and settings.type == "text_generation",
        "models": frame.can("change_models") and settings.type != "knowledge_base",
    }
    errors = errors or {}
    context: dict[str, Any] = {
        **frame.context("settings"),
        "s": settings,
        "type_label": RESOURCE_TYPE_LABELS.get(settings.type, settings.type),
        "linked_kbs": linked(resources, actor, settings.linked_knowledge_base_ids),
        "linked_embeddings": linked(resources, actor, embeddings),
        "environments": ENVIRONMENTS,
        "errors": errors,
        # A refusal of a change this page offers no form for (a hand-made post) goes on top.
        "page_error": next((m for f, m in errors.items() if not offered[f]), None),
        "saved": SAVED_NOTICES.get(page.request.query_params.get("saved", "")),
        "can_rename": offered["display_name"],
        "can_environment": offered["environment"],
        "can_default_model": offered["default_model"],
        "can_models": offered["models"],
    }
    return page.render("settings.html", context, status_code)


@router.get("/resources/{resource_id}/settings")
def settings_page(page: PageDep, frame: ResourceFrameDep, services: ServicesDep) -> HTMLResponse:
    return _settings_page(page, frame, services.resources)


@dataclass(frozen=True, slots=True)
class Change:
    """One settings form's post, applied through `ResourceService.update` like `/v1`'s PATCH."""

    page: Page
    frame: ResourceFrame
    resources: ResourceService

    def apply(self, field: str, value: str) -> Response:
        try:
            change = ResourceUpdate.model_validate({field: value.strip()})
            self.resources.update(self.page.actor, self.frame.resource.id, change)
        except (Forbidden, NotFound):
            raise  # not this user's to change: the error page, like /v1's status
        except (KBError, ValidationError) as exc:
            message = exc.message if isinstance(exc, KBError) else _first_error(exc)
            code = exc.status_code if isinstance(exc, KBError) else status.HTTP_422_UNPROCESSABLE_CONTENT
            return _settings_page(self.page, self.frame, self.resources, {field: message}, code)
        target = f"{PREFIX}/resources/{self.frame.resource.id}/settings?saved={CHANGES[field][0]}"
        return RedirectResponse(target, status_code=status.HTTP_303_SEE_OTHER)

    def change_models(self, models: list[str], default_model: str) -> Response:
        """The enabled-models form, applied through `ResourceService.change_models` like `/v1`'s PUT."""
        try:
            change = ModelsChange.model_validate(
                {"models": [m for m in models if m], "default_model": default_model.strip() or None}
            )
            self.resources.change_models(self.page.actor, self.frame.resource.id, change)
        except (Forbidden, NotFound):
            raise
        except (KBError, ValidationError) as exc:
            message = exc.message if isinstance(exc, KBError) else "Select at least one model."
            code = exc.status_code if isinstance(exc, KBError) else status.HTTP_422_UNPROCESSABLE_CONTENT
            return _settings_page(self.page, self.frame, self.resources, {"models": message}, code)
        target = f"{PREFIX}/resources/{self.frame.resource.id}/settings?saved=models"
        return RedirectResponse(target, status_code=status.HTTP_303_SEE_OTHER)


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    if error["type"] == "literal_error":
        return f"Choose one of: {', '.join(ENVIRONMENTS)}."
    if error["type"] == "string_too_short":
        return "The display name cannot be empty."
    if error["type"] == "string_too_long":
        return "The display name is at most 200 characters."
    return str(error["msg"])


def get_change(page: PageDep, frame: ResourceFrameDep, services: ServicesDep) -> Change:
    return Change(page, frame, services.resources)


ChangeDep = Annotated[Change, Depends(get_change)]


@router.post("/resources/{resource_id}/settings/name", dependencies=[CsrfChecked])
def rename(change: ChangeDep, display_name: Annotated[str, Form()] = "") -> Response:
    return change.apply("display_name", display_name)


@router.post("/resources/{resource_id}/settings/environment", dependencies=[CsrfChecked])
def change_environment(change: ChangeDep, environment: Annotated[str, Form()] = "") -> Response:
    return change.apply("environment", environment)


@router.post("/resources/{resource_id}/settings/default-model", dependencies=[CsrfChecked])
def change_default_model(change: ChangeDep, default_model: Annotated[str, Form()] = "") -> Response:
    return change.apply("default_model", default_model)


@router.post("/resources/{resource_id}/settings/models", dependencies=[CsrfChecked])
def change_models(
    change: ChangeDep,
    models: Annotated[list[str] | None, Form()] = None,
    default_model: Annotated[str, Form()] = "",
) -> Response:
    return change.change_models(models or [], default_model)
