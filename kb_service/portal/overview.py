"""The "Overview" tab, every resource's landing page: the resource at a glance, a card per tab with
its figure (this bundle month's GU, keys, team, KB content), and how an app connects with its key.

Every figure comes from the same service (and permission check) as the tab it links to; a card whose
figure this user may not see is left out, as its tab's forms are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from kb_service.catalog import UnknownModelError, get_model
from kb_service.clock import today
from kb_service.consumption.service import Summary
from kb_service.deps import ServicesDep, UnitOfWorkRoute
from kb_service.errors import KBError, NotFound
from kb_service.portal.content import knowledge_base
from kb_service.portal.docs import all_sections, slug_of
from kb_service.portal.formatting import compact, thousands
from kb_service.portal.layout import ResourceFrame, ResourceFrameDep
from kb_service.portal.snippets import snippets_for
from kb_service.portal.web import PREFIX, Page, PageDep
from kb_service.resources.lifecycle import deprovisioned_on
from kb_service.resources.models import ResourceType
from kb_service.services import Services

router = APIRouter(route_class=UnitOfWorkRoute, prefix=PREFIX, include_in_schema=False)

# The README sections the documentation card links to, by resource type.
DOC_SECTIONS: dict[str, tuple[str, ...]] = {
    ResourceType.KNOWLEDGE_BASE: (
        "Walk-through: ingest a folder, find it by a question",
        "What it does",
        "Portal",
    ),
    ResourceType.EMBEDDINGS: ("Model gateway", "Control plane", "Portal"),
    ResourceType.TEXT_GENERATION: ("Model gateway", "Control plane", "Portal"),
}


@dataclass(frozen=True, slots=True)
class ModelName:
    id: str
    name: str
    is_default: bool


@dataclass(frozen=True, slots=True)
class ConsumptionCard:
    """This bundle month's GU of the resource, or of the embeddings resource a KB meters on."""

    resource_id: str
    resource_name: str
    summary: Summary

    @property
    def href(self) -> str:
        return f"{PREFIX}/resources/{self.resource_id}/consumption"


@dataclass(frozen=True, slots=True)
class ContentCard:
    documents: int
    chunks: int
    collections: int
    deprovisioned: bool


def model_names(model_ids: list[str], default: str | None) -> list[ModelName]:
    names = []
    for model_id in model_ids:
        try:
            name = get_model(model_id).display_name
        except UnknownModelError:
            name = model_id
        names.append(ModelName(model_id, name, model_id == default))
    return names


def plan_text(frame: ResourceFrame) -> str:
    r = frame.resource
    parts = [f"Plan {r.plan}"] if r.plan else [f"{thousands(r.cloud_tokens)} Cloud Tokens"]
    if r.genai_units_per_month:
        parts.append(f"{compact(r.genai_units_per_month)} GU / month")
    return " · ".join(parts)


def _consumption(services: Services, page: Page, frame: ResourceFrame) -> ConsumptionCard | None:
    resource = frame.resource
    target_id, name = resource.id, resource.display_name
    if resource.type == "knowledge_base":
        linked = services.resources.get(page.actor, resource.id).resource.embeddings_resource_id
        if linked is None:
            return None
        try:  # a KB member not on its embeddings resource's team does not see that resource
            target_id, name = linked, services.resources.get(page.actor, linked).resource.display_name
        except NotFound:
            return None
    elif not frame.can("view_consumption"):
        return None
    return ConsumptionCard(target_id, name, services.consumption.summary(page.actor, target_id))


def _content(services: Services, page: Page, resource_id: str) -> ContentCard:
    kb = knowledge_base(services, page.actor, resource_id)
    if deprovisioned_on(kb, today(services.clock)) is not None:
        return ContentCard(0, 0, 0, deprovisioned=True)
    collections = services.knowledge(kb, page.actor.email).collections()
    return ContentCard(
        documents=sum(c.document_count for c in collections),
        chunks=sum(c.chunk_count for c in collections),
        collections=len(collections),
        deprovisioned=False,
    )


def page_context(services: Services, page: Page, frame: ResourceFrame) -> dict[str, Any]:
    resource = frame.resource
    kb = resource.type == "knowledge_base"
    keys = services.keys.list_for(page.actor, resource.id) if frame.can("manage_keys") else None
    team = services.teams.overview(page.actor, resource.id)
    content: ContentCard | None = None
    content_error = None
    if kb:
        try:
            content = _content(services, page, resource.id)
        except KBError as exc:  # the vector store unreachable: the rest of the page still helps
            content_error = exc.message
    titles = DOC_SECTIONS[resource.type]
    return {
        **frame.context("overview"),
        "models": model_names(resource.models, resource.default_model),
        "plan_text": plan_text(frame),
        "consumption": _consumption(services, page, frame),
        "active_keys": None if keys is None else sum(1 for k in keys if k.revoked_at is None),
        "members": len(team.members),
        "pending_invitations": len(team.pending),
        "content": content,
        "content_error": content_error,
        "snippets": snippets_for(resource, str(page.request.base_url)),
        "doc_links": [(s.title, s.href) for s in all_sections() if s.slug in {slug_of(t) for t in titles}],
        "has_try_it": any(tab.slug == "try" for tab in frame.tabs),
    }


@router.get("/resources/{resource_id}/overview")
def overview_page(page: PageDep, frame: ResourceFrameDep, services: ServicesDep) -> HTMLResponse:
    return page.render("overview.html", page_context(services, page, frame))
