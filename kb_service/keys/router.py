"""API keys of a resource, managed by its team: create (secret shown once), list, revoke."""

from __future__ import annotations

from fastapi import APIRouter, status

from kb_service.auth.deps import ActorDep
from kb_service.deps import ServicesDep, UnitOfWorkRoute
from kb_service.errors import Conflict, Forbidden, NotFound, documented
from kb_service.keys.presenters import created_out, key_out
from schemas.keys import KeyCreate, KeyCreated, KeyOut

router = APIRouter(route_class=UnitOfWorkRoute, prefix="/v1/resources/{resource_id}/keys", tags=["keys"])


@router.post("", status_code=status.HTTP_201_CREATED, responses=documented(Forbidden, Conflict, NotFound))
def create_key(actor: ActorDep, services: ServicesDep, resource_id: str, body: KeyCreate) -> KeyCreated:
    """A knowledge-base key also creates a key for the linked embeddings resource (`paired_key`)."""
    return created_out(services.keys.create_for(actor, resource_id, body.description))


@router.get("", responses=documented(Forbidden, NotFound))
def list_keys(actor: ActorDep, services: ServicesDep, resource_id: str) -> list[KeyOut]:
    return [key_out(k) for k in services.keys.list_for(actor, resource_id)]


@router.delete("/{key_id}", responses=documented(Forbidden, NotFound))
def revoke_key(actor: ActorDep, services: ServicesDep, resource_id: str, key_id: str) -> KeyOut:
    return key_out(services.keys.revoke_for(actor, resource_id, key_id))
