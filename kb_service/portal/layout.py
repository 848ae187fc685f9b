"""The frame every per-resource page shares: the resource's header and the tabs this user may open.

A tab is offered only when the user's role on the resource allows what it is for (the permission
matrix of `auth.access`); the routes behind the tabs check again through the services, so a hidden
tab is a courtesy, not the protection.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends

from kb_service.auth.access import Permission, Role
from kb_service.auth.principals import Actor
from kb_service.deps import ServicesDep
from kb_service.portal.web import PortalActorDep
from kb_service.resources.models import ResourceType
from kb_service.resources.presenters import resource_out
from kb_service.services import Services
from schemas.resources import ResourceOut


@dataclass(frozen=True, slots=True)
class Tab:
    slug: str
    label: str


OVERVIEW = Tab("overview", "Overview")
CONTENT = Tab("content", "Content")
EVALUATIONS = Tab("evaluations", "Evaluations")
CONSUMPTION = Tab("consumption", "Consumption")
TRY_IT = Tab("try", "Try it")
TEAM = Tab("team", "Team")
KEYS = Tab("keys", "Keys")
ACTIVITY = Tab("activity", "Activity")
SETTINGS = Tab("settings", "Settings")

# In the order they are shown; the first one a user may open is the resource's landing tab.
TABS_BY_TYPE: dict[str, tuple[Tab, ...]] = {
    ResourceType.KNOWLEDGE_BASE: (OVERVIEW, CONTENT, EVALUATIONS, TEAM, KEYS, ACTIVITY, SETTINGS),
    ResourceType.EMBEDDINGS: (OVERVIEW, CONSUMPTION, TRY_IT, TEAM, KEYS, ACTIVITY, SETTINGS),
    ResourceType.TEXT_GENERATION: (OVERVIEW, CONSUMPTION, TRY_IT, TEAM, KEYS, ACTIVITY, SETTINGS),
}


@dataclass(frozen=True, slots=True)
class ResourceFrame:
    """What `resource_layout.html` needs: the resource, the user's role and the tabs they may open."""

    resource: ResourceOut
    role: Role
    tabs: tuple[Tab, ...]
    allowed: frozenset[Permission]

    def can(self, permission: str) -> bool:
        return Permission(permission) in self.allowed

    def context(self, current: str) -> dict[str, Any]:
        return {"frame": self, "resource": self.resource, "current_tab": current}


def resource_frame(services: Services, actor: Actor, resource_id: str) -> ResourceFrame:
    """The frame of a resource the actor can see; a 404 (NotFound) for any other id."""
    view = services.resources.get(actor, resource_id)
    role = services.access.role(actor, view.resource)
    assert role is not None  # get() refused a resource the actor has no role on
    allowed = services.access.permissions(role)
    return ResourceFrame(resource_out(view), role, TABS_BY_TYPE[view.resource.type], allowed)


def get_resource_frame(resource_id: str, actor: PortalActorDep, services: ServicesDep) -> ResourceFrame:
    return resource_frame(services, actor, resource_id)


ResourceFrameDep = Annotated[ResourceFrame, Depends(get_resource_frame)]
