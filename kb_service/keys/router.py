"""API keys of a resource, managed by its team: create (secret shown once), list, revoke."""

from __future__ import annotations

from fastapi import APIRouter, status

from kb_service.deps import ActorDep, KeyManagementDep
from kb_service.errors import Conflict, Forbidden, NotFound
from kb_service.keys.models import ApiKey
from kb_service.keys.service import IssuedKey
from kb_service.openapi import errors
from schemas.keys import KeyCreate, KeyCreated, KeyOut

router = APIRouter(prefix="/v1/resources/{resource_id}/keys", tags=["keys"])


@router.post("", status_code=status.HTTP_201_CREATED, responses=errors(Forbidden, Conflict, NotFound))
def create_key(actor: ActorDep, keys: KeyManagementDep, resource_id: str, body: KeyCreate) -> KeyCreated:
    """A knowledge-base key also creates a key for the linked embeddings resource (`paired_key`)."""
    return created_out(keys.create(actor, resource_id, body.description))


@router.get("", responses=errors(Forbidden, NotFound))
def list_keys(actor: ActorDep, keys: KeyManagementDep, resource_id: str) -> list[KeyOut]:
    return [key_out(k) for k in keys.list(actor, resource_id)]


@router.delete("/{key_id}", responses=errors(Forbidden, NotFound))
def revoke_key(actor: ActorDep, keys: KeyManagementDep, resource_id: str, key_id: str) -> KeyOut:
    return key_out(keys.revoke(actor, resource_id, key_id))


def key_out(key: ApiKey) -> KeyOut:
    return KeyOut(
        key_id=key.id,
        resource_id=key.resource_id,
        description=key.description,
        created_at=key.created_at,
        last_used_at=key.last_used_at,
        revoked_at=key.revoked_at,
        paired_with_key_id=key.paired_with_key_id,
    )


def created_out(issued: IssuedKey) -> KeyCreated:
    return KeyCreated(
        **key_out(issued.key).model_dump(),
        secret=issued.secret,
        paired_key=created_out(issued.paired) if issued.paired is not None else None,
    )
