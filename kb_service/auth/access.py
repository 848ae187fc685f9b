"""Who may do what on a resource: the permission matrix of PRODUCT.md, in one place.

A resource is visible to its company's admins and to its team members; to anyone else it does not
exist (404). Visible but not permitted is a 403.
"""

from __future__ import annotations

from enum import StrEnum
from types import MappingProxyType

from kb_service.auth.principals import Actor
from kb_service.errors import Forbidden, NotFound
from kb_service.resources.models import Resource
from kb_service.resources.repository import ResourceRepository
from kb_service.teams.repository import TeamRepository


class Role(StrEnum):
    ADMIN = "company_admin"
    MEMBER = "member"
    EXTERNAL = "external_member"


class Permission(StrEnum):
    VIEW = "view"
    MANAGE_KEYS = "manage_keys"
    VIEW_CONSUMPTION = "view_consumption"
    CHANGE_MODEL = "change_model"
    # Which models are enabled on the resource (the default model is CHANGE_MODEL).
    CHANGE_MODELS = "change_models"
    RENAME = "rename"
    CHANGE_ENVIRONMENT = "change_environment"
    MANAGE_TEAM = "manage_team"
    MANAGE_CAPACITY = "manage_capacity"
    DEPROVISION = "deprovision"


_EVERYONE = frozenset(Role)
_INTERNAL = frozenset({Role.ADMIN, Role.MEMBER})
_ADMINS = frozenset({Role.ADMIN})

MATRIX: MappingProxyType[Permission, frozenset[Role]] = MappingProxyType(
    {
        Permission.VIEW: _EVERYONE,
        Permission.MANAGE_KEYS: _EVERYONE,
        Permission.VIEW_CONSUMPTION: _EVERYONE,
        Permission.CHANGE_MODEL: _EVERYONE,
        Permission.RENAME: _INTERNAL,
        Permission.CHANGE_ENVIRONMENT: _INTERNAL,
        Permission.MANAGE_TEAM: _INTERNAL,
        Permission.MANAGE_CAPACITY: _ADMINS,
        Permission.CHANGE_MODELS: _ADMINS,
        Permission.DEPROVISION: _ADMINS,
    }
)


class Access:
    def __init__(self, resources: ResourceRepository, teams: TeamRepository) -> None:
        self._resources = resources
        self._teams = teams

    def role(self, actor: Actor, resource: Resource) -> Role | None:
        if actor.is_admin and resource.company_id == actor.company_id:
            return Role.ADMIN
        member = self._teams.membership(resource.id, actor.user_id)
        if member is None:
            return None
        return Role.EXTERNAL if member.external else Role.MEMBER

    def resource(self, actor: Actor, resource_id: str, permission: Permission) -> Resource:
        """The resource, if the actor may `permission` it; a 404 if they cannot even see it."""
        resource = self._resources.get(resource_id)
        role = self.role(actor, resource) if resource is not None and resource.company_id else None
        if resource is None or role is None:
            raise NotFound(f"Resource {resource_id} not found.")
        if role not in MATRIX[permission]:
            raise Forbidden(
                f"A {role.value.replace('_', ' ')} may not {permission.value.replace('_', ' ')} "
                "on this resource.",
                details={"permission": permission.value, "role": role.value},
            )
        return resource

    def permissions(self, role: Role) -> frozenset[Permission]:
        return frozenset(p for p, roles in MATRIX.items() if role in roles)
